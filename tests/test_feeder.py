"""The open-loop feeder on fake time: sends at intended times, waits for a slot under
the cap, reports its own lateness apart from queueing, and counts what never went."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

from faketime import FakeClock
from llmbench.feeder import OpenLoopFeeder

MS = 1_000_000


class Harness:
    """The runner's side: hands out indices, runs each request for ``hold_s``."""

    def __init__(self, clock: FakeClock, hold_s: float, limit: int | None = None) -> None:
        self.clock = clock
        self.hold_s = hold_s
        self.limit = limit
        self.sent: list[tuple[int, int, int]] = []  # (index, intended, sent at)
        self.lateness: list[int] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._next = 0

    def take(self) -> int | None:
        if self.limit is not None and self._next >= self.limit:
            return None
        self._next += 1
        return self._next - 1

    async def send(self, index: int, intended: int) -> None:
        self.sent.append((index, intended, self.clock.now_ns()))
        await self.clock.sleep(self.hold_s)

    def spawn(self, request: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(request)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def feeder(
        self, offsets: Iterator[int], concurrency: int, deadline_ns: int | None = None
    ) -> OpenLoopFeeder:
        return OpenLoopFeeder(
            offsets,
            0,
            concurrency=concurrency,
            clock=self.clock.now_ns,
            sleep=self.clock.sleep,
            deadline_ns=deadline_ns,
            limit=self.limit,
            on_dispatch=self.lateness.append,
        )

    async def feed(self, feeder: OpenLoopFeeder) -> None:
        await feeder.run(self.take, self.send, self.spawn)
        while self.tasks:
            await asyncio.wait(list(self.tasks))


def every(step_ms: int) -> Iterator[int]:
    k = 0
    while True:
        yield k * step_ms * MS
        k += 1


def test_requests_go_at_their_intended_times() -> None:
    clock = FakeClock()
    h = Harness(clock, hold_s=0.01, limit=3)
    clock.run(h.feed(h.feeder(every(100), concurrency=4)))
    assert h.sent == [(0, 0, 0), (1, 100 * MS, 100 * MS), (2, 200 * MS, 200 * MS)]
    assert h.lateness == [0, 0, 0]


def test_the_deadline_ends_the_feed_before_a_request_past_it() -> None:
    clock = FakeClock()
    h = Harness(clock, hold_s=0.01)
    clock.run(h.feed(h.feeder(every(100), concurrency=4, deadline_ns=250 * MS)))
    assert [index for index, _, _ in h.sent] == [0, 1, 2]
    assert clock.now_ns() == 210 * MS  # the feeder did not sleep towards 300 ms


def test_under_a_full_cap_a_request_waits_for_a_slot_and_is_not_late() -> None:
    # One slot held 50 ms, requests due every 10 ms: each goes when the slot frees.
    clock = FakeClock()
    h = Harness(clock, hold_s=0.05, limit=4)
    clock.run(h.feed(h.feeder(every(10), concurrency=1)))
    assert [(intended, at) for _, intended, at in h.sent] == [
        (0, 0),
        (10 * MS, 50 * MS),
        (20 * MS, 100 * MS),
        (30 * MS, 150 * MS),
    ]
    assert h.lateness == [0, 0, 0, 0]  # queueing, not the feeder's own delay


def cancel_at(clock: FakeClock, h: Harness, feeder: OpenLoopFeeder, at_s: float) -> None:
    """Run the feeder on fake time, cancel it at ``at_s`` (a stop), let the sent finish."""

    async def main() -> None:
        task = asyncio.create_task(feeder.run(h.take, h.send, h.spawn))
        await clock.sleep(at_s)
        task.cancel()
        await asyncio.wait([task])
        await asyncio.wait(list(h.tasks))

    clock.run(main())


def test_a_feeder_cancelled_while_the_cap_is_full_counts_what_never_went() -> None:
    # One slot held 1 s, requests due every 10 ms, cancelled at 95 ms: request 1 holds
    # a place waiting for the slot, requests 2..9 (20..90 ms) are due but unsent.
    clock = FakeClock()
    h = Harness(clock, hold_s=1.0)
    feeder = h.feeder(every(10), concurrency=1)

    cancel_at(clock, h, feeder, 0.095)
    assert len(h.sent) == 1
    assert feeder.due_unsent == 1 + 8


def test_what_never_went_is_bounded_by_the_request_limit() -> None:
    clock = FakeClock()
    h = Harness(clock, hold_s=1.0, limit=5)
    feeder = h.feeder(every(10), concurrency=1)

    cancel_at(clock, h, feeder, 0.095)
    assert feeder.due_unsent == 4  # 5 allowed, 1 sent
