"""Every figure llmbench reports, defined once.

One frozen descriptor per metric says what the metric is called in summary.json, SLOs
and `llmbench compare`, its unit, the definition every report prints, where its value
comes from, and where it is shown. The Recorder, the summary, the SLO table, the console,
the report, compare and results.jsonl all read this table, so a new metric is one entry
here plus, when its value is not one number per request, its computation in the Recorder.

Pure: descriptors and text; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llmbench.result import RequestResult

__all__ = [
    "GENERAL_DEFINITIONS",
    "HISTOGRAM_METRICS",
    "METRICS",
    "PERCENTILES",
    "RUN_METRICS",
    "STATS",
    "MetricDef",
    "console_rows",
    "definitions",
    "definitions_markdown",
    "metric",
    "results_fields",
]

# The percentiles every latency block reports, and a block's keys in summary.json.
PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)
STATS = ("min", "mean", *(f"p{p:g}".replace(".", "_") for p in PERCENTILES), "max")

# Where a metric's value comes from:
#   request: one value per measured request (``value``), into a histogram;
#   gaps:    one value per gap between a request's content events (the Recorder's loop);
#   run:     one value per run, computed from the run's counts and wall time.
Source = Literal["request", "gaps", "run"]
# What an SLO threshold is compared in: milliseconds, a fraction in 0..1, or a rate.
Kind = Literal["ms", "fraction", "rate"]
# How `llmbench compare` treats a latency family: always, only when a run has it, never.
Compare = Literal["always", "optional", "never"]

NsOf = Callable[["RequestResult"], "float | None"]


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric. A histogram metric ``ttft`` is the block ``ttft_ms`` of summary.json,
    the SLO names ``ttft_p95`` etc. and the results.jsonl field ``ttft_ms``; a run metric
    is the one number at ``path`` in summary.json and is its own SLO name."""

    name: str
    label: str
    kind: Kind
    unit: str
    definition: str
    source: Source
    path: tuple[str, ...] = ()  # run metrics: keys into summary.json (none: computed)
    value: NsOf | None = None  # request metrics: the request's value in nanoseconds
    failures_too: bool = False  # request metrics recorded for failed requests as well
    open_loop_only: bool = False
    results_column: int | None = None  # its place among results.jsonl's figures (ms)
    console_row: int | None = None  # its row in the console's percentile table
    report_histogram: bool = False  # drawn as a distribution in report.html
    compare: Compare = "never"
    goodput: bool = False  # a --goodput criterion key
    higher_is_better: bool = False

    @property
    def histogram(self) -> bool:
        return self.source != "run"

    @property
    def key(self) -> str:
        """The summary.json key: ``ttft_ms`` for a histogram metric, else the name."""
        return f"{self.name}_ms" if self.histogram else self.name


def _queue(r: RequestResult) -> int | None:
    return r.queue_ns


def _from_intended(duration: NsOf) -> NsOf:
    def value(r: RequestResult) -> float | None:
        ns, queue = duration(r), r.queue_ns
        return None if ns is None or queue is None else ns + queue

    return value


def _ttfb(r: RequestResult) -> int | None:
    return r.ttfb_ns


def _ttft(r: RequestResult) -> int | None:
    return r.ttft_ns


def _latency(r: RequestResult) -> int | None:
    return r.latency_ns


def _tpot(r: RequestResult) -> float | None:
    return r.tpot_ns


HISTOGRAM_METRICS: tuple[MetricDef, ...] = (
    MetricDef(
        "ttft", "TTFT", "ms", "ms",
        "t0 to the first content event with non-empty text (content or reasoning)",
        "request", value=_ttft, report_histogram=True, compare="always", goodput=True,
        results_column=3, console_row=2,
    ),
    MetricDef(
        "latency", "Latency (E2E)", "ms", "ms",
        "t0 to the provider's first end signal (finish_reason chunk or [DONE], whichever "
        "comes first); the stream is still read to its end for usage",
        "request", value=_latency, report_histogram=True, compare="always", goodput=True,
        results_column=4, console_row=5,
    ),
    MetricDef(
        "ttfb", "TTFB", "ms", "ms",
        "t0 to the response head (status line and headers) received",
        "request", value=_ttfb, compare="always", goodput=True,
        results_column=2, console_row=1,
    ),
    MetricDef(
        "tpot", "TPOT", "ms", "ms",
        "(latency - TTFT) / (output tokens - 1), requests with >= 2 output tokens "
        "in more than one content event (one event has no decode time to divide)",
        "request", value=_tpot, report_histogram=True, compare="always", goodput=True,
        results_column=5, console_row=3,
    ),
    MetricDef(
        "itl", "ITL", "ms", "ms",
        "gaps between consecutive content events of one request, over all gaps",
        "gaps", report_histogram=True, compare="always", goodput=True, console_row=4,
    ),
    MetricDef(
        "icl", "Inter-chunk latency", "ms", "ms",
        "the same gaps, raw per chunk; itl_ms divides a gap across the chunk's tokens "
        "when they are known, so itl_ms equals icl_ms when every chunk is one token",
        "gaps", compare="optional",
    ),
    MetricDef(
        "queue", "Queue (open loop)", "ms", "ms",
        "open loop only: t0 minus the request's intended send time",
        "request", value=_queue, failures_too=True, open_loop_only=True,
        results_column=1, console_row=6,
    ),
    MetricDef(
        "ttft_from_intended", "TTFT from intended", "ms", "ms",
        "open loop only: TTFT measured from the intended send time",
        "request", value=_from_intended(_ttft), open_loop_only=True, compare="optional",
        console_row=7,
    ),
    MetricDef(
        "latency_from_intended", "Latency from intended", "ms", "ms",
        "open loop only: latency measured from the intended send time",
        "request", value=_from_intended(_latency), open_loop_only=True, compare="optional",
        console_row=8,
    ),
)  # fmt: skip

