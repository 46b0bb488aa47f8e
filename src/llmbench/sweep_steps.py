"""A sweep's steps as figures and verdicts, its answer and its knee: pure functions over
each step's summary.json, so sweep.json, sweep.csv and the console say the same thing.

Verdicts, in the order they are decided (the first that holds):

- ``client_limited``: llmbench's own self-check says the client saturated, so the
  step's latencies include client delay; or the step's --concurrency cap, not the
  server, held the load back (:mod:`llmbench.overload`). Never the server's limit.
- ``overloaded``: the step was stopped early (:mod:`llmbench.overload`) or at
  --max-error-rate, or fewer than :data:`OK_SHARE_MIN` of its requests succeeded
  (errors, or requests still unfinished when its grace period ended): the server did
  not keep up.
- ``slo_failed``: an --slo failed, or goodput fell below --goodput-target.
- ``ok``: the load is sustainable under every SLO.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from llmbench.slo import show_figure
from llmbench.sweep_search import FAILING, Bracket, Verdict

__all__ = [
    "CSV_COLUMNS",
    "OK_SHARE_MIN",
    "Mode",
    "achieved_rate",
    "answer_block",
    "judge_step",
    "knee_block",
    "load_text",
    "sending_window_s",
    "step_line",
    "step_record",
    "sweep_csv",
]

Mode = Literal["rate", "concurrency"]
# A step in which fewer than this share of the requests succeeded (errors, or requests
# cut off at its end) is past what the server sustains, whatever its latencies say.
OK_SHARE_MIN = 0.9
_FIGURES = ("ttft_ms", "tpot_ms", "itl_ms", "latency_ms")
_STATS = ("p50", "p95", "p99")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _block(summary: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = summary.get(key)
    return value if isinstance(value, Mapping) else {}


def load_text(load: float, mode: Mode) -> str:
    return f"{load:g} req/s" if mode == "rate" else f"concurrency {load:g}"


def judge_step(
    summary: Mapping[str, Any], mode: Mode, load: float, goodput_target: float | None
) -> tuple[Verdict, list[str]]:
    """The step's verdict and the reasons behind it (empty for ``ok``)."""
    client = _block(summary, "client")
    if client.get("saturated"):
        reasons = [str(r) for r in client.get("saturation_reasons") or []]
        return "client_limited", [f"the client saturated: {'; '.join(reasons) or 'see summary'}"]
    run, requests = _block(summary, "run"), _block(summary, "requests")
    if run.get("stop_reason") == "overloaded":
        return "overloaded", [f"stopped early: {run.get('overload') or 'overloaded'}"]
    if run.get("stop_reason") == "client cap":
        return "client_limited", [f"stopped early: {run.get('overload') or 'the client cap'}"]
    stop = run.get("error_rate_stop")
    if isinstance(stop, Mapping):
        observed = _num(stop.get("observed")) or 0.0
        return "overloaded", [
            f"stopped at --max-error-rate: {observed:.0%} of the last {stop.get('window')} failed"
        ]
    ok, total = _num(requests.get("ok")) or 0.0, _num(requests.get("total")) or 0.0
    if not ok:
        return "overloaded", ["no request succeeded"]
    if ok < OK_SHARE_MIN * total:
        return "overloaded", [
            f"only {ok / total:.0%} of the requests succeeded ({total - ok:,.0f} failed or "
            "were cut off): the server did not keep up"
        ]
    reasons = []
    slo = _block(summary, "slo")
    for check in slo.get("checks") or []:
        if isinstance(check, Mapping) and not check.get("passed"):
            measured = show_figure(_num(check.get("measured")), str(check.get("unit")))
            why = f" ({check['reason']})" if check.get("reason") else ""
            reasons.append(f"{check.get('expr')}: measured {measured}{why}")
    ratio = _num(_block(summary, "goodput").get("ratio"))
    if goodput_target is not None and (ratio is None or ratio * 100 < goodput_target):
        shown = "no value" if ratio is None else f"{ratio * 100:.1f}%"
        reasons.append(f"goodput {shown} < --goodput-target {goodput_target:g}%")
    return ("slo_failed", reasons) if reasons else ("ok", [])


def sending_window_s(summary: Mapping[str, Any]) -> float | None:
    """How long the step sent requests: from its measured start to the end of the last
    second in which it sent one (at most its --duration); None without per-second rows."""
    rows = summary.get("timeseries")
    if not isinstance(rows, list):
        return None
    sent = [
        r["t"]
        for r in rows
        if isinstance(r, Mapping) and isinstance(r.get("t"), int) and _num(r.get("started"))
    ]
    if not sent:
        return None
    window = float(max(sent) + 1)
    duration = _num(_block(summary, "config").get("duration_s"))
    return min(window, duration) if duration else window


