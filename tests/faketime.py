"""Virtual time for asyncio tests, modelled on trio's ``MockClock(autojump_threshold=0)``.

``FakeClock.now_ns`` and ``FakeClock.sleep`` stand in for ``time.perf_counter_ns`` and
``asyncio.sleep`` wherever code takes its clock and sleep as parameters. Time stands
still while anything can run; when every task is blocked and some sleep on this clock,
the autojump driver moves time to the earliest deadline and wakes those sleepers. A
test then asserts exact instants instead of real-time windows, and runs in milliseconds
whatever the virtual durations.

asyncio has no public "every task is blocked" hook (trio's scheduler has one), so the
driver looks at the loop's ready queue (``BaseEventLoop._ready``): with it empty after
the driver's own turn, no callback, task step or future wake-up is pending, and only
timers or I/O could make progress. Real timers (a ``wait_for`` safety net) and real I/O
are ignored: code under test must wait only on this clock or on other tasks.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

__all__ = ["FakeClock"]

T = TypeVar("T")
_NS = 1_000_000_000
# Turns in a row with nothing else ready before the loop counts as idle. One is enough
# for asyncio's own loop; three leave room for a callback that reschedules itself once.
_IDLE_TURNS = 3


def _ready_queue(loop: asyncio.AbstractEventLoop) -> Any:
    ready = getattr(loop, "_ready", None)
    if ready is None:
        raise RuntimeError(
            f"FakeClock's autojump needs asyncio's own event loop, got {type(loop).__name__}"
        )
    return ready


class FakeClock:
    """A virtual ``perf_counter_ns`` and the ``sleep`` that goes with it."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []  # (deadline, seq, fut)
        self._seq = itertools.count()  # equal deadlines wake in the order they slept
        self._new_sleeper: asyncio.Event | None = None
        self.jumps = 0  # how many times autojump moved time

    def now_ns(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Return once virtual time reaches now + ``seconds`` (<= 0: just yield once)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + round(seconds * _NS)
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        if self._new_sleeper is not None:
            self._new_sleeper.set()
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (as a blocked loop would find it later) and wake
        every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError(f"time only moves forward: advance({seconds})")
        self._now += round(seconds * _NS)
        self._wake_due()

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            future = heapq.heappop(self._sleepers)[2]
            if not future.done():  # a cancelled sleep leaves its future behind
                future.set_result(None)

    def _next_deadline(self) -> int | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def _until_idle(self) -> None:
        ready = _ready_queue(asyncio.get_running_loop())
        quiet = 0
        while quiet < _IDLE_TURNS:
            await asyncio.sleep(0)
            quiet = 0 if ready else quiet + 1

    async def _autojump(self) -> None:
        self._new_sleeper = asyncio.Event()
        while True:
            await self._until_idle()
            deadline = self._next_deadline()
            if deadline is None:  # nobody sleeps on this clock: wait until someone does
                self._new_sleeper.clear()
                await self._new_sleeper.wait()
                continue
            self._now = max(self._now, deadline)
            self.jumps += 1
            self._wake_due()

    @asynccontextmanager
    async def autojump(self) -> AsyncIterator[FakeClock]:
        """Within the block, time jumps to the next deadline whenever the loop is idle."""
        driver = asyncio.get_running_loop().create_task(self._autojump())
        try:
            yield self
        finally:
            driver.cancel()
            with suppress(asyncio.CancelledError):
                await driver
            self._new_sleeper = None

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """``asyncio.run(main)`` with autojump on."""

        async def wrapper() -> T:
            async with self.autojump():
                return await main

        return asyncio.run(wrapper())
