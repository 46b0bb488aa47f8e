"""What the terminal shows: the live line and the final summary table. Pure text."""

from __future__ import annotations

from typing import Any

import orjson

from llmbench.metric_defs import console_rows
from llmbench.metrics import Recorder

__all__ = ["NOTHING_SUCCEEDED", "live_line", "progress_bar", "summary_table", "token_unit_warning"]

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
    """One line per second: counts of the whole run so far; rates, TTFT and TPOT of the
    last full second, with the since-start rates labelled ``avg``."""
    stats = rec.statistics(elapsed_s)
    done = stats.finished
    ok_rate = 100.0 * stats.ok / done if done else 100.0
    avg_rps = stats.ok / elapsed_s if elapsed_s > 0 else 0.0
    avg_tps = stats.output_tokens / elapsed_s if elapsed_s > 0 else 0.0
    last_ok, last_tokens = stats.last_second_ok, stats.last_second_output_tokens
    rps = "-" if last_ok is None else f"{last_ok:,.1f}"
    tps = "-" if last_tokens is None else f"{last_tokens:,.0f}"
    ttft, tpot = stats.last_ttft_p50_ms, stats.last_tpot_p50_ms
    per_s = "chars/s" if unit == "chars" else "tok/s"
    return (
        f"[{elapsed_s:6.1f}s] in-flight {in_flight}/{cap} | done {done:,} | ok {ok_rate:.1f}% | "
        f"{rps} req/s (avg {avg_rps:,.1f}) | {tps} {per_s} (avg {avg_tps:,.0f}) | "
        f"TTFT p50 {_fmt_ms(ttft)} | TPOT {_fmt_ms(tpot)} | errors {stats.failed:,}"
    )


def progress_json(progress: Any, rec: Recorder) -> str:
    """A worker's once-a-second line for its coordinator (``--workers``): the counts
    the coordinator adds up, as one JSON object."""
    stats = rec.statistics(progress.elapsed_s) if progress.phase == "measure" else None
    return orjson.dumps(
        {
            "t": round(progress.elapsed_s, 3),
            "phase": progress.phase,
            "in_flight": progress.in_flight,
            "sent": progress.sent,
            "done": stats.finished if stats else 0,
            "ok": stats.ok if stats else 0,
            "failed": stats.failed if stats else 0,
            "output_tokens": stats.output_tokens if stats else 0,
            "last_ok": stats.last_second_ok if stats else None,
            "last_tokens": stats.last_second_output_tokens if stats else None,
            "ttft_p50_ms": stats.last_ttft_p50_ms if stats else None,
        }
    ).decode()


def workers_line(rows: list[dict[str, Any]], workers: int, cap: int, behind: list[int]) -> str:
    """A --workers coordinator's once-a-second line: its workers' progress objects
    (:func:`progress_json`) added up; TTFT is the worst worker's last-second p50 (medians
    do not add); ``behind`` names the workers it has not heard from."""

    def total(key: str) -> int:
        return sum(int(r.get(key) or 0) for r in rows)

    rates = [float(r["last_ok"]) for r in rows if r.get("last_ok") is not None]
    tokens = [float(r["last_tokens"]) for r in rows if r.get("last_tokens") is not None]
    ttfts = [float(r["ttft_p50_ms"]) for r in rows if r.get("ttft_p50_ms") is not None]
    t = max((float(r.get("t") or 0) for r in rows), default=0.0)
    done = total("done")
    ok_pct = 100.0 * total("ok") / done if done else 100.0
    rate = f"{sum(rates):,.1f}" if rates else "-"
    tps = f"{sum(tokens):,.0f}" if tokens else "-"
    ttft = f"{max(ttfts):.1f} ms (worst worker)" if ttfts else "-"
    line = (
        f"[{t:6.1f}s] {workers} workers | in-flight {total('in_flight')}/{cap} | "
        f"done {done:,} | ok {ok_pct:.1f}% | {rate} req/s | {tps} tok/s | "
        f"TTFT p50 {ttft} | errors {total('failed'):,}"
    )
    if behind:
        line += f" | no word from worker {', '.join(map(str, behind))}"
    return line


