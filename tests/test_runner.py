"""The Runner's control flow with a scripted in-process transport: stopping, signals,
retries, the open-loop feeder and the self-check's view of it.

A narrow unit test: the transport is a fake (the real ones are covered end to end
against the mock). Time is virtual (``faketime.FakeClock``): signals land at exact
instants, a transport's reply takes exactly its delay, and the tests assert the very
instants and counts the schedule implies. Every run is also bounded by a real-time
``asyncio.wait_for``, so a hang fails instead of blocking. The one real-time test is
marked ``slow`` and asserts loose ratios.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson
import pytest

from faketime import FakeClock
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.request import HttpRequest
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.providers import make_provider
from llmbench.result import RampFigures, RequestResult
from llmbench.runner import Progress, Runner, RunOutcome
from llmbench.trace import TraceChanged
from llmbench.workload import KeyRing, WorkloadItem

MS = 1_000_000
S = 1_000_000_000

_STREAM = (
    b"".join(
        b"data: " + orjson.dumps(chunk) + b"\n\n"
        for chunk in (
            {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        )
    )
    + b"data: [DONE]\n\n"
)


class Timebase(Protocol):
    def now_ns(self) -> int: ...
    def sleep(self, seconds: float) -> Awaitable[None]: ...


class RealTime:
    """The clock and sleep a real run uses, for the one real-time test."""

    @staticmethod
    def now_ns() -> int:
        return time.perf_counter_ns()

    @staticmethod
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class ScriptedTransport:
    """Answers after ``delay_s`` with ``status`` (a 200 streams one token)."""

    clock: Timebase
    delay_s: float = 0.0
    status: int = 200
    body: bytes = b"busy"  # of an error response
    sent: list[int] = field(default_factory=list)  # the instant of each send

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        self.sent.append(self.clock.now_ns())
        await self.clock.sleep(self.delay_s)
        now = self.clock.now_ns
        exchange.on_head(self.status, now())
        exchange.on_data(_STREAM if self.status == 200 else self.body, now())
        return exchange.finish(now())

    async def aclose(self) -> None:
        return None


@dataclass
class Bench:
    """Runners on one clock, writing results.jsonl into ``tmp_path``."""

    tmp_path: Path
    clock: FakeClock = field(default_factory=FakeClock)
    progress: list[Progress] = field(default_factory=list)  # what tick() was given
    _writers: list[ResultsWriter] = field(default_factory=list)

    def transport(self, **script: object) -> ScriptedTransport:
        return ScriptedTransport(self.clock, **script)  # type: ignore[arg-type]

    def runner(
        self,
        transport: ScriptedTransport,
        *,
        keys: tuple[str, ...] = (),
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_error_rate: float | None = None,
        items: Iterator[WorkloadItem] | None = None,
        **cfg: object,
    ) -> Runner:
        config = RunConfig(url="http://127.0.0.1:9", **cfg)  # type: ignore[arg-type]
        clock = transport.clock
        writer = ResultsWriter(self.tmp_path / "results.jsonl", clock.now_ns())
        self._writers.append(writer)
        items = items or itertools.repeat(WorkloadItem(prompt="hello"))
        return Runner(
            config, make_provider(config), transport, items, KeyRing(keys), Recorder(), writer,
            tick=self.progress.append, clock=clock.now_ns, sleep=sleep or clock.sleep,
            cpu=lambda: 0.0,  # a virtual second has no real CPU figure
            max_error_rate=max_error_rate,
        )  # fmt: skip

    def drive(self, runner: Runner, *signals: tuple[float, str]) -> RunOutcome:
        """Run to the end on fake time, sending each (instant in s, signal name) on the way."""
        clock = self.clock

        async def signal(at_s: float, name: str) -> None:
            await clock.sleep(at_s)
            runner.interrupt(name)

        async def main() -> RunOutcome:
            senders = [asyncio.create_task(signal(at_s, name)) for at_s, name in signals]
            try:
                return await asyncio.wait_for(runner.run(), timeout=20)  # real seconds
            finally:
                for task in senders:
                    task.cancel()

        outcome = clock.run(main())
        self.close()
        return outcome

    def close(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    def lines(self) -> list[dict[str, object]]:
        text = (self.tmp_path / "results.jsonl").read_bytes()
        return [orjson.loads(line) for line in text.splitlines()]


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    yield b
    b.close()


def test_a_signal_wakes_a_feeder_waiting_for_its_next_send(bench: Bench) -> None:
    # 0.05 rps: the second request is due 20 s in; Ctrl-C at 0.2 s must not wait for it.
    transport = bench.transport()
    runner = bench.runner(transport, rps=0.05, concurrency=4)
    outcome = bench.drive(runner, (0.2, "SIGINT"))
    assert (outcome.interrupted, outcome.signal, outcome.stop_reason) == (True, "SIGINT", "SIGINT")
    assert transport.sent == [0]
    assert [line["status"] for line in bench.lines()] == ["ok"]
    assert bench.clock.now_ns() == 200 * MS  # the run ended at the signal


def test_a_signal_during_ramp_up_does_not_wait_for_later_workers(bench: Bench) -> None:
    # Closed loop ramping to 4 workers over 30 s: workers 2..4 (due at 10, 20, 30 s) are
    # asleep at the signal. Worker 1 sends every 10 ms: at 0, 10, ..., 290 ms; at 300 ms
    # the signal (asleep since 0) wakes before that request's reply (asleep since 290 ms).
    transport = bench.transport(delay_s=0.01)
    runner = bench.runner(transport, concurrency=4, ramp_up_s=30.0, grace_s=0.5)
    outcome = bench.drive(runner, (0.3, "SIGTERM"))
    assert outcome.signal == "SIGTERM"
    assert transport.sent == [i * 10 * MS for i in range(30)]
    # the ramp is its own unmeasured phase: written, counted apart, not recorded
    assert runner.recorder.started == 0
    assert [line["phase"] for line in bench.lines()] == ["ramp"] * len(transport.sent)
    assert outcome.ramp == RampFigures(0.3, requests=30, ok=30)
    assert bench.clock.now_ns() == 300 * MS


def test_a_closed_loop_ramp_comes_before_the_measured_phase(bench: Bench) -> None:
    # 4 workers ramping over 3 s (started at 0, 1, 2 s; the fourth is due at the ramp's
    # end), each request 100 ms: the ramp is its own phase, then every measured request
    # starts after it and the measured phase starts with all 4 workers at once.
    transport = bench.transport(delay_s=0.1)
    runner = bench.runner(transport, concurrency=4, ramp_up_s=3.0, duration_s=1.0)
    outcome = bench.drive(runner)
    phases = [line["phase"] for line in bench.lines()]
    ramped = phases.count("ramp")
    assert ramped == 30 + 20 + 10  # worker 1 from 0 s, 2 from 1 s, 3 from 2 s
    assert phases == ["ramp"] * ramped + ["measure"] * (len(phases) - ramped)
    measured = transport.sent[ramped:]
    assert min(measured) >= 3 * S
    assert measured[:4] == [measured[0]] * 4  # full concurrency from the first instant
    assert len(measured) == 4 * 10  # 1 s at 4 workers, no ramp inside it
    assert runner.recorder.started == len(measured)
    assert outcome.ramp == RampFigures(3.0, requests=ramped, ok=ramped)


def test_an_open_loop_ramp_comes_before_the_measured_phase(bench: Bench) -> None:
    # --rps 40 --ramp-up 3 without a warm-up: the ramp's 60 arrivals (40 * 3 / 2) are
    # unmeasured; the measured phase sends at the full 40 req/s from its first arrival.
    transport = bench.transport(delay_s=0.01)
    runner = bench.runner(transport, rps=40.0, ramp_up_s=3.0, duration_s=2.0)
    outcome = bench.drive(runner)
    phases = [line["phase"] for line in bench.lines()]
    assert phases == ["ramp"] * 60 + ["measure"] * 80
    measured = transport.sent[60:]
    assert measured[0] >= 3 * S
    assert {b - a for a, b in itertools.pairwise(measured)} == {25 * MS}
    assert outcome.ramp == RampFigures(3.0, requests=60, ok=60)


def test_with_a_warm_up_the_ramp_is_its_first_part(bench: Bench) -> None:
    # --warmup 5 s with --ramp-up 2: the warm-up ramps the rate from 0 to 10 req/s over
    # 2 s (10 arrivals), then goes on at 10 req/s (30 more); the ramp's figures count
    # the warm-up requests started in its first 2 s, and no "ramp" phase is written.
    transport = bench.transport(delay_s=0.01)
    runner = bench.runner(transport, rps=10.0, ramp_up_s=2.0, warmup_s=5.0, requests=10)
    outcome = bench.drive(runner)
    phases = [line["phase"] for line in bench.lines()]
    assert phases == ["warmup"] * 40 + ["measure"] * 10
    measured = transport.sent[40:]
    assert {b - a for a, b in itertools.pairwise(measured)} == {100 * MS}
    assert outcome.ramp == RampFigures(2.0, requests=10, ok=10)


def test_sigterm_in_the_grace_period_is_still_reported(bench: Bench) -> None:
    # The duration rule fires at 0.2 s, then SIGTERM arrives at 0.5 s while the request
    # sent at 0 is in flight; it ends at 1 s, inside the 5 s grace period.
    transport = bench.transport(delay_s=1.0)
    runner = bench.runner(transport, concurrency=1, duration_s=0.2, grace_s=5.0)
    outcome = bench.drive(runner, (0.5, "SIGTERM"))
    assert outcome.stop_reason == "duration"
    assert (outcome.interrupted, outcome.signal) == (True, "SIGTERM")
    assert [line["status"] for line in bench.lines()] == ["ok"]
    assert bench.clock.now_ns() == 1 * S


def test_a_second_signal_cancels_in_flight_requests_and_records_them(bench: Bench) -> None:
    transport = bench.transport(delay_s=30.0)
    runner = bench.runner(transport, concurrency=3, requests=3)
    outcome = bench.drive(runner, (0.2, "SIGINT"), (0.3, "SIGINT"))
    assert outcome.signal == "SIGINT"
    assert [line["status"] for line in bench.lines()] == ["canceled"] * 3
    assert runner.recorder.finished == 3
    assert bench.clock.now_ns() == 300 * MS  # cancelled at the second signal


def test_retries_record_each_failed_attempt(bench: Bench) -> None:
    transport = bench.transport(status=503)
    runner = bench.runner(transport, concurrency=1, requests=1, retries=2)
    bench.drive(runner)
    assert transport.sent == [0, 200 * MS, 600 * MS]  # back-off 0.2 s, then 0.4 s
    (line,) = bench.lines()
    assert (line["status"], line["http_status"]) == ("http_error", 503)
    assert (line["attempts"], line["retry_errors"]) == (3, ["http_error 503", "http_error 503"])


def test_a_stop_during_retry_back_off_keeps_the_failed_attempt(bench: Bench) -> None:
    # Attempts at 0 and 0.2 s; the back-off before the 3rd (0.4 s, to 0.6 s) holds the
    # signal at 0.45 s: the run ends then, with the 2nd attempt's failure as the result.
    transport = bench.transport(status=503)
    runner = bench.runner(transport, concurrency=1, requests=1, retries=5)
    bench.drive(runner, (0.45, "SIGINT"))
    (line,) = bench.lines()
    assert line["status"] == "http_error"
    assert transport.sent == [0, 200 * MS]
    assert (line["attempts"], line["retry_errors"]) == (2, ["http_error 503"])
    assert bench.clock.now_ns() == 450 * MS


def test_waiting_for_a_concurrency_slot_is_queueing_not_feeder_lateness(bench: Bench) -> None:
    # 100 rps into one slot held 50 ms per request: request i is due at 10i ms and goes
    # when the slot frees, at 50i ms. The feeder hands each one over at that very
    # instant, so its own lateness is nil while queue_ms grows by 40 ms a request.
    transport = bench.transport(delay_s=0.05)
    runner = bench.runner(transport, rps=100.0, concurrency=1, requests=12)
    outcome = bench.drive(runner)
    measured = sorted(bench.lines(), key=lambda line: int(line["index"]))  # type: ignore[call-overload]
    assert transport.sent == [i * 50 * MS for i in range(12)]
    assert [line["queue_ms"] for line in measured] == [40.0 * i for i in range(12)]
    lateness = outcome.client["dispatch_lateness_ms"]
    assert lateness["max"] <= 0.001, lateness  # 1 µs: the histogram's floor for zero
    assert outcome.client["saturated"] is False, outcome.client


def test_warm_up_is_left_out_of_the_self_check(bench: Bench) -> None:
    transport = bench.transport()
    runner = bench.runner(transport, rps=50.0, concurrency=4, requests=5, warmup_requests=3)
    bench.drive(runner)
    assert runner.monitor.dispatch.get_total_count() == 5
    assert [line["phase"] for line in bench.lines()] == ["warmup"] * 3 + ["measure"] * 5


def test_requests_due_but_never_sent_are_counted(bench: Bench) -> None:
    # 100 rps for 0.3 s into one slot held 1 s: 30 are due (0, 10, ..., 290 ms), one goes
    # out; the second waits for the slot and 28 more come due before the stop.
    transport = bench.transport(delay_s=1.0)
    runner = bench.runner(transport, rps=100.0, concurrency=1, duration_s=0.3)
    outcome = bench.drive(runner)
    assert transport.sent == [0]
    assert outcome.due_unsent == 29


def test_never_sent_respects_the_request_count(bench: Bench) -> None:
    transport = bench.transport(delay_s=1.0)
    runner = bench.runner(transport, rps=100.0, concurrency=1, requests=5, duration_s=0.3)
    outcome = bench.drive(runner)
    assert outcome.due_unsent == 4  # --requests 5: only four more were ever going to go


def test_a_feeder_that_fell_behind_catches_up_at_once(bench: Bench) -> None:
    # Time jumps 1 s during the first send (as if the loop had been blocked): the next
    # 49 requests (10 ms apart at 100 rps) are all overdue. The feeder must send them in
    # one pass, each stamped with its true lateness, instead of spacing them out.
    clock = bench.clock

    @dataclass
    class BlocksTheLoopOnce(ScriptedTransport):
        async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
            if not self.sent:
                clock.advance(1.0)
            return await super().send(request, exchange)

    transport = BlocksTheLoopOnce(clock)
    runner = bench.runner(transport, rps=100.0, concurrency=100, requests=50)
    bench.drive(runner)
    measured = sorted(bench.lines(), key=lambda line: int(line["index"]))  # type: ignore[call-overload]
    assert len(measured) == 50
    assert transport.sent == [1 * S] * 50  # all at once, not 49 x 10 ms of sleeping
    assert [line["queue_ms"] for line in measured[1:]] == [1000.0 - 10 * i for i in range(1, 50)]
    assert all(float(line["ttfb_ms"]) >= 0 for line in measured)  # type: ignore[arg-type]


def test_retry_back_off_doubles_through_the_injected_sleep(bench: Bench) -> None:
    slept: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        await bench.clock.sleep(seconds)

    transport = bench.transport(status=503)
    runner = bench.runner(transport, sleep=recording_sleep, concurrency=1, requests=1, retries=3)
    outcome = bench.drive(runner)
    assert outcome.stop_reason == "done"
    assert transport.sent == [0, 200 * MS, 600 * MS, 1400 * MS]
    assert [s for s in slept if s in (0.2, 0.4, 0.8, 1.6)] == [0.2, 0.4, 0.8]


def test_an_echoed_key_is_redacted_and_the_message_stays_within_1_kb(bench: Bench) -> None:
    transport = bench.transport(status=401, body=b"bad key sk-9 " * 200)
    runner = bench.runner(transport, keys=("sk-9",), concurrency=1, requests=1)
    bench.drive(runner)
    (line,) = bench.lines()
    error = str(line["error"])
    assert "sk-9" not in error
    assert "<redacted>" in error
    assert len(error.encode()) <= 1024


@dataclass
class TurnLog(ScriptedTransport):
    """Logs each send's start and the moment the loop first comes back to it."""

    log: list[str] = field(default_factory=list)

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        self.log.append("start")
        await asyncio.sleep(0)  # like a connect: the reply comes on a later loop turn
        self.log.append("resumed")
        return await super().send(request, exchange)


