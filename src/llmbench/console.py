"""What the terminal shows: the live line and the final summary table. Pure text."""

from __future__ import annotations

from typing import Any

from llmbench.metric_defs import console_rows
from llmbench.metrics import Recorder

__all__ = ["live_line", "progress_bar", "summary_table"]

_BAR_WIDTH = 24


def progress_bar(fraction: float) -> str:
    """``[#########...............]  38%`` for count- or time-bounded runs."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * _BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {100 * fraction:3.0f}%"


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def live_line(
    elapsed_s: float, rec: Recorder, in_flight: int, cap: int, unit: str = "tokens"
) -> str:
    """One line per second: the whole run so far, plus TTFT/TPOT of the last second."""
    stats = rec.statistics()
    done = stats.finished
    ok_rate = 100.0 * stats.ok / done if done else 100.0
    rps = stats.ok / elapsed_s if elapsed_s > 0 else 0.0
    tps = stats.output_tokens / elapsed_s if elapsed_s > 0 else 0.0
    ttft, tpot = stats.last_ttft_p50_ms, stats.last_tpot_p50_ms
    per_s = "chars/s" if unit == "chars" else "tok/s"
    return (
        f"[{elapsed_s:6.1f}s] in-flight {in_flight}/{cap} | done {done:,} | ok {ok_rate:.1f}% | "
        f"{rps:,.1f} req/s | {tps:,.0f} {per_s} | TTFT p50 {_fmt_ms(ttft)} | "
        f"TPOT {_fmt_ms(tpot)} | errors {stats.failed:,}"
    )


def _open_loop_notes(summary: dict[str, Any]) -> list[str]:
    """Which rows are which in an open-loop run, and how many requests started late."""
    late = summary.get("late_starts")
    if late is None:
        return []
    total = summary["requests"]["total"]
    return [
        "TTFT/Latency rows: service time, from the moment each request was sent.",
        "'from intended' rows: from the scheduled send time, client-side queueing included.",
        f"Late starts: {late['count']:,} of {total:,} requests sent more than "
        f"{late['threshold_ms']:g} ms after their scheduled time.",
        *(
            [
                f"Never sent: {late['never_sent']:,} requests were due before the run "
                "stopped but waited for the --concurrency cap until the end."
            ]
            if late.get("never_sent")
            else []
        ),
    ]


# The percentile rows, in the metric table's order (each appears when the run has it).
_ROWS = tuple((m.label, m.key) for m in console_rows())


def _unit(run: dict[str, Any]) -> str:
    unit = run.get("token_unit", "tokens")
    return unit if isinstance(unit, str) else "tokens"


def _per_s(run: dict[str, Any]) -> str:
    return "chars/s" if _unit(run) == "chars" else "tok/s"


def summary_table(summary: dict[str, Any]) -> str:
    """The final table: counts, throughput, then a percentile row per latency metric."""
    req = summary["requests"]
    thr = summary["throughput"]
    tok = summary["tokens"]
    run = summary["run"]
    lines = [
        f"Requests: {req['total']:,} total, {req['ok']:,} ok, {req['failed']:,} failed"
        f"   wall time {run['wall_time_s']:.2f} s",
        f"Throughput: {thr['requests_per_s']:,.2f} req/s, "
        f"{thr['output_tokens_per_s']:,.1f} output {_per_s(run)}, "
        f"{thr['total_tokens_per_s']:,.1f} total {_per_s(run)}",
        f"{_unit(run).capitalize()}: {tok['input']:,} input, {tok['output']:,} output "
        f"(source: {', '.join(tok['sources']) or '-'})",
        "",
        f"{'metric':<24}{'p50':>11}{'p90':>11}{'p95':>11}{'p99':>11}{'max':>11}",
    ]
    for label, key in _ROWS:
        stats = summary.get(key)
        if not stats:
            continue
        cells = "".join(f"{stats[p]:>11,.2f}" for p in ("p50", "p90", "p95", "p99", "max"))
        lines.append(f"{label + ' (ms)':<24}{cells}")
    lines.extend(_open_loop_notes(summary))
    goodput = summary.get("goodput")
    if goodput:
        ratio = "-" if goodput["ratio"] is None else f"{100 * goodput['ratio']:.1f}%"
        lines.append(
            f"Goodput: {goodput['requests_per_s']:,.2f} req/s, {ratio} of requests "
            f"({goodput['good']:,}/{goodput['total']:,}) met {goodput['criteria']}"
        )
    for err in summary["errors"]:
        code = f" {err['http_status']}" if err["http_status"] else ""
        lines.append(f"error {err['kind']}{code}: {err['count']:,}  e.g. {err['example']}")
    return "\n".join(lines)
