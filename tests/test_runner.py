"""The Runner's control flow with a scripted in-process transport: stopping, signals,
retries and the self-check's view of the feeder.

A narrow unit test: the transport is a fake (the real ones are covered end to end
against the mock). Every run is bounded by ``asyncio.wait_for``; nothing asserts how
long a step took, only what was recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.request import HttpRequest
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.providers import make_provider
from llmbench.result import RequestResult
from llmbench.runner import Runner, RunOutcome
from llmbench.workload import KeyRing, WorkloadItem

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


@dataclass
class ScriptedTransport:
    """Answers after ``delay_s`` with ``status`` (a 200 streams one token)."""

    delay_s: float = 0.0
    status: int = 200
    body: bytes = b"busy"  # of an error response
    sent: list[float] = field(default_factory=list)
    clock: Callable[[], int] = time.perf_counter_ns  # the runner's clock, for stamps

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        self.sent.append(time.monotonic())
        await asyncio.sleep(self.delay_s)
        now = self.clock
        exchange.on_head(self.status, now())
        exchange.on_data(_STREAM if self.status == 200 else self.body, now())
        return exchange.finish(now())

    async def aclose(self) -> None:
        return None


def make_runner(
    tmp_path: Path,
    transport: ScriptedTransport,
    clock: Callable[[], int] = time.perf_counter_ns,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    keys: tuple[str, ...] = (),
    **cfg: object,
) -> Runner:
    config = RunConfig(url="http://127.0.0.1:9", **cfg)  # type: ignore[arg-type]
    writer = ResultsWriter(tmp_path / "results.jsonl", clock())
    items = itertools.repeat(WorkloadItem(prompt="hello"))
    return Runner(
        config, make_provider(config), transport, items, KeyRing(keys), Recorder(), writer,
        clock=clock, sleep=sleep,
    )  # fmt: skip


def drive(runner: Runner, *signals: tuple[float, str]) -> RunOutcome:
    """Run to the end, sending each (delay, signal name) to the runner on the way."""

    async def main() -> RunOutcome:
        loop = asyncio.get_running_loop()
        for delay, name in signals:
            loop.call_later(delay, runner.interrupt, name)
        return await asyncio.wait_for(runner.run(), timeout=20)

    outcome = asyncio.run(main())
    runner._writer.close()
    return outcome


def lines(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "results.jsonl").read_bytes()
    return [orjson.loads(line) for line in text.splitlines()]


def test_a_signal_wakes_a_feeder_waiting_for_its_next_send(tmp_path: Path) -> None:
    # 0.05 rps: the second request is due 20 s in; Ctrl-C must not wait for it.
    transport = ScriptedTransport()
    runner = make_runner(tmp_path, transport, rps=0.05, concurrency=4)
    outcome = drive(runner, (0.2, "SIGINT"))
    assert (outcome.interrupted, outcome.signal, outcome.stop_reason) == (True, "SIGINT", "SIGINT")
    assert len(transport.sent) == 1
    assert [line["status"] for line in lines(tmp_path)] == ["ok"]


def test_a_signal_during_ramp_up_does_not_wait_for_later_workers(tmp_path: Path) -> None:
    # Closed loop ramping to 4 workers over 30 s: workers 2..4 are asleep at the signal.
    transport = ScriptedTransport(delay_s=0.01)
    runner = make_runner(tmp_path, transport, concurrency=4, ramp_up_s=30.0, grace_s=0.5)
    outcome = drive(runner, (0.3, "SIGTERM"))
    assert outcome.signal == "SIGTERM"
    assert len(transport.sent) >= 1
    assert runner.recorder.started == len(transport.sent)
    assert len(lines(tmp_path)) == len(transport.sent)


def test_sigterm_in_the_grace_period_is_still_reported(tmp_path: Path) -> None:
    # The duration rule fires first, then SIGTERM arrives while a request is in flight.
    transport = ScriptedTransport(delay_s=1.0)
    runner = make_runner(tmp_path, transport, concurrency=1, duration_s=0.2, grace_s=5.0)
    outcome = drive(runner, (0.5, "SIGTERM"))
    assert outcome.stop_reason == "duration"
    assert (outcome.interrupted, outcome.signal) == (True, "SIGTERM")
    assert [line["status"] for line in lines(tmp_path)] == ["ok"]


def test_a_second_signal_cancels_in_flight_requests_and_records_them(tmp_path: Path) -> None:
    transport = ScriptedTransport(delay_s=30.0)
    runner = make_runner(tmp_path, transport, concurrency=3, requests=3)
    outcome = drive(runner, (0.2, "SIGINT"), (0.3, "SIGINT"))
    assert outcome.signal == "SIGINT"
    assert [line["status"] for line in lines(tmp_path)] == ["canceled"] * 3
    assert runner.recorder.finished == 3


def test_retries_record_each_failed_attempt(tmp_path: Path) -> None:
    transport = ScriptedTransport(status=503)
    runner = make_runner(tmp_path, transport, concurrency=1, requests=1, retries=2)
    drive(runner)
    assert len(transport.sent) == 3
    (line,) = lines(tmp_path)
    assert (line["status"], line["http_status"]) == ("http_error", 503)
    assert (line["attempts"], line["retry_errors"]) == (3, ["http_error 503", "http_error 503"])


def test_a_stop_during_retry_back_off_keeps_the_failed_attempt(tmp_path: Path) -> None:
    # Back-off before the 3rd attempt is 0.4 s; the signal lands inside it.
    transport = ScriptedTransport(status=503)
    runner = make_runner(tmp_path, transport, concurrency=1, requests=1, retries=5)
    drive(runner, (0.45, "SIGINT"))
    (line,) = lines(tmp_path)
    assert line["status"] == "http_error"
    assert line["attempts"] == len(transport.sent)
    assert len(transport.sent) < 6


def test_waiting_for_a_concurrency_slot_is_queueing_not_feeder_lateness(
    tmp_path: Path,
) -> None:
    # 100 rps into one slot held 50 ms per request: requests queue for a slot. The
    # feeder hands each one over as soon as the slot frees, so its own lateness
    # stays near zero while queue_ms grows.
    transport = ScriptedTransport(delay_s=0.05)
    runner = make_runner(tmp_path, transport, rps=100.0, concurrency=1, requests=12)
    drive(runner)
    measured = lines(tmp_path)
    assert len(measured) == 12
    queue_ms = sorted(float(line["queue_ms"]) for line in measured)  # type: ignore[arg-type]
    client = runner.monitor.summary()
    assert client["dispatch_lateness_ms"]["p50"] < queue_ms[len(queue_ms) // 2] / 5
    assert client["saturated"] is False, client


def test_warm_up_is_left_out_of_the_self_check(tmp_path: Path) -> None:
    transport = ScriptedTransport()
    runner = make_runner(
        tmp_path, transport, rps=50.0, concurrency=4, requests=5, warmup_requests=3
    )
    drive(runner)
    assert runner.monitor.dispatch.get_total_count() == 5
    assert [line["phase"] for line in lines(tmp_path)] == ["warmup"] * 3 + ["measure"] * 5


def test_requests_due_but_never_sent_are_counted(tmp_path: Path) -> None:
    # 100 rps for 0.3 s into one slot held 1 s: ~30 are due, one goes out.
    transport = ScriptedTransport(delay_s=1.0)
    runner = make_runner(tmp_path, transport, rps=100.0, concurrency=1, duration_s=0.3)
    drive(runner)
    assert len(transport.sent) == 1
    assert 20 <= runner.due_unsent <= 30


def test_never_sent_respects_the_request_count(tmp_path: Path) -> None:
    transport = ScriptedTransport(delay_s=1.0)
    runner = make_runner(tmp_path, transport, rps=100.0, concurrency=1, requests=5, duration_s=0.3)
    drive(runner)
    assert runner.due_unsent == 4  # --requests 5: only four more were ever going to go


def test_a_feeder_that_fell_behind_catches_up_at_once(tmp_path: Path) -> None:
    # The clock jumps 1 s after the first send (as if the loop had been blocked): the
    # next 49 requests (10 ms apart at 100 rps) are all overdue. The feeder must send
    # them in one pass, each stamped with its true lateness, instead of spacing them out.
    jump = [0]
    transport = ScriptedTransport()

    def clock() -> int:
        if transport.sent and not jump[0]:
            jump[0] = 1_000_000_000
        return time.perf_counter_ns() + jump[0]

    transport.clock = clock
    runner = make_runner(tmp_path, transport, clock, rps=100.0, concurrency=100, requests=50)
    drive(runner)
    measured = sorted(lines(tmp_path), key=lambda line: int(line["index"]))  # type: ignore[call-overload]
    assert len(measured) == 50
    for line in measured[1:]:
        expected_ms = 1000 - 10 * int(line["index"])  # type: ignore[call-overload]
        assert abs(float(line["queue_ms"]) - expected_ms) < 50, line  # type: ignore[arg-type]
    assert max(transport.sent) - min(transport.sent) < 0.5  # not 49 x 10 ms of sleeping
    assert all(float(line["ttfb_ms"]) >= 0 for line in measured)  # type: ignore[arg-type]


def test_retry_back_off_doubles_through_the_injected_sleep(tmp_path: Path) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    transport = ScriptedTransport(status=503)
    runner = make_runner(
        tmp_path, transport, sleep=fake_sleep, concurrency=1, requests=1, retries=3
    )
    drive(runner)
    assert len(transport.sent) == 4
    assert [s for s in slept if s in (0.2, 0.4, 0.8, 1.6)] == [0.2, 0.4, 0.8]


def test_an_echoed_key_is_redacted_and_the_message_stays_within_1_kb(tmp_path: Path) -> None:
    transport = ScriptedTransport(status=401, body=b"bad key sk-9 " * 200)
    runner = make_runner(tmp_path, transport, keys=("sk-9",), concurrency=1, requests=1)
    drive(runner)
    (line,) = lines(tmp_path)
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


def test_closed_loop_workers_start_on_separate_loop_turns(tmp_path: Path) -> None:
    # Started in one loop turn, 200 workers would all stamp t0 and connect before the
    # loop reached the first reply, inflating the first wave's TTFT by their start-up.
    transport = TurnLog(delay_s=0.01)
    runner = make_runner(tmp_path, transport, concurrency=200, requests=200)
    drive(runner)
    first_resume = transport.log.index("resumed")
    assert transport.log.count("start") == 200
    assert first_resume < 5, transport.log[:10]


@dataclass
class StopOnFirstSend(ScriptedTransport):
    """Sends SIGINT to the runner from its first request, while workers are starting."""

    runner: Runner | None = None

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        if self.runner is not None and not self.sent:
            self.runner.interrupt("SIGINT")
        return await super().send(request, exchange)


def test_a_signal_during_worker_start_up_ends_the_run_at_once(tmp_path: Path) -> None:
    # 500 workers ramping over 60 s, stopped while they are still being created: no
    # worker created after the stop may sleep until the 30 s grace period cancels it.
    transport = StopOnFirstSend(delay_s=0.01)
    runner = make_runner(tmp_path, transport, concurrency=500, ramp_up_s=60.0, grace_s=30.0)
    transport.runner = runner
    outcome = drive(runner)  # bounded: drive() gives up after 20 s
    assert outcome.signal == "SIGINT"
    assert len(transport.sent) == 1