def test_closed_loop_workers_start_on_separate_loop_turns(bench: Bench) -> None:
    # Started in one loop turn, 200 workers would all stamp t0 and connect before the
    # loop reached the first reply, inflating the first wave's TTFT by their start-up.
    transport = TurnLog(bench.clock, delay_s=0.01)
    runner = bench.runner(transport, concurrency=200, requests=200)
    bench.drive(runner)
    first_resume = transport.log.index("resumed")
    assert transport.log.count("start") == 200
    assert first_resume < 5, transport.log[:10]
    assert transport.sent == [0] * 200


def test_an_open_loop_burst_starts_one_request_per_loop_turn(bench: Bench) -> None:
    # The same for the feeder: a burst of 200 due at once is handed over one per turn.
    transport = TurnLog(bench.clock, delay_s=0.01)
    runner = bench.runner(transport, rps=10.0, burst=200, concurrency=200, requests=200)
    bench.drive(runner)
    assert transport.log.count("start") == 200
    assert transport.log.index("resumed") < 5, transport.log[:10]
    assert transport.sent == [0] * 200


@dataclass
class StopOnFirstSend(ScriptedTransport):
    """Sends SIGINT to the runner from its first request, while workers are starting."""

    runner: Runner | None = None

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        if self.runner is not None and not self.sent:
            self.runner.interrupt("SIGINT")
        return await super().send(request, exchange)


