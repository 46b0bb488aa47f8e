"""`llmbench compare BASELINE NEW`: did this run regress against a baseline run?

The comparison itself (`compare_summaries`) is pure and takes two summary dicts; this
module's thin shell loads files, renders text/markdown/json and writes JUnit.

Every metric is judged by its relative change against a tolerance, in the direction that
matters (higher latency is worse, higher throughput is better). ``error_rate`` is the
exception: a relative change from 0 is undefined, and "errors appeared" is exactly what
a CI gate must catch, so it is judged in absolute percentage points (default 0).

Latency rows also have an absolute noise floor (``--min-delta``, default 1 ms): a
sub-millisecond figure such as TTFB on localhost moves by 30% between identical runs
from scheduler jitter alone, and a gate that fails on 0.25 ms is a gate people disable.
A throughput that falls to 0 is a -100% change, not an undefined one.

Figures are comparable only under the same load and workload: a closed-loop c=16 run
against an open-loop 40 req/s run differs for reasons no tolerance describes. The
summaries' ``config`` blocks are compared on what defines both (`config_differences`),
each difference is a warning line, and ``--strict`` refuses the comparison (exit 2).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from llmbench.config import EXIT_USAGE
from llmbench.junit import JUnitCase, write_junit
from llmbench.metric_defs import HISTOGRAM_METRICS, RUN_METRICS
from llmbench.slo import METRICS

__all__ = [
    "CompareError",
    "Row",
    "Tolerances",
    "add_arguments",
    "compare_summaries",
    "config_differences",
    "junit_cases",
    "load_summary",
    "parse_tolerances",
    "render",
    "run",
]

EXIT_OK = 0
EXIT_REGRESSION = 1
DEFAULT_TOLERANCE = 0.10
# Percentage points: any new error against a clean baseline is a regression.
DEFAULT_ERROR_RATE_TOLERANCE = 0.0
# Milliseconds: latency changes smaller than this are noise, whatever their percentage.
DEFAULT_MIN_DELTA_MS = 1.0

Verdict = Literal["ok", "better", "REGRESSION", "not judged"]

_STATS = ("p50", "p90", "p95", "p99")
_ALWAYS = tuple(m.name for m in HISTOGRAM_METRICS if m.compare == "always")
# Optional latency blocks: compared when either run's summary has them.
_OPTIONAL = tuple(m.name for m in HISTOGRAM_METRICS if m.compare == "optional")
_THROUGHPUT = tuple(m.name for m in RUN_METRICS if m.path[:1] == ("throughput",))
_GOODPUT = tuple(m.name for m in RUN_METRICS if m.path[:1] == ("goodput",))
COMPARED = (
    *(f"{fam}_{s}" for fam in (*_ALWAYS, *_OPTIONAL) for s in _STATS),
    *_THROUGHPUT,
    "error_rate",
    *_GOODPUT,
)


class CompareError(ValueError):
    """Bad input to `compare` (a file, a tolerance); one line, exit 2."""


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Allowed change per metric as a fraction (0.1 = 10%); error_rate's is absolute."""

    default: float = DEFAULT_TOLERANCE
    per_metric: Mapping[str, float] = field(default_factory=dict)
    min_delta_ms: float = DEFAULT_MIN_DELTA_MS

    def for_metric(self, name: str) -> float:
        if name in self.per_metric:
            return self.per_metric[name]
        return DEFAULT_ERROR_RATE_TOLERANCE if name == "error_rate" else self.default


@dataclass(frozen=True, slots=True)
class Row:
    """One compared metric. ``change`` is relative (0.5 = +50%), or absolute for error_rate."""

    metric: str
    unit: str
    higher_is_better: bool
    baseline: float | None
    new: float | None
    change: float | None
    tolerance: float
    verdict: Verdict
    note: str = ""


_TOLERANCE = re.compile(
    r"\s*(?:(?P<name>[A-Za-z0-9_.]+)\s*=\s*)?(?P<num>(?:\d+\.?\d*|\.\d+))\s*%\s*"
)


_DELTA = re.compile(r"\s*(?P<num>\d+\.?\d*|\.\d+)\s*(?P<unit>ms|s)\s*", re.IGNORECASE)


