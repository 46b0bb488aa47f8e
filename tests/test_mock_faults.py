"""The mock's fault plan: spec parsing, the seeded draw, and the bytes each stream fault writes."""

from __future__ import annotations

import argparse
import random
from collections import Counter

import orjson
import pytest

from llmbench.mock import faults, http11
from llmbench.mock.faults import Fault, FaultError, FaultPlan, TrickleJob, parse_fault
from llmbench.mock.options import MockOptions, OptionsError, add_arguments, options_from_args
from llmbench.mock.stats import MockStats
from llmbench.mock.streams import StreamJob, StreamPlan, Timing
from llmbench.sse import SSEParser


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("status:429", Fault("status", 429)),
        ("status:503", Fault("status", 503)),
        ("cut:0", Fault("cut", 0)),
        ("cut:5", Fault("cut", 5)),
        ("html", Fault("html")),
        ("error-event", Fault("error-event")),
        ("content-type", Fault("content-type")),
    ],
)
def test_parse_fault(spec: str, fault: Fault) -> None:
    assert parse_fault(spec) == fault
    assert fault.spec == spec


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bogus", r"'bogus' is not a fault mode; known: status:CODE, cut:N, html"),
        ("status", r"the status must be one of status:429, status:500, status:503"),
        ("status:404", r"the status must be one of"),
        ("cut", r"cut needs a chunk count N >= 0"),
        ("cut:-1", r"cut needs a chunk count"),
        ("stall:3", r"stall takes no argument"),
    ],
)
def test_parse_fault_rejects(spec: str, match: str) -> None:
    with pytest.raises(FaultError, match=match):
        parse_fault(spec)


def _options(*argv: str) -> MockOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_options_collect_repeated_faults() -> None:
    opts = _options("--fault", "status:503", "--fault", "cut:2", "--fault-rate", "0.25")
    assert opts.faults == (Fault("status", 503), Fault("cut", 2))
    assert opts.fault_rate == 0.25


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (("--fault", "nope"), r"--fault 'nope' is not a fault mode"),
        (("--fault-rate", "1.5"), r"--fault-rate must be in 0..1, got 1.5"),
        (("--fault-rate", "nan"), r"--fault-rate must be in 0..1, got nan"),
    ],
)
def test_options_reject_bad_faults(argv: tuple[str, ...], match: str) -> None:
    with pytest.raises(OptionsError, match=match):
        _options(*argv)


def test_plan_rate_one_faults_every_request() -> None:
    plan = FaultPlan.seeded([Fault("html")], 1.0, seed=1)
    assert all(plan.draw() == Fault("html") for _ in range(100))


def test_plan_without_faults_or_rate_draws_none() -> None:
    assert FaultPlan.seeded([], 1.0, seed=1).draw() is None
    assert all(FaultPlan.seeded([Fault("html")], 0.0, 1).draw() is None for _ in range(50))


def test_plan_rate_and_mix() -> None:
    modes = [Fault("status", 503), Fault("stall"), Fault("noend")]
    plan = FaultPlan.seeded(modes, 0.2, seed=7)
    drawn = Counter(plan.draw() for _ in range(20_000))
    faulted = 20_000 - drawn[None]
    assert 3_600 < faulted < 4_400  # 0.2 of 20,000, within ~10 standard deviations
    assert all(1_000 < drawn[m] < 1_700 for m in modes)  # each a third of the faulted ones