def achieved_rate(summary: Mapping[str, Any], per: Literal["requests", "tokens"]) -> float | None:
    """Successes (or their output tokens) per second of the sending window: each request
    the step sent counts once, whenever it finished. Not the headline rate, which
    divides by the wall time, drain included: a short step of long streams would read
    below its offered rate while the server kept up. Without a window, the headline."""
    window = sending_window_s(summary)
    if window:
        count = (
            _num(_block(summary, "requests").get("ok"))
            if per == "requests"
            else _num(_block(summary, "tokens").get("output"))
        )
        if count is not None:
            return round(count / window, 3)
    headline = "requests_per_s" if per == "requests" else "output_tokens_per_s"
    return _num(_block(summary, "throughput").get(headline))


def _percentiles(summary: Mapping[str, Any], key: str) -> dict[str, float | None] | None:
    block = summary.get(key)
    if not isinstance(block, Mapping):
        return None
    return {stat: _num(block.get(stat)) for stat in _STATS}


def step_record(
    index: int,
    role: str,
    load: float,
    directory: str,
    summary: Mapping[str, Any],
    *,
    mode: Mode,
    goodput_target: float | None,
) -> dict[str, Any]:
    """One entry of sweep.json's ``steps``: the load, the verdict and the figures."""
    verdict, reasons = judge_step(summary, mode, load, goodput_target)
    run, requests = _block(summary, "run"), _block(summary, "requests")
    goodput = _block(summary, "goodput")
    figures = {key: _percentiles(summary, key) for key in _FIGURES}
    tpot = figures["tpot_ms"]
    tpot_p50 = tpot.get("p50") if tpot else None
    ratio = _num(goodput.get("ratio"))
    ok, total = _num(requests.get("ok")) or 0, _num(requests.get("total")) or 0
    # cut off by the step's end (an early stop cancels at once): not the server's errors
    canceled = _num(_block(requests, "by_status").get("canceled")) or 0
    return {
        "index": index,
        "role": role,
        "load": load,
        "dir": directory,
        "verdict": verdict,
        "reasons": reasons,
        "stop_reason": str(run.get("stop_reason") or ""),
        "duration_s": _num(run.get("wall_time_s")),
        "requests": {
            "ok": int(ok),
            "failed": int(max(0, total - ok - canceled)),
            "canceled": int(canceled),
        },
        "achieved_rps": achieved_rate(summary, "requests"),
        "output_tokens_per_s": achieved_rate(summary, "tokens"),
        **figures,
        "goodput_percent": None if ratio is None else round(ratio * 100, 3),
        "per_user_tokens_per_s": round(1000 / tpot_p50, 3) if tpot_p50 else None,
    }


def _figure(step: Mapping[str, Any], key: str, stat: str) -> float | None:
    block = step.get(key)
    return _num(block.get(stat)) if isinstance(block, Mapping) else None


def step_line(step: Mapping[str, Any], mode: Mode) -> str:
    """The console's line for a finished step."""

    def ms(key: str, stat: str) -> str:
        value = _figure(step, key, stat)
        return "-" if value is None else f"{value:,.0f}"

    achieved = _num(step.get("achieved_rps"))
    verdict = str(step["verdict"])
    reasons = step.get("reasons") or []
    why = f": {reasons[0]}" if reasons and verdict != "ok" else ""
    return (
        f"{step['role']:>6} {load_text(step['load'], mode):>17}  achieved "
        f"{'-' if achieved is None else f'{achieved:.3g}'} req/s  TTFT p50/p95 "
        f"{ms('ttft_ms', 'p50')}/{ms('ttft_ms', 'p95')} ms  TPOT p95 {ms('tpot_ms', 'p95')} ms"
        f"  {verdict.upper()}{why}"
    )


def _at(steps: Sequence[Mapping[str, Any]], load: float | None, failing: bool) -> int | None:
    """The index of the latest step at ``load`` with a failing (or passing) verdict."""
    if load is None:
        return None
    found = None
    for i, s in enumerate(steps):
        if s["load"] == load and (s["verdict"] in FAILING if failing else s["verdict"] == "ok"):
            found = i
    return found