def parse_min_delta(value: str) -> float:
    """``--min-delta 2ms`` or ``0.5s`` as milliseconds."""
    m = _DELTA.fullmatch(value)
    if m is None:
        raise CompareError(f"--min-delta must be a duration like 1ms or 0.5s, got {value!r}")
    num = Decimal(m["num"])
    return float(num * 1000 if m["unit"].lower() == "s" else num)


def parse_tolerances(values: Sequence[str], min_delta: str | None = None) -> Tolerances:
    """``10%`` sets the default, ``ttft_p95=5%`` one metric; the last one given wins."""
    default = DEFAULT_TOLERANCE
    per_metric: dict[str, float] = {}
    for value in values:
        m = _TOLERANCE.fullmatch(value)
        if m is None:
            raise CompareError(
                f"--tolerance must be a percentage like 10% or METRIC=5%, got {value!r}"
            )
        fraction = float(Decimal(m["num"]) / 100)
        if m["name"] is None:
            default = fraction
            continue
        name = m["name"].lower().replace(".", "_")
        if name not in COMPARED:
            raise CompareError(
                f"--tolerance names unknown metric {m['name']!r}; valid: {', '.join(COMPARED)}"
            )
        per_metric[name] = fraction
    floor = DEFAULT_MIN_DELTA_MS if min_delta is None else parse_min_delta(min_delta)
    return Tolerances(default, per_metric, floor)


def _present(summary: Mapping[str, Any], name: str) -> bool:
    """Whether a run could have this metric at all (open-loop and goodput blocks are optional)."""
    if name.startswith(_OPTIONAL):
        return f"{name.rsplit('_', 1)[0]}_ms" in summary
    if name in _GOODPUT:
        return "goodput" in summary
    return True


def _judge(name: str, base: float | None, new: float | None, tol: float, floor_ms: float) -> Row:
    metric = METRICS[name]
    row = Row(name, metric.unit, metric.higher_is_better, base, new, None, tol, "not judged")
    if base is None or new is None:
        return _replace(row, note=f"no value in {_side(base is None, new is None)}")
    # Decimal on the shortest repr: 0.33 against 0.30 is +10% exactly, as a reader sees it.
    b, n = _dec(base), _dec(new)
    if name == "error_rate":
        change = n - b
    elif base == 0 or (new == 0 and not metric.higher_is_better):
        return _replace(row, note=f"0 in {_side(base == 0, new == 0)}: no relative change")
    else:
        change = (n - b) / b
    worse = -change if metric.higher_is_better else change
    limit = _dec(tol)
    verdict: Verdict = "REGRESSION" if worse > limit else "better" if worse < -limit else "ok"
    if verdict != "ok" and metric.unit == "ms" and abs(n - b) < _dec(floor_ms):
        return _replace(
            row, change=float(change), verdict="ok", note=f"within the {floor_ms:g} ms noise floor"
        )
    return _replace(row, change=float(change), verdict=verdict)


def _side(in_base: bool, in_new: bool) -> str:
    return "both runs" if in_base and in_new else "the baseline" if in_base else "the new run"


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def _replace(row: Row, **changes: Any) -> Row:
    return Row(**{**asdict(row), **changes})


def compare_summaries(
    base: Mapping[str, Any], new: Mapping[str, Any], tolerances: Tolerances
) -> list[Row]:
    """One row per comparable metric; optional blocks only when either run has them."""
    rows = []
    for name in COMPARED:
        if not (_present(base, name) or _present(new, name)):
            continue
        metric = METRICS[name]
        tol = tolerances.for_metric(name)
        rows.append(_judge(name, metric.read(base), metric.read(new), tol, tolerances.min_delta_ms))
    return rows


# What defines a run's load, then its workload, in summary.json's config. Keys missing
# from either summary (an older llmbench) are not compared.
_LOAD_KEYS = ("concurrency", "rps", "arrival", "burstiness", "burst", "ramp_up_s")
_OPEN_LOOP_KEYS = ("arrival", "burstiness", "burst")  # meaningless in a closed loop
_WORKLOAD_KEYS = (
    "provider", "model", "max_tokens", "ignore_eos", "stream", "token_mode",
    "prompt", "prompts_file", "order", "input_tokens", "output_tokens", "tokenizer",
    "trace", "trace_speed", "prefix_tokens", "prefix_groups", "prefix_pick",
    "turns", "sessions", "think_time", "history",
)  # fmt: skip
_SHOWN_CHARS = 40


