"""summary.json's ``server`` block (issue 17): what the ``--server-metrics`` targets said
during the run, on the run's own time axis, and whether the server's count of
generated tokens agrees with the client's. Absent when no target was given. Pure.

Shape (seconds count from the measured start, as ``timeseries``' rows do: scrapes
during a ramp or warm-up have negative times)::

    "server": {
      "interval_s": 1.0, "time_limit_s": 1.0,
      "targets": [{
        "url": "http://host:8000/metrics",          # credentials removed
        "engines": ["vllm"],                         # whose known families it exposed
        "scrapes": 31, "ok": 30, "failed": 1,
        "failures": {"timeout": 1},                  # by kind (server_series.FAILURE_KINDS)
        "first_error": "timeout: no reply within 1 s" | null,
        "scrape_ms": {"mean": 2.1, "max": 9.8} | null,
        "t": [-0.98, 0.02, 1.02, ...],               # when each kept scrape began
        "series": [{
          "family": "vllm:num_requests_running",    # a counter without _total
          "label": "Running requests", "engine": "vllm" | null,
          "read_as": "gauge" | "rate" | "ratio" | "mean",
          "unit": "requests", "chart": "running" | null,
          "labels": {"engine": "0", "model_name": "m"},
          "values": [0, 12, 31, ...],               # aligned with t; null: no value
          "measured": {"min", "mean", "max", "points"} | null,
          "resets": 0 | null                         # times its counter went back; null: a gauge
        }, ...],
        "dropped_series": 0                          # distinct series over MAX_SERIES
      }, ...],
      "cross_check": {...} | absent                  # see _cross_check
    }

A gauge's value is as scraped. A rate (a counter), a ratio (hits over queries) and a
mean (a histogram's sum over its count) at index i are over the interval from the
series' previous point to t[i]; "measured" covers the intervals wholly inside the
measured phase, its mean weighted by time (or by the denominator).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from llmbench.server_families import BY_NAME, HIT_RATIOS
from llmbench.server_series import (
    Interval,
    SeriesKey,
    TargetLog,
    interval_rates,
    resets,
    window_stats,
)

__all__ = [
    "CROSS_CHECK_TOLERANCE",
    "add_server_block",
    "server_block",
    "server_line",
]

# How far the two token rates may differ and still agree: edge effects of a run of a
# few dozen scrapes (requests in flight at the window's ends) stay well inside it.
CROSS_CHECK_TOLERANCE = 0.10


def add_server_block(
    summary: dict[str, Any],
    logs: Sequence[TargetLog],
    *,
    origin_ns: int,
    wall_s: float,
    interval_s: float,
    time_limit_s: float,
    redact: Callable[[Any], Any],
) -> None:
    """``summary["server"]`` from ``logs``, cross-checked against the summary's own
    output rate and token unit, scrubbed by ``redact`` (a scrape error may quote a
    URL); nothing when there are no logs."""
    throughput, tokens = summary.get("throughput") or {}, summary.get("tokens") or {}
    block = server_block(
        logs,
        origin_ns=origin_ns,
        wall_s=wall_s,
        interval_s=interval_s,
        time_limit_s=time_limit_s,
        client_tokens_per_s=throughput.get("output_tokens_per_s"),
        client_unit=tokens.get("unit"),
    )
    if block is not None:
        summary["server"] = redact(block)


def server_block(
    logs: Sequence[TargetLog],
    *,
    origin_ns: int,
    wall_s: float,
    interval_s: float,
    time_limit_s: float,
    client_tokens_per_s: float | None,
    client_unit: str | None,
) -> dict[str, Any] | None:
    """The block, or None when nothing was to be scraped. ``origin_ns`` is the measured
    start on the scrapes' timeline, ``wall_s`` the measured phase's length; the
    client's output rate and its unit (``throughput.output_tokens_per_s``,
    ``tokens.unit``) feed the cross-check."""
    if not logs:
        return None
    targets = [_target(log, origin_ns, wall_s) for log in logs]
    block: dict[str, Any] = {
        "interval_s": interval_s,
        "time_limit_s": time_limit_s,
        "targets": [t for t, _ in targets],
    }
    generated = [g for _, found in targets for g in found]
    if generated:
        block["cross_check"] = _cross_check(generated, client_tokens_per_s, client_unit)
    return block


def _target(
    log: TargetLog, origin_ns: int, wall_s: float
) -> tuple[dict[str, Any], list[_Generated]]:
    """One target's entry, and its generated-token series: family, measured rate (None
    where no interval fell inside the window) and resets."""
    t_s = [(t - origin_ns) / 1e9 for t in log.times_ns]
    columns = {key: col for key, col in log.columns.items() if not _replaced(key[0], log.columns)}
    series: list[dict[str, Any]] = []
    generated: list[_Generated] = []
    for key, column in columns.items():
        family, kind, labels, part = key
        if kind == "mean":
            if part != "sum" or (family, kind, labels, "count") not in columns:
                continue
            count = columns[(family, kind, labels, "count")]
            steps = interval_rates(t_s, column, count)
            went_back = max(resets(column), resets(count))
            series.append(_entry(family, "mean", labels, steps, wall_s, went_back))
        elif kind == "counter":
            steps = interval_rates(t_s, column)
            entry = _entry(family, "rate", labels, steps, wall_s, resets(column))
            series.append(entry)
            known = BY_NAME.get(family)
            if known is not None and known.generated_tokens:
                measured = entry["measured"]
                rate = measured["mean"] if measured else None
                generated.append((family, rate, entry["resets"]))
        else:
            points = [(t, v) for t, v in zip(t_s, column, strict=True) if not math.isnan(v)]
            series.append(_gauge_entry(family, labels, column, points, wall_s))
    series += _hit_ratios(columns, t_s, wall_s)
    failed = log.scrapes - log.ok
    entry = {
        "url": log.url,
        "engines": sorted({BY_NAME[s["family"]].engine for s in series if s["family"] in BY_NAME}),
        "scrapes": log.scrapes,
        "ok": log.ok,
        "failed": failed,
        "failures": dict(sorted(log.failures.items())),
        "first_error": log.first_error,
        "scrape_ms": _scrape_ms(log),
        "t": [round(t, 3) for t in t_s],
        "series": series,
        "dropped_series": log.dropped_series,
    }
    return entry, generated


def _replaced(family: str, columns: dict[SeriesKey, Any]) -> bool:
    """An older name whose newer one the same target also exposes (vLLM 0.9 had both)."""
    known = BY_NAME.get(family)
    newer = known.replaced_by if known is not None else None
    return newer is not None and any(key[0] == newer for key in columns)


def _describe(family: str, read_as: str, labels: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    known = BY_NAME.get(family)
    unit = {"rate": "per s", "ratio": "fraction"}.get(read_as, "")
    return {
        "family": family,
        "label": known.label if known is not None else family,
        "engine": known.engine if known is not None else None,
        "read_as": read_as,
        "unit": known.unit if known is not None else unit,
        "chart": known.chart if known is not None else None,
        "labels": dict(labels),
    }


def _entry(
    family: str,
    read_as: str,
    labels: tuple[tuple[str, str], ...],
    steps: list[Interval | None],
    wall_s: float,
    went_back: int,
) -> dict[str, Any]:
    values = [None if s is None else s.rate for s in steps]
    measured = window_stats([], [s for s in steps if s is not None], 0.0, wall_s)
    return {
        **_describe(family, read_as, labels),
        "values": [None if v is None else _sig(v) for v in values],
        "measured": measured,
        "resets": went_back,
    }


def _gauge_entry(
    family: str,
    labels: tuple[tuple[str, str], ...],
    column: Sequence[float],
    points: list[tuple[float, float]],
    wall_s: float,
) -> dict[str, Any]:
    return {
        **_describe(family, "gauge", labels),
        "values": [None if math.isnan(v) else _sig(v) for v in column],
        "measured": window_stats(points, None, 0.0, wall_s),
        "resets": None,
    }


def _hit_ratios(
    columns: dict[SeriesKey, Any], t_s: list[float], wall_s: float
) -> list[dict[str, Any]]:
    """Hits over queries per interval, per label set, for the first pair the target
    exposes (HIT_RATIOS)."""
    for hits, queries in HIT_RATIOS:
        pairs = [
            (key, columns[(queries, "counter", key[2], "value")])
            for key in columns
            if key[0] == hits and (queries, "counter", key[2], "value") in columns
        ]
        if not pairs:
            continue
        out = []
        for key, den in pairs:
            steps = interval_rates(t_s, columns[key], den)
            went_back = max(resets(columns[key]), resets(den))
            entry = _entry(hits, "ratio", key[2], steps, wall_s, went_back)
            out.append({**entry, "family": f"{hits} / {queries}", "label": "Prefix-cache hit rate",
                        "unit": "fraction", "chart": "prefix_hit"})  # fmt: skip
        return out
    return []


def _scrape_ms(log: TargetLog) -> dict[str, float] | None:
    if not log.scrapes:
        return None
    return {
        "mean": round(log.took_ns_total / log.scrapes / 1e6, 3),
        "max": round(log.took_ns_max / 1e6, 3),
    }


def _sig(value: float) -> float | None:
    """Six significant digits (None for NaN or an infinity: JSON has neither)."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


