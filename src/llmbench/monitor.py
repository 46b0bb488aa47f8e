"""The client watching itself: event-loop lag, CPU use, feeder dispatch lateness.

A ticker asks to wake every 10 ms; how late it wakes is the time any response's
bytes could have waited before being stamped. CPU is the process's own
(user + system) over wall time, sampled once a second.

The clock, the sleep and the CPU reading are injected (the runner passes its own), so
tests can drive the monitor on fake time; in a run they are the real ones.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from hdrh.histogram import HdrHistogram

from llmbench.metrics import histogram_stats, new_histogram
from llmbench.selfcheck import DISPATCH_LIMIT_MS, LOOP_LAG_LIMIT_MS, MIN_CPU_WINDOW_S, judge

__all__ = ["TICK_S", "ClientMonitor", "process_cpu_s"]

TICK_S = 0.010


def process_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms_stats(hist: HdrHistogram) -> dict[str, float] | None:
    stats = histogram_stats(hist)
    return None if stats is None else {k: stats[k] for k in ("p50", "p99", "max")}


_LAG_LIMIT_US = int(LOOP_LAG_LIMIT_MS * 1000)
_DISPATCH_LIMIT_US = int(DISPATCH_LIMIT_MS * 1000)


class ClientMonitor:
    """Figures for the measured phase only: `start` clears what a warm-up left."""

    def __init__(
        self,
        clock: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cpu: Callable[[], float] = process_cpu_s,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._cpu = cpu
        self.loop_lag = new_histogram()
        self.dispatch = new_histogram()
        self.loop_lag_over = 0
        self.dispatch_over = 0
        self._wall0 = 0
        self._cpu0 = 0.0
        self._wall_end = 0
        self._cpu_end = 0.0
        self.cpu_peak_pct = 0.0
        self._last_sample: tuple[int, float] = (0, 0.0)

    def start(self) -> None:
        self.loop_lag.reset()
        self.dispatch.reset()
        self.loop_lag_over = self.dispatch_over = 0
        self.cpu_peak_pct = 0.0
        self._wall0 = self._clock()
        self._cpu0 = self._cpu()
        self._last_sample = (self._wall0, self._cpu0)

    def stop(self) -> None:
        self._wall_end = self._clock()
        self._cpu_end = self._cpu()

    def dispatched(self, lateness_ns: int) -> None:
        """The feeder sent a request ``lateness_ns`` after it could first have gone."""
        late_us = max(1, lateness_ns // 1000)
        self.dispatch.record_value(late_us)
        if late_us > _DISPATCH_LIMIT_US:
            self.dispatch_over += 1

    def sample_cpu(self) -> None:
        wall, cpu = self._clock(), self._cpu()
        last_wall, last_cpu = self._last_sample
        if wall > last_wall:
            pct = 100.0 * (cpu - last_cpu) / ((wall - last_wall) / 1e9)
            self.cpu_peak_pct = max(self.cpu_peak_pct, pct)
        self._last_sample = (wall, cpu)

    async def ticker(self) -> None:
        """Wake every TICK_S and record how late each wake-up came (until cancelled)."""
        period_ns = int(TICK_S * 1e9)
        expected = self._clock() + period_ns
        while True:
            await self._sleep(max(0.0, (expected - self._clock()) / 1e9))
            now = self._clock()
            lag_us = max(1, (now - expected) // 1000)
            self.loop_lag.record_value(lag_us)
            if lag_us > _LAG_LIMIT_US:
                self.loop_lag_over += 1
            expected = max(expected + period_ns, now + period_ns // 2)

    def summary(self) -> dict[str, Any]:
        """The summary's ``client`` block, with the saturation verdict."""
        wall_s = max(1e-9, (self._wall_end - self._wall0) / 1e9)
        cpu_pct = 100.0 * (self._cpu_end - self._cpu0) / wall_s
        lag = _ms_stats(self.loop_lag)
        dispatch = _ms_stats(self.dispatch)
        verdict = judge(
            loop_lag_p99_ms=lag["p99"] if lag else None,
            loop_lag_over=self.loop_lag_over,
            cpu_pct=cpu_pct if wall_s >= MIN_CPU_WINDOW_S else None,
            dispatch_lateness_p99_ms=dispatch["p99"] if dispatch else None,
            dispatch_over=self.dispatch_over,
        )
        return {
            "loop_lag_ms": lag,
            "cpu_pct": round(cpu_pct, 1),
            "cpu_peak_pct": round(self.cpu_peak_pct, 1),
            "dispatch_lateness_ms": dispatch,
            "loop_lag_over_limit": self.loop_lag_over,
            "dispatch_over_limit": self.dispatch_over,
            "saturated": verdict.saturated,
            "saturation_reasons": list(verdict.reasons),
        }
