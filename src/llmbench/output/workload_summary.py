"""summary.json's workload blocks (issue 16): ``turns``, ``prefixes``, ``sessions`` and
``input_lengths``, built from a run's :class:`~llmbench.breakdowns.Breakdowns`. Each
block is there only when the run has its data (a plain run has none of the first three,
and no ``input_lengths`` when the server sent no usage).

Shapes (ms figures to 3 decimals; a ``*_ms``/``*_s`` stats object is ``{"count", "min",
"mean", "p50", "p90", "p99", "max"}`` or null when nothing was measured; percentiles are
to the bucket precision of :mod:`llmbench.breakdowns`, mean, min and max exact)::

    "turns": {
      "kept": 32,                       # turns past this share the row "33+"
      "rows": [{"turn": 1 | ... | "33+", "requests", "ok", "ttft_ms", "latency_ms",
                "input_tokens_mean", "input_tokens_from": "server usage" | "token count"
                | null}, ...],          # ascending turn
      "later": {"turn": "2+", ...}      # every turn after the first together (when any)
    }
    "prefixes": {
      "kept": 1000,                     # groups 0..999; any other number: "other"
      "groups": [{"group": 0 | ... | "other", "requests", "ok", "ttft_ms"}, ...],
      "first_use": {"requests", "ok", "ttft_ms"},   # the first request to send a prefix
      "reuse": {"requests", "ok", "ttft_ms"}        # every later one
    }
    "sessions": {
      "total", "ended": {"completed", "failed", "stopped"},
      "turns": {"planned", "sent", "unsent", "ok"},
      "turns_ok_per_session": stats,    # turns answered ok, per session (counts)
      "duration_s": stats | null        # completed sessions: first t0 to last reply's end
    }
    "input_lengths": {
      "source": "server usage",
      "requests", "requests_without",   # measured requests with / without a usage count
      "min", "mean", "p50", "p90", "p99", "max",   # prompt tokens as the server counted
      "asked": {"input_tokens": ..., "prefix_tokens": ...} | null   # the config's, as given
    }

Only measured requests and sessions count (as every summary figure). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from llmbench.breakdowns import (
    GROUPS_KEPT,
    TURNS_KEPT,
    Breakdowns,
    GroupFigures,
    TurnFigures,
)
from llmbench.result import SessionEnd

__all__ = ["SOURCE", "WORKLOAD_BLOCKS", "workload_blocks"]

WORKLOAD_BLOCKS = ("turns", "prefixes", "sessions", "input_lengths")
SOURCE = "server usage"
# The config keys shown as what was asked for, beside the lengths the server counted.
_ASKED = ("input_tokens", "prefix_tokens")
_MS = 1000  # the distributions hold µs
_S = 1_000_000


def workload_blocks(
    b: Breakdowns, *, requests: int, config: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The blocks ``b`` has data for, by name (see the module docstring); ``requests``
    is the run's measured requests, ``config`` its public config."""
    out: dict[str, dict[str, Any]] = {}
    if b.turns:
        out["turns"] = _turns(b)
    if b.groups or b.first_use.requests or b.reuse.requests:
        out["prefixes"] = {
            "kept": GROUPS_KEPT,
            "groups": [
                {"group": "other" if k >= GROUPS_KEPT else k, **_group(g)}
                for k, g in b.groups.items()
            ],
            "first_use": _group(b.first_use),
            "reuse": _group(b.reuse),
        }
    if b.sessions.total:
        out["sessions"] = _sessions(b)
    lengths = b.input_lengths.stats()
    if lengths is not None:
        n = int(lengths.pop("count"))
        asked = {k: config[k] for k in _ASKED if config.get(k) is not None}
        out["input_lengths"] = {
            "source": SOURCE,
            "requests": n,
            "requests_without": max(0, requests - n),
            **lengths,
            "asked": asked or None,
        }
    return out


def _group(g: GroupFigures) -> dict[str, Any]:
    return {"requests": g.requests, "ok": g.ok, "ttft_ms": g.ttft.stats(_MS)}


def _turn(label: int | str, t: TurnFigures) -> dict[str, Any]:
    if t.server_input_n:
        mean, source = round(t.server_input_sum / t.server_input_n, 1), SOURCE
    elif t.input_n:
        mean, source = round(t.input_sum / t.input_n, 1), "token count"
    else:
        mean, source = None, None
    return {
        "turn": label,
        **_group(GroupFigures(t.requests, t.ok, t.ttft)),
        "latency_ms": t.latency.stats(_MS),
        "input_tokens_mean": mean,
        "input_tokens_from": source,
    }


def _turns(b: Breakdowns) -> dict[str, Any]:
    rows = [_turn(f"{k}+" if k > TURNS_KEPT else k, t) for k, t in b.turns.items()]
    out: dict[str, Any] = {"kept": TURNS_KEPT, "rows": rows}
    later = [t for k, t in b.turns.items() if k > 1]
    if later:
        total = later[0]
        for t in later[1:]:
            total = total + t
        out["later"] = _turn("2+", total)
    return out


def _sessions(b: Breakdowns) -> dict[str, Any]:
    s = b.sessions
    return {
        "total": s.total,
        "ended": {end: s.ended.get(end, 0) for end in get_args(SessionEnd)},
        "turns": {"planned": s.planned, "sent": s.sent, "unsent": s.planned - s.sent, "ok": s.ok},
        "turns_ok_per_session": s.turns_ok.stats(),
        "duration_s": s.duration.stats(_S),
    }
