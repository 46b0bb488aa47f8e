"""The client's self-check on fake time: the ticker's lag, CPU over wall time and the
feeder's dispatch lateness, each with an injected clock, sleep and CPU reading."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from faketime import FakeClock
from llmbench.metrics import new_histogram
from llmbench.monitor import TICK_S, ClientMonitor

MS = 1_000_000
S = 1_000_000_000


class FakeCpu:
    """CPU seconds as the test sets them."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def tick_for(
    monitor: ClientMonitor, clock: FakeClock, seconds: float, then: Callable[[], None]
) -> None:
    """Run the ticker for ``seconds`` of virtual time, then call ``then``."""

    async def main() -> None:
        ticker = asyncio.create_task(monitor.ticker())
        await clock.sleep(seconds)
        ticker.cancel()
        then()

    clock.run(main())


def test_a_ticker_that_wakes_on_time_records_no_lag() -> None:
    clock = FakeClock()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, FakeCpu())
    monitor.start()
    tick_for(monitor, clock, 0.105, monitor.stop)
    assert monitor.loop_lag.get_total_count() == 10  # at 10, 20, ..., 100 ms
    assert monitor.loop_lag.get_max_value() == 1  # µs: the histogram's floor for zero
    client = monitor.summary()
    assert (client["loop_lag_over_limit"], client["saturated"]) == (0, False)


def test_late_wake_ups_are_loop_lag_and_enough_of_them_saturate() -> None:
    # A loop that wakes the ticker 15 ms late every time: ticks at 25, 45, ..., 285 ms
    # (it re-aims half a period ahead after a late wake), each 15 ms late.
    clock = FakeClock()

    async def late_sleep(seconds: float) -> None:
        await clock.sleep(seconds + 0.015)

    monitor = ClientMonitor(clock.now_ns, late_sleep, FakeCpu())
    monitor.start()
    tick_for(monitor, clock, 0.3, monitor.stop)
    assert monitor.loop_lag.get_total_count() == 14
    assert monitor.loop_lag_over == 14
    client = monitor.summary()
    assert client["loop_lag_ms"]["p99"] == pytest.approx(15.0, rel=1e-3)  # 3 HDR digits
    assert client["saturated"] is True
    assert client["saturation_reasons"] == ["event-loop lag p99 15.0 ms > 10 ms (14 ticks over)"]


def test_cpu_is_process_seconds_over_wall_seconds_with_a_per_second_peak() -> None:
    clock, cpu = FakeClock(), FakeCpu()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, cpu)
    monitor.start()
    clock.advance(1.0)
    cpu.seconds = 0.5
    monitor.sample_cpu()  # 50% in the first second
    clock.advance(1.0)
    cpu.seconds = 1.45
    monitor.sample_cpu()  # 95% in the second
    monitor.stop()
    client = monitor.summary()
    assert (client["cpu_pct"], client["cpu_peak_pct"]) == (72.5, 95.0)
    assert client["saturated"] is False  # judged on the whole run's average
    cpu.seconds = 1.9
    monitor.stop()
    assert monitor.summary()["saturation_reasons"] == ["client CPU 95% of one core >= 90%"]


def test_dispatch_lateness_counts_requests_over_the_limit() -> None:
    clock = FakeClock()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, FakeCpu())
    monitor.start()
    for lateness_ms in (0, 1, 5, 11, 20):
        monitor.dispatched(lateness_ms * MS)
    assert monitor.dispatch.get_total_count() == 5
    assert monitor.dispatch_over == 2
    monitor.stop()
    assert monitor.summary()["dispatch_lateness_ms"]["max"] == pytest.approx(20.0, rel=1e-3)


def test_start_clears_what_a_warm_up_left() -> None:
    clock, cpu = FakeClock(), FakeCpu()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, cpu)
    monitor.start()
    monitor.dispatched(50 * MS)
    clock.advance(1.0)
    cpu.seconds = 1.0
    monitor.sample_cpu()
    monitor.start()  # the measured phase begins
    assert (monitor.dispatch.get_total_count(), monitor.dispatch_over) == (0, 0)
    assert monitor.cpu_peak_pct == 0.0
    clock.advance(1.0)
    monitor.stop()
    assert monitor.summary()["cpu_pct"] == 0.0  # the warm-up's CPU second is not counted


def test_the_histograms_share_the_metrics_range() -> None:
    clock = FakeClock()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, FakeCpu())
    reference = new_histogram()
    for hist in (monitor.loop_lag, monitor.dispatch):
        assert (hist.lowest_trackable_value, hist.highest_trackable_value) == (
            reference.lowest_trackable_value,
            reference.highest_trackable_value,
        )
        assert hist.significant_figures == reference.significant_figures
    assert TICK_S == 0.010


def test_cpu_over_less_than_a_second_is_not_judged() -> None:
    # A run that stopped at once (every connection refused) is start-up, not load.
    clock, cpu = FakeClock(), FakeCpu()
    monitor = ClientMonitor(clock.now_ns, clock.sleep, cpu)
    monitor.start()
    clock.advance(0.2)
    cpu.seconds = 0.2  # a busy fifth of a second
    monitor.stop()
    client = monitor.summary()
    assert client["cpu_pct"] == 100.0  # still reported
    assert (client["saturated"], client["saturation_reasons"]) == (False, [])
    clock.advance(1.0)
    cpu.seconds = 1.2  # the same rate over a judged window
    monitor.stop()
    assert monitor.summary()["saturated"] is True