def test_a_signal_during_worker_start_up_ends_the_run_at_once(bench: Bench) -> None:
    # 500 workers ramping over 60 s, stopped while they are still being created: no
    # worker created after the stop may sleep until the 30 s grace period cancels it.
    transport = StopOnFirstSend(bench.clock, delay_s=0.01)
    runner = bench.runner(transport, concurrency=500, ramp_up_s=60.0, grace_s=30.0)
    transport.runner = runner
    outcome = bench.drive(runner)
    assert outcome.signal == "SIGINT"
    assert len(transport.sent) == 1
    assert bench.clock.now_ns() == 10 * MS  # the one request's reply, nothing more


def test_the_live_view_gets_a_progress_snapshot_each_second(bench: Bench) -> None:
    # One worker, 2 requests of 1.25 s each: one is in flight at 1 s and at 2 s; the run
    # ends at 2.5 s, before a third tick.
    transport = bench.transport(delay_s=1.25)
    runner = bench.runner(transport, concurrency=1, requests=2)
    bench.drive(runner)
    assert bench.progress == [Progress(1.0, 1, "measure", 1), Progress(2.0, 1, "measure", 2)]
    assert bench.clock.now_ns() == 2500 * MS


def test_the_live_view_is_not_silent_while_warming_up(bench: Bench) -> None:
    # A 1.25 s warm-up request, then one measured: a tick in the warm-up says which phase
    # it is (the view shows no figures for it), and the measured phase counts from 0.
    transport = bench.transport(delay_s=1.25)
    runner = bench.runner(transport, concurrency=1, requests=1, warmup_requests=1)
    bench.drive(runner)
    assert bench.progress == [Progress(1.0, 1, "warmup", 1), Progress(1.0, 1, "measure", 1)]


