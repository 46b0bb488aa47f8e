"""report.html: one self-contained file that answers a capacity question at a glance.

Why it is built this way:

- Offline: ECharts is inlined from the vendored build (vendor/echarts/); nothing is
  fetched, and a Content-Security-Policy with the three scripts' hashes (ECharts,
  report_common.js and the page's own) stops the page from loading anything or
  running any other script.
- Safe whatever the server sent: every figure and string travels as one JSON document
  in a ``<script type="application/json">`` element, with ``<``, ``>``, ``&``, U+2028
  and U+2029 escaped, so no string can end the element; the page's script shows
  strings with textContent and ECharts text only.
- Small at any scale: distributions come from the HDR histograms in summary.json,
  the time series is merged into wider buckets past a cap, and the scatter keeps a
  fixed number of points, so 1,000,000 requests still make a report of a few MB.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import math
import random
import re
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

import llmbench
from llmbench.breakdowns import GROUPS_KEPT, TURNS_KEPT
from llmbench.metric_defs import HISTOGRAM_METRICS, METRICS
from llmbench.output.jsonl import iter_results
from llmbench.output.server_report import server_report
from llmbench.output.summary import SAMPLE_CAP
from llmbench.output.workload_summary import WORKLOAD_BLOCKS
from llmbench.redaction import redact_url

__all__ = [
    "SCATTER_CAP",
    "SLOWEST_KEPT",
    "ReportError",
    "build_report",
    "echarts_source",
    "render_page",
]

# Points a browser draws at once without stalling; a point costs ~18 bytes of JSON.
SCATTER_CAP = 20_000
# The slowest successes are always plotted: the tail is what a reader looks for.
SLOWEST_KEPT = 500
# Per-second rows beyond this are merged into wider buckets (a day is 86,400 rows).
_TIMESERIES_CAP = 2_000
_HIST_BINS = 50
# Histogram bins start at this percentile; lower values share the first bin, so a few
# near-zero gaps (chunks that arrive together) do not squeeze the body into two bins.
_HIST_FLOOR_PERCENTILE = 1.0
_EXAMPLE_CAP = 2_000

# A gap of 0 (tokens that arrived in one read share its timestamp) is recorded as the
# histograms' lowest value, 1 µs; no gap between two reads is that short. Such gaps are
# counted apart, so the axis starts where the real distribution does.
_SAME_READ_US = 1
_GAPS = frozenset(m.key for m in HISTOGRAM_METRICS if m.source == "gaps")
_HISTOGRAMS = tuple(m.key for m in HISTOGRAM_METRICS if m.report_histogram)
# Every metric's label, by its summary key: the page names figures as the console does.
_LABELS = {m.key: m.label for m in METRICS}
# Shown in the header; the rest of the config (prompt, headers, bodies) stays out.
_CONFIG_KEYS = tuple(
    "url provider endpoint model concurrency rps arrival burstiness burst requests duration_s"
    " ramp_up_s warmup_requests warmup_s max_tokens timeout_s retries transport token_mode"
    " stream".split()
)
# Where a failure sits on the scatter: the longest duration it has.
_FAILED_Y = ("latency_ms", "ttft_ms", "ttfb_ms")
_SERIES = ("t", "in_flight", "rps", "errors_per_s", "tokens_per_s", "ttft_p50_ms")
_SUMMARY_BLOCKS = ("run", "requests", "throughput", "tokens", "goodput", "slo", "client", "ramp")
# JSON escapes that leave no way to end the script element or a JS string literal.
_ESCAPES = [(c.encode(), f"\\u{ord(c):04x}".encode()) for c in "<>&\u2028\u2029"]
_SLOT = re.compile(r"@@(CSP|TITLE|CSS|BODY|DATA|ECHARTS|COMMON_JS|PAGE_JS)@@")


class ReportError(ValueError):
    """A run directory the report cannot be built from; the message is one line."""


def build_report(run_dir: Path, html_path: Path | None = None) -> Path:
    """Write the report of ``run_dir`` (default ``run_dir/report.html``); return its path.

    Reads summary.json whole and streams results.jsonl (only the scatter's sample
    is kept), so memory does not grow with the number of requests.
    """
    summary = _read_summary(run_dir)
    data = _report_data(summary, run_dir / "results.jsonl")
    out = html_path if html_path is not None else run_dir / "report.html"
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(_render(data), encoding="utf-8")
        tmp.replace(out)  # a reader never sees half a report
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; else a failure's leftover
    return out


def _read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    try:
        summary = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReportError(f"{path} not found: {run_dir} is not a run directory") from None
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("requests"), dict):
        raise ReportError(f"{path} is not an llmbench summary (no 'requests' block)")
    return summary


def _report_data(summary: dict[str, Any], results: Path) -> dict[str, Any]:
    """Everything the page shows, and nothing else (no prompt, headers or bodies).
    A block of the wrong shape (a hand-edited summary) is left out, not fatal."""
    config = _dict(summary.get("config"))
    data: dict[str, Any] = {key: summary.get(key) for key in _SUMMARY_BLOCKS}
    data["report_version"] = llmbench.__version__
    data["config"] = {key: config.get(key) for key in _CONFIG_KEYS}
    if isinstance(data["config"]["url"], str):  # already stripped by the run; a summary
        data["config"]["url"] = redact_url(data["config"]["url"])  # may be hand-made
    data["stats"] = {
        key: value
        for key, value in summary.items()
        if key.endswith("_ms") and isinstance(value, dict) and "p50" in value
    }
    data["errors"] = [_error_row(row) for row in _dicts(summary.get("errors"))]
    samples = _dict(summary.get("samples")).items()
    data["samples"] = {key: _cap(value, SAMPLE_CAP) for key, value in samples}
    data["definitions"] = _dict(summary.get("definitions"))
    data["labels"] = _LABELS
    data["histograms"] = _histograms(_dict(summary.get("hdr_us")), data["stats"])
    data["workload"] = _workload(config, summary)
    data["breakdowns"] = _breakdowns(summary)
    data["server"] = server_report(summary.get("server"))  # --server-metrics; None: none
    run = _dict(summary.get("run"))
    data["timeseries"] = _timeseries(_dicts(summary.get("timeseries")), run.get("wall_time_s"))
    scatter = _Scatter(SCATTER_CAP, SLOWEST_KEPT)
    for row in iter_results(results):
        if row.get("phase", "measure") == "measure":
            scatter.add(row)
    data["scatter"] = scatter.result(_number(run.get("measured_start_s")))
    return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _workload(config: dict[str, Any], summary: dict[str, Any]) -> str | None:
    """What was sent, from the config keys this summary has (older ones have fewer),
    then the mean lengths measured; no prompt text."""
    parts = []
    if isinstance(config.get("trace"), str):
        parts.append(f"trace {config['trace']}")
    elif isinstance(config.get("prompts_file"), str):
        order = config.get("order")
        what = "sessions" if "sessions" in summary else "prompts"
        parts.append(f"{what} from {config['prompts_file']}" + (f" ({order})" if order else ""))
    elif config.get("input_tokens"):
        parts.append(f"synthetic prompts of {_length(config['input_tokens'])} tokens")
    elif isinstance(config.get("prompt"), str):
        parts.append(f"one prompt of {len(config['prompt']):,} characters")
    if config.get("turns"):
        think = (
            f", think time {_length(config['think_time'])} s" if config.get("think_time") else ""
        )
        parts.append(f"sessions of {_length(config['turns'])} turns{think}")
    if config.get("prefix_tokens"):
        groups = config.get("prefix_groups")
        parts.append(
            f"{_length(groups)} shared prefixes of {_length(config['prefix_tokens'])} tokens"
        )
    out_max = config.get("output_tokens") or config.get("max_tokens")
    if out_max:
        eos = ", ignore_eos" if config.get("ignore_eos") else ""
        parts.append(f"max_tokens {_length(out_max)}{eos}")
    ok, tokens = _dict(summary.get("requests")).get("ok"), _dict(summary.get("tokens"))
    unit = _dict(summary.get("run")).get("token_unit") or "tokens"
    if isinstance(ok, int) and ok > 0 and {"input", "output"} <= tokens.keys():
        mean_in, mean_out = (_int(tokens[k]) / ok for k in ("input", "output"))
        parts.append(f"measured per request: {mean_in:,.0f} input, {mean_out:,.0f} output {unit}")
    return "; ".join(parts) or None


def _breakdowns(summary: dict[str, Any]) -> dict[str, Any]:
    """The Workload section's blocks (turns, prefixes, sessions, input_lengths), those
    that are objects; a hand-made summary's row lists are cut to what a run can have."""
    out = {name: summary[name] for name in WORKLOAD_BLOCKS if isinstance(summary.get(name), dict)}
    for name, rows, cap in (
        ("turns", "rows", TURNS_KEPT + 1),
        ("prefixes", "groups", GROUPS_KEPT + 1),
    ):
        if name in out:
            out[name] = {**out[name], rows: _dicts(out[name].get(rows))[:cap]}
    return out


