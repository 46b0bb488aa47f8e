"""SLO checks on a run's summary, and per-request goodput criteria.

Pure: expressions and summaries in, verdicts out. No I/O, no clock, no event loop,
so the CI gate's arithmetic is tested with plain dicts.

Thresholds are parsed with ``Decimal`` and stored in the summary's own unit
(milliseconds, a fraction, or per second), so ``ttft_p95<=500ms`` compares against
exactly the number summary.json holds and a value at the threshold passes.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

from llmbench.metric_defs import HISTOGRAM_METRICS, RUN_METRICS, STATS, Kind, metric
from llmbench.result import RequestResult

__all__ = [
    "METRICS",
    "PER_TOKEN_FIGURES",
    "GoodputSpec",
    "Metric",
    "SloCheck",
    "SloError",
    "SloResult",
    "evaluate",
    "format_table",
    "goodput_block",
    "judge",
    "parse_goodput",
    "parse_slo",
    "parse_slos",
    "refuse_per_token_criteria",
    "require_goodput",
    "require_open_loop",
    "show_figure",
    "slo_block",
]

Op = Literal["<=", "<", ">=", ">"]


class SloError(ValueError):
    """A malformed SLO or goodput expression; the message is one line for the CLI."""


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure of summary.json that an SLO (or `llmbench compare`) can name."""

    name: str
    kind: Kind
    unit: str  # the unit summary.json stores it in
    higher_is_better: bool
    path: tuple[str, ...]  # keys into summary.json; error_rate is computed instead

    def read(self, summary: Mapping[str, Any]) -> float | None:
        """The measured value, or None when the summary has none (no success, no block)."""
        if self.name == "error_rate":
            return _error_rate(summary)
        node: Any = summary
        for key in self.path:
            if not isinstance(node, Mapping) or node.get(key) is None:
                return None
            node = node[key]
        if isinstance(node, bool) or not isinstance(node, int | float):
            return None
        return float(node) if math.isfinite(node) else None


def _error_rate(summary: Mapping[str, Any]) -> float | None:
    req = summary.get("requests")
    if not isinstance(req, Mapping) or not req.get("total"):
        return None
    return float(req["failed"]) / float(req["total"])


def _build_metrics() -> dict[str, Metric]:
    """Every name an SLO can use, from the metric table: ``{family}_{stat}`` for each
    histogram metric (the block summary.json holds), and each run metric by its name."""
    table: dict[str, Metric] = {}
    for m in HISTOGRAM_METRICS:
        for stat in STATS:
            name = f"{m.name}_{stat}"
            table[name] = Metric(name, "ms", "ms", False, (m.key, stat))
    for m in RUN_METRICS:
        table[m.name] = Metric(m.name, m.kind, m.unit, m.higher_is_better, m.path)
    return table


METRICS: Mapping[str, Metric] = _build_metrics()
# The SLO names of figures measured from the intended send time (open loop only).
_OPEN_LOOP_ONLY = frozenset(
    [f"{m.name}_{stat}" for m in HISTOGRAM_METRICS if m.open_loop_only for stat in STATS]
    + [m.name for m in RUN_METRICS if m.open_loop_only]
)

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
# A plain decimal: no sign, no "nan"/"inf", no "1_000" (float() would take all three).
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_EXPR = re.compile(
    rf"\s*(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    rf"(?P<num>{_NUMBER})\s*(?P<unit>ms|s|%)?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SloCheck:
    """One parsed ``--slo`` expression; ``threshold`` is in the metric's summary unit."""

    expr: str
    metric: str
    op: Op
    threshold: float
    unit: str

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.threshold)


@dataclass(frozen=True, slots=True)
class SloResult:
    """A check with what was measured; ``measured`` None (nothing to measure) fails."""

    check: SloCheck
    measured: float | None
    passed: bool
    reason: str = ""  # why it failed whatever was measured ("" when the value decides)