RUN_METRICS: tuple[MetricDef, ...] = (
    MetricDef(
        "error_rate", "Error rate", "fraction", "fraction",
        "failed measured requests / all measured requests",
        "run",  # computed from requests.failed / requests.total
    ),
    MetricDef(
        "requests_per_s", "Requests", "rate", "req/s",
        "successful requests / measured wall time",
        "run", path=("throughput", "requests_per_s"), higher_is_better=True,
    ),
    MetricDef(
        "output_tokens_per_s", "Output tokens", "rate", "tok/s",
        "output tokens of successful requests / measured wall time",
        "run", path=("throughput", "output_tokens_per_s"), higher_is_better=True,
    ),
    MetricDef(
        "total_tokens_per_s", "Total tokens", "rate", "tok/s",
        "(input + output tokens) of successful requests / measured wall time",
        "run", path=("throughput", "total_tokens_per_s"), higher_is_better=True,
    ),
    MetricDef(
        "goodput_ratio", "Goodput share", "fraction", "fraction",
        "with --goodput: measured requests that succeeded and met every bound / all",
        "run", path=("goodput", "ratio"), higher_is_better=True,
    ),
    MetricDef(
        "goodput_requests_per_s", "Goodput", "rate", "req/s",
        "with --goodput: requests that succeeded and met every bound / measured wall time",
        "run", path=("goodput", "requests_per_s"), higher_is_better=True,
    ),
)  # fmt: skip

METRICS: tuple[MetricDef, ...] = HISTOGRAM_METRICS + RUN_METRICS
_BY_NAME = {m.name: m for m in METRICS}

# What every report states besides the metrics themselves (DESIGN.md, "Metric definitions").
GENERAL_DEFINITIONS = {
    "t0": "the moment the request is handed to the HTTP client",
    "throughput": "successful requests' tokens (or requests) / measured wall time",
    "wall_time": "first measured request's t0 to the last measured request's end",
    "statistics": "latency figures cover successful requests; warm-up requests are excluded",
}


def results_fields() -> tuple[MetricDef, ...]:
    """The per-request figures results.jsonl (and the CSV) holds, in column order."""
    chosen = [m for m in HISTOGRAM_METRICS if m.results_column is not None and m.value]
    return tuple(sorted(chosen, key=lambda m: m.results_column or 0))


def console_rows() -> tuple[MetricDef, ...]:
    """The console's percentile rows, in order."""
    chosen = [m for m in HISTOGRAM_METRICS if m.console_row is not None]
    return tuple(sorted(chosen, key=lambda m: m.console_row or 0))


def metric(name: str) -> MetricDef:
    """The descriptor called ``name`` (``ttft``, ``requests_per_s``); KeyError if none."""
    return _BY_NAME[name]


def definitions() -> dict[str, str]:
    """summary.json's ``definitions``: t0 first, then every metric by its summary key."""
    out = {"t0": GENERAL_DEFINITIONS["t0"]}
    out.update({m.key: m.definition for m in METRICS})
    out.update({k: v for k, v in GENERAL_DEFINITIONS.items() if k != "t0"})
    return out


def definitions_markdown() -> str:
    """The README's metric table, generated so the two never disagree (a test checks)."""
    head = ["| metric | summary.json | unit | definition |", "|---|---|---|---|"]
    rows = [f"| {m.label} | `{m.key}` | {m.unit} | {m.definition} |" for m in METRICS]
    notes = [
        f"| {k.replace('_', ' ')} | | | {GENERAL_DEFINITIONS[k]} |"
        for k in ("wall_time", "statistics")
    ]
    return "\n".join([*head, *rows, *notes])
