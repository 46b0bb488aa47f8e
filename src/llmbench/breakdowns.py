"""Workload breakdowns (issue 16): figures per turn index, per shared-prefix group, for
a prefix's first use against its reuse, per multi-turn session, and the prompt lengths
the server counted.

This module holds the frozen :class:`Breakdowns` value, part of
:class:`~llmbench.measured.Measured`, which :func:`merge_breakdowns` adds across shards
exactly; the Recorder counts into a live
:class:`~llmbench.breakdown_tally.BreakdownTally` and freezes it into one.

A distribution (:class:`Dist`) is a count per bucket floor plus the exact sum, minimum
and maximum: percentiles to the bucket's precision, mean, min and max exact, and a merge
that is a sum. Counting a value is a Counter increment (the Recorder's ``_Tallies``
pattern): no HdrHistogram ``record_value`` per request.

Rows are capped by rule, never by arrival order, so two shards' values merge into what
one Recorder fed both would hold: turns 1 to :data:`TURNS_KEPT` get a row each and every
later turn shares one row; prefix groups 0 to :data:`GROUPS_KEPT` - 1 get a row each and
any other group number shares the row "other".

Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

__all__ = [
    "GROUPS_KEPT",
    "TURNS_KEPT",
    "Breakdowns",
    "Dist",
    "GroupFigures",
    "SessionFigures",
    "SizeDist",
    "TimeDist",
    "TurnFigures",
    "bucket_floor",
    "merge_breakdowns",
]

# Turns past this share one row ("33+"): a chat's later turns all see a warm cache, and
# the table stays readable. Sessions have at most 1,000 turns (llmbench.sessions).
TURNS_KEPT = 32
# Prefix groups numbered 0..GROUPS_KEPT - 1 get a row each; others share the row "other".
# Each row's TTFT buckets are bounded (see TimeDist), so this bounds the Recorder's memory.
GROUPS_KEPT = 1000
_PERCENTILES = (50, 90, 99)
Buckets = tuple[tuple[int, int], ...]


def bucket_floor(value: int, bits: int) -> int:
    """The lowest value of ``value``'s bucket: values below 2**bits have a bucket each;
    above, a bucket spans 2**(bit_length - bits) values (HdrHistogram's layout)."""
    shift = value.bit_length() - bits
    return value if shift <= 0 else value >> shift << shift


def _add_buckets(a: Buckets, b: Buckets) -> Buckets:
    total: Counter[int] = Counter(dict(a))
    total.update(dict(b))
    return tuple(sorted(total.items()))


def _low(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _high(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True, slots=True)
class Dist:
    """Non-negative integers as (bucket floor, count) pairs, ascending, plus their exact
    ``total``, ``low`` (min) and ``high`` (max); None and 0 when empty. ``BITS`` sets
    the precision (see :func:`bucket_floor`)."""

    BITS: ClassVar[int] = 11
    buckets: Buckets = ()
    total: int = 0
    low: int | None = None
    high: int | None = None

    @property
    def count(self) -> int:
        return sum(count for _, count in self.buckets)

    def __add__(self, other: Self) -> Self:
        if not other.buckets:
            return self
        if not self.buckets:
            return other
        return type(self)(
            _add_buckets(self.buckets, other.buckets),
            self.total + other.total,
            _low(self.low, other.low),
            _high(self.high, other.high),
        )

    def stats(self, scale: int = 1, digits: int = 3) -> dict[str, float] | None:
        """count, min, mean, p50, p90, p99, max; None when empty. Each is divided by
        ``scale`` and rounded to ``digits``; with scale 1 all but the mean stay whole.
        A percentile is its bucket's highest value (as HdrHistogram reports them),
        kept within the exact min and max."""
        n = self.count
        low, high = self.low, self.high
        if not n or low is None or high is None:
            return None
        # round() first: 99 * 100 / 100 is not always 99.0 in floating point
        ranks = [max(1, math.ceil(round(p * n / 100, 9))) for p in _PERCENTILES]
        found: list[int] = []
        seen = 0
        for floor, count in self.buckets:
            seen += count
            top = floor + (1 << max(0, floor.bit_length() - self.BITS)) - 1
            while len(found) < len(ranks) and seen >= ranks[len(found)]:
                found.append(min(max(top, low), high))

        def scaled(value: int) -> float:
            return value if scale == 1 else round(value / scale, digits)

        out: dict[str, float] = {"count": n, "min": scaled(low)}
        out["mean"] = round(self.total / n / scale, digits)
        out.update({f"p{p}": scaled(v) for p, v in zip(_PERCENTILES, found, strict=True)})
        out["max"] = scaled(high)
        return out


@dataclass(frozen=True, slots=True)
class TimeDist(Dist):
    """Durations in µs at 2**-7 (0.8 %) precision: at most ~3,300 buckets from 1 µs to
    an hour however many values, and never more than values; a row's TTFTs span a few
    octaves, a few hundred buckets (the Recorder's memory per prefix group)."""

    BITS: ClassVar[int] = 8


@dataclass(frozen=True, slots=True)
class SizeDist(Dist):
    """Token counts and turn counts: exact below 2,048, within 0.1 % above."""

    BITS: ClassVar[int] = 11


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """Requests sent with one shared prefix (or first-use / reuse ones): how many, how
    many succeeded, and the successes' TTFT (µs)."""

    requests: int = 0
    ok: int = 0
    ttft: TimeDist = field(default_factory=TimeDist)

    def __add__(self, other: GroupFigures) -> GroupFigures:
        return GroupFigures(
            self.requests + other.requests, self.ok + other.ok, self.ttft + other.ttft
        )


@dataclass(frozen=True, slots=True)
class TurnFigures:
    """The requests of one turn index: counts, the successes' TTFT and latency (µs),
    and the prompt's length summed over the requests that have it: as the server's
    usage counted it (``server_input_*``) and as the run counted it (``input_*``)."""

    requests: int = 0
    ok: int = 0
    ttft: TimeDist = field(default_factory=TimeDist)
    latency: TimeDist = field(default_factory=TimeDist)
    server_input_sum: int = 0
    server_input_n: int = 0
    input_sum: int = 0
    input_n: int = 0

    def __add__(self, other: TurnFigures) -> TurnFigures:
        return TurnFigures(
            self.requests + other.requests,
            self.ok + other.ok,
            self.ttft + other.ttft,
            self.latency + other.latency,
            self.server_input_sum + other.server_input_sum,
            self.server_input_n + other.server_input_n,
            self.input_sum + other.input_sum,
            self.input_n + other.input_n,
        )


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """Measured sessions: how many ended each way (``ended``: completed, failed,
    stopped), their turns planned, sent and answered ok, the turns answered per session,
    and the completed sessions' duration (µs, first turn's t0 to the last reply's end)."""

    ended: Mapping[str, int] = field(default_factory=dict)
    planned: int = 0
    sent: int = 0
    ok: int = 0
    turns_ok: SizeDist = field(default_factory=SizeDist)
    duration: TimeDist = field(default_factory=TimeDist)

    @property
    def total(self) -> int:
        return sum(self.ended.values())

    def __add__(self, other: SessionFigures) -> SessionFigures:
        ended = Counter(self.ended)
        ended.update(other.ended)
        return SessionFigures(
            dict(sorted(ended.items())),
            self.planned + other.planned,
            self.sent + other.sent,
            self.ok + other.ok,
            self.turns_ok + other.turns_ok,
            self.duration + other.duration,
        )


_Row = TypeVar("_Row", GroupFigures, TurnFigures)


def _add_rows(a: Mapping[int, _Row], b: Mapping[int, _Row]) -> dict[int, _Row]:
    """Rows added key by key, in key order."""
    out = dict(a)
    for key, row in b.items():
        have = out.get(key)
        out[key] = row if have is None else have + row
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Breakdowns:
    """Every workload breakdown of a run (or a shard). ``turns`` is keyed by turn index
    (``TURNS_KEPT + 1``: that turn and every later one), ``groups`` by prefix group
    (``GROUPS_KEPT``: every group number outside 0..GROUPS_KEPT - 1); ``input_lengths``
    holds the server's prompt counts (usage), over every measured request that had one."""

    turns: Mapping[int, TurnFigures] = field(default_factory=dict)
    groups: Mapping[int, GroupFigures] = field(default_factory=dict)
    first_use: GroupFigures = field(default_factory=GroupFigures)
    reuse: GroupFigures = field(default_factory=GroupFigures)
    sessions: SessionFigures = field(default_factory=SessionFigures)
    input_lengths: SizeDist = field(default_factory=SizeDist)

    def __add__(self, other: Breakdowns) -> Breakdowns:
        return Breakdowns(
            _add_rows(self.turns, other.turns),
            _add_rows(self.groups, other.groups),
            self.first_use + other.first_use,
            self.reuse + other.reuse,
            self.sessions + other.sessions,
            self.input_lengths + other.input_lengths,
        )

    @property
    def empty(self) -> bool:
        return self == Breakdowns()

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON form for a shard's ``partial`` block; read back exactly by
        :func:`llmbench.measured_json.breakdowns_from_json`."""
        s = self.sessions
        return {
            "turns": [
                {
                    "turn": key,
                    **_group_json(t),
                    "latency_us": _dist_json(t.latency),
                    "server_input": [t.server_input_sum, t.server_input_n],
                    "input": [t.input_sum, t.input_n],
                }
                for key, t in self.turns.items()
            ],
            "groups": [{"group": key, **_group_json(g)} for key, g in self.groups.items()],
            "first_use": _group_json(self.first_use),
            "reuse": _group_json(self.reuse),
            "sessions": {
                "ended": dict(s.ended),
                "turns": [s.planned, s.sent, s.ok],
                "turns_ok": _dist_json(s.turns_ok),
                "duration_us": _dist_json(s.duration),
            },
            "input_lengths": _dist_json(self.input_lengths),
        }


def _dist_json(d: Dist) -> dict[str, Any]:
    return {"buckets": [list(p) for p in d.buckets], "sum": d.total, "min": d.low, "max": d.high}


def _group_json(g: GroupFigures | TurnFigures) -> dict[str, Any]:
    return {"requests": g.requests, "ok": g.ok, "ttft_us": _dist_json(g.ttft)}


def merge_breakdowns(values: Iterable[Breakdowns]) -> Breakdowns:
    """Several shards' breakdowns as one, exactly (every figure is a sum, a min or a max)."""
    total = Breakdowns()
    for value in values:
        total = total + value
    return total
