"""The open-loop feeder: sends requests at their intended times, under a concurrency cap.

The schedule (``schedule.arrival_offsets``) says when each request should go; the
feeder sleeps until then, waits for one of ``concurrency`` slots, and hands the
request to the runner. A cap is not a rate limiter: due requests that find every slot
taken wait (their queue time is measured), none is dropped, and those still waiting
when the run stops are counted as due but never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

__all__ = ["OpenLoopFeeder"]

_NS = 1_000_000_000

Request = Coroutine[Any, Any, None]


class OpenLoopFeeder:
    """Feeds one phase. The runner drives it with :meth:`run` and cancels it to stop.

    ``offsets`` are intended send times in ns from ``start_ns``; ``deadline_ns`` and
    ``limit`` are the phase's stop rules (the runner's ``take`` enforces them too; the
    feeder needs them to count what was due but never sent). ``on_dispatch`` receives
    each request's dispatch lateness in ns (the self-check's figure)."""

    def __init__(
        self,
        offsets: Iterator[int],
        start_ns: int,
        *,
        concurrency: int,
        clock: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]],
        deadline_ns: int | None = None,
        limit: int | None = None,
        on_dispatch: Callable[[int], None] | None = None,
    ) -> None:
        self._offsets = offsets
        self._start = start_ns
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._sleep = sleep
        self._deadline_ns = deadline_ns
        self._limit = limit
        self._on_dispatch = on_dispatch
        self._taken = 0
        self._waiting = False  # holding a due request that waits for a slot
        self._slot_freed_ns = 0
        # Set when the feeder is cancelled: requests due by then that never went.
        self.due_unsent = 0

    async def run(
        self,
        take: Callable[[], int | None],
        send: Callable[[int, int], Request],
        spawn: Callable[[Request], None],
    ) -> None:
        """Send every request whose intended time has come, then sleep until the next.

        ``take`` gives the next request index (None: a stop rule says no more);
        ``send(index, intended_ns)`` is that request; ``spawn`` starts it as a task.
        Dispatch lateness, the feeder's own delay, counts from when a request could
        first go: its intended time, or the moment a slot freed up when it had to wait
        for one."""
        clock = self._clock
        try:
            for offset in self._offsets:
                intended = self._start + offset
                if self._deadline_ns is not None and intended >= self._deadline_ns:
                    break
                wait = intended - clock()
                while wait > 0:  # timers may fire early (uvloop: ~1 ms resolution): re-check
                    await self._sleep(wait / _NS)
                    wait = intended - clock()
                index = take()
                if index is None:
                    break
                self._taken += 1
                ready = await self._acquire_slot(intended)
                if self._on_dispatch is not None:
                    self._on_dispatch(clock() - ready)
                spawn(self._in_slot(send, index, intended))
                await asyncio.sleep(0)  # a burst starts one request per loop turn, as workers do
        except asyncio.CancelledError:
            self.due_unsent = int(self._waiting) + self._count_due()
            raise

    async def _acquire_slot(self, intended: int) -> int:
        """Take a slot; the instant the request could first go (see :meth:`run`)."""
        if not self._slots.locked():
            await self._slots.acquire()
            return intended
        self._waiting = True
        await self._slots.acquire()
        self._waiting = False
        return max(intended, self._slot_freed_ns)

    async def _in_slot(
        self, send: Callable[[int, int], Request], index: int, intended: int
    ) -> None:
        """The request, made inside its task: a task cancelled before its first step
        then leaves no un-awaited coroutine behind, and the slot is released."""
        try:
            await send(index, intended)
        finally:
            self._slot_freed_ns = self._clock()
            self._slots.release()

    def _count_due(self) -> int:
        """Scheduled requests whose time passed before the stop but were never sent
        (the cap was full): reported, so a stopped run does not hide them."""
        now = self._clock()
        if self._deadline_ns is not None:
            now = min(now, self._deadline_ns - 1)
        room = None if self._limit is None else self._limit - self._taken
        count = 0
        for offset in self._offsets:
            if self._start + offset > now or (room is not None and count >= room):
                break
            count += 1
        return count
