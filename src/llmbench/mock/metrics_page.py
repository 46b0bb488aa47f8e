"""The mock's `GET /metrics`: its own state in vLLM's Prometheus names, so a benchmark's
`--server-metrics` (and `make demo`) exercise the whole scrape path against it.

Written from vLLM's documented names and help texts (vllm/v1/metrics/loggers.py,
PrometheusStatLogger; docs.vllm.ai "Production Metrics"), in the text format that
vLLM's prometheus_client writes: a HELP and a TYPE line per family, labels
`engine` and `model_name`, each counter as a `_total` sample with a `_created` gauge
beside it. Never imports llmbench's scraper or parser: a test where both sides share
code could not catch a parser that misreads the format.

- `vllm:num_requests_running`: replies holding a slot (`capacity.active`);
- `vllm:num_requests_waiting`: requests queued for a slot (`capacity.queued`);
- `vllm:kv_cache_usage_perc`: simulated, each running request holding an equal share of
  the KV cache: `active / --slots` (256, vLLM's default `--max-num-seqs`, when the slots
  are unlimited), at most 1;
- `vllm:prompt_tokens_total`: prompt tokens (words) of every generation request taken;
- `vllm:generation_tokens_total`: tokens streamed so far (`stats.tokens`);
- `vllm:num_preemptions_total`: 0, the mock never preempts;
- `vllm:prefix_cache_queries_total`, `vllm:prefix_cache_hits_total` (`--prefix-cache`):
  the prompt tokens looked up and found cached, in whole blocks of 16 words (vLLM too
  counts the tokens of whole blocks).
"""

from __future__ import annotations

from llmbench.mock.prefix_cache import BLOCK_WORDS
from llmbench.mock.stats import MockStatsSnapshot

__all__ = ["CONTENT_TYPE", "NOMINAL_SEQS", "MetricsPage"]

# prometheus_client's CONTENT_TYPE_LATEST for the text format.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Running requests that fill the simulated KV cache when --slots is unlimited: vLLM's
# default --max-num-seqs.
NOMINAL_SEQS = 256


def _escape(value: str) -> str:
    """A label value as the text format quotes it (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsPage:
    """Renders the page for one served model name; `started` (Unix seconds) is every
    counter's `_created` value."""

    def __init__(self, model: str, started: float) -> None:
        self._labels = f'{{engine="0",model_name="{_escape(model)}"}}'
        self._started = float(started)

    def render(self, stats: MockStatsSnapshot) -> bytes:
        """The whole page for this snapshot."""
        capacity = stats.capacity
        seqs = capacity.slots or NOMINAL_SEQS
        lines: list[str] = []
        self._gauge(lines, "num_requests_running", _RUNNING, capacity.active)
        self._gauge(lines, "num_requests_waiting", _WAITING, capacity.queued)
        self._gauge(lines, "kv_cache_usage_perc", _KV, min(1.0, capacity.active / seqs))
        self._counter(lines, "num_preemptions", _PREEMPTIONS, 0)
        self._counter(lines, "prompt_tokens", _PROMPT, stats.prompt_tokens)
        self._counter(lines, "generation_tokens", _GENERATION, stats.tokens)
        cache = stats.prefix_cache
        if cache.enabled:
            queried, hit = cache.prompt_blocks * BLOCK_WORDS, cache.hit_blocks * BLOCK_WORDS
            self._counter(lines, "prefix_cache_queries", _QUERIES, queried)
            self._counter(lines, "prefix_cache_hits", _HITS, hit)
        return ("\n".join(lines) + "\n").encode()

    def _gauge(self, lines: list[str], name: str, help_text: str, value: float) -> None:
        lines += [
            f"# HELP vllm:{name} {help_text}",
            f"# TYPE vllm:{name} gauge",
            f"vllm:{name}{self._labels} {float(value)!r}",
        ]

    def _counter(self, lines: list[str], name: str, help_text: str, value: float) -> None:
        lines += [
            f"# HELP vllm:{name}_total {help_text}",
            f"# TYPE vllm:{name}_total counter",
            f"vllm:{name}_total{self._labels} {float(value)!r}",
            f"# HELP vllm:{name}_created {help_text}",
            f"# TYPE vllm:{name}_created gauge",
            f"vllm:{name}_created{self._labels} {self._started!r}",
        ]


# vLLM's help texts (vllm/v1/metrics/loggers.py).
_RUNNING = "Number of requests in model execution batches."
_WAITING = "Number of requests waiting to be processed."
_KV = "KV-cache usage. 1 means 100 percent usage."
_PREEMPTIONS = "Cumulative number of preemption from the engine."
_PROMPT = "Number of prefill tokens processed."
_GENERATION = "Number of generation tokens processed."
_QUERIES = "Prefix cache queries, in terms of number of queried tokens."
_HITS = "Prefix cache hits, in terms of number of cached tokens."