def _names_hint() -> str:
    fams = "|".join(m.name for m in HISTOGRAM_METRICS)
    stats = "|".join(STATS)
    others = ", ".join(n for n, m in METRICS.items() if m.kind != "ms")
    return f"valid metrics: {{{fams}}}_{{{stats}}}, {others}"


def _scale(num: Decimal, unit: str, metric: Metric, expr: str) -> float:
    """The threshold in the summary's unit; a unit that does not fit the metric is an error."""
    if metric.kind == "ms" and unit in ("", "ms", "s"):
        return float(num * 1000 if unit == "s" else num)
    if metric.kind == "fraction" and unit in ("", "%"):
        value = num / 100 if unit == "%" else num
        if value > 1:
            raise SloError(f"{expr!r}: {metric.name} is a fraction in 0..1; write it as e.g. 5%")
        return float(value)
    if metric.kind == "rate" and unit == "":
        return float(num)
    allowed = {"ms": "ms, s or none (ms)", "fraction": "% or none (a fraction)", "rate": "none"}
    raise SloError(
        f"{expr!r}: unit {unit or 'none'!r} does not fit {metric.name}; use {allowed[metric.kind]}"
    )


def parse_slo(expr: str) -> SloCheck:
    """One expression such as ``ttft_p95<=500ms``; raises SloError naming the problem."""
    text = expr.strip()
    if not text:
        raise SloError(f"empty SLO expression; expected NAME<=VALUE[ms|s|%]; {_names_hint()}")
    m = _EXPR.fullmatch(text)
    if m is None:
        raise SloError(
            f"malformed SLO {text!r}: expected NAME OP VALUE[UNIT] with OP one of <=, <, >=, > "
            f"and UNIT ms, s or %, e.g. ttft_p95<=500ms; {_names_hint()}"
        )
    name = m["name"].lower().replace(".", "_")
    metric = METRICS.get(name)
    if metric is None:
        raise SloError(f"unknown SLO metric {m['name']!r} in {text!r}; {_names_hint()}")
    unit = (m["unit"] or "").lower()
    threshold = _scale(Decimal(m["num"]), unit, metric, text)
    op = cast(Op, m["op"])
    return SloCheck(expr=text, metric=name, op=op, threshold=threshold, unit=metric.unit)


def parse_slos(values: Iterable[str]) -> list[SloCheck]:
    """Every ``--slo`` value, each possibly comma-separated, in the order given."""
    return [parse_slo(part) for value in values for part in value.split(",")]


def require_goodput(checks: Sequence[SloCheck], spec: GoodputSpec | None) -> None:
    """Goodput SLOs mean nothing without per-request criteria: a usage error, caught early."""
    if spec is None:
        for check in checks:
            if check.metric.startswith("goodput_"):
                raise SloError(
                    f"{check.expr!r} needs --goodput criteria, e.g. --goodput ttft:500ms,tpot:50ms"
                )


def require_open_loop(checks: Sequence[SloCheck], open_loop: bool) -> None:
    """A metric measured from the intended send time (``queue_*``,
    ``ttft_from_intended_*``, ...) exists only in open loop (--rps): in a closed-loop run
    an SLO on it could only fail at the end, so it is a usage error, caught early."""
    if open_loop:
        return
    for check in checks:
        if check.metric in _OPEN_LOOP_ONLY:
            raise SloError(
                f"{check.expr!r}: {check.metric} is measured only in open loop (--rps); "
                "this run is closed loop (--concurrency)"
            )


def evaluate(checks: Sequence[SloCheck], summary: Mapping[str, Any]) -> list[SloResult]:
    """Each check against the summary; a metric with no value fails."""
    results = []
    for check in checks:
        measured = METRICS[check.metric].read(summary)
        passed = measured is not None and check.holds(measured)
        results.append(SloResult(check, measured, passed))
    return results


