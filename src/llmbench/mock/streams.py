"""The timing engine: when each pre-rendered piece of a reply is written.

Token k of a reply is due at `start + ttft + k * itl + U(0, jitter)` on an ideal
timeline computed from the start time (the arrival, or the admission when `--slots`
made the request wait), so scheduling delays never accumulate into drift. Under
`--itl-per-active-ms` each gap also grows with the load (`LoadTimeline`), still added to
the ideal previous time. The jobs here know nothing about formats: they write bytes they
were handed (`StreamPlan`); a fault changes the plan, never the engine's timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from llmbench.mock.stats import MockStats

__all__ = [
    "BodyJob",
    "LoadTimeline",
    "PacedBodyJob",
    "StreamJob",
    "StreamPlan",
    "Timeline",
    "Timing",
]

_clock = time.perf_counter_ns


class Timeline(Protocol):
    """When token k of a reply that started at `start_ns` is due."""

    def due(self, start_ns: int, k: int) -> int:
        """Token k's deadline; a stateful timeline must be asked for k = 0, 1, 2, ..."""
        ...


@dataclass(frozen=True, slots=True)
class Timing:
    """The ideal timeline's parameters, in nanoseconds; `rand()` draws U[0, 1)."""

    ttft_ns: int
    itl_ns: int
    jitter_ns: int
    rand: Callable[[], float]

    def due(self, arrival_ns: int, k: int) -> int:
        """When token k of a reply that arrived at `arrival_ns` is due."""
        due = arrival_ns + self.ttft_ns + k * self.itl_ns
        if self.jitter_ns:
            due += int(self.rand() * self.jitter_ns)
        return due


