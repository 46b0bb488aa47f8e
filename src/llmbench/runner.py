"""The asyncio engine: phases, the closed-loop worker pool, stop rules, timing,
cancellation and the once-a-second reporter.

The open-loop feeder lives in ``feeder``, the retry policy in ``retry``, the client's
self-check in ``monitor``. The runner reads the clock it is given (t0, stop rules, the
reporter's seconds) and does network I/O through a Transport, which stamps response
bytes as they arrive with the same clock (``perf_counter_ns``); nothing else in the
engine reads time. One TaskGroup per phase owns every task; a cancelled request is
still recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.feeder import OpenLoopFeeder
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder
from llmbench.monitor import ClientMonitor, process_cpu_s
from llmbench.output.jsonl import ResultsWriter
from llmbench.prompt_text import PromptLengthError
from llmbench.providers.base import Provider
from llmbench.redaction import redact_result
from llmbench.result import Phase, RampFigures, RequestResult, SessionResult
from llmbench.retry import (
    ErrorRateWindow,
    attempt_error,
    backoff_s,
    connect_backoff_s,
    retryable,
)
from llmbench.schedule import arrival_offsets, closed_loop_starts
from llmbench.sessions import MAX_REPLY_CHARS, Session, SessionPlan, SessionState
from llmbench.sharding import Positioned, Shard, item_position
from llmbench.tokens import TokenPolicy
from llmbench.trace import TraceChanged, TraceIndex, TraceItems, scan_trace, trace_offsets
from llmbench.workload import KeyRing, WorkloadItem

__all__ = ["Progress", "RunOutcome", "Runner"]

# The stop reason of a --trace replay whose file changed on disk mid-run.
TRACE_CHANGED = "trace changed"
# ... and of a run whose next prompt cannot be made (a --tokenizer that fits no text).
NO_PROMPT = "prompt not made"
Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """Everything a finished run leaves besides its results and the Recorder.

    ``signal`` is set even when a stop rule had already fired. ``client`` is the
    summary's ``client`` block (the self-check of the measured phase, with its
    saturation verdict); ``due_unsent`` counts the open loop's requests that were due
    before the stop but never sent, because the concurrency cap was full;
    ``error_rate_stop`` is set when ``--max-error-rate`` stopped the run (its
    threshold, the observed rate and the window it was seen over); ``ramp`` holds the
    ramp's own figures when ``--ramp-up`` ran one (kept out of the headline figures);
    ``overload`` says why a sweep step was stopped as overloaded (:mod:`llmbench.overload`)."""

    interrupted: bool
    stop_reason: str
    signal: str | None = None
    client: Mapping[str, Any] = field(default_factory=dict)
    due_unsent: int = 0
    error_rate_stop: Mapping[str, Any] | None = None
    ramp: RampFigures | None = None
    start_late_s: float = 0.0  # how late the run began after its begin_ns (--start-at)
    overload: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """What the live view is given once a second: a snapshot of the current phase."""

    elapsed_s: float  # since the phase started
    in_flight: int  # requests handed to the transport and not yet finished
    phase: Phase = "measure"  # "ramp" and "warmup" are not measured: no figures yet
    sent: int = 0  # requests the phase has started


def _unavailable(exc: Exception) -> str:
    """The stop reason when the next item cannot be had."""
    return TRACE_CHANGED if isinstance(exc, TraceChanged) else NO_PROMPT


class Runner:
    """Drives one run: ``await run()`` gives its :class:`RunOutcome`; ``tick`` gets a
    :class:`Progress` once a second in every phase.

    ``clock``, ``sleep`` and ``cpu`` (CPU seconds used so far) are injected so tests
    can drive time; the self-check's monitor uses the same ones. ``max_error_rate``
    (a fraction; None: no limit) stops the run with ``stop_reason`` "error rate" when
    the recent error rate passes it (``retry.ErrorRateWindow``)."""

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
        tick: Callable[[Progress], None] | None = None,
        tokens: TokenPolicy | None = None,
        clock: Clock = time.perf_counter_ns,
        sleep: Sleep = asyncio.sleep,
        cpu: Callable[[], float] = process_cpu_s,
        max_error_rate: float | None = None,
        begin_ns: int | None = None,
        sessions: SessionPlan | None = None,
    ) -> None:
        self._cfg = cfg
        self._provider = provider
        self._transport = transport
        self._items = items
        self._keys = keys
        # A shard sends its own requests of the one global run (llmbench.sharding).
        self._shard = Shard(cfg.shard, cfg.shards)
        self._positioned = None if self._shard.whole else Positioned(items)
        self._item_base = 0  # the phase's first item position (after the warm-up's)
        self._trace = self._trace_of(items)  # --trace: its index, for the times
        # Multi-turn sessions (llmbench.sessions): a unit of work is a session, not a
        # request; stop rules and --concurrency count sessions.
        self._sessions = sessions
        self._positioned_sessions: Positioned[Session] | None = None
        if sessions is not None and not self._shard.whole:
            self._positioned_sessions = Positioned(sessions.sessions)
        self._keep_replies = sessions is not None and sessions.keeps_replies
        self._requests = 0  # requests the phase has sent (a session's turns each count)
        self._thinkers: set[asyncio.Task[None]] = set()  # sessions in their think time
        self.recorder = recorder
        self._writer = writer
        self._tick = tick
        self._tokens = tokens or TokenPolicy()
        self._clock = clock
        self._sleep = sleep
        self.monitor = ClientMonitor(clock, sleep, cpu)
        self._issued = 0
        self._limit: int | None = None
        self._deadline_ns: int | None = None
        self._stopping = False
        self._interrupted = False
        self._signal: str | None = None
        self._stop_reason = ""
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Tasks that only wait (the feeder, ramp-up workers before their first send,
        # retry back-offs): stop() cancels them so a stop never waits out a sleep.
        self._waiters: set[asyncio.Task[None]] = set()
        self._due_unsent = 0
        self._errors = None if max_error_rate is None else ErrorRateWindow(max_error_rate)
        self._error_rate_stop: dict[str, Any] | None = None
        self._overload: str | None = None
        self._phase_ramp_s = 0.0  # the current phase's ramp (0: full load from its start)
        # the ramp's own figures: requests started before _ramp_end_ns, and ok among them
        self._ramp_end_ns: int | None = None
        self._ramp_counts = [0, 0]
        self._ramp: RampFigures | None = None
        self.begin_ns = begin_ns  # wait for this instant before the first phase
        self._measure_at: int | None = None  # a shard's common measured start
        self._start_late_s = 0.0

    def _trace_of(self, items: Iterator[WorkloadItem]) -> TraceIndex | None:
        """--trace's index: the items' own (read before the run), else read now, before
        any clock starts."""
        if self._cfg.trace is None:
            return None
        return items.trace if isinstance(items, TraceItems) else scan_trace(self._cfg.trace)

    # -- control ---------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop sending; in-flight requests get the grace period to finish."""
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
        for task in list(self._waiters):
            task.cancel()
        if not self._turns_go_on():  # sessions thinking about their next turn send none
            for task in list(self._thinkers):
                task.cancel()

    def interrupt(self, signal_name: str) -> None:
        """A signal: stop sending now; a second one cancels in-flight requests too."""
        if self._interrupted:
            self.cancel_in_flight()
        self._interrupted = True
        self._signal = self._signal or signal_name
        self.stop(signal_name)

    def stop_overloaded(self, reason: str, *, client_cap: bool = False) -> None:
        """A sweep step past what it can measure: past the server's capacity
        ("overloaded"), or held back by its own --concurrency cap ("client cap"). Stop
        now, without the grace period (its requests would only wait in a queue); they
        end as canceled."""
        if self._stopping:
            return
        self._overload = reason
        self.stop("client cap" if client_cap else "overloaded")
        self.cancel_in_flight()

    def cancel_in_flight(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # -- phases ----------------------------------------------------------------

    async def run(self) -> RunOutcome:
        """The ramp and the warm-up (if any), then the measured phase at full load; how
        the run ended. The ramp is how the load gets to its level, not part of it: it
        is the warm-up's first part, or its own unmeasured phase without a warm-up."""
        cfg = self._cfg
        try:
            if self.begin_ns is not None:  # --start-at: every shard begins at one instant
                await self._sleep_unless_stopped(max(0, self.begin_ns - self._clock()) / _NS)
                self._start_late_s = max(0, self._clock() - self.begin_ns) / _NS
            warm = not self._stopping  # a signal while waiting ends the run before it began
            if warm and (cfg.warmup_requests or cfg.warmup_s):
                warmup = (cfg.warmup_requests or None, cfg.warmup_s or None)
                await self._phase("warmup", *warmup, ramp_s=cfg.ramp_up_s)
                self._resume()
            elif warm and cfg.ramp_up_s > 0:
                await self._phase("ramp", None, cfg.ramp_up_s, ramp_s=cfg.ramp_up_s)
                self._resume()
            if not self._stopping:
                await self._phase("measure", cfg.requests, cfg.duration_s)
        finally:
            self.monitor.stop()
            self._writer.flush()
        return RunOutcome(
            self._interrupted,
            self._stop_reason or "done",
            self._signal,
            client=self.monitor.summary(),
            due_unsent=self._due_unsent,
            error_rate_stop=self._error_rate_stop,
            ramp=self._ramp,
            start_late_s=round(self._start_late_s, 6),
            overload=self._overload,
        )

    def _resume(self) -> None:
        """An unmeasured phase's own stop rule ends only that phase; a signal or the
        error rate ends the run."""
        if not self._interrupted and self._error_rate_stop is None:
            self._stopping, self._stop_reason = False, ""

    async def _phase(
        self, phase: Phase, count: int | None, duration_s: float | None, *, ramp_s: float = 0.0
    ) -> None:
        if phase == "measure":  # its items follow the warm-up's, as in one process
            self._item_base = self._cfg.warmup_requests or self._issued * self._shard.count
        self._issued = 0
        self._requests = 0
        start = self._clock()
        if phase == "measure" and self._measure_at is not None:
            # a shard measures from the instant its warm-up window ended, as every
            # other shard does (its stragglers were cancelled then, a few ms ago)
            start = min(start, self._measure_at)
        self._phase_ramp_s = ramp_s
        if ramp_s > 0:
            self._ramp_end_ns = start + int(ramp_s * _NS)
        if phase == "measure":
            self.recorder.set_origin(start)
            self.monitor.start()  # the self-check judges the measured phase only
        self._deadline_ns = None if duration_s is None else start + int(duration_s * _NS)
        self._limit = None if count is None else self._shard.share(count)
        # A shard's unmeasured phase ends at its window's end, stragglers cancelled (they
        # are not measured): every shard then starts measuring at the same instant.
        common_end = phase != "measure" and not self._shard.whole
        grace_s = 0.0 if common_end else self._cfg.grace_s
        if common_end:
            self._measure_at = self._deadline_ns
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(self.monitor.ticker()),
                tg.create_task(self._guard(grace_s)),
                tg.create_task(self._reporter(start, phase)),
            ]
            if self._cfg.open_loop:
                await self._feed(tg, phase, start)
            else:
                await self._start_workers(tg, phase, start)
            if phase == "ramp" and self._deadline_ns is not None:
                # its S seconds in full, even when the feeder sent its last arrival
                # early: the measured phase's first arrival is the ramp's next one
                await self._sleep_unless_stopped(max(self._deadline_ns - self._clock(), 0) / _NS)
            while self._tasks:
                await asyncio.wait(list(self._tasks))
            for task in helpers:
                task.cancel()
        if ramp_s > 0:  # cut short when the phase ended first (a count, a signal)
            elapsed_s = min(ramp_s, (self._clock() - start) / _NS)
            self._ramp = RampFigures(elapsed_s, *self._ramp_counts)

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
        starts = closed_loop_starts(self._cfg.concurrency, self._phase_ramp_s)
        for offset in self._shard.worker_starts(starts):
            if self._stopping:  # stop() has cancelled the sleepers it knew of: add none
                return
            self._track(tg.create_task(self._worker(phase, start + offset)))
            await asyncio.sleep(0)

    async def _worker(self, phase: Phase, begin_ns: int) -> None:
        delay = begin_ns - self._clock()
        if delay > 0 and not await self._sleep_unless_stopped(delay / _NS):
            return
        refused = 0  # connect errors in a row: each one waits longer (retry.connect_backoff_s)
        while (index := self._take()) is not None:
            if self._sessions is None:
                result = await self._one(index, phase, None)
            else:
                result = await self._session(index, phase, None)
            status = None if result is None else result.status
            refused = refused + 1 if status == "connect_error" else 0
            if refused and not await self._sleep_unless_stopped(connect_backoff_s(refused)):
                return

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep as a waiter (stop() cancels it); False when the run stopped meanwhile."""
        if self._stopping:  # stop() has cancelled the waiters it knew of: do not become one
            return False
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
        """Run the phase's open-loop feeder as a waiter (stop() cancels it) until it ends."""
        cfg = self._cfg
        measuring = phase == "measure"
        feeder = OpenLoopFeeder(
            self._shard.arrivals(self._offsets()),
            start,
            concurrency=self._shard.share(cfg.concurrency),
            clock=self._clock,
            sleep=self._sleep,
            deadline_ns=self._deadline_ns,
            limit=self._limit,
            on_dispatch=self.monitor.dispatched if measuring else None,
        )

        async def send(index: int, intended_ns: int) -> None:
            if self._sessions is None:
                await self._one(index, phase, intended_ns)
            else:
                await self._session(index, phase, intended_ns)

        def spawn(request: Coroutine[Any, Any, None]) -> None:
            self._track(tg.create_task(request))

        task = tg.create_task(feeder.run(self._take, send, spawn))
        self._waiters.add(task)
        await asyncio.wait([task])
        self._waiters.discard(task)
        if measuring:
            self._due_unsent = feeder.due_unsent
        if self._trace is not None and self._trace.changed is not None:
            self.stop(TRACE_CHANGED)  # the replay ended early: not "done"

    def _offsets(self) -> Iterator[int]:
        """The phase's global schedule: the trace's times from the phase's first item
        (the trace's end ends the phase), or the seeded arrival process."""
        cfg = self._cfg
        if self._trace is not None:
            return trace_offsets(self._trace, cfg.trace_speed, start=self._item_base)
        assert cfg.rps is not None
        return arrival_offsets(
            cfg.rps,
            cfg.arrival,
            burst=cfg.burst,
            burstiness=cfg.burstiness,
            ramp_s=self._phase_ramp_s,
            seed=cfg.seed,
        )

    # -- one request -----------------------------------------------------------

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, local: int, phase: Phase, intended_ns: int | None) -> RequestResult | None:
        """The phase's ``local``-th request; None when its item cannot be had (the
        --trace file changed on disk, no prompt of its length can be made: the run
        stops there)."""
        try:
            if self._positioned is None:
                index = local
                item = next(self._items)
                key_index, key = self._keys.next()
            else:
                index = self._shard.global_index(local)
                position = item_position(self._shard, self._item_base, local)
                item = self._positioned.at(position)
                key_index, key = self._keys.at(position)
        except (TraceChanged, PromptLengthError) as exc:
            self.stop(_unavailable(exc))
            return None
        return (await self._send(index, item, key_index, key, phase, intended_ns))[0]

    async def _send(
        self,
        index: int,
        item: WorkloadItem,
        key_index: int | None,
        key: str | None,
        phase: Phase,
        intended_ns: int | None,
    ) -> tuple[RequestResult, Exchange]:
        """One request, retried as --retries says; recorded and written, also when it
        is cancelled (the CancelledError goes on). Its result, and the exchange of its
        last attempt (a session reads the reply from it)."""
        self._requests += 1
        try:
            request = self._provider.build_request(item, key)
        except Exception as exc:  # one item a provider cannot write is a result, not a crash
            request, unbuilt = None, f"{type(exc).__name__}: {exc}"
        if phase == "measure":
            self.recorder.on_start(self._clock())
        self._in_flight += 1
        retry_errors: list[str] = []
        if request is None:
            message = f"request not sent: the provider could not build it: {unbuilt}"
            exchange = self._exchange(index, phase, intended_ns, key_index, item)
            result = exchange.lost("connect_error", message, self._clock())
            self._finish(result, retry_errors)
            return result, exchange
        while True:
            exchange = self._exchange(index, phase, intended_ns, key_index, item)
            try:
                result = await self._transport.send(request, exchange)
                if (
                    self._stopping
                    or len(retry_errors) >= self._cfg.retries
                    or not retryable(result)
                ):
                    break
                retry_errors.append(attempt_error(result))
                if not await self._sleep_unless_stopped(backoff_s(len(retry_errors))):
                    retry_errors.pop()  # the run stopped: the failed attempt is the result
                    break
            except asyncio.CancelledError:
                ended = self._clock()
                result = exchange.lost("canceled", "run stopped before the request ended", ended)
                self._finish(result, retry_errors)
                raise
        self._finish(result, retry_errors)
        return result, exchange

    async def _session(
        self, local: int, phase: Phase, intended_ns: int | None
    ) -> RequestResult | None:
        """One session: its turns in order, each sent when the reply to the one before
        has ended and the think time has passed. A stop rule ends new sessions only:
        this one goes on within the grace period (the guard cancels it then); a signal
        or the error-rate stop sends no further turn. Its last result, if any."""
        plan = self._sessions
        assert plan is not None
        try:
            if self._positioned_sessions is None:
                number = local
                session = next(plan.sessions)
                key_index, key = self._keys.next()
            else:
                number = self._shard.global_index(local)
                position = item_position(self._shard, self._item_base, local)
                session = self._positioned_sessions.at(position)
                key_index, key = self._keys.at(position)
        except PromptLengthError as exc:
            self.stop(_unavailable(exc))
            return None
        state = SessionState(session, number, plan.style, reference=plan.reference)
        start_ns = self._clock()
        result = None
        try:
            while True:
                index = self._shard.global_index(self._requests)
                item = state.request()
                result, exchange = await self._send(index, item, key_index, key, phase, intended_ns)
                if not state.answered(result.ok, exchange.reply, exchange.conversation):
                    break
                think_s = 0.0 if plan.think is None else plan.think.draw(
                    self._cfg.seed, "think", number, state.sent
                )  # fmt: skip
                if self._cfg.open_loop:  # the next turn is due when the user has thought
                    intended_ns = self._clock() + int(think_s * _NS)
                if not self._turns_go_on():
                    break
                if think_s > 0 and not await self._think(think_s):
                    break
        finally:  # also when cancelled: the session was stopped, and is counted
            state.stop()
            self._end_session(state, phase, start_ns)
        return result

    async def _think(self, seconds: float) -> bool:
        """A session's think time; False when the run stopped its sessions meanwhile. A
        stop that lets sessions go on (the duration) lets it sleep on; one that does not
        (a signal, the error rate) wakes it (:meth:`stop` cancels the thinkers)."""
        task = asyncio.current_task()
        assert task is not None
        self._thinkers.add(task)
        try:
            await self._sleep(seconds)
        except asyncio.CancelledError:
            if self._turns_go_on():  # not the stop's wake-up: the grace period's cancel
                raise
            task.uncancel()
            return False
        finally:
            self._thinkers.discard(task)
        return self._turns_go_on()

    def _turns_go_on(self) -> bool:
        """Whether a session in flight may send its next turn: not after a signal or
        the error-rate stop; after the duration, within the grace period."""
        return not self._stopping or (self._stop_reason == "duration" and not self._interrupted)

    def _end_session(self, state: SessionState, phase: Phase, start_ns: int) -> None:
        assert state.end is not None
        self.recorder.record_session(
            SessionResult(
                state.number,
                phase,
                state.turns,
                state.sent,
                state.ok,
                start_ns,
                self._clock(),
                state.end,
            )
        )

    def _exchange(
        self,
        index: int,
        phase: Phase,
        intended_ns: int | None,
        key_index: int | None,
        item: WorkloadItem,
    ) -> Exchange:
        return Exchange(
            self._provider,
            index=index,
            phase=phase,
            t0_ns=self._clock(),
            intended_ns=intended_ns,
            key_index=key_index,
            max_line_bytes=self._cfg.max_line_bytes,
            tokens=self._tokens,
            prompt=item.prompt,
            redact=self._keys.redact,  # before any cut: a cut key would escape it
            keep_text=self._cfg.save_detailed,
            prompt_id=item.prompt_id,
            item=item,
            reply_chars=MAX_REPLY_CHARS if self._keep_replies else 0,
        )

    def _finish(self, result: RequestResult, retry_errors: list[str]) -> None:
        self._in_flight -= 1
        if retry_errors:
            result = dataclasses.replace(
                result, attempts=len(retry_errors) + 1, retry_errors=tuple(retry_errors)
            )
        result = redact_result(result, self._keys)  # a server may echo what it was sent
        self._writer.write(result)
        if result.phase == "measure":
            self.recorder.record(result)
        elif self._ramp_end_ns is not None and result.t0_ns < self._ramp_end_ns:
            self._ramp_counts[0] += 1
            self._ramp_counts[1] += result.status == "ok"
        if self._errors is not None and self._errors.add(result) and not self._stopping:
            self._error_rate_stop = self._errors.statistics()
            self.stop("error rate")

    # -- housekeeping ----------------------------------------------------------

    async def _guard(self, grace_s: float) -> None:
        """Enforce the deadline and the grace period: after both, cancel what is left."""
        while not self._stopping:
            now = self._clock()
            if self._deadline_ns is not None and now >= self._deadline_ns:
                self.stop("duration")
                break
            left = 0.1 if self._deadline_ns is None else (self._deadline_ns - now) / _NS
            await self._sleep(min(0.1, max(left, 0.001)))
        await self._sleep(grace_s)
        self.cancel_in_flight()

    async def _reporter(self, start: int, phase: Phase) -> None:
        """Once a second: flush results.jsonl, tick the view; when measuring, sample CPU
        (the self-check judges the measured phase only)."""
        second = 1
        while True:
            delay = (start + second * _NS - self._clock()) / _NS
            await self._sleep(max(delay, 0))
            self._writer.flush()
            if phase == "measure":
                self.monitor.sample_cpu()
            if self._tick is not None:
                elapsed_s = (self._clock() - start) / _NS
                self._tick(Progress(elapsed_s, self._in_flight, phase, self._issued))
            second += 1