def unmeasured_line(elapsed_s: float, phase: str, sent: int, in_flight: int, cap: int) -> str:
    """The once-a-second line of a phase that is not measured (the ramp, the warm-up):
    no figures, only that the run is alive and how far it got."""
    name = "ramp-up" if phase == "ramp" else "warm-up"
    return (
        f"[{elapsed_s:6.1f}s] {name} (not measured) | in-flight {in_flight}/{cap} | sent {sent:,}"
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
                f"Never sent: {late['never_sent']:,} {_scheduled(summary)} were due before the "
                "run stopped but waited for the --concurrency cap until the end."
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
    unit = _unit(run)
    return {"tokens": "tok/s", "chars": "chars/s"}.get(unit, f"{unit}/s")


def _row_label(label: str, key: str, unit: str) -> str:
    """TPOT is per token: per char (or per mixed unit) when that is what was counted."""
    if key == "tpot_ms" and unit != "tokens":
        return f"{label} per {unit.removesuffix('s')} (ms)"
    return f"{label} (ms)"


def token_unit_warning(summary: dict[str, Any]) -> str | None:
    """One loud line when the token figures are not all tokens (issue 13)."""
    tok, unit = summary["tokens"], _unit(summary["run"])
    if unit == "tokens" or tok.get("mode") == "chars":
        return None  # --token-mode chars asked for chars: every label says so
    counts = ", ".join(f"{s} {n:,}" for s, n in tok.get("sources", {}).items())
    what = "mixed units" if tok.get("mixed") else unit
    return (
        f"WARNING: output counts are {what}, not tokens (counted from: {counts}); "
        "TPOT and the output rates are in that unit: give --tokenizer or let the server send usage"
    )


_TABLE_STATS = ("p50", "p90", "p95", "p99", "max")
NOTHING_SUCCEEDED = "no request succeeded: no latency figures"


def _percentile_table(summary: dict[str, Any]) -> list[str]:
    """A row per latency metric the run has; the label column is as wide as its
    longest label, so every number stays under its heading."""
    unit = _unit(summary["run"])
    rows = [(_row_label(label, k, unit), summary[k]) for label, k in _ROWS if summary.get(k)]
    lines = [NOTHING_SUCCEEDED] if not summary["requests"]["ok"] else []
    if not rows:  # e.g. a refused connection: no figure at all, so no empty table
        return lines
    width = max(len("metric"), *(len(label) for label, _ in rows)) + 2
    head = "".join(f"{p:>11}" for p in _TABLE_STATS)
    lines.append(f"{'metric':<{width}}{head}")
    for label, stats in rows:
        cells = "".join(f"{stats[p]:>11,.2f}" for p in _TABLE_STATS)
        lines.append(f"{label:<{width}}{cells}")
    return lines


def _criteria(criteria: dict[str, Any]) -> str:
    """``{"ttft_ms": 500.0, "tpot_ms": 50.0}`` as ``ttft ≤ 500 ms, tpot ≤ 50 ms``."""
    return ", ".join(f"{key.removesuffix('_ms')} ≤ {ms:g} ms" for key, ms in criteria.items())


def _offered(summary: dict[str, Any]) -> str:
    """`` (offered 40.0 req/s, constant arrivals)`` in open loop: the target rate next
    to the achieved one, which falls short when the server (or the cap) cannot keep up."""
    offered = summary["throughput"].get("offered_rps")
    if offered is None:
        return ""
    arrival = summary.get("config", {}).get("arrival")
    process = f", {arrival} arrivals" if isinstance(arrival, str) else ""
    per_s = "new sessions/s" if _scheduled(summary) == "sessions" else "req/s"
    return f" (offered {offered:,.1f} {per_s}{process})"


def _scheduled(summary: dict[str, Any]) -> str:
    """What the open loop's schedule starts: sessions (issue 16), or requests."""
    return "sessions" if isinstance(summary.get("sessions"), dict) else "requests"


def _ttft_p50(row: Any) -> str:
    stats = row.get("ttft_ms") if isinstance(row, dict) else None
    return _fmt_ms(stats.get("p50") if isinstance(stats, dict) else None)


def _workload_lines(summary: dict[str, Any]) -> list[str]:
    """Sessions' outcome, and TTFT p50 of turn 1 against later turns and of a prefix's
    first use against its reuse (the cache's effect): a line each, when the run has them."""
    lines = []
    sessions = summary.get("sessions")
    if sessions:
        ended, turns = sessions["ended"], sessions["turns"]
        lines.append(
            f"Sessions: {sessions['total']:,} ({ended['completed']:,} completed, "
            f"{ended['failed']:,} failed, {ended['stopped']:,} stopped), "
            f"{turns['sent']:,} of {turns['planned']:,} turns sent"
        )
    parts = []
    turns_block = summary.get("turns")
    if turns_block:
        first = next((r for r in turns_block["rows"] if r["turn"] == 1), None)
        later = turns_block.get("later")
        parts.append(f"turn 1 {_ttft_p50(first)}, later turns {_ttft_p50(later)}")
    prefixes = summary.get("prefixes")
    if prefixes:
        first_use, reuse = _ttft_p50(prefixes["first_use"]), _ttft_p50(prefixes["reuse"])
        parts.append(f"prefix first use {first_use}, reuse {reuse}")
    if parts:
        lines.append("TTFT p50: " + "; ".join(parts))
    return lines


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
        f"{thr['total_tokens_per_s']:,.1f} total {_per_s(run)}{_offered(summary)}",
        f"{_unit(run).capitalize()}: {tok['input']:,} input, {tok['output']:,} output "
        f"(source: {', '.join(tok['sources']) or '-'})",
        *([w] if (w := token_unit_warning(summary)) else []),
        "",
        *_percentile_table(summary),
    ]
    lines.extend(_open_loop_notes(summary))
    lines.extend(_workload_lines(summary))
    goodput = summary.get("goodput")
    if goodput:
        ratio = "-" if goodput["ratio"] is None else f"{100 * goodput['ratio']:.1f}%"
        lines.append(
            f"Goodput: {goodput['requests_per_s']:,.2f} req/s, {ratio} of requests "
            f"({goodput['good']:,}/{goodput['total']:,}) met {_criteria(goodput['criteria'])}"
        )
    for err in summary["errors"]:
        code = f" {err['http_status']}" if err["http_status"] else ""
        lines.append(f"error {err['kind']}{code}: {err['count']:,}  e.g. {err['example']}")
    return "\n".join(lines)