class LoadTimeline:
    """One reply's timeline when decoding slows with load (`--itl-per-active-ms`).

    As in a batching server, every step takes longer the more requests share it: the gap
    before token k is `itl + per_active * active()`, with `active()` (the requests
    generating now, this one included) read when the gap starts, i.e. when token k - 1
    is written. The gap is added to token k - 1's ideal time, never to when it was
    actually written, so scheduling delays do not accumulate as drift; jitter goes on
    top of each ideal time, as in `Timing`. Stateful: ask for k = 0, 1, 2, ... in order.
    """

    __slots__ = ("_active", "_base", "_k", "_per_active_ns", "_timing")

    def __init__(self, timing: Timing, per_active_ns: int, active: Callable[[], int]) -> None:
        self._timing = timing
        self._per_active_ns = per_active_ns
        self._active = active
        self._base = 0
        self._k = -1

    def due(self, start_ns: int, k: int) -> int:
        """Token k's deadline; k = 0 (re)starts the timeline at `start_ns`."""
        timing = self._timing
        if k == 0:
            base = start_ns + timing.ttft_ns
        elif k == self._k + 1:
            base = self._base + timing.itl_ns + self._per_active_ns * self._active()
        else:
            raise ValueError(f"LoadTimeline asked for token {k} after token {self._k}")
        self._base, self._k = base, k
        if timing.jitter_ns:
            return base + int(timing.rand() * timing.jitter_ns)
        return base


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Every byte of one streamed reply, HTTP-framed: token k is `tokens[k % len]`."""

    first: bytes
    tokens: tuple[bytes, ...]
    tail: bytes
    n: int
    # Fault injection (faults.py): just before token `stop_at` is due, write `stop_bytes`,
    # then "continue", "end" (the reply is complete), "close" (hang up) or "stall"
    # (write nothing more, keep the socket open).
    stop_at: int = -1
    stop_bytes: bytes = b""
    then: Literal["continue", "end", "close", "stall"] = "continue"


class StreamJob:
    """Writes one streamed reply token by token; `fire` is called by the `Scheduler`."""

    __slots__ = (
        "_arrival",
        "_close",
        "_done",
        "_due",
        "_k",
        "_plan",
        "_stats",
        "_timing",
        "_write",
        "dead",
    )

    def __init__(
        self,
        write: Callable[[bytes], object],
        done: Callable[[], None],
        plan: StreamPlan,
        timing: Timeline,
        stats: MockStats,
        arrival_ns: int,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.dead = False
        self._write = write
        self._done = done
        self._close = close or done
        self._plan = plan
        self._timing = timing
        self._stats = stats
        self._arrival = arrival_ns
        self._k = 0
        self._due = timing.due(arrival_ns, 0)
        stats.streams_started += 1

    @property
    def due_ns(self) -> int:
        """The deadline of the next write."""
        return self._due

    def fire(self, now_ns: int) -> int | None:
        """Write every token due by `now_ns` in one write; return the next deadline."""
        plan, stats, k = self._plan, self._stats, self._k
        parts = [plan.first] if k == 0 else []
        tokens, n = plan.tokens, plan.n
        due = 0
        stopped = False
        while True:
            if k == plan.stop_at:
                parts.append(plan.stop_bytes)
                if plan.then != "continue":
                    stopped = True
                    break
            parts.append(tokens[k % len(tokens)])
            k += 1
            if k == n:
                parts.append(plan.tail)
                break
            due = self._timing.due(self._arrival, k)
            if due > now_ns:
                break
        # Lateness is taken at the write itself, not at the tick: a busy tick's last
        # write is later than its first, and the stats must show it.
        late = _clock() - self._due
        if late > stats.token_late_max_ns:
            stats.token_late_max_ns = late
        if self._k == 0:
            stats.first_token(late)
        self._write(b"".join(parts))
        stats.tokens += k - self._k
        self._k, self._due = k, due
        if stopped:
            self._stop()
            return None
        if k < n:
            return due
        self.dead = True
        stats.streams_completed += 1
        self._done()
        return None

    def _stop(self) -> None:
        """A fault ended the planned stream early (see `StreamPlan.then`)."""
        then = self._plan.then
        if then == "stall":  # not dead: a client hanging up later counts as an abort
            return
        self.dead = True
        if then == "end":
            self._stats.streams_completed += 1
            self._done()
        else:
            self._stats.streams_aborted += 1
            self._close()

    def abort(self) -> None:
        """The client went away: stop writing; the wheel drops the job at its slot."""
        if not self.dead:
            self.dead = True
            self._stats.streams_aborted += 1


class BodyJob:
    """Writes one non-streamed reply (head and body) once the whole text is "generated"."""

    __slots__ = ("_data", "_done", "_write", "dead")

    def __init__(
        self, write: Callable[[bytes], object], done: Callable[[], None], data: bytes
    ) -> None:
        self.dead = False
        self._write = write
        self._done = done
        self._data = data

    def fire(self, now_ns: int) -> int | None:
        """Write the reply and hand the connection back."""
        self.dead = True
        self._write(self._data)
        self._done()
        return None

    def abort(self) -> None:
        """The client went away before the reply was due."""
        self.dead = True


class PacedBodyJob(BodyJob):
    """A non-streamed reply on a `LoadTimeline`: it steps through every token's time
    (each gap depends on the load when it starts) and writes the reply at the last."""

    __slots__ = ("_due", "_k", "_n", "_start", "_timeline")

    def __init__(
        self,
        write: Callable[[bytes], object],
        done: Callable[[], None],
        data: bytes,
        timeline: Timeline,
        start_ns: int,
        n: int,
    ) -> None:
        super().__init__(write, done, data)
        self._timeline = timeline
        self._start = start_ns
        self._n = n
        self._k = 0
        self._due = timeline.due(start_ns, 0)

    @property
    def due_ns(self) -> int:
        """The time of the next token."""
        return self._due

    def fire(self, now_ns: int) -> int | None:
        """Step past every token due by `now_ns`; write the reply once the last is due."""
        k = self._k
        while k < self._n - 1:
            k += 1
            due = self._timeline.due(self._start, k)
            if due > now_ns:
                self._k, self._due = k, due
                return due
        return super().fire(now_ns)
