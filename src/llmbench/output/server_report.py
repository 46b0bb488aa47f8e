"""The ``server`` block of summary.json (:mod:`llmbench.output.server_summary`) as the
report's Server section draws it (report_server.js). Pure.

A summary is a file anyone may have edited: every value is checked for its type (a
stray one is dropped, not fatal), strings are capped and reach the page only as text,
and long runs are merged to a drawable number of points.
"""

from __future__ import annotations

import math
from typing import Any

from llmbench.server_series import mean_of

__all__ = ["REPORT_POINTS", "server_report"]


# The report draws at most this many points per series (the client's over-time charts
# merge into wider buckets past the same count); targets and series as a run can have.
REPORT_POINTS = 2_000
_REPORT_TARGETS = 16
_REPORT_SERIES = 256
_REPORT_TEXT = 500


def server_report(block: Any) -> dict[str, Any] | None:
    """The ``server`` block as the report draws it: the shape checked (a hand-edited
    summary's stray values dropped, strings capped: they are shown as text, never
    markup), each series merged into at most :data:`REPORT_POINTS` points. None when
    the summary has no such block: the Server section is then left out."""
    if not isinstance(block, dict) or not isinstance(block.get("targets"), list):
        return None
    targets = [_report_target(t) for t in block["targets"][:_REPORT_TARGETS] if isinstance(t, dict)]
    check = block.get("cross_check")
    return {
        "interval_s": _num(block.get("interval_s")),
        "time_limit_s": _num(block.get("time_limit_s")),
        "targets": targets,
        "cross_check": _report_check(check) if isinstance(check, dict) else None,
    }


def _report_target(target: dict[str, Any]) -> dict[str, Any]:
    raw_t = target.get("t")
    t = [_num(v) for v in raw_t] if isinstance(raw_t, list) else []
    width = max(1, math.ceil(len(t) / REPORT_POINTS))
    series = [s for s in target.get("series") or [] if isinstance(s, dict)][:_REPORT_SERIES]
    failures = target.get("failures")
    return {
        "url": _text(target.get("url")),
        "engines": [_text(e) for e in target.get("engines") or [] if isinstance(e, str)],
        **{key: _num(target.get(key)) for key in ("scrapes", "ok", "failed", "dropped_series")},
        "failures": {
            _text(k): _num(v) for k, v in (failures.items() if isinstance(failures, dict) else [])
        },
        "first_error": _text(target.get("first_error")),
        "scrape_ms": _numbers(target.get("scrape_ms"), ("mean", "max")),
        "t": t[::width],
        "series": [_report_series(s, width) for s in series],
    }


def _report_series(series: dict[str, Any], width: int) -> dict[str, Any]:
    raw = series.get("values")
    values = [_num(v) for v in raw] if isinstance(raw, list) else []
    labels = series.get("labels")
    return {
        **{key: _text(series.get(key)) for key in ("family", "label", "engine", "read_as")},
        **{key: _text(series.get(key)) for key in ("unit", "chart")},
        "labels": {
            _text(k): _text(v) for k, v in (labels.items() if isinstance(labels, dict) else [])
        },
        "values": _merged(values, width),
        "measured": _numbers(series.get("measured"), ("min", "mean", "max", "points")),
        "resets": _num(series.get("resets")),
    }


def _merged(values: list[float | None], width: int) -> list[float | None]:
    """Each run of ``width`` points as the mean of its values (None when it has none)."""
    if width == 1:
        return values
    out: list[float | None] = []
    for start in range(0, len(values), width):
        chunk = [v for v in values[start : start + width] if v is not None]
        out.append(_sig(mean_of(chunk)) if chunk else None)
    return out


def _report_check(check: dict[str, Any]) -> dict[str, Any]:
    keys = ("server_tokens_per_s", "client_tokens_per_s", "ratio", "tolerance", "counter_resets")
    families = check.get("families")
    return {
        **{key: _num(check.get(key)) for key in keys},
        "verdict": _text(check.get("verdict")),
        "note": _text(check.get("note")),
        "client_unit": _text(check.get("client_unit")),
        "families": [_text(f) for f in families if isinstance(f, str)]
        if isinstance(families, list)
        else [],
    }


def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _numbers(value: Any, keys: tuple[str, ...]) -> dict[str, float | None] | None:
    return {key: _num(value.get(key)) for key in keys} if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    return value[:_REPORT_TEXT] if isinstance(value, str) else None


def _sig(value: float) -> float:
    return float(f"{value:.6g}")