# A generated-token series of one target: family, measured rate, counter resets.
_Generated = tuple[str, float | None, int]


def _cross_check(
    generated: list[_Generated], client: float | None, unit: str | None
) -> dict[str, Any]:
    """The server's generated-token rate over the measured phase (every such series of
    every target, summed) against the client's output tokens per second: a verdict
    (``agree``, ``server_higher``, ``server_lower``; ``different_units`` when the client
    counted something other than tokens; ``no_data``) and a note saying what it means."""
    families = sorted({family for family, _, _ in generated})
    rates = [rate for _, rate, _ in generated if rate is not None]
    server = _sig(sum(rates)) if rates else None
    went_back = max(n for _, _, n in generated)
    out: dict[str, Any] = {
        "families": families,
        "server_tokens_per_s": server,
        "client_tokens_per_s": client,
        "client_unit": unit,
        "ratio": None,
        "tolerance": CROSS_CHECK_TOLERANCE,
        "counter_resets": went_back,
    }
    resets_note = _RESETS.format(n=went_back) if went_back > 1 else ""
    if server is None:
        return {**out, "verdict": "no_data", "note": _NO_WINDOW + resets_note}
    if not client:
        note = "the client counted no output tokens: nothing to compare"
        return {**out, "verdict": "no_data", "note": note + resets_note}
    if unit not in (None, "tokens"):
        return {**out, "verdict": "different_units", "note": _UNITS.format(unit=unit) + resets_note}
    ratio = server / client
    out["ratio"] = round(ratio, 4)
    if abs(ratio - 1) <= CROSS_CHECK_TOLERANCE:
        return {**out, "verdict": "agree", "note": _AGREE + resets_note}
    if ratio > 1:
        note = _HIGHER.format(pct=100 * (ratio - 1))
        return {**out, "verdict": "server_higher", "note": note + resets_note}
    note = _LOWER.format(pct=100 * (1 - ratio))
    return {**out, "verdict": "server_lower", "note": note + resets_note}