def answer_block(
    steps: Sequence[Mapping[str, Any]], b: Bracket, mode: Mode, high: float | None
) -> dict[str, Any]:
    """sweep.json's ``answer``: the highest load that passed below every fail, what
    bounds it, and one sentence saying so. ``lower_bound``: the server's limit is higher
    still (every load tried passed, or the client set the limit)."""
    unit = "req/s" if mode == "rate" else "concurrency"
    at = _at(steps, b.passed, failing=False)
    bound_at = _at(steps, b.failed, failing=True)
    bounded_by = list(steps[bound_at]["reasons"]) if bound_at is not None else []
    limited = b.ceiling is not None and (b.failed is None or b.ceiling < b.failed)
    client = _client_limit(steps, b.ceiling, mode) if limited else ""
    if b.passed is None:
        if limited:
            text = f"no answer: before any load passed, {client}"
        elif b.failed is not None:
            text = f"no load met the SLOs: even {load_text(b.failed, mode)} failed" + (
                f" ({bounded_by[0]})" if bounded_by else ""
            )
        else:
            text = "no answer: no step was measured"
    else:
        figures = _answer_figures(steps[at]) if at is not None else ""
        head = f"max sustainable load: {load_text(b.passed, mode)}{figures}"
        if limited:
            text = f"{head}; at least that: {client}"
        elif b.failed is not None:
            text = f"{head}; bounded at {load_text(b.failed, mode)} by " + (
                bounded_by[0] if bounded_by else "a failed step"
            )
        else:
            limit = f" (--max {high:g})" if high is not None else ""
            text = f"{head}; at least that: every SLO held up to the highest load tried{limit}"
    return {
        "found": b.passed is not None,
        "load": b.passed,
        "lower_bound": b.passed is not None and (limited or b.failed is None),
        "load_unit": unit,
        "step": at,
        "bounded_by": bounded_by,
        "bound_load": b.failed,
        "client_limited_at": b.ceiling if limited else None,
        "text": text,
    }


def _client_limit(steps: Sequence[Mapping[str, Any]], load: float | None, mode: Mode) -> str:
    """Why the client, not the server, set the limit at ``load``, and what to do."""
    reasons = [s["reasons"][0] for s in steps if s["load"] == load and s.get("reasons")]
    why = f" ({reasons[0]})" if reasons else ""
    where = load_text(load or 0, mode)
    if reasons and "--concurrency cap" in reasons[0]:
        return f"at {where} the --concurrency cap held the load back{why}; raise --concurrency"
    return f"the client saturated at {where}{why}; rerun with --workers N for the server's limit"


def _answer_figures(step: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("latency_ms", "E2E")):
        value = _figure(step, key, "p95")
        if value is not None:
            parts.append(f"{label} p95 {value:,.0f} ms")
    achieved = _num(step.get("achieved_rps"))
    if achieved is not None:
        parts.append(f"achieved {achieved:.3g} req/s")
    return f" ({', '.join(parts)})" if parts else ""


def knee_block(steps: Sequence[Mapping[str, Any]], mode: Mode) -> dict[str, Any] | None:
    """Where the latency-throughput curve bends: the load with the highest *power*,
    achieved throughput / median E2E latency (Kleinrock's optimal operating point):
    below it, more load adds throughput at little latency; past it, each request a
    second more costs more latency than it adds. None with fewer than three usable
    steps (client-limited ones are not), or when the power still rises at the highest
    load measured (the curve has not bent yet)."""
    usable = []
    for i, s in enumerate(steps):
        latency = _figure(s, "latency_ms", "p50")
        achieved = _num(s.get("achieved_rps"))
        if s["verdict"] != "client_limited" and latency and achieved is not None:
            usable.append((s["load"], achieved / latency, i))
    if len(usable) < 3:
        return None
    usable.sort()
    load, _, index = max(usable, key=lambda u: u[1])
    if load == usable[-1][0]:
        return None
    return {"load": load, "step": index}


CSV_COLUMNS = (
    "index", "role", "load", "verdict", "achieved_rps", "output_tokens_per_s",
    *(f"{key.removesuffix('_ms')}_{stat}_ms" for key in _FIGURES for stat in _STATS),
    "goodput_percent", "per_user_tokens_per_s", "requests_ok", "requests_failed",
    "requests_canceled",
    "duration_s", "stop_reason", "reasons", "dir",
)  # fmt: skip
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def sweep_csv(steps: Sequence[Mapping[str, Any]]) -> str:
    """sweep.csv: one row per step, in the order they ran."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in steps:
        row: dict[str, Any] = {k: s.get(k) for k in CSV_COLUMNS}
        for key in _FIGURES:
            for stat in _STATS:
                row[f"{key.removesuffix('_ms')}_{stat}_ms"] = _figure(s, key, stat)
        requests = s.get("requests") or {}
        row["requests_ok"], row["requests_failed"] = requests.get("ok"), requests.get("failed")
        row["requests_canceled"] = requests.get("canceled")
        row["reasons"] = "; ".join(s.get("reasons") or [])
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()