def judge(
    summary: Mapping[str, Any],
    checks: Sequence[SloCheck],
    goodput: GoodputSpec | None = None,
    *,
    any_unit: bool = False,
) -> tuple[dict[str, Any], list[SloResult]]:
    """The summary with its ``slo`` block (None without checks), and every verdict.
    Unless ``any_unit`` (--allow-char-slo), a per-token criterion fails when the run
    counted something other than tokens (:func:`unit_verdicts`)."""
    results = evaluate(checks, summary)
    if not any_unit:
        run = summary.get("run")
        unit = run.get("token_unit", "tokens") if isinstance(run, Mapping) else "tokens"
        results = unit_verdicts(results, goodput, unit)
    return {**summary, "slo": slo_block(results) if checks else None}, results


def unit_verdicts(
    results: Sequence[SloResult], goodput: GoodputSpec | None, unit: str
) -> list[SloResult]:
    """``results``, with every criterion on a per-token figure failed when the run's
    figures are in ``unit`` other than "tokens": checked before the run when the unit
    is known then (and at the pre-flight reply), this is the last word for a run whose
    server stopped sending usage, or one started with --no-preflight. A goodput check
    fails too when its criteria bound a per-token figure."""
    if unit == "tokens":
        return list(results)
    goodput_per_token = goodput is not None and any(_per_token(k) for k, _ in goodput.bounds_ms)
    reason = f"counted in {unit}, not tokens (--allow-char-slo judges it anyway)"
    return [
        SloResult(r.check, r.measured, False, reason)
        if _per_token(r.check.metric)
        or (goodput_per_token and r.check.metric.startswith("goodput_"))
        else r
        for r in results
    ]


def slo_block(results: Sequence[SloResult]) -> dict[str, Any]:
    """summary.json's ``slo`` block: overall pass and every check, values in summary units."""
    return {
        "passed": all(r.passed for r in results),
        "checks": [
            {
                "expr": r.check.expr,
                "metric": r.check.metric,
                "op": r.check.op,
                "threshold": r.check.threshold,
                "unit": r.check.unit,
                "measured": r.measured,
                "passed": r.passed,
                **({"reason": r.reason} if r.reason else {}),
            }
            for r in results
        ],
    }


def show_figure(value: float | None, unit: str) -> str:
    """A figure as the SLO table (and JUnit) prints it: fractions as percentages."""
    if value is None:
        return "no value"
    if unit == "fraction":
        return f"{value * 100:.3g} %"
    return f"{value:,.6g} {unit}"


