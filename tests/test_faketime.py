"""The fake clock the runner's tests stand on: time stands still while anything can run,
and jumps to the earliest deadline when every task waits."""

from __future__ import annotations

import asyncio

import pytest

from faketime import FakeClock

S = 1_000_000_000


def test_a_sleep_ends_exactly_at_its_deadline() -> None:
    clock = FakeClock(start_ns=5 * S)

    async def main() -> int:
        await clock.sleep(2.5)
        return clock.now_ns()

    assert clock.run(main()) == 7_500_000_000
    assert clock.jumps == 1


def test_sleepers_wake_in_deadline_order_and_ties_in_the_order_they_slept() -> None:
    clock = FakeClock()
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now_ns()))

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            for name, seconds in (("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0)):
                tg.create_task(sleeper(name, seconds))

    clock.run(main())
    assert woke == [("a", 1 * S), ("b1", 2 * S), ("b2", 2 * S), ("c", 3 * S)]


def test_time_stands_still_while_any_task_can_run() -> None:
    clock = FakeClock()
    seen: list[int] = []

    async def busy() -> None:
        for _ in range(200):  # many loop turns, none of them waiting on the clock
            seen.append(clock.now_ns())
            await asyncio.sleep(0)

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(clock.sleep(1.0))
            tg.create_task(busy())

    clock.run(main())
    assert seen == [0] * 200
    assert clock.now_ns() == 1 * S


def test_a_cancelled_sleep_does_not_pull_time_forward() -> None:
    clock = FakeClock()

    async def main() -> int:
        long = asyncio.create_task(clock.sleep(60.0))
        await asyncio.sleep(0)
        long.cancel()
        await clock.sleep(1.0)
        with pytest.raises(asyncio.CancelledError):
            await long
        return clock.now_ns()

    assert clock.run(main()) == 1 * S


def test_tasks_woken_by_other_tasks_keep_the_instant_they_were_woken() -> None:
    clock = FakeClock()
    ready = asyncio.Event()
    times: list[int] = []

    async def waiter() -> None:
        await ready.wait()
        times.append(clock.now_ns())
        await clock.sleep(0.25)
        times.append(clock.now_ns())

    async def setter() -> None:
        await clock.sleep(1.0)
        ready.set()

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(waiter())
            tg.create_task(setter())

    clock.run(main())
    assert times == [1 * S, 1_250_000_000]


def test_a_zero_sleep_only_yields() -> None:
    clock = FakeClock()

    async def main() -> None:
        await clock.sleep(0)
        await clock.sleep(-1.0)

    clock.run(main())
    assert (clock.now_ns(), clock.jumps) == (0, 0)


def test_advance_moves_time_by_hand_and_wakes_what_is_due() -> None:
    clock = FakeClock()

    async def main() -> list[int]:
        woke: list[int] = []

        async def sleeper(seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(clock.now_ns())

        tasks = [asyncio.create_task(sleeper(s)) for s in (0.5, 2.0)]
        await asyncio.sleep(0)
        clock.advance(1.0)  # as a loop blocked for 1 s would find it
        await asyncio.sleep(0)
        assert woke == [1 * S]  # woken late, at the instant time was found
        await asyncio.gather(*tasks)
        return woke

    assert clock.run(main()) == [1 * S, 2 * S]
    with pytest.raises(ValueError, match=r"time only moves forward: advance\(-1\)"):
        clock.advance(-1)


def test_an_hour_of_virtual_time_is_one_jump() -> None:
    clock = FakeClock()
    clock.run(clock.sleep(3600.0))
    assert (clock.now_ns(), clock.jumps) == (3600 * S, 1)
