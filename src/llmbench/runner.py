"""The asyncio engine: worker pool or open-loop feeder, stop rules, timing,
cancellation, the once-a-second reporter and the client's self-check.

The only module that reads clocks and does network I/O (through a Transport).
One TaskGroup per phase owns every task; a cancelled request is still recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from llmbench.config import RunConfig
from llmbench.exchange import Exchange, bounded
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder
from llmbench.monitor import ClientMonitor
from llmbench.output.jsonl import ResultsWriter
from llmbench.providers.base import Provider
from llmbench.result import Phase, RequestResult
from llmbench.schedule import arrival_offsets, closed_loop_starts
from llmbench.tokens import TokenPolicy
from llmbench.workload import KeyRing, WorkloadItem

__all__ = ["RunOutcome", "Runner"]

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]
_NS = 1_000_000_000


def _retryable(result: RequestResult) -> bool:
    """--retries covers what a retry can fix: no connection, or a server asking to back off."""
    if result.status == "connect_error":
        return True
    return result.status == "http_error" and result.http_status in (429, 503)


def _attempt_error(result: RequestResult) -> str:
    code = f" {result.http_status}" if result.http_status else ""
    return f"{result.status}{code}"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How the run ended. ``signal`` is set even when a stop rule had already fired."""

    interrupted: bool
    stop_reason: str
    signal: str | None = None