def format_table(results: Sequence[SloResult]) -> str:
    """The console's PASS/FAIL table, one row per check, then the verdict line."""
    rows = [("SLO", "measured", "threshold", "result")]
    for r in results:
        c = r.check
        verdict = "PASS" if r.passed else f"FAIL: {r.reason}" if r.reason else "FAIL"
        measured, threshold = show_figure(r.measured, c.unit), show_figure(c.threshold, c.unit)
        rows.append((c.expr, measured, f"{c.op} {threshold}", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        for row in rows
    ]
    failed = sum(not r.passed for r in results)
    lines.append(f"SLO: {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


# -- goodput -----------------------------------------------------------------------------

GOODPUT_KEYS = tuple(m.name for m in HISTOGRAM_METRICS if m.goodput)
# vLLM's benchmark spells end-to-end latency "e2el"; accept its --goodput strings as they are.
_GOODPUT_ALIASES = {"e2el": "latency"}
# ``ttft:500ms``, ``ttft=500ms`` or ``ttft<=500ms``: each is an upper bound.
_BOUND = re.compile(
    rf"\s*(?P<key>[a-z0-9_]+)\s*(?::|=|<=)\s*(?P<num>{_NUMBER})\s*(?P<unit>ms|s)?\s*"
)


@dataclass(frozen=True, slots=True)
class GoodputSpec:
    """Per-request bounds in milliseconds (DistServe's goodput): a request is good when
    it succeeded and met every bound. ``itl`` bounds the request's largest gap."""

    bounds_ms: tuple[tuple[str, float], ...]

    def criteria(self) -> dict[str, float]:
        return {f"{key}_ms": ms for key, ms in self.bounds_ms}

    def is_good(self, result: RequestResult) -> bool:
        if not result.ok:
            return False
        return all(_met(result, key, ms * 1e6) for key, ms in self.bounds_ms)


def _met(r: RequestResult, key: str, bound_ns: float) -> bool:
    if key == "tpot":
        tpot = r.tpot_ns
        # No TPOT is fine only when there was nothing to time: fewer than two tokens,
        # or all of them in one content event (the same rule as RequestResult.tpot_ns).
        if tpot is None:
            return (r.output_tokens or 0) < 2 or r.chunks == 1
        return tpot <= bound_ns
    if key == "itl":  # per-token gaps: a chunk's gap is shared by its tokens
        return max((gap for gap, _ in r.itl_ns), default=0.0) <= bound_ns
    of = metric(key).value
    value = None if of is None else of(r)
    return value is not None and value <= bound_ns


def parse_goodput(text: str) -> GoodputSpec:
    """``ttft:500ms,tpot:50ms,latency:10s`` (or ``ttft<=500ms``; bare numbers are ms);
    raises SloError."""
    keys = ", ".join(GOODPUT_KEYS)
    hint = f"expected KEY:VALUE[ms|s] pairs, e.g. ttft:500ms,tpot:50ms; keys: {keys}"
    bounds: dict[str, float] = {}
    for part in text.split(","):
        m = _BOUND.fullmatch(part.lower())
        if m is None:
            raise SloError(f"malformed --goodput part {part.strip()!r}: {hint}")
        key = _GOODPUT_ALIASES.get(m["key"], m["key"])
        if key not in GOODPUT_KEYS:
            raise SloError(f"unknown --goodput key {key!r}: {hint}")
        if key in bounds:
            raise SloError(f"--goodput key {key!r} given twice")
        num = Decimal(m["num"])
        bounds[key] = float(num * 1000 if m["unit"] == "s" else num)
    return GoodputSpec(tuple(bounds.items()))


def goodput_block(spec: GoodputSpec, good: int, total: int, wall_s: float) -> dict[str, Any]:
    """summary.json's ``goodput`` block; ``total`` is every measured request, failed too."""
    return {
        "requests_per_s": round(good / wall_s, 3) if wall_s > 0 else 0.0,
        "ratio": good / total if total else None,
        "good": good,
        "total": total,
        "criteria": spec.criteria(),
    }


# The figures whose value depends on what a "token" is: per token, or tokens a second.
PER_TOKEN_FIGURES = ("tpot", "itl", "output_tokens_per_s", "total_tokens_per_s")


def _per_token(name: str) -> bool:
    return any(name == f or name.startswith(f + "_") for f in PER_TOKEN_FIGURES)


def refuse_per_token_criteria(
    checks: Iterable[SloCheck], goodput: GoodputSpec | None, unit: str
) -> None:
    """SloError when an --slo or --goodput criterion is on a per-token figure and the
    run cannot count real tokens (``unit`` is not "tokens"): a TPOT of characters
    passes a token SLO it should fail (issue 13). ``--allow-char-slo`` opts in."""
    if unit == "tokens":
        return
    named = [c.expr for c in checks if _per_token(c.metric)]
    bounds = goodput.bounds_ms if goodput else ()
    named += [f"--goodput {key}" for key, _ in bounds if _per_token(key)]
    if named:
        raise SloError(
            f"{', '.join(named)}: this run counts {unit}, not tokens, so per-token figures "
            "are not comparable to a token target; give --tokenizer, let the server send "
            "usage, or pass --allow-char-slo to judge them in that unit"
        )
