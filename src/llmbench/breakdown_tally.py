"""The Recorder's live counts behind :class:`~llmbench.breakdowns.Breakdowns`: per turn,
per prefix group, first use and reuse of a prefix, sessions, and the server's prompt
counts. It runs once per labelled request on the event loop, so a value costs a Counter
increment and a few integer operations. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

from llmbench.breakdowns import (
    GROUPS_KEPT,
    TURNS_KEPT,
    Breakdowns,
    Dist,
    GroupFigures,
    SessionFigures,
    SizeDist,
    TimeDist,
    TurnFigures,
)
from llmbench.result import RequestResult, SessionResult

__all__ = ["BreakdownTally"]

_D = TypeVar("_D", bound=Dist)


class _LiveDist:
    __slots__ = ("bits", "counts", "high", "low", "total")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.counts: Counter[int] = Counter()
        self.total = 0
        self.low: int | None = None
        self.high: int | None = None

    def add(self, value: int) -> None:
        shift = value.bit_length() - self.bits
        self.counts[value if shift <= 0 else value >> shift << shift] += 1
        self.total += value
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def freeze(self, kind: type[_D]) -> _D:
        return kind(tuple(sorted(self.counts.items())), self.total, self.low, self.high)


class _LiveGroup:
    __slots__ = ("ok", "requests", "ttft")

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.ttft = _LiveDist(TimeDist.BITS)

    def add(self, r: RequestResult) -> None:
        self.requests += 1
        if r.ok:
            self.ok += 1
            if r.ttft_ns is not None:
                self.ttft.add(max(0, r.ttft_ns // 1000))

    def freeze(self) -> GroupFigures:
        return GroupFigures(self.requests, self.ok, self.ttft.freeze(TimeDist))


class _LiveTurn(_LiveGroup):
    __slots__ = ("input_n", "input_sum", "latency", "server_n", "server_sum")

    def __init__(self) -> None:
        super().__init__()
        self.latency = _LiveDist(TimeDist.BITS)
        self.server_sum = self.server_n = self.input_sum = self.input_n = 0

    def add(self, r: RequestResult) -> None:
        super().add(r)
        if r.ok and r.latency_ns is not None:
            self.latency.add(max(0, r.latency_ns // 1000))
        if r.server_input_tokens is not None:
            self.server_sum += max(0, r.server_input_tokens)
            self.server_n += 1
        if r.input_tokens is not None:
            self.input_sum += max(0, r.input_tokens)
            self.input_n += 1

    def freeze_turn(self) -> TurnFigures:
        return TurnFigures(
            self.requests,
            self.ok,
            self.ttft.freeze(TimeDist),
            self.latency.freeze(TimeDist),
            self.server_sum,
            self.server_n,
            self.input_sum,
            self.input_n,
        )


class BreakdownTally:
    """The Recorder's live counts behind :class:`Breakdowns`. :meth:`add` takes a
    measured request that has a turn, a prefix group or a server prompt count (the
    Recorder checks, so a plain request costs it nothing); :meth:`add_session` a
    measured session."""

    def __init__(self) -> None:
        self._turns: dict[int, _LiveTurn] = {}
        self._groups: dict[int, _LiveGroup] = {}
        self._first = _LiveGroup()
        self._reuse = _LiveGroup()
        self._lengths = _LiveDist(SizeDist.BITS)
        self._ended: Counter[str] = Counter()
        self._planned = self._sent = self._ok = 0
        self._turns_ok = _LiveDist(SizeDist.BITS)
        self._duration = _LiveDist(TimeDist.BITS)

    def add(self, r: RequestResult) -> None:
        if r.server_input_tokens is not None:
            self._lengths.add(max(0, r.server_input_tokens))
        if r.turn is not None:
            key = min(max(1, r.turn), TURNS_KEPT + 1)
            turn = self._turns.get(key)
            if turn is None:
                turn = self._turns[key] = _LiveTurn()
            turn.add(r)
        if r.prefix_group is not None:
            key = r.prefix_group if 0 <= r.prefix_group < GROUPS_KEPT else GROUPS_KEPT
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _LiveGroup()
            group.add(r)
            (self._first if r.prefix_first else self._reuse).add(r)

    def add_session(self, s: SessionResult) -> None:
        self._ended[s.end] += 1
        self._planned += s.turns
        self._sent += s.sent
        self._ok += s.ok
        self._turns_ok.add(max(0, s.ok))
        if s.end == "completed":
            self._duration.add(max(0, (s.end_ns - s.start_ns) // 1000))

    def freeze(self) -> Breakdowns:
        return Breakdowns(
            turns={k: t.freeze_turn() for k, t in sorted(self._turns.items())},
            groups={k: g.freeze() for k, g in sorted(self._groups.items())},
            first_use=self._first.freeze(),
            reuse=self._reuse.freeze(),
            sessions=SessionFigures(
                dict(sorted(self._ended.items())),
                self._planned,
                self._sent,
                self._ok,
                self._turns_ok.freeze(SizeDist),
                self._duration.freeze(TimeDist),
            ),
            input_lengths=self._lengths.freeze(SizeDist),
        )