_NO_WINDOW = (
    "no two scrapes of the server's generated-token counter fell inside the measured "
    "phase: run longer than the scrape interval, or scrape more often."
)
_UNITS = (
    "The client counted {unit}, not tokens (its token mode), and the server counts "
    "tokens: the two rates are in different units, so comparing them is not meaningful."
)
_AGREE = (
    "The server generated tokens at the rate the client counted them (within 10%). "
    "That is consistent with the client having seen every token the server made and no "
    "other traffic sharing the server; agreement within 10% does not prove either."
)
_HIGHER = (
    "The server generated {pct:.0f}% more tokens per second than the client counted. "
    "Either other traffic shares this server (its tokens are in the server's counter), "
    "or the client is missing tokens: failed, cut or canceled replies are not in its "
    "count, nor tokens of a reply whose usage reports fewer than were generated."
)
_LOWER = (
    "The server generated {pct:.0f}% fewer tokens per second than the client counted. "
    "The scraped server may be one of several replicas behind the run's URL (each "
    "counts only its share), or the client counts more than the server does."
)
_RESETS = (
    " A generated-token counter went back {n} times during the run: a URL that reaches "
    "several replicas in turn (a load balancer) does that, and its rates are then not "
    "one server's."
)
# The console's words for each verdict (see _cross_check).
_VERDICT_WORDS = {
    "agree": "consistent (within 10%)",
    "server_higher": "server higher",
    "server_lower": "server lower",
    "different_units": "different units, not compared",
}


def server_line(block: dict[str, Any] | None) -> str | None:
    """One console line: what was scraped, what failed, the cross-check's verdict."""
    if not block:
        return None
    targets = block.get("targets") or []
    scrapes = sum(t.get("scrapes", 0) for t in targets)
    failed = sum(t.get("failed", 0) for t in targets)
    parts = [f"server metrics: {len(targets)} target(s), {scrapes} scrapes"]
    if failed:
        first = next((t["first_error"] for t in targets if t.get("first_error")), None)
        parts.append(f"{failed} failed" + (f" (first: {first})" if first else ""))
    check = block.get("cross_check")
    if check and check.get("verdict") in _VERDICT_WORDS:
        ratio = check.get("ratio")
        gap = f" by {abs(ratio - 1):.0%}" if ratio and check["verdict"] != "agree" else ""
        parts.append(
            f"server {check['server_tokens_per_s']:,.1f} generated tokens/s vs client "
            f"{check['client_tokens_per_s']:,.1f} {check.get('client_unit') or 'tokens'}/s: "
            f"{_VERDICT_WORDS[check['verdict']]}{gap}"
        )
    elif check:
        parts.append(f"cross-check: {check['note']}")
    if check and check.get("counter_resets", 0) > 1:
        parts.append(
            f"generated-token counter went back {check['counter_resets']} times "
            "(several replicas behind one URL?)"
        )
    return "; ".join(parts)