def _length(value: Any) -> str:
    """``512`` or ``"512:64"`` (mean:stddev) as ``512`` / ``512 ± 64``."""
    text = str(value)
    mean, _, stddev = text.partition(":")
    return f"{mean} ± {stddev}" if stddev else text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _cap(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _error_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": row.get("kind"),
        "http_status": row.get("http_status"),
        "count": row.get("count"),
        "example": _cap(row.get("example"), _EXAMPLE_CAP),
    }


class _Reservoir:
    """A uniform sample of ``cap`` items in one pass (Li's Algorithm L, 1994): random
    numbers are drawn only for the few items that enter, not for every item seen."""

    def __init__(self, cap: int, rng: random.Random) -> None:
        self.cap = cap
        self.items: list[Any] = []
        self.seen = 0
        self._rng = rng
        self._w = 1.0
        self._next = cap - 1  # the index of the next item to enter, once full

    def offer(self, item: Any) -> None:
        index = self.seen
        self.seen += 1
        if index < self.cap:
            self.items.append(item)
            if self.seen == self.cap:
                self._skip()
        elif index == self._next:
            self.items[self._rng.randrange(self.cap)] = item
            self._skip()

    def _skip(self) -> None:
        self._w *= math.exp(math.log(1.0 - self._rng.random()) / self.cap)
        gap = math.log(1.0 - self._rng.random()) / math.log(1.0 - self._w) if self._w < 1 else 0
        self._next += math.floor(gap) + 1


