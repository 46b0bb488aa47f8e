"""Multi-turn sessions in the Runner: turn order, the history each turn carries, think
time, stop rules and signals, on virtual time (``faketime.FakeClock``) with a scripted
in-process transport (the real transports are covered end to end against the mock)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from faketime import FakeClock
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.request import HttpRequest
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.providers import make_provider
from llmbench.result import RequestResult, SessionResult
from llmbench.runner import Runner, RunOutcome
from llmbench.sessions import Session, SessionPlan, Spread, Turn, history_style
from llmbench.workload import KeyRing

MS = 1_000_000
S = 1_000_000_000


def openai_stream(text: str, *, chat: bool = True) -> bytes:
    content = {"delta": {"content": text}} if chat else {"text": text}
    chunks = (
        {"choices": [{"index": 0, **content, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "text": "", "finish_reason": "stop"}]},
    )
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def dify_stream(text: str, conversation: str | None) -> bytes:
    end: dict[str, Any] = {"event": "message_end", "metadata": {"usage": {"prompt_tokens": 1}}}
    if conversation is not None:
        end["conversation_id"] = conversation
    events = ({"event": "message", "answer": text}, end)
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


@dataclass
class ChatTransport:
    """Answers the n-th request (from 0) after ``delay_s`` with the text ``r<n>``;
    ``status(n)`` may make it fail. Keeps each request's body and send instant."""

    clock: FakeClock
    provider: str = "openai-chat"
    delay_s: float = 1.0
    status: Callable[[int], int] = lambda n: 200
    conversation: Callable[[int], str | None] = lambda n: "conv-0" if n < 3 else f"conv-{n}"
    bodies: list[dict[str, Any]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        n = len(self.bodies)
        self.bodies.append(orjson.loads(request.body))
        self.sent.append(self.clock.now_ns())
        await self.clock.sleep(self.delay_s)
        now = self.clock.now_ns()
        status = self.status(n)
        exchange.on_head(status, now, "text/event-stream" if status == 200 else None)
        if status == 200:
            body = openai_stream(f"r{n}", chat=self.provider == "openai-chat")
            if self.provider == "dify":
                body = dify_stream(f"r{n}", self.conversation(n))
            exchange.on_data(body, now)
        else:
            exchange.on_data(b"busy", now)
        return exchange.finish(now)

    async def aclose(self) -> None:
        return None


class SessionRecorder(Recorder):
    """The Recorder, keeping each session's outcome as well as counting it."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[SessionResult] = []

    def record_session(self, result: SessionResult) -> None:
        self.sessions.append(result)
        super().record_session(result)


@dataclass
class Harness:
    tmp_path: Path
    clock: FakeClock = field(default_factory=FakeClock)

    def run(
        self,
        transport: ChatTransport,
        sessions: Iterator[Session],
        *signals: tuple[float, str],
        think: Spread | None = None,
        reference: bool = False,
        keys: tuple[str, ...] = (),
        **cfg: Any,
    ) -> tuple[Runner, RunOutcome]:
        config = RunConfig(url="http://127.0.0.1:9", provider=transport.provider, **cfg)
        provider = make_provider(config)
        plan = SessionPlan(sessions, history_style(provider), reference, think)
        writer = ResultsWriter(self.tmp_path / "results.jsonl", 0)
        runner = Runner(
            config, provider, transport, iter(()), KeyRing(keys), SessionRecorder(), writer,
            clock=self.clock.now_ns, sleep=self.clock.sleep, cpu=lambda: 0.0, sessions=plan,
        )  # fmt: skip

        async def signal(at_s: float, name: str) -> None:
            await self.clock.sleep(at_s)
            runner.interrupt(name)

        async def main() -> RunOutcome:
            senders = [asyncio.create_task(signal(at, name)) for at, name in signals]
            try:
                return await asyncio.wait_for(runner.run(), timeout=20)
            finally:
                for task in senders:
                    task.cancel()

        try:
            return runner, self.clock.run(main())
        finally:
            writer.close()

    def lines(self) -> list[dict[str, Any]]:
        text = (self.tmp_path / "results.jsonl").read_bytes()
        return [orjson.loads(line) for line in text.splitlines()]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def sessions_of(*turn_texts: tuple[str, ...]) -> Iterator[Session]:
    return itertools.cycle([Session(tuple(Turn(t) for t in texts)) for texts in turn_texts])


def recorded(runner: Runner) -> list[SessionResult]:
    recorder = runner.recorder
    assert isinstance(recorder, SessionRecorder)
    return recorder.sessions


def test_a_session_sends_its_turns_in_order_each_with_the_actual_history(
    harness: Harness,
) -> None:
    transport = ChatTransport(harness.clock)
    runner, outcome = harness.run(
        transport, sessions_of(("a", "b", "c")), concurrency=1, requests=1
    )
    assert outcome.stop_reason == "done"
    contents = [[m["content"] for m in body["messages"]] for body in transport.bodies]
    assert contents == [["a"], ["a", "r0", "b"], ["a", "r0", "b", "r1", "c"]]
    assert transport.sent == [0, 1 * S, 2 * S]  # each turn once the reply before has ended
    lines = harness.lines()
    assert [(line["session"], line["turn"]) for line in lines] == [(0, 1), (0, 2), (0, 3)]
    assert all("text" not in line for line in lines)  # the replies were kept for history only
    (session,) = recorded(runner)
    assert (session.turns, session.sent, session.ok, session.end) == (3, 3, 3, "completed")
    assert (session.start_ns, session.end_ns) == (0, 3 * S)


def test_with_save_detailed_the_reply_text_is_written_too(harness: Harness) -> None:
    transport = ChatTransport(harness.clock)
    harness.run(transport, sessions_of(("a", "b")), requests=1, save_detailed=True)
    assert [line["text"] for line in harness.lines()] == ["r0", "r1"]


def test_reference_history_sends_the_datasets_replies(harness: Harness) -> None:
    session = Session((Turn("a", reference="A!"), Turn("b")))
    transport = ChatTransport(harness.clock)
    harness.run(transport, itertools.repeat(session), requests=1, reference=True)
    assert [m["content"] for m in transport.bodies[1]["messages"]] == ["a", "A!", "b"]


def test_think_time_passes_between_a_reply_and_the_next_turn(harness: Harness) -> None:
    transport = ChatTransport(harness.clock)
    harness.run(transport, sessions_of(("a", "b", "c")), requests=1, think=Spread(2.5))
    assert transport.sent == [0, 3_500 * MS, 7 * S]


def test_concurrency_counts_users_and_requests_counts_sessions(harness: Harness) -> None:
    transport = ChatTransport(harness.clock)
    runner, _ = harness.run(transport, sessions_of(("a", "b")), concurrency=2, requests=3)
    lines = harness.lines()
    assert len(lines) == 6  # 3 sessions of 2 turns
    assert sorted({line["session"] for line in lines}) == [0, 1, 2]
    assert len({line["index"] for line in lines}) == 6  # every request its own index
    assert runner.recorder.finished == 6
    assert [s.end for s in recorded(runner)] == ["completed"] * 3
    # two users at a time: the third session starts when the first one has ended
    assert transport.sent == [0, 0, 1 * S, 1 * S, 2 * S, 3 * S]


def test_a_failed_turn_ends_its_session_and_the_rest_is_not_sent(harness: Harness) -> None:
    transport = ChatTransport(harness.clock, status=lambda n: 500 if n == 1 else 200)
    runner, _ = harness.run(transport, sessions_of(("a", "b", "c")), requests=2)
    assert [(line["session"], line["turn"], line["status"]) for line in harness.lines()] == [
        (0, 1, "ok"),
        (0, 2, "http_error"),
        (1, 1, "ok"),
        (1, 2, "ok"),
        (1, 3, "ok"),
    ]
    first, second = recorded(runner)
    assert (first.end, first.sent, first.ok, first.unsent) == ("failed", 2, 1, 1)
    assert second.end == "completed"


def test_after_the_duration_a_session_finishes_within_the_grace_period(harness: Harness) -> None:
    # Sessions of 3 turns, 1 s each: the duration (1.5 s) ends new sessions; the one in
    # flight goes on and ends at 3 s, inside the 5 s grace period.
    transport = ChatTransport(harness.clock)
    runner, outcome = harness.run(
        transport, sessions_of(("a", "b", "c")), concurrency=1, duration_s=1.5, grace_s=5.0
    )
    assert outcome.stop_reason == "duration"
    assert len(transport.sent) == 3
    assert [s.end for s in recorded(runner)] == ["completed"]


def test_past_the_grace_period_the_rest_of_a_session_is_stopped_and_counted(
    harness: Harness,
) -> None:
    transport = ChatTransport(harness.clock)
    runner, _ = harness.run(
        transport, sessions_of(("a", "b", "c", "d")), concurrency=1, duration_s=0.5, grace_s=1.2
    )
    # turn 1 ends at 1 s, turn 2 is sent then and cancelled at 1.7 s (0.5 + 1.2)
    assert [line["status"] for line in harness.lines()] == ["ok", "canceled"]
    (session,) = recorded(runner)
    assert (session.end, session.sent, session.ok, session.unsent) == ("stopped", 2, 1, 2)
    assert session.end_ns == 1_700 * MS


def test_a_signal_sends_no_further_turn(harness: Harness) -> None:
    transport = ChatTransport(harness.clock)
    runner, outcome = harness.run(
        transport, sessions_of(("a", "b", "c")), (0.5, "SIGINT"), requests=1
    )
    assert outcome.signal == "SIGINT"
    assert len(transport.sent) == 1  # turn 1 finished in the grace period; turn 2 never went
    (session,) = recorded(runner)
    assert (session.end, session.sent, session.ok) == ("stopped", 1, 1)


def test_a_signal_during_think_time_ends_the_session_at_once(harness: Harness) -> None:
    transport = ChatTransport(harness.clock)
    runner, _ = harness.run(
        transport, sessions_of(("a", "b")), (2.0, "SIGINT"), requests=1, think=Spread(30.0)
    )
    assert len(transport.sent) == 1
    assert harness.clock.now_ns() == 2 * S  # woken by the signal, not the 30 s think time
    (session,) = recorded(runner)
    assert (session.end, session.end_ns) == ("stopped", 2 * S)


def test_after_the_duration_a_thinking_session_thinks_on_within_the_grace(
    harness: Harness,
) -> None:
    # the duration (1.5 s) comes while session 0 thinks (1 s .. 3 s): it sends turn 2 at 3 s
    transport = ChatTransport(harness.clock)
    runner, _ = harness.run(
        transport, sessions_of(("a", "b")), duration_s=1.5, grace_s=10.0, think=Spread(2.0)
    )
    assert transport.sent == [0, 3 * S]
    assert recorded(runner)[0].end == "completed"


def test_open_loop_rps_starts_sessions(harness: Harness) -> None:
    transport = ChatTransport(harness.clock, delay_s=0.5)
    runner, _ = harness.run(transport, sessions_of(("a", "b")), rps=1.0, requests=3)
    lines = harness.lines()
    starts = sorted(
        transport.sent[i] for i, b in enumerate(transport.bodies) if len(b["messages"]) == 1
    )
    assert starts == [0, 1 * S, 2 * S]  # one new session a second
    later = [line for line in lines if line["turn"] == 2]
    assert all(line["queue_ms"] is not None and line["queue_ms"] < 1 for line in later)
    assert len(recorded(runner)) == 3


def test_dify_threads_the_conversation_id_through_the_turns(harness: Harness) -> None:
    transport = ChatTransport(harness.clock, provider="dify")
    harness.run(transport, sessions_of(("a", "b", "c")), requests=1)
    assert [(b["query"], b["conversation_id"]) for b in transport.bodies] == [
        ("a", ""),
        ("b", "conv-0"),
        ("c", "conv-0"),
    ]
    assert [line.get("conversation_id") for line in harness.lines()] == ["conv-0"] * 3


def test_a_dify_reply_without_a_conversation_id_fails_the_session(harness: Harness) -> None:
    transport = ChatTransport(harness.clock, provider="dify", conversation=lambda n: None)
    runner, _ = harness.run(transport, sessions_of(("a", "b")), requests=1)
    assert len(transport.bodies) == 1
    assert recorded(runner)[0].end == "failed"


def test_a_completion_api_grows_its_prompt(harness: Harness) -> None:
    transport = ChatTransport(harness.clock, provider="openai-completions")
    harness.run(transport, sessions_of(("a", "b")), requests=1)
    assert [b["prompt"] for b in transport.bodies] == ["a", "ar0\n\nb"]


def test_shards_send_the_sessions_one_process_would(tmp_path: Path) -> None:
    turns = [Session((Turn(f"s{i}a"), Turn(f"s{i}b"))) for i in range(4)]

    def sessions() -> Iterator[Session]:
        return itertools.cycle(turns)

    seen = []
    for shard in range(2):
        harness = Harness(tmp_path / str(shard))
        harness.tmp_path.mkdir()
        transport = ChatTransport(harness.clock)
        harness.run(transport, sessions(), concurrency=2, requests=4, shard=shard, shards=2)
        seen += [(line["session"], line["turn"], line["index"]) for line in harness.lines()]
        assert {b["messages"][0]["content"][:2] for b in transport.bodies} == {
            f"s{i}" for i in range(shard, 4, 2)
        }
    assert sorted((s, t) for s, t, _ in seen) == [(s, t) for s in range(4) for t in (1, 2)]
    assert len({index for _, _, index in seen}) == 8


@dataclass
class ReasoningTransport(ChatTransport):
    """Replies with a thinking channel before the content."""

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        self.bodies.append(orjson.loads(request.body))
        now = self.clock.now_ns()
        exchange.on_head(200, now, "text/event-stream")
        chunks = (
            {"choices": [{"index": 0, "delta": {"reasoning_content": "THOUGHTS "}}]},
            {"choices": [{"index": 0, "delta": {"content": "answer"}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        )
        body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
        exchange.on_data(body + b"data: [DONE]\n\n", now)
        return exchange.finish(now)


def test_the_history_carries_the_replys_content_not_its_reasoning(harness: Harness) -> None:
    transport = ReasoningTransport(harness.clock)
    harness.run(transport, sessions_of(("a", "b")), requests=1)
    assert [m["content"] for m in transport.bodies[1]["messages"]] == ["a", "answer", "b"]


def test_a_key_in_a_conversation_id_is_sent_back_but_never_written(harness: Harness) -> None:
    key = "sk-SECRETKEY123456"
    transport = ChatTransport(harness.clock, provider="dify", conversation=lambda n: f"c-{key}")
    harness.run(transport, sessions_of(("a", "b")), keys=(key,), requests=1)
    assert transport.bodies[1]["conversation_id"] == f"c-{key}"  # the server's id, as given
    text = (harness.tmp_path / "results.jsonl").read_text()
    assert key not in text
    assert "conversation_id" in text