class Runner:
    """Drives one run. ``tick`` is called once a second with the elapsed seconds.

    ``clock`` and ``sleep`` are injected so tests can drive time (the self-check's
    ticker keeps real sleeps: it measures the real loop)."""

    def __init__(
        self,
        cfg: RunConfig,
        provider: Provider,
        transport: Transport,
        items: Iterator[WorkloadItem],
        keys: KeyRing,
        recorder: Recorder,
        writer: ResultsWriter,
        *,
        tick: Callable[[float], None] | None = None,
        tokens: TokenPolicy | None = None,
        clock: Clock = time.perf_counter_ns,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.cfg = cfg
        self._provider = provider
        self._transport = transport
        self._items = items
        self._keys = keys
        self.recorder = recorder
        self._writer = writer
        self._tick = tick
        self._tokens = tokens or TokenPolicy()
        self._clock = clock
        self._sleep = sleep
        self.monitor = ClientMonitor(clock)
        self._issued = 0
        self._limit: int | None = None
        self._deadline_ns: int | None = None
        self._stopping = False
        self.interrupted = False
        self.signal: str | None = None
        self.stop_reason = ""
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Tasks that only wait (the feeder, ramp-up workers before their first send):
        # stop() cancels them so a stop never waits out a sleep.
        self._waiters: set[asyncio.Task[None]] = set()
        self._slot_freed_ns = 0
        self.due_unsent = 0
        self.outcome = RunOutcome(False, "not started")

    # -- control ---------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop sending; in-flight requests get the grace period to finish."""
        if not self._stopping:
            self._stopping = True
            self.stop_reason = reason
        for task in list(self._waiters):
            task.cancel()

    def interrupt(self, signal_name: str) -> None:
        """A signal: stop sending now; a second one cancels in-flight requests too."""
        if self.interrupted:
            self.cancel_in_flight()
        self.interrupted = True
        self.signal = self.signal or signal_name
        self.stop(signal_name)

    def cancel_in_flight(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    @property
    def measured_elapsed_s(self) -> float:
        origin = self.recorder.origin_ns
        return 0.0 if origin is None else (self._clock() - origin) / _NS

    # -- phases ----------------------------------------------------------------

    async def run(self) -> RunOutcome:
        cfg = self.cfg
        try:
            if cfg.warmup_requests or cfg.warmup_s:
                await self._phase("warmup", cfg.warmup_requests or None, cfg.warmup_s or None)
                if not self.interrupted:  # the warm-up's own stop rule ends only the warm-up
                    self._stopping, self.stop_reason = False, ""
            if not self._stopping:
                await self._phase("measure", cfg.requests, cfg.duration_s)
        finally:
            self.monitor.stop()
            self._writer.flush()
            self.outcome = RunOutcome(self.interrupted, self.stop_reason or "done", self.signal)
        return self.outcome

    async def _phase(self, phase: Phase, count: int | None, duration_s: float | None) -> None:
        self._issued = 0
        start = self._clock()
        if phase == "measure":
            self.recorder.set_origin(start)
            self.monitor.start()  # the self-check judges the measured phase only
        self._deadline_ns = None if duration_s is None else start + int(duration_s * _NS)
        self._limit = count
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(self.monitor.ticker()),
                tg.create_task(self._guard()),
                tg.create_task(self._reporter(start, live=phase == "measure")),
            ]
            if self.cfg.open_loop:
                feeder = tg.create_task(self._feed(tg, phase, start))
                self._waiters.add(feeder)
                await asyncio.wait([feeder])
                self._waiters.discard(feeder)
            else:
                await self._start_workers(tg, phase, start)
            while self._tasks:
                await asyncio.wait(list(self._tasks))
            for task in helpers:
                task.cancel()

    def _take(self) -> int | None:
        """The next request index, or None when a stop rule says no more."""
        if self._stopping:
            return None
        if self._limit is not None and self._issued >= self._limit:
            return None
        if self._deadline_ns is not None and self._clock() >= self._deadline_ns:
            return None
        index = self._issued
        self._issued += 1
        return index

    # -- closed loop -----------------------------------------------------------

    async def _start_workers(self, tg: asyncio.TaskGroup, phase: Phase, start: int) -> None:
        """Start the workers one loop turn apart. Started in one turn, N workers would
        each stamp t0 and open a connection before the loop could look at any reply:
        the first worker's TTFT would include the start-up of the other N-1."""
        ramp = self.cfg.ramp_up_s if phase == "measure" else 0.0
        for offset in closed_loop_starts(self.cfg.concurrency, ramp):
            if self._stopping:  # stop() has cancelled the sleepers it knew of: add none
                return
            self._track(tg.create_task(self._worker(phase, start + offset)))
            await asyncio.sleep(0)

    async def _worker(self, phase: Phase, begin_ns: int) -> None:
        delay = begin_ns - self._clock()
        if delay > 0 and not await self._sleep_unless_stopped(delay / _NS):
            return
        while (index := self._take()) is not None:
            await self._one(index, phase, None)

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep as a waiter (stop() cancels it); False when the run stopped meanwhile."""
        task = asyncio.current_task()
        assert task is not None
        self._waiters.add(task)
        try:
            await self._sleep(seconds)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            task.uncancel()
            return False
        finally:
            self._waiters.discard(task)
        return not self._stopping

    # -- open loop -------------------------------------------------------------

    async def _feed(self, tg: asyncio.TaskGroup, phase: Phase, start: int) -> None:
        """Send every request whose intended time has come, then sleep until the next.

        When the concurrency cap is reached, due requests wait for a slot (and their
        queue time is measured); none is dropped. Dispatch lateness, the feeder's own
        delay, counts from when a request could first go: its intended time, or the
        moment a slot freed up when it had to wait for one. stop() cancels the feeder."""
        cfg = self.cfg
        assert cfg.rps is not None
        offsets = arrival_offsets(
            cfg.rps,
            cfg.arrival,
            burst=cfg.burst,
            burstiness=cfg.burstiness,
            ramp_s=cfg.ramp_up_s if phase == "measure" else 0.0,
            seed=cfg.seed,
        )
        slots = asyncio.Semaphore(cfg.concurrency)
        clock = self._clock
        waiting = False  # holding a due request that waits for a slot
        try:
            for offset in offsets:
                intended = start + offset
                if self._deadline_ns is not None and intended >= self._deadline_ns:
                    break
                wait = intended - clock()
                while wait > 0:  # timers may fire early (uvloop: ~1 ms resolution): re-check
                    await self._sleep(wait / _NS)
                    wait = intended - clock()
                index = self._take()
                if index is None:
                    break
                if slots.locked():
                    waiting = True
                    await slots.acquire()
                    waiting = False
                    ready = max(intended, self._slot_freed_ns)
                else:
                    await slots.acquire()
                    ready = intended
                if phase == "measure":
                    self.monitor.dispatched(clock() - ready)
                self._track(tg.create_task(self._one_then_release(index, phase, intended, slots)))
                await asyncio.sleep(0)  # a burst starts one request per loop turn, as workers do
        except asyncio.CancelledError:
            if phase == "measure":
                self.due_unsent = int(waiting) + self._count_due(offsets, start)
            raise

    def _count_due(self, offsets: Iterator[int], start: int) -> int:
        """Scheduled requests whose time passed before the stop but were never sent
        (the cap was full): reported, so a stopped run does not hide them."""
        now = self._clock()
        if self._deadline_ns is not None:
            now = min(now, self._deadline_ns - 1)
        room = None if self._limit is None else self._limit - self._issued
        count = 0
        for offset in offsets:
            if start + offset > now or (room is not None and count >= room):
                break
            count += 1
        return count

    async def _one_then_release(
        self, index: int, phase: Phase, intended: int, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._one(index, phase, intended)
        finally:
            self._slot_freed_ns = self._clock()
            slots.release()

    # -- one request -----------------------------------------------------------

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, index: int, phase: Phase, intended_ns: int | None) -> None:
        item = next(self._items)
        key_index, key = self._keys.next()
        request = self._provider.build_request(item, key)
        if phase == "measure":
            self.recorder.on_start(self._clock())
        self.in_flight += 1
        retry_errors: list[str] = []
        while True:
            exchange = self._exchange(index, phase, intended_ns, key_index, item.prompt)
            try:
                result = await self._transport.send(request, exchange)
                if (
                    self._stopping
                    or len(retry_errors) >= self.cfg.retries
                    or not _retryable(result)
                ):
                    break
                retry_errors.append(_attempt_error(result))
                backoff_s = min(2.0, 0.1 * 2 ** len(retry_errors))
                if not await self._sleep_unless_stopped(backoff_s):
                    retry_errors.pop()  # the run stopped: the failed attempt is the result
                    break
            except asyncio.CancelledError:
                ended = self._clock()
                result = exchange.fail("canceled", "run stopped before the request ended", ended)
                self._finish(result, retry_errors)
                raise
        self._finish(result, retry_errors)

    def _exchange(
        self, index: int, phase: Phase, intended_ns: int | None, key_index: int | None, prompt: str
    ) -> Exchange:
        return Exchange(
            self._provider,
            index=index,
            phase=phase,
            t0_ns=self._clock(),
            intended_ns=intended_ns,
            key_index=key_index,
            max_line_bytes=self.cfg.max_line_bytes,
            tokens=self._tokens,
            prompt=prompt,
        )

    def _finish(self, result: RequestResult, retry_errors: list[str]) -> None:
        self.in_flight -= 1
        if retry_errors:
            result = dataclasses.replace(
                result, attempts=len(retry_errors) + 1, retry_errors=tuple(retry_errors)
            )
        if result.error:  # a server may echo what it was sent: never write a key
            redacted = self._keys.redact(result.error)
            if redacted != result.error:  # "<redacted>" may be longer than a short key
                result = dataclasses.replace(result, error=bounded(redacted))
        self._writer.write(result)
        if result.phase == "measure":
            self.recorder.record(result)

    # -- housekeeping ----------------------------------------------------------

    async def _guard(self) -> None:
        """Enforce the deadline and the grace period: after both, cancel what is left."""
        while not self._stopping:
            now = self._clock()
            if self._deadline_ns is not None and now >= self._deadline_ns:
                self.stop("duration")
                break
            left = 0.1 if self._deadline_ns is None else (self._deadline_ns - now) / _NS
            await self._sleep(min(0.1, max(left, 0.001)))
        await self._sleep(self.cfg.grace_s)
        self.cancel_in_flight()

    async def _reporter(self, start: int, *, live: bool) -> None:
        """Once a second: flush results.jsonl; when measuring, sample CPU and tick the view."""
        second = 1
        while True:
            delay = (start + second * _NS - self._clock()) / _NS
            await self._sleep(max(delay, 0))
            self._writer.flush()
            if live:
                self.monitor.sample_cpu()
                if self._tick is not None:
                    self._tick((self._clock() - start) / _NS)
            second += 1
