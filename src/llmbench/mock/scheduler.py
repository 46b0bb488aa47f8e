"""A timer wheel: one event-loop timer serves every due write of every stream.

500 streams at 100 tokens/s is 50,000 deadlines a second. One `call_at` per token would
put 50,000 handles a second through the loop's timer heap; instead jobs are bucketed
into `SLOT_NS` slots and a single callback writes everything due. A slot runs only once
its whole span has passed, so nothing is written before its deadline; the price is at
most `SLOT_NS` of quantization lateness.

Deadlines are `time.perf_counter_ns()` values. Event-loop timers have a resolution of
one millisecond (epoll's timeout; libuv's clock), so the wheel wakes at most about once a
millisecond and never busy-polls: a mock that spins would take a core from the client it
shares a machine with, and under CPU contention a spinning process is the one the kernel
makes wait. uvloop's `loop.time()` is libuv's millisecond clock cached at the start of a
loop iteration, so a timer armed late in an iteration can fire up to ~1 ms early; the wheel
adds that staleness when arming and, if a callback still comes early, re-arms rather than
writing early.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["SLOT_NS", "Job", "Scheduler"]

# 100 µs slots: the wheel wakes for the end of the earliest slot, so this bounds the
# quantization added to the timer's own ~1 ms granularity (3 ms p99 lateness budget).
SLOT_NS = 100_000
# Timers are armed in whole milliseconds, rounded up, so they never fire early by design.
_MS = 1_000_000
# Staleness of uvloop's cached clock beyond this means the clocks do not share a base
# (not Linux/macOS CLOCK_MONOTONIC): then it is ignored and early callbacks re-arm.
_MAX_STALE_NS = 50 * _MS


class Job(Protocol):
    """Something the wheel runs at its deadline."""

    dead: bool

    def fire(self, now_ns: int) -> int | None:
        """Do everything due at `now_ns`; return the next deadline, or None when finished."""
        ...


class Scheduler:
    """Runs each added `Job` at (never before) its deadline, batching by slot."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._loop = loop
        self._clock = clock
        self._slots: dict[int, list[Job]] = {}
        self._keys: list[int] = []  # heap of the keys of non-empty slots
        self._handle: asyncio.Handle | None = None
        self._armed_key: int | None = None
        self._in_tick = False

    def add(self, job: Job, due_ns: int) -> None:
        """Run `job.fire` once `perf_counter_ns() >= due_ns`."""
        key = due_ns // SLOT_NS
        bucket = self._slots.get(key)
        if bucket is not None:
            bucket.append(job)
            return
        self._slots[key] = [job]
        heapq.heappush(self._keys, key)
        if not self._in_tick and (self._armed_key is None or key < self._armed_key):
            self._arm()

    def close(self) -> None:
        """Cancel the timer and drop every job."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_key = None
        self._slots.clear()
        self._keys.clear()

    def _tick(self) -> None:
        self._handle = None
        self._armed_key = None
        now = self._clock()
        # Slot k spans [k, k+1) * SLOT_NS: it is wholly due once now >= (k+1) * SLOT_NS.
        limit = now // SLOT_NS
        keys, slots = self._keys, self._slots
        self._in_tick = True
        try:
            while keys and keys[0] < limit:
                for job in slots.pop(heapq.heappop(keys)):
                    if job.dead:
                        continue
                    # fire() writes everything due by `now`, so its next deadline is
                    # after `now` and lands in a slot >= limit: this loop terminates.
                    nxt = job.fire(now)
                    if nxt is not None:
                        self.add(job, nxt)
        finally:
            self._in_tick = False
        if keys:
            self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        key = self._keys[0]
        self._armed_key = key
        now = self._clock()
        wait = (key + 1) * SLOT_NS - now
        if wait <= 0:
            self._handle = self._loop.call_soon(self._tick)
            return
        # The loop counts the delay from its own (possibly stale) clock; add the
        # staleness, then round up to whole milliseconds so the timer is never early.
        stale = now - int(self._loop.time() * 1e9)
        if 0 < stale < _MAX_STALE_NS:
            wait += stale
        self._handle = self._loop.call_later(-(-wait // _MS) / 1e3, self._tick)