class _Scatter:
    """Start time vs latency in bounded memory. Successes: all of them up to ``cap``,
    beyond that a uniform sample plus the ``slowest`` slowest. Failures: all of them up
    to ``cap`` (then a uniform sample), drawn at their latency, TTFT or TTFB when they
    have one, else on the axis floor."""

    def __init__(self, cap: int, slowest: int) -> None:
        rng = random.Random(0)  # the same run always gives the same report
        self._rng = rng
        self._ok = _Reservoir(cap, rng)  # (start_s, latency_ms, line)
        self._failed = _Reservoir(cap, rng)  # (start_s, ms or None, kind)
        self._slowest_n = min(slowest, cap)
        self._slowest: list[tuple[float, int, float]] = []  # min-heap (latency, line, start)
        self._kinds: dict[str, int] = {}
        self._first: float | None = None  # the earliest start seen

    def add(self, row: dict[str, Any]) -> None:
        x = row.get("start_s")
        if not isinstance(x, int | float):
            return
        self._first = x if self._first is None else min(self._first, x)
        if row.get("status") != "ok":
            kind = self._kinds.setdefault(str(row.get("status")), len(self._kinds))
            y = next((row[k] for k in _FAILED_Y if isinstance(row.get(k), int | float)), None)
            self._failed.offer((x, y, kind))
            return
        y = row.get("latency_ms")
        if not isinstance(y, int | float):
            return
        line = self._ok.seen
        self._ok.offer((x, y, line))
        slowest = self._slowest
        if len(slowest) < self._slowest_n:
            heapq.heappush(slowest, (y, line, x))
        elif slowest and y > slowest[0][0]:
            heapq.heapreplace(slowest, (y, line, x))

    def result(self, origin: float | None = None) -> dict[str, Any]:
        """The points, their start times in seconds from ``origin`` (the measured start,
        where the over-time charts start, in results.jsonl's time), or, when the summary
        does not say where that is, from the first measured request's start."""
        derived = origin is None
        origin = (self._first or 0.0) if origin is None else origin
        ok = self._ok.items
        if self._ok.seen > self._ok.cap:  # make room for the slowest, keep the cap
            slow = {line: (x, y, line) for y, line, x in self._slowest}
            self._rng.shuffle(ok)
            rest = [p for p in ok if p[2] not in slow][: self._ok.cap - len(slow)]
            ok = [*slow.values(), *rest]
        failed = sorted(self._failed.items, key=lambda p: p[0])
        return {
            "ok": sorted([round(x - origin, 3), round(y, 2)] for x, y, _ in ok),
            "failed": [
                [round(x - origin, 3), None if y is None else round(y, 2), k] for x, y, k in failed
            ],
            "kinds": list(self._kinds),
            "ok_total": self._ok.seen,
            "failed_total": self._failed.seen,
            "origin_s": round(origin, 6),
            "origin_from": "first request" if derived else "summary",
        }