def test_the_outcome_carries_the_self_check_block(bench: Bench) -> None:
    transport = bench.transport(delay_s=0.05)
    runner = bench.runner(transport, concurrency=2, requests=4)
    outcome = bench.drive(runner)
    assert (outcome.interrupted, outcome.stop_reason, outcome.signal) == (False, "done", None)
    assert outcome.due_unsent == 0
    assert set(outcome.client) == {
        "loop_lag_ms", "cpu_pct", "cpu_peak_pct", "dispatch_lateness_ms",
        "loop_lag_over_limit", "dispatch_over_limit", "saturated", "saturation_reasons",
    }  # fmt: skip
    # Virtual time: the ticker wakes exactly on time, and no CPU is spent.
    assert outcome.client["loop_lag_ms"]["max"] <= 0.001
    assert (outcome.client["cpu_pct"], outcome.client["saturated"]) == (0.0, False)


@pytest.mark.slow
def test_real_time_runs_the_same_schedule(tmp_path: Path) -> None:
    # The default clock and sleep (perf_counter_ns, asyncio.sleep) end to end: 50 rps
    # for 0.5 s has 25 requests due (0, 20, ..., 480 ms); the run ends when the last
    # one's 10 ms reply is in, at ~0.49 s. Tolerances are loose because a shared CI
    # machine may stall the loop for tens of ms: at least 60% of the due requests must
    # go, never more than 25; the run lasts at least 0.95x its 0.5 s (the last send is
    # never early; 5% leaves room for a timer firing within the clock's resolution)
    # and at most 4x.
    transport = ScriptedTransport(RealTime(), delay_s=0.01)
    config = RunConfig(url="http://127.0.0.1:9", rps=50.0, concurrency=4, duration_s=0.5)
    writer = ResultsWriter(tmp_path / "results.jsonl", time.perf_counter_ns())
    runner = Runner(
        config, make_provider(config), transport, itertools.repeat(WorkloadItem(prompt="hi")),
        KeyRing(()), Recorder(), writer,
    )  # fmt: skip
    began = time.perf_counter()
    try:
        outcome = asyncio.run(asyncio.wait_for(runner.run(), timeout=20))
    finally:
        writer.close()
    elapsed = time.perf_counter() - began
    assert 0.6 <= len(transport.sent) / 25 <= 1.0
    assert 0.95 <= elapsed / 0.5 <= 4.0
    # "done" when the schedule ran out first (the usual case), "duration" when a stall
    # let the deadline pass first; never a signal.
    assert (outcome.interrupted, outcome.stop_reason in ("done", "duration")) == (False, True)
    assert outcome.client["loop_lag_ms"] is not None  # the real ticker ran