def _config(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's config, or None when it is unknown (a recovered or hand-made summary)."""
    config, run = summary.get("config"), summary.get("run")
    if isinstance(run, dict) and run.get("recovered"):
        return None
    return config if isinstance(config, dict) and config else None


def _shown(value: Any) -> str:
    """A config value in a warning: JSON, or its length when it is long (a prompt)."""
    if value is None:
        return "none"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"a {len(value if isinstance(value, str) else text):,}-character value"


def config_differences(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per way the two runs' load or workload differ; a run whose config is
    unknown gets one line saying it cannot be checked."""
    a, b = _config(base), _config(new)
    unknown = [side for side, c in (("the baseline", a), ("the new run", b)) if c is None]
    if a is None or b is None:
        return [
            f"{side}'s config is unknown (a run recovered from results.jsonl, or a "
            "hand-made summary): load and workload cannot be checked"
            for side in unknown
        ]
    loops = ["open loop" if c.get("rps") is not None else "closed loop" for c in (a, b)]
    lines = [] if loops[0] == loops[1] else [f"load differs: baseline {loops[0]}, new {loops[1]}"]
    both_open = loops == ["open loop", "open loop"]
    for key in (*_LOAD_KEYS, *_WORKLOAD_KEYS):
        if key not in a or key not in b or a[key] == b[key]:
            continue
        if key in _OPEN_LOOP_KEYS and not both_open:
            continue
        lines.append(f"{key} differs: baseline {_shown(a[key])}, new {_shown(b[key])}")
    return lines


def load_summary(path: str | Path) -> dict[str, Any]:
    """A run directory's summary.json, or a summary.json path; CompareError otherwise."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareError(
            f"{p}: no such file (give a run directory or its summary.json)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{p}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not {"schema", "requests", "throughput"} <= data.keys():
        raise CompareError(f"{p}: not an llmbench summary.json (no schema/requests/throughput)")
    return data


# -- rendering ---------------------------------------------------------------------------


def _value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "fraction":
        return f"{v * 100:.2f}%"
    digits = 0 if abs(v) >= 100 else 2 if abs(v) >= 1 else 3
    return f"{v:,.{digits}f} {unit}"


def _change(row: Row) -> str:
    if row.change is None:
        return "-"
    if row.metric == "error_rate":
        return f"{row.change * 100:+.2f} pt"
    return f"{row.change * 100:+.1f}%"


def _tolerance(row: Row) -> str:
    return (
        f"{row.tolerance * 100:g} pt" if row.metric == "error_rate" else f"{row.tolerance * 100:g}%"
    )


def _verdict(row: Row) -> str:
    return f"{row.verdict}: {row.note}" if row.note else row.verdict


def _cells(row: Row) -> list[str]:
    return [
        row.metric,
        _value(row.baseline, row.unit),
        _value(row.new, row.unit),
        _change(row),
        _tolerance(row),
        _verdict(row),
    ]


_HEADER = ["metric", "baseline", "new", "change", "tolerance", "verdict"]


def _verdict_line(rows: Sequence[Row]) -> str:
    bad = [r.metric for r in rows if r.verdict == "REGRESSION"]
    unjudged = sum(r.verdict == "not judged" for r in rows)
    tail = f"{len(rows) - unjudged} judged, {unjudged} not judged"
    if bad:
        return f"REGRESSION in {len(bad)} metric(s) beyond tolerance: {', '.join(bad)} ({tail})"
    return f"no regression beyond tolerance ({tail})"


def _text(
    rows: Sequence[Row], base_label: str, new_label: str, warnings: Sequence[str] = ()
) -> str:
    table = [_HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = [f"baseline: {base_label}", f"new:      {new_label}", ""]
    for line in table:
        left = f"{line[0]:<{widths[0]}}"
        nums = "".join(f"  {cell:>{w}}" for cell, w in zip(line[1:5], widths[1:], strict=True))
        lines.append(f"{left}{nums}  {line[5]}")
    return "\n".join([*lines, "", _verdict_line(rows)])


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _markdown(
    rows: Sequence[Row], base_label: str, new_label: str, warnings: Sequence[str] = ()
) -> str:
    lines = [
        "### llmbench compare",
        "",
        f"**{_md(_verdict_line(rows))}**",
        "",
        *(f"> **warning:** {_md(w)}  " for w in warnings),
        *([""] if warnings else []),
        f"baseline: {_md(base_label)}  ",
        f"new: {_md(new_label)}",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        cells = [_md(c) for c in _cells(row)]
        if row.verdict == "REGRESSION":
            cells[5] = f"**{cells[5]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _json(
    rows: Sequence[Row], base_label: str, new_label: str, warnings: Sequence[str] = ()
) -> str:
    doc = {
        "baseline": base_label,
        "new": new_label,
        "passed": not any(r.verdict == "REGRESSION" for r in rows),
        "regressions": [r.metric for r in rows if r.verdict == "REGRESSION"],
        "warnings": list(warnings),
        "rows": [asdict(r) for r in rows],
    }
    return json.dumps(doc, indent=2)


_RENDERERS = {"text": _text, "markdown": _markdown, "json": _json}


def render(
    rows: Sequence[Row], fmt: str, base_label: str, new_label: str, warnings: Sequence[str] = ()
) -> str:
    """The comparison as ``text`` (console), ``markdown`` (PR comment) or ``json``;
    markdown and json carry the ``warnings`` (text leaves them to stderr)."""
    return _RENDERERS[fmt](rows, base_label, new_label, warnings)


def junit_cases(rows: Sequence[Row]) -> list[JUnitCase]:
    """One testcase per row: failed for a regression, skipped when not judged."""
    return [
        JUnitCase(
            name=row.metric,
            classname="llmbench.compare",
            passed=row.verdict != "REGRESSION",
            message=f"baseline {_value(row.baseline, row.unit)}, new {_value(row.new, row.unit)}, "
            f"change {_change(row)}, tolerance {_tolerance(row)}: {_verdict(row)}",
            skipped=row.verdict == "not judged",
        )
        for row in rows
    ]


# -- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `compare` subcommand's arguments."""
    parser.add_argument("baseline", help="baseline run directory or its summary.json")
    parser.add_argument("new", help="new run directory or its summary.json")
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="[METRIC=]PCT%",
        help="allowed change before a row is a regression: 10%% sets the default (10%%), "
        "ttft_p95=5%% one metric; repeatable. error_rate is in percentage points (default 0)",
    )
    parser.add_argument(
        "--min-delta",
        metavar="DURATION",
        help="latency changes smaller than this are noise, never a regression "
        f"(default {DEFAULT_MIN_DELTA_MS:g}ms; 0ms turns the floor off)",
    )
    parser.add_argument(
        "--format",
        choices=tuple(_RENDERERS),
        default="text",
        help="text (default), markdown (for a pull-request comment) or json",
    )
    parser.add_argument(
        "--junit", metavar="FILE", help="also write JUnit XML: one testcase per metric"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse (exit 2) two runs whose load or workload differ (loop, concurrency, "
        "rps, arrival, ramp-up, model, prompts, max_tokens, ...); without it each "
        "difference is a warning on stderr",
    )


def run(args: argparse.Namespace) -> int:
    """0 no regression, 1 a regression beyond tolerance, 2 bad input or, with
    ``--strict``, runs of different load or workload (one line on stderr)."""
    try:
        tolerances = parse_tolerances(args.tolerance or [], args.min_delta)
        base = load_summary(args.baseline)
        new = load_summary(args.new)
    except CompareError as exc:
        print(f"llmbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    warnings = config_differences(base, new)
    if args.strict and warnings and all(_config(s) is not None for s in (base, new)):
        print(
            "llmbench compare: error: the runs' load or workload differ (--strict): "
            + "; ".join(warnings),
            file=sys.stderr,
        )
        return EXIT_USAGE
    for warning in warnings:
        print(f"llmbench compare: warning: {warning}", file=sys.stderr)
    rows = compare_summaries(base, new, tolerances)
    print(render(rows, args.format, str(args.baseline), str(args.new), warnings))
    if args.junit:
        try:
            write_junit(args.junit, "llmbench compare", junit_cases(rows))
        except OSError as exc:
            print(f"llmbench compare: error: cannot write {args.junit}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_REGRESSION if any(r.verdict == "REGRESSION" for r in rows) else EXIT_OK
