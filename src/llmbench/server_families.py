"""The Prometheus metric families llmbench knows by name (``--server-metrics``): which
engine exposes each, what it means, how to read it and which report chart shows it.

Every name was looked up in the engine's own documentation or source; each group cites
where. A family is named as ``prometheus_client``'s text parser names it: a counter
without its ``_total`` suffix (``vllm:generation_tokens`` is exposed as
``vllm:generation_tokens_total``), so one name matches whichever way an exporter wrote
its ``# TYPE`` line. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BY_NAME", "CHARTS", "FAMILIES", "HIT_RATIOS", "Family", "Kind"]

# How a family's samples become a time series:
# - gauge: the value as scraped;
# - counter: a per-second rate between consecutive scrapes (a reset counts from 0);
# - histogram_sum: the ``_sum`` sample of a histogram, read as a counter (TGI counts
#   generated tokens only as a per-request histogram; its sum is the running total).
Kind = Literal["gauge", "counter", "histogram_sum"]

# The report's Server charts, in page order (report_server.js draws one per key).
CHARTS = (
    "running",
    "waiting",
    "kv_cache",
    "prefix_hit",
    "preemptions",
    "tokens",
    "gpu_util",
    "power",
    "gpu_memory",
)


@dataclass(frozen=True, slots=True)
class Family:
    """One known family. ``unit`` names what a point of its series is in (a counter's
    points are per second); ``chart`` is the report chart that draws it (None: in
    summary.json only); ``generated_tokens`` marks the server's own count of generated
    tokens, the source of the cross-check against the client's; ``replaced_by`` names
    the newer family that, when the same target also exposes it, makes this one
    redundant (vLLM 0.9 exposed both names)."""

    name: str
    engine: str
    label: str
    kind: Kind
    unit: str
    chart: str | None = None
    generated_tokens: bool = False
    replaced_by: str | None = None


_Row = tuple[str, str, Kind, str, str | None]  # name, label, kind, unit, chart


def _table(engine: str, rows: tuple[_Row, ...]) -> tuple[Family, ...]:
    return tuple(
        Family(
            name,
            engine,
            label,
            kind,
            unit,
            chart,
            generated_tokens=name in _GENERATED,
            replaced_by=_REPLACED_BY.get(name),
        )
        for name, label, kind, unit, chart in rows
    )


# vLLM: vllm/v1/metrics/loggers.py (PrometheusStatLogger), and docs.vllm.ai "Production
# Metrics" (usage/metrics). Labels: model_name, engine (the data-parallel engine index).
# vllm:gpu_cache_usage_perc was renamed vllm:kv_cache_usage_perc in 0.9 (both exposed for
# a while, the old one marked DEPRECATED in its HELP, then only behind
# --show-hidden-metrics-for-version); likewise vllm:gpu_prefix_cache_queries/hits became
# vllm:prefix_cache_queries/hits, counted in tokens ("Prefix cache queries, in terms of
# number of queried tokens"). Counters are exposed with the _total suffix.
_VLLM: tuple[_Row, ...] = (
    ("vllm:num_requests_running", "Running requests", "gauge", "requests", "running"),
    ("vllm:num_requests_waiting", "Waiting requests", "gauge", "requests", "waiting"),
    ("vllm:kv_cache_usage_perc", "KV-cache use", "gauge", "fraction", "kv_cache"),
    ("vllm:gpu_cache_usage_perc", "KV-cache use (before 0.9)", "gauge", "fraction", "kv_cache"),
    ("vllm:prefix_cache_queries", "Prefix-cache queries", "counter", "tokens/s", None),
    ("vllm:prefix_cache_hits", "Prefix-cache hits", "counter", "tokens/s", None),
    ("vllm:gpu_prefix_cache_queries", "Prefix-cache queries (old)", "counter", "tokens/s", None),
    ("vllm:gpu_prefix_cache_hits", "Prefix-cache hits (old)", "counter", "tokens/s", None),
    ("vllm:num_preemptions", "Preemptions", "counter", "per s", "preemptions"),
    ("vllm:prompt_tokens", "Prompt tokens", "counter", "tokens/s", None),
    ("vllm:generation_tokens", "Generated tokens", "counter", "tokens/s", "tokens"),
)

# SGLang: python/sglang/srt/metrics/collector.py (SchedulerMetricsCollector,
# TokenizerMetricsCollector) and docs.sglang.io references/production_metrics (its
# example output). Needs --enable-metrics. Label: model_name (newer versions add
# tp_rank, pp_rank, ...). token_usage is the used share of the KV token pool;
# cache_hit_rate the radix (prefix) cache's hit rate; gen_throughput a gauge in tokens/s.
_SGLANG: tuple[_Row, ...] = (
    ("sglang:num_running_reqs", "Running requests", "gauge", "requests", "running"),
    ("sglang:num_queue_reqs", "Queued requests", "gauge", "requests", "waiting"),
    ("sglang:token_usage", "KV token-pool use", "gauge", "fraction", "kv_cache"),
    ("sglang:cache_hit_rate", "Prefix-cache hit rate", "gauge", "fraction", "prefix_hit"),
    ("sglang:gen_throughput", "Generation throughput", "gauge", "tokens/s", None),
    ("sglang:prompt_tokens", "Prompt tokens", "counter", "tokens/s", None),
    ("sglang:generation_tokens", "Generated tokens", "counter", "tokens/s", "tokens"),
)

# TGI: huggingface.co/docs/text-generation-inference reference/metrics (the table of
# names, types and units) and router/src (metrics::gauge!/histogram! calls). Exposed by
# the Rust metrics-exporter-prometheus crate: no labels, no HELP lines; generated and
# input tokens only as per-request histograms, whose _sum is the running total.
_TGI: tuple[_Row, ...] = (
    ("tgi_batch_current_size", "Batch size", "gauge", "requests", "running"),
    ("tgi_queue_size", "Queue size", "gauge", "requests", "waiting"),
    ("tgi_request_input_length", "Input tokens", "histogram_sum", "tokens/s", None),
    ("tgi_request_generated_tokens", "Generated tokens", "histogram_sum", "tokens/s", "tokens"),
)

# llama.cpp server: tools/server/README.md, "GET /metrics: Prometheus compatible metrics
# exporter" (needs --metrics), and the handler in tools/server/server.cpp. No labels.
# kv_cache_usage_ratio is in the README's list of older builds; newer builds dropped the
# KV-cache metrics, so it is shown when present.
_LLAMACPP: tuple[_Row, ...] = (
    ("llamacpp:requests_processing", "Requests processing", "gauge", "requests", "running"),
    ("llamacpp:requests_deferred", "Requests deferred", "gauge", "requests", "waiting"),
    ("llamacpp:kv_cache_usage_ratio", "KV-cache use", "gauge", "fraction", "kv_cache"),
    ("llamacpp:prompt_tokens", "Prompt tokens", "counter", "tokens/s", None),
    ("llamacpp:tokens_predicted", "Generated tokens", "counter", "tokens/s", "tokens"),
)

# NVIDIA DCGM exporter: etc/default-counters.csv of NVIDIA/dcgm-exporter (field, type,
# help: "GPU utilization (in %)", "Power draw (in W)", "Framebuffer memory used (in
# MiB)"). Labels: gpu (the index), UUID, device, modelName, Hostname, ...
_DCGM: tuple[_Row, ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization", "gauge", "%", "gpu_util"),
    ("DCGM_FI_DEV_POWER_USAGE", "GPU power", "gauge", "W", "power"),
    ("DCGM_FI_DEV_FB_USED", "GPU memory used", "gauge", "MiB", "gpu_memory"),
)

# The server's own count of generated tokens, per engine: the cross-check's source.
_GENERATED = frozenset(
    {
        "vllm:generation_tokens",
        "sglang:generation_tokens",
        "tgi_request_generated_tokens",
        "llamacpp:tokens_predicted",
    }
)
# vLLM 0.9's deprecated names, each beside its new one.
_REPLACED_BY = {
    "vllm:gpu_cache_usage_perc": "vllm:kv_cache_usage_perc",
    "vllm:gpu_prefix_cache_queries": "vllm:prefix_cache_queries",
    "vllm:gpu_prefix_cache_hits": "vllm:prefix_cache_hits",
}

FAMILIES: tuple[Family, ...] = (
    *_table("vllm", _VLLM),
    *_table("sglang", _SGLANG),
    *_table("tgi", _TGI),
    *_table("llama.cpp", _LLAMACPP),
    *_table("dcgm", _DCGM),
)
BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}

# Hit rates derived from two counters of one target (hits / queries per interval, per
# label set), with the chart and label they get; the first pair found wins.
HIT_RATIOS: tuple[tuple[str, str], ...] = (
    ("vllm:prefix_cache_hits", "vllm:prefix_cache_queries"),
    ("vllm:gpu_prefix_cache_hits", "vllm:gpu_prefix_cache_queries"),
)