@dataclass
class Refused(ScriptedTransport):
    """Refuses the connection (a dead port) from request ``ok_first`` on."""

    ok_first: int = 0

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        if len(self.sent) < self.ok_first:
            return await super().send(request, exchange)
        self.sent.append(self.clock.now_ns())
        return exchange.lost("connect_error", "connection refused", self.clock.now_ns())


def test_a_worker_backs_off_connection_errors_instead_of_spinning(bench: Bench) -> None:
    # One worker against a dead port for 3 s: it waits 50 ms, 100, 200, 400, 800 ms,
    # then 1 s a time (the cap) between attempts: 7 sends, not tens of thousands.
    transport = Refused(bench.clock)
    runner = bench.runner(transport, concurrency=1, duration_s=3.0)
    bench.drive(runner)
    assert transport.sent == [t * MS for t in (0, 50, 150, 350, 750, 1550, 2550)]


def test_the_connect_back_off_resets_after_a_success(bench: Bench) -> None:
    @dataclass
    class Flaky(ScriptedTransport):
        async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
            if len(self.sent) in (0, 1, 3):  # refused, refused, ok, refused, ok...
                self.sent.append(self.clock.now_ns())
                return exchange.lost("connect_error", "refused", self.clock.now_ns())
            return await super().send(request, exchange)

    transport = Flaky(bench.clock)
    runner = bench.runner(transport, concurrency=1, requests=5)
    bench.drive(runner)
    # waits 50 ms, 100 ms; the success resets the count: the next refusal waits 50 ms
    assert transport.sent == [0, 50 * MS, 150 * MS, 150 * MS, 200 * MS]