def _histograms(hdr: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Per drawn metric: bins, the total, the p50/p95/p99 marks and, for gap metrics,
    ``same_read``: the gaps of 0 (tokens in one read), counted apart from the bins."""
    out: dict[str, Any] = {}
    for name in _HISTOGRAMS:
        encoded = hdr.get(name)
        if not isinstance(encoded, str):
            continue
        try:
            hist = HdrHistogram.decode(encoded)
        except Exception:  # hdrh raises bare Exceptions on a corrupt payload
            continue
        buckets = [
            (low, hist.get_highest_equivalent_value(low), count) for low, count in _nonempty(hist)
        ]
        same_read = 0
        if name in _GAPS:
            same_read = sum(count for low, _, count in buckets if low <= _SAME_READ_US)
            buckets = [b for b in buckets if b[0] > _SAME_READ_US]
        total = hist.get_total_count()
        if total == 0:
            continue
        # Rice's rule (2 * n ** (1/3) bins): 500 samples in 50 bins would draw noise.
        n_bins = min(_HIST_BINS, max(8, math.ceil(2 * (total - same_read) ** (1 / 3))))
        bins = _bins(buckets, n_bins) or {"edges": [], "counts": [], "log": False}
        marks = stats.get(name) or {}
        out[name] = {
            **bins,
            "total": total,
            "same_read": same_read,
            "marks": {p: marks.get(p) for p in ("p50", "p95", "p99")},
        }
    return out


def _nonempty(hist: HdrHistogram) -> list[tuple[int, int]]:
    """(lowest value, count) of every non-empty bucket, in value order."""
    return [(hist.get_value_from_index(i), c) for i, c in enumerate(hist.counts) if c]


def _bins(buckets: list[tuple[int, int, int]], n_bins: int) -> dict[str, Any] | None:
    """(low, high, count) buckets (µs) in ``n_bins`` bins with ms edges, log-spaced when
    the values span more than 20x. Bins start at the minimum, or at p1 when the minimum
    is a far outlier: the first bin then holds those."""
    n = sum(count for _, _, count in buckets)
    if n == 0:
        return None
    target, seen, floor = max(1, math.ceil(n * _HIST_FLOOR_PERCENTILE / 100)), 0, buckets[0][1]
    for _, high, count in buckets:
        seen += count
        if seen >= target:
            floor = high
            break
    low = max(1, buckets[0][0] if buckets[0][0] * 4 >= floor else floor)
    high = max(buckets[-1][1] + 1, low + 1)
    log = high / low > 20
    scale: Callable[[float], float] = math.log if log else float
    step = (scale(high) - scale(low)) / n_bins
    counts = [0] * n_bins
    for value, top, count in buckets:
        mid = (value + top) / 2
        counts[min(int((scale(max(mid, low)) - scale(low)) / step), n_bins - 1)] += count
    edges = [math.exp(math.log(low) + step * i) if log else low + step * i for i in range(n_bins)]
    ms = [round(edge / 1000, 4) for edge in [*edges, high]]
    return {"edges": ms, "counts": counts, "log": log}


def _timeseries(rows: list[dict[str, Any]], wall_s: Any) -> dict[str, Any] | None:
    """Per-bucket series; buckets are 1 s until there are more than _TIMESERIES_CAP rows."""
    if not rows:
        return None
    width = max(1, math.ceil(len(rows) / _TIMESERIES_CAP))
    out: dict[str, Any] = {"width_s": width, **{key: [] for key in _SERIES}}
    # Requests in flight as a bucket opens: started minus finished before it, when the
    # rows count both (a second with no start, such as the run's last, then has one).
    level: int | None = 0 if all("started" in r and "finished" in r for r in rows) else None
    for start in range(0, len(rows), width):
        chunk = rows[start : start + width]
        t = _int(chunk[0].get("t", start))
        seconds = _bucket_seconds(t, len(chunk), wall_s)
        out["t"].append(t)
        out["in_flight"].append(_in_flight(chunk, level))
        if level is not None:
            level += sum(_int(r["started"]) - _int(r["finished"]) for r in chunk)
        for key, field in (("rps", "ok"), ("errors_per_s", "failed")):
            out[key].append(round(sum(_int(r.get(field)) for r in chunk) / seconds, 3))
        tokens = sum(_int(r.get("output_tokens")) for r in chunk)
        out["tokens_per_s"].append(round(tokens / seconds, 1))
        out["ttft_p50_ms"].append(_weighted_ttft(chunk))
    return out


def _in_flight(chunk: list[dict[str, Any]], level: int | None) -> int | None:
    """The bucket's most requests in flight. The Recorder samples it as each request
    starts, and the count only rises at a start: so it is the larger of the level as
    the bucket opens and those samples. Without the level, a bucket with no start has
    no figure (not 0)."""
    samples = [_int(r.get("in_flight")) for r in chunk if _int(r.get("started", 1))]
    if level is None:
        return max(samples) if samples else None
    return max(0, level, *samples)


def _bucket_seconds(t: int, n: int, wall_s: Any) -> float:
    """A bucket's length. The run's last second is usually partial: dividing its count
    by a whole second would draw a drop at the end that never happened."""
    if isinstance(wall_s, int | float) and t < wall_s < t + n:
        return max(wall_s - t, 0.2 * n)
    return n


def _weighted_ttft(chunk: list[dict[str, Any]]) -> float | None:
    """The bucket's per-second TTFT medians, weighted by successes (exact for 1 s)."""
    pairs = [
        (float(r["ttft_p50_ms"]), max(1, _int(r.get("ok"))))
        for r in chunk
        if isinstance(r.get("ttft_p50_ms"), int | float)
    ]
    if not pairs:
        return None
    return round(sum(v * w for v, w in pairs) / sum(w for _, w in pairs), 3)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


@functools.cache
def echarts_source() -> str:
    """The vendored ECharts build: from the installed wheel, else from the checkout."""
    return _read_echarts(
        [
            resources.files(llmbench) / "_vendor" / "echarts" / "echarts.min.js",
            Path(llmbench.__file__).resolve().parents[2] / "vendor/echarts/echarts.min.js",
        ]
    )


def _read_echarts(places: list[Traversable]) -> str:
    for place in places:
        if place.is_file():
            text = place.read_text(encoding="utf-8")
            if "</script" in text.lower():
                raise ReportError(f"{place} contains '</script' and cannot be inlined")
            return text
    raise ReportError(
        "the ECharts build is missing (looked in "
        + ", ".join(str(p) for p in places)
        + "): reinstall llmbench, or restore vendor/echarts/ in a source checkout"
    )


@functools.cache
def _asset(name: str) -> str:
    return (resources.files("llmbench.output") / name).read_text(encoding="utf-8")


def _embed_json(obj: Any) -> str:
    """JSON that cannot end its script element or break a JS string in old parsers."""
    data = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    for raw, escaped in _ESCAPES:
        data = data.replace(raw, escaped)
    return data.decode("utf-8")


def _script_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _render(data: dict[str, Any]) -> str:
    scripts = ("report_server.js", "report.js")  # the Server section's, then the page's
    return render_page("llmbench report", "report_body.html", scripts, data)


def render_page(
    title: str, body: str, script: str | tuple[str, ...], data: Any, css: tuple[str, ...] = ()
) -> str:
    """A report page: report_template.html (the page both reports share) with its slots
    filled: ``title``, the shared report.css then the page's own ``css`` files, the
    ``body`` file's sections, ``data`` as escaped JSON, ECharts, report_common.js and
    the page's own ``script`` (several files: one after the other, in one element), and
    a CSP that lets those three scripts run and nothing else. The sweep report uses it
    too."""
    names = (script,) if isinstance(script, str) else script
    echarts, common = echarts_source(), _script("report_common.js")
    own = "\n".join(_script(name) for name in names)
    hashes = " ".join(_script_hash(code) for code in (echarts, common, own))
    csp = (
        f"default-src 'none'; script-src {hashes}; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    slots = {
        "CSP": csp,
        "TITLE": title,
        "CSS": "".join(_asset(name) for name in ("report.css", *css)),
        "BODY": _asset(body),
        "DATA": _embed_json(data),
        "ECHARTS": echarts,
        "COMMON_JS": common,
        "PAGE_JS": own,
    }
    # One pass: text put into a slot is never searched for further slots.
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("report_template.html"))


def _script(name: str) -> str:
    """One of the package's page scripts, checked that it can be inlined."""
    code = _asset(name)
    if "</script" in code.lower():
        raise ReportError(f"{name} contains '</script' and cannot be inlined")
    return code
