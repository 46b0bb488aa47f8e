"""Admission and timing: when a generation request's reply runs.

The server hands over a reply already rendered (a `StreamPlan`, a body, a trickle's
bytes) as a `Start`: what to run once the request has a slot. The engine takes it
through `capacity.Slots` (a slot at once, unless `--slots` are all taken), gives it a
timeline (the shared `Timing`, or its own `LoadTimeline` under `--itl-per-active-ms`)
starting at its admission, and puts its job on the timer wheel. When the connection
says the reply is over (`release`), the slot goes to the longest-waiting request. A
prompt found in the `--prefix-cache` shortens the reply's TTFT by `saved_ns`: its
timeline starts that much earlier, so every later gap keeps its length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from llmbench.mock.capacity import Slots
from llmbench.mock.faults import TrickleJob
from llmbench.mock.scheduler import Scheduler
from llmbench.mock.stats import MockStats
from llmbench.mock.streams import (
    BodyJob,
    LoadTimeline,
    PacedBodyJob,
    StreamJob,
    StreamPlan,
    Timeline,
    Timing,
)

__all__ = ["Engine", "Job", "Sink", "Start", "Ticket"]


class Job(Protocol):
    """A reply on the timer wheel (`StreamJob`, `BodyJob`, ...)."""

    dead: bool

    def fire(self, now_ns: int) -> int | None: ...

    def abort(self) -> None: ...


class Sink(Protocol):
    """Where a reply is written: the server's connection, which owns the running job."""

    job: Job | None

    def write(self, data: bytes) -> None: ...

    def done(self) -> None: ...

    def close(self) -> None: ...


# Starts a reply at the given time (its admission); returns its job and first deadline.
Start = Callable[[int], tuple[Job, int]]


class Ticket:
    """One generation request from its arrival to the end of its reply: what `Slots`
    admits, queues and releases."""

    __slots__ = ("sink", "start")

    def __init__(self, sink: Sink, start: Start) -> None:
        self.sink = sink
        self.start = start


class Engine:
    """Runs each submitted reply once it has a slot, on its timeline, through the wheel."""

    def __init__(
        self,
        timing: Timing,
        per_active_ns: int,
        scheduler: Scheduler,
        stats: MockStats,
        slots: Slots[Ticket],
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.timing = timing
        self.per_active_ns = per_active_ns  # --itl-per-active-ms, 0 when off
        self.scheduler = scheduler
        self.stats = stats
        self.slots = slots
        self._clock = clock  # when a freed slot's next request starts
        self._closed = False

    def submit(self, sink: Sink, start: Start, arrival_ns: int) -> Ticket:
        """Start the reply now if a slot is free, else queue it; `release` the ticket
        exactly once, when its reply ends or its client goes away."""
        ticket = Ticket(sink, start)
        if self.slots.arrive(ticket, arrival_ns):
            self._start(ticket, arrival_ns)
        return ticket

    def release(self, ticket: Ticket) -> None:
        """`ticket`'s reply ended, or its client left: its slot goes to the next in line,
        whose timeline starts now."""
        now = self._clock()
        admitted = self.slots.release(ticket, now)
        if admitted is not None:
            self._start(admitted, now)

    def close(self) -> None:
        """Server shutdown: drop every pending write; a freed slot starts nothing more."""
        self._closed = True
        self.scheduler.close()

    def _start(self, ticket: Ticket, now_ns: int) -> None:
        if self._closed:  # the connection is being dropped too; it releases the slot
            return
        job, due = ticket.start(now_ns)
        ticket.sink.job = job
        self.scheduler.add(job, due)

    def stream(self, sink: Sink, plan: StreamPlan, saved_ns: int = 0) -> Start:
        """A streamed reply, token by token, its TTFT shortened by `saved_ns`."""

        def start(now: int) -> tuple[Job, int]:
            job = StreamJob(
                sink.write,
                sink.done,
                plan,
                self._timeline(),
                self.stats,
                now - saved_ns,
                sink.close,
            )
            return job, job.due_ns

        return start

    def body(self, sink: Sink, data: bytes, n: int, saved_ns: int = 0) -> Start:
        """A non-streamed reply (head and body), written once its n-th token is due
        (`saved_ns` earlier for a cached prompt)."""

        def start(now: int) -> tuple[Job, int]:
            now -= saved_ns
            if self.per_active_ns:
                job = PacedBodyJob(sink.write, sink.done, data, self._timeline(), now, n)
                return job, job.due_ns
            return BodyJob(sink.write, sink.done, data), self.timing.due(now, n - 1)

        return start

    def trickle(self, sink: Sink, data: bytes) -> Start:
        """The `trickle` fault: the whole reply one byte at a time (faults.py)."""

        def start(now: int) -> tuple[Job, int]:
            job = TrickleJob(sink.write, sink.done, data, now)
            return job, job.due_ns

        return start

    def _active(self) -> int:
        return self.slots.active

    def _timeline(self) -> Timeline:
        """`Timing` is stateless and shared; a reply slowed by load has its own timeline."""
        if self.per_active_ns:
            return LoadTimeline(self.timing, self.per_active_ns, self._active)
        return self.timing