def test_the_open_loop_keeps_its_schedule_through_connection_errors(bench: Bench) -> None:
    transport = Refused(bench.clock)
    runner = bench.runner(transport, rps=100.0, concurrency=4, requests=10)
    bench.drive(runner)
    assert transport.sent == [i * 10 * MS for i in range(10)]


def test_a_dead_server_stops_the_run_at_the_error_rate(bench: Bench) -> None:
    # 4 workers, a closed port, a 60 s run: once 20 requests have finished, all failed
    # (100% > 50%), the run stops: a bounded number of requests, and the reason.
    transport = Refused(bench.clock)
    runner = bench.runner(transport, concurrency=4, duration_s=60.0, max_error_rate=0.5)
    outcome = bench.drive(runner)
    assert outcome.stop_reason == "error rate"
    assert len(transport.sent) == 20
    assert outcome.error_rate_stop == {"threshold": 0.5, "observed": 1.0, "window": 20}
    assert bench.clock.now_ns() < 1 * S


def test_a_server_dying_mid_run_stops_it_within_the_window(bench: Bench) -> None:
    # 50 good requests, then the server is gone: of the last 100 finished, 51 failed
    # (51% > 50%) after 101 requests; the run does not go on for its 60 s.
    transport = Refused(bench.clock, delay_s=0.01, ok_first=50)
    runner = bench.runner(transport, concurrency=1, duration_s=60.0, max_error_rate=0.5)
    outcome = bench.drive(runner)
    assert (outcome.stop_reason, len(transport.sent)) == ("error rate", 101)
    assert outcome.error_rate_stop == {"threshold": 0.5, "observed": 0.51, "window": 100}
    assert outcome.interrupted is False


def test_an_error_rate_stop_in_the_warm_up_ends_the_run(bench: Bench) -> None:
    transport = Refused(bench.clock)
    runner = bench.runner(
        transport, rps=100.0, concurrency=4, requests=50, warmup_requests=40, max_error_rate=0.5
    )
    outcome = bench.drive(runner)
    assert outcome.stop_reason == "error rate"
    assert {line["phase"] for line in bench.lines()} == {"warmup"}