def test_plan_is_reproducible_per_seed() -> None:
    modes = [Fault("html"), Fault("hang")]

    def draws(seed: int) -> list[Fault | None]:
        plan = FaultPlan.seeded(modes, 0.5, seed)
        return [plan.draw() for _ in range(200)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def _head_and_body(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize(
    ("spec", "status", "ctype"),
    [
        ("status:429", 429, b"application/json"),
        ("status:500", 500, b"application/json"),
        ("html", 502, b"text/html"),
    ],
)
def test_response_faults(spec: str, status: int, ctype: bytes) -> None:
    head, body = _head_and_body(faults.response(parse_fault(spec), b"x-a: 1\r\n", True))
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"content-type: " + ctype in head
    assert b"content-length: %d" % len(body) in head
    assert b"x-a: 1" in head
    assert b"retry-after" not in head


def test_503_says_when_to_retry() -> None:
    head, body = _head_and_body(faults.response(Fault("status", 503), b"", False))
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"retry-after: 1" in head
    assert b"connection: close" in head
    assert b'"code":503' in body


# A toy stream: token k is b"<k>" framed; the tail is the end signal plus the last chunk.
_TOKENS = tuple(http11.chunk(b"data: t%d\n\n" % k) for k in range(3))
_TAIL = http11.chunk(b"data: [DONE]\n\n") + http11.LAST_CHUNK
_PLAN = StreamPlan(first=http11.chunk(b"data: first\n\n"), tokens=_TOKENS, tail=_TAIL, n=6)


class _Conn:
    def __init__(self) -> None:
        self.out = bytearray()
        self.done = 0
        self.closed = 0

    def write(self, data: bytes) -> None:
        self.out += data

    def finish(self) -> None:
        self.done += 1

    def close(self) -> None:
        self.closed += 1


def _run(plan: StreamPlan) -> tuple[_Conn, MockStats, StreamJob]:
    """Fire the job with every token already due, as often as it asks."""
    conn, stats = _Conn(), MockStats()
    timing = Timing(ttft_ns=0, itl_ns=0, jitter_ns=0, rand=random.random)
    job = StreamJob(conn.write, conn.finish, plan, timing, stats, 0, conn.close)
    for _ in range(plan.n + 1):
        if job.fire(10**18) is None:
            break
    return conn, stats, job


def _full() -> bytes:
    return faults.whole_body(_PLAN)


def test_unfaulted_plan_writes_everything() -> None:
    conn, stats, job = _run(_PLAN)
    assert bytes(conn.out) == _full()
    assert (conn.done, conn.closed, stats.streams_completed, job.dead) == (1, 0, 1, True)


def test_cut_closes_after_n_chunks() -> None:
    conn, stats, job = _run(faults.shape(Fault("cut", 2), _PLAN, "openai"))
    assert bytes(conn.out) == _PLAN.first + _TOKENS[0] + _TOKENS[1]
    assert (conn.done, conn.closed, stats.streams_aborted, job.dead) == (0, 1, 1, True)


def test_cut_past_the_end_still_cuts() -> None:
    conn, _, _ = _run(faults.shape(Fault("cut", 99), _PLAN, "openai"))
    assert conn.closed == 1
    assert _TAIL not in conn.out
    assert conn.out.count(b"data: t") == _PLAN.n - 1


def test_stall_keeps_the_socket_open() -> None:
    conn, stats, job = _run(faults.shape(Fault("stall"), _PLAN, "openai"))
    assert conn.out.count(b"data: t") == faults.STALL_AFTER
    assert (conn.done, conn.closed, job.dead) == (0, 0, False)
    job.abort()  # the client gives up
    assert stats.streams_aborted == 1


@pytest.mark.parametrize(
    ("spec", "marker"), [("badjson", b'"delta":{"con\n\n'), ("huge", b"x" * 1000)]
)
def test_bad_event_mid_stream_then_the_rest(spec: str, marker: bytes) -> None:
    conn, stats, _ = _run(faults.shape(parse_fault(spec), _PLAN, "openai"))
    out = bytes(conn.out)
    assert marker in out
    assert out.endswith(_TAIL)
    assert out.count(b"data: t") == _PLAN.n
    assert stats.streams_completed == 1
    # The bad event comes after half of the content.
    assert out.index(marker) > out.index(b"data: t%d" % (_PLAN.n // 2 - 1))


def test_huge_is_one_event_over_ten_megabytes() -> None:
    size, _, rest = faults.huge_event().partition(b"\r\n")
    assert int(size, 16) > faults.HUGE_EVENT_BYTES
    assert rest.count(b"\n") == 2 + 1  # one data line, its blank line, then the chunk's CRLF


def test_noend_drops_the_end_signal() -> None:
    conn, stats, _ = _run(faults.shape(Fault("noend"), _PLAN, "openai"))
    assert b"[DONE]" not in conn.out
    assert conn.out.endswith(http11.LAST_CHUNK)
    assert conn.out.count(b"data: t") == _PLAN.n
    assert stats.streams_completed == 1


def test_error_event_ends_the_stream_cleanly() -> None:
    conn, stats, _ = _run(faults.shape(Fault("error-event"), _PLAN, "openai"))
    out = bytes(conn.out)
    assert b'data: {"error":{"message":"mock fault: generation failed"' in out
    assert out.endswith(http11.chunk(b"data: [DONE]\n\n") + http11.LAST_CHUNK)
    assert out.count(b"data: t") == _PLAN.n // 2
    assert (conn.done, stats.streams_completed) == (1, 1)


@pytest.mark.parametrize(
    ("format_name", "event", "field"),
    [
        ("openai", "message", "error"),
        ("anthropic", "error", "error"),
        ("dify", "message", "event"),
        ("dashscope", "error", "code"),
    ],
)
def test_error_event_per_format(format_name: str, event: str, field: str) -> None:
    body = bytearray(faults.error_event(format_name))
    assert body.endswith(http11.LAST_CHUNK)
    events = SSEParser().feed(_dechunk(bytes(body)))
    assert events[0].event == event
    assert field in orjson.loads(events[0].data)


def test_error_event_falls_back_to_openai() -> None:
    assert faults.error_event("no-such-format") == faults.error_event("openai")


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return bytes(out)
        out += data[:n]
        data = data[n + 2 :]


@pytest.mark.parametrize("spec", ["trickle", "content-type"])
def test_faults_that_keep_the_plan(spec: str) -> None:
    assert faults.shape(parse_fault(spec), _PLAN, "openai") == _PLAN


def test_trickle_writes_one_byte_per_tick() -> None:
    conn = _Conn()
    job = TrickleJob(conn.write, conn.finish, b"abc", now_ns=5)
    assert job.due_ns == 5
    writes = []
    now = 5
    while (nxt := job.fire(now)) is not None:
        writes.append(bytes(conn.out))
        assert nxt == now + faults.TRICKLE_NS
        now = nxt
    assert writes == [b"a", b"ab"]
    assert (bytes(conn.out), conn.done, job.dead) == (b"abc", 1, True)


def test_stats_count_faults_by_spec() -> None:
    stats = MockStats()
    for spec in ("html", "cut:3", "html"):
        stats.fault(spec)
    snap = stats.statistics()
    assert snap.faults == {"html": 2, "cut:3": 1}
    assert snap.to_json()["faults"] == {"html": 2, "cut:3": 1}
    assert snap.lines()[-1] == "faults=3 cut:3=1 html=2"