def test_an_item_the_provider_cannot_write_is_a_result_not_a_crash(bench: Bench) -> None:
    # A lone surrogate (a prompt file read with surrogateescape) cannot become JSON:
    # that request is recorded as not sent, and the run goes on.
    items = iter(
        [
            WorkloadItem(prompt="hello"),
            WorkloadItem(prompt="bad \ud800"),
            *[WorkloadItem(prompt="hello")] * 2,
        ]
    )
    transport = bench.transport(delay_s=0.01)
    outcome = bench.drive(bench.runner(transport, items=items, concurrency=1, requests=4))
    assert outcome.stop_reason == "done"
    lines = bench.lines()
    assert [line["status"] for line in lines] == ["ok", "connect_error", "ok", "ok"]
    assert str(lines[1]["error"]).startswith("request not sent: the provider could not build it")


def test_a_shard_measures_from_the_end_of_its_warm_up_window(bench: Bench) -> None:
    # Shard 1 of 2, closed loop, 2 s warm-up of 0.75 s requests: the warm-up request in
    # flight at 2 s is cancelled (not waited for, as one process would), so the measured
    # phase starts at exactly 2 s in every shard.
    transport = bench.transport(delay_s=0.75)
    runner = bench.runner(transport, concurrency=2, requests=4, warmup_s=2.0, shard=1, shards=2)
    bench.drive(runner)
    assert runner.recorder.origin_ns == 2 * S
    lines = [
        orjson.loads(line) for line in (bench.tmp_path / "results.jsonl").read_text().splitlines()
    ]
    warm = [line["status"] for line in lines if line["phase"] == "warmup"]
    assert warm == ["ok", "ok", "canceled"]  # 0-0.75, 0.75-1.5, 1.5-2.0 cut at 2.0
    measured = [line["index"] for line in lines if line["phase"] == "measure"]
    assert measured == [1, 3]  # shard 1 of 2: the odd global indices of 0..3


def test_one_process_still_waits_for_its_warm_up_to_finish(bench: Bench) -> None:
    transport = bench.transport(delay_s=0.75)
    runner = bench.runner(transport, concurrency=1, requests=1, warmup_s=2.0)
    bench.drive(runner)
    assert runner.recorder.origin_ns == 2250 * MS  # the third warm-up request ended


def test_an_overloaded_stop_ends_the_run_at_once_without_the_grace_period(
    bench: Bench,
) -> None:
    # A sweep step judged hopeless at 0.5 s: nothing more is sent, and the requests in
    # flight (30 s each) are cancelled then, not after the 5 s grace period.
    transport = bench.transport(delay_s=30.0)
    runner = bench.runner(transport, concurrency=3, duration_s=60.0, grace_s=5.0)

    async def judge() -> None:
        await bench.clock.sleep(0.5)
        runner.stop_overloaded("TTFT p50 rose every second")
        runner.stop_overloaded("a second verdict is ignored")

    async def main() -> RunOutcome:
        task = asyncio.create_task(judge())
        outcome = await runner.run()
        await task
        return outcome

    outcome = bench.clock.run(main())
    bench.close()
    assert (outcome.stop_reason, outcome.overload) == ("overloaded", "TTFT p50 rose every second")
    assert outcome.interrupted is False
    assert [line["status"] for line in bench.lines()] == ["canceled"] * 3
    assert bench.clock.now_ns() == 500 * MS


def test_an_item_lost_with_a_changed_trace_file_stops_the_run_not_crashes_it(
    bench: Bench,
) -> None:
    # The --trace file changed on disk and the next item can no longer be read: the run
    # stops there, with its reason, keeping what it measured.
    def items() -> Iterator[WorkloadItem]:
        yield from itertools.repeat(WorkloadItem(prompt="hello"), 3)
        raise TraceChanged("--trace t.jsonl changed on disk during the run (truncated)")

    transport = bench.transport(delay_s=0.1)
    runner = bench.runner(transport, items=items(), rps=10.0, requests=10)
    outcome = bench.drive(runner)
    assert outcome.stop_reason == "trace changed"
    assert [line["status"] for line in bench.lines()] == ["ok"] * 3
