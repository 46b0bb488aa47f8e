"""The fast transport against hostile servers (issue 12): every time limit at its own
instant, no request sent twice, no hang after the end signal, early answers, interim
floods, and the request written as httpx writes it.

Servers are a few lines of asyncio on 127.0.0.1, one scripted behaviour each. The
time-limit table runs on virtual time (``faketime.FakeClock``, with the transport's
timer on the same clock): the server writes at exact virtual instants and the test
asserts the exact instant each limit fired. The other tests use short real times, and
every request is bounded by a real-time ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import httpx
import pytest

from faketime import FakeClock
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.fast import FastTransport
from llmbench.http.request import HttpRequest
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult
from llmbench.workload import WorkloadItem

S = 1_000_000_000
T_NS = 5_000_000_000_000  # the fake clock's start: far from any perf_counter_ns
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"
LAST_CHUNK = b"0\r\n\r\n"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse_response(*events: bytes, last: bytes = LAST_CHUNK) -> bytes:
    return HEAD + b"".join(chunk(e) for e in events) + last


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A server on 127.0.0.1 running ``handler`` per connection; closed on exit."""
    writers: list[asyncio.StreamWriter] = []

    async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(each, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.close()
        for writer in writers:
            writer.close()
        await asyncio.sleep(0)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request: its head and its Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def replying(reply: bytes, log: list[bytes] | None = None) -> Handler:
    """Reads a request, writes ``reply``, then holds the connection open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if log is not None:
            log.append(request)
        writer.write(reply)
        await reader.read()

    return handler


def exchange_for(url: str, t0_ns: int) -> tuple[HttpRequest, Exchange]:
    provider = OpenAIChat(RunConfig(url=url))
    ex = Exchange(provider, index=0, phase="measure", t0_ns=t0_ns, max_line_bytes=1 << 20)
    return provider.build_request(WorkloadItem(prompt="hi"), "sk-x"), ex


async def send(client: FastTransport, url: str, t0_ns: int | None = None) -> RequestResult:
    request, ex = exchange_for(url, time.perf_counter_ns() if t0_ns is None else t0_ns)
    return await asyncio.wait_for(client.send(request, ex), 10)


LIMITS_REAL = Timeouts(total_s=10.0, connect_s=5.0, stall_s=2.0)


def fast(timeouts: Timeouts = LIMITS_REAL) -> FastTransport:
    return FastTransport(timeouts=timeouts, ssl_context=None)


def run_one(handler: Handler, timeouts: Timeouts = LIMITS_REAL) -> RequestResult:
    async def main() -> RequestResult:
        async with serve(handler) as url:
            client = fast(timeouts)
            try:
                return await send(client, url)
            finally:
                await client.aclose()

    return asyncio.run(main())


# -- every time limit fires at its own instant (virtual time) --------------------------


class FakeTimers:
    """``call_later`` on a FakeClock: each timer is a task asleep on the clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self, delay: float, callback: Callable[[], None]) -> asyncio.Task[None]:
        async def fire() -> None:
            await self.clock.sleep(delay)
            callback()

        return asyncio.get_running_loop().create_task(fire())


SCRIPTS: dict[str, list[tuple[float, bytes]]] = {
    # (virtual seconds after t0, what the server writes then); then silence
    "no-head": [],
    "head-only": [(1.0, HEAD)],
    "two-tokens": [(1.0, HEAD), (2.0, chunk(TOKEN)), (3.0, chunk(TOKEN))],
}
LIMITS = {"ttft": 2.5, "stall": 1.2, "total": 6.0}  # total absent: the default 600 s
SUBSETS = [
    frozenset(c) for n in range(4) for c in itertools.combinations(("ttft", "stall", "total"), n)
]
# (script, limits set) -> (the limit that fires, at how many seconds after t0)
FIRES = {
    ("no-head", frozenset()): ("total", 600),
    ("no-head", frozenset({"ttft"})): ("ttft", 2.5),
    ("no-head", frozenset({"stall"})): ("total", 600),  # stall starts with the head
    ("no-head", frozenset({"total"})): ("total", 6),
    ("no-head", frozenset({"ttft", "stall"})): ("ttft", 2.5),
    ("no-head", frozenset({"ttft", "total"})): ("ttft", 2.5),
    ("no-head", frozenset({"stall", "total"})): ("total", 6),
    ("no-head", frozenset({"ttft", "stall", "total"})): ("ttft", 2.5),
    ("head-only", frozenset()): ("total", 600),
    ("head-only", frozenset({"ttft"})): ("ttft", 2.5),
    ("head-only", frozenset({"stall"})): ("stall", 2.2),  # the issue: hung to the total
    ("head-only", frozenset({"total"})): ("total", 6),
    ("head-only", frozenset({"ttft", "stall"})): ("stall", 2.2),  # was reported at 2.5
    ("head-only", frozenset({"ttft", "total"})): ("ttft", 2.5),
    ("head-only", frozenset({"stall", "total"})): ("stall", 2.2),
    ("head-only", frozenset({"ttft", "stall", "total"})): ("stall", 2.2),
    ("two-tokens", frozenset()): ("total", 600),
    ("two-tokens", frozenset({"ttft"})): ("total", 600),  # the token came at 2 s
    ("two-tokens", frozenset({"stall"})): ("stall", 4.2),
    ("two-tokens", frozenset({"total"})): ("total", 6),
    ("two-tokens", frozenset({"ttft", "stall"})): ("stall", 4.2),
    ("two-tokens", frozenset({"ttft", "total"})): ("total", 6),
    ("two-tokens", frozenset({"stall", "total"})): ("stall", 4.2),
    ("two-tokens", frozenset({"ttft", "stall", "total"})): ("stall", 4.2),
}


def timeouts_for(limits: frozenset[str], **extra: float) -> Timeouts:
    values = {f"{name}_s": LIMITS[name] for name in limits} | extra
    return Timeouts(**values)


def run_virtual(script: list[tuple[float, bytes]], timeouts: Timeouts) -> RequestResult:
    clock = FakeClock(T_NS)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for at, data in script:
            await clock.sleep((T_NS + round(at * S) - clock.now_ns()) / S)
            writer.write(data)
        await reader.read()

    async def main() -> RequestResult:
        async with serve(handler) as url:
            client = FastTransport(
                timeouts=timeouts,
                ssl_context=None,
                clock=clock.now_ns,
                call_later=FakeTimers(clock),
            )
            try:
                return await send(client, url, T_NS)
            finally:
                await client.aclose()

    return clock.run(main())


@pytest.mark.parametrize("limits", SUBSETS, ids=lambda s: "+".join(sorted(s)) or "defaults")
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_limit_fires_at_its_own_instant(script: str, limits: frozenset[str]) -> None:
    which, at = FIRES[(script, limits)]
    timeouts = timeouts_for(limits)
    result = run_virtual(SCRIPTS[script], timeouts)
    assert (result.status, result.detail) == ("timeout", which)
    assert result.end_ns - T_NS == round(at * S)
    assert result.error == timeouts.message(which)  # type: ignore[arg-type]


def test_a_timeout_mid_stream_keeps_what_arrived() -> None:
    result = run_virtual(SCRIPTS["two-tokens"], timeouts_for(frozenset({"stall"})))
    assert (result.ttfb_ns, result.ttft_ns, result.chunks) == (1 * S, 2 * S, 2)


@contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listen queue is full: a new connect hangs in SYN_SENT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with suppress(BlockingIOError):  # a non-blocking connect is under way
                filler.connect(("127.0.0.1", port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.mark.parametrize(
    ("limits", "fires"),
    [
        ({"connect_s": 3.0}, ("connect", 3.0)),
        ({"connect_s": 3.0, "ttft_s": 2.0}, ("ttft", 2.0)),
        ({"connect_s": 3.0, "ttft_s": 5.0}, ("connect", 3.0)),
        ({"connect_s": 3.0, "total_s": 1.5}, ("total", 1.5)),
        ({"connect_s": 3.0, "total_s": 4.0, "stall_s": 0.5}, ("connect", 3.0)),
    ],
    ids=["connect", "ttft-first", "connect-first", "total-first", "stall-not-yet"],
)
def test_the_connect_limit_and_those_that_run_during_it(
    limits: dict[str, float], fires: tuple[str, float]
) -> None:
    clock = FakeClock(T_NS)
    timeouts = Timeouts(**limits)

    async def main() -> RequestResult:
        with unaccepting_port() as port:
            client = FastTransport(
                timeouts=timeouts,
                ssl_context=None,
                clock=clock.now_ns,
                call_later=FakeTimers(clock),
            )
            return await send(client, f"http://127.0.0.1:{port}", T_NS)

    result = clock.run(main())
    assert (result.status, result.detail) == ("timeout", fires[0])
    assert result.end_ns - T_NS == round(fires[1] * S)
    assert result.ttfb_ns is None


@pytest.mark.parametrize("huge", [1e300, float("inf"), float("nan")])
def test_a_huge_limit_is_no_overflow(huge: float, caplog: pytest.LogCaptureFixture) -> None:
    # int(1e300 * 1e9) raised OverflowError in the timer callback: the loop logged it
    # and the request ran with no time limit at all.
    timeouts = Timeouts(total_s=huge, connect_s=huge, ttft_s=huge, stall_s=huge)
    result = run_one(replying(sse_response(TOKEN, DONE)), timeouts=timeouts)
    assert result.status == "ok"
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


# -- the end signal ends the request; the Exchange judges an unfinished body -----------


def test_done_without_the_last_chunk_is_ok_at_once() -> None:
    # The server sends [DONE] and never terminates the chunked body (issue 12 item 5):
    # reading stops at [DONE] and the request is ok well before any limit.
    result = run_one(replying(sse_response(TOKEN, DONE, last=b"")))
    assert (result.status, result.chunks) == ("ok", 1)
    assert result.end_ns - result.t0_ns < 1 * S  # the stall limit is 2 s


@pytest.mark.parametrize(
    ("reply", "close", "status"),
    [
        # a chunk announced at 2^64 - 1 bytes, never finished
        (HEAD + b"ffffffffffffffff\r\n" + TOKEN + DONE, False, "ok"),
        (HEAD + b"ffffffffffffffff\r\n" + TOKEN + FINISH, True, "ok"),
        (HEAD + b"ffffffffffffffff\r\n" + TOKEN, True, "incomplete"),
        (HEAD + b"ffffffffffffffff\r\n" + TOKEN, False, "timeout"),
        (HEAD + b"10000000000000000\r\n" + TOKEN + DONE, False, "parse_error"),  # 2^64
        (HEAD + chunk(TOKEN), True, "incomplete"),
        (HEAD + chunk(TOKEN) + chunk(FINISH), True, "ok"),
        (HEAD + chunk(TOKEN + FINISH) + LAST_CHUNK, False, "ok"),
    ],
    ids=[
        "huge-done",
        "huge-finish-close",
        "huge-close",
        "huge-hold",
        "overflow",
        "cut-close",
        "finish-cut-close",
        "finish-no-done",
    ],
)
def test_an_unfinished_body_has_the_streams_real_state(
    reply: bytes, close: bool, status: str
) -> None:
    # ok when the end signal came (the stream is whole whatever the framing says),
    # incomplete when the connection closed before it, a timeout while it holds.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        if not close:
            await reader.read()

    timeouts = Timeouts(total_s=10.0, stall_s=0.3)
    assert run_one(handler, timeouts=timeouts).status == status


def test_a_connection_is_reused_only_when_the_body_is_complete() -> None:
    connections: list[int] = []
    replies = {
        "complete": sse_response(TOKEN, DONE),
        "unterminated": sse_response(TOKEN, DONE, last=b""),
    }

    def handler(reply: bytes) -> Handler:
        async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            while True:
                await read_request(reader)
                writer.write(reply)

        return each

    async def main(reply: bytes) -> list[str]:
        connections.clear()
        async with serve(handler(reply)) as url:
            client = fast()
            try:
                return [(await send(client, url)).status for _ in range(3)]
            finally:
                await client.aclose()

    assert asyncio.run(main(replies["complete"])) == ["ok"] * 3
    assert len(connections) == 1
    assert asyncio.run(main(replies["unterminated"])) == ["ok"] * 3
    assert len(connections) == 3


@pytest.mark.parametrize(
    ("after_done", "reused"),
    [
        (LAST_CHUNK, True),  # the usual server: the last chunk a moment behind [DONE]
        (b"", False),  # never comes: closed after DRAIN_S
        (chunk(b"x" * 70_000) + LAST_CHUNK, False),  # still streaming: past DRAIN_BYTES
        (b"zz\r\n", False),  # not chunked framing
    ],
    ids=["last-chunk-later", "never", "too-much", "garbage"],
)
def test_after_the_end_signal_the_body_may_finish_for_reuse(
    after_done: bytes, reused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmbench.http.fast.DRAIN_S", 0.2)
    connections: list[int] = []  # one entry per connection the server accepted

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            await read_request(reader)
            writer.write(HEAD + chunk(TOKEN) + chunk(DONE))
            await asyncio.sleep(0.02)
            writer.write(after_done)

    async def main() -> list[RequestResult]:
        async with serve(handler) as url:
            client = fast()
            try:
                first = await send(client, url)
                await asyncio.sleep(0.4)  # past the drain
                return [first, await send(client, url)]
            finally:
                await client.aclose()

    results = asyncio.run(main())
    assert [r.status for r in results] == ["ok", "ok"]
    assert results[0].end_ns - results[0].t0_ns < 0.02 * S  # not waiting for the body
    assert len(connections) == (1 if reused else 2)


# -- no request is sent twice ----------------------------------------------------------


def test_a_kept_alive_connection_that_dies_after_the_request_is_a_connect_error() -> None:
    # Issue 12 item 6: the server reads the second request, holds it, and closes. The
    # request may have been acted on: it is not sent again.
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            if len(seen) == 2:
                await asyncio.sleep(0.2)
                return  # closes
            writer.write(sse_response(TOKEN, DONE))

    async def main() -> list[RequestResult]:
        async with serve(handler) as url:
            client = fast()
            try:
                return [await send(client, url) for _ in range(3)]
            finally:
                await client.aclose()

    first, second, third = asyncio.run(main())
    assert first.status == "ok"
    assert (second.status, second.attempts) == ("connect_error", 1)
    assert second.error == "connection closed before any response"
    assert third.status == "ok"
    assert len(seen) == 3  # one each: the second was not resent


def test_a_pooled_connection_closed_while_idle_is_not_written_to() -> None:
    # The server half-closes the idle connection; the FIN is in the socket before the
    # loop has told the protocol. The next request goes out on a new connection.
    per_connection: list[list[bytes]] = []
    writers: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests: list[bytes] = []
        per_connection.append(requests)
        writers.append(writer)
        while True:
            requests.append(await read_request(reader))
            writer.write(sse_response(TOKEN, DONE))

    async def main() -> list[str]:
        async with serve(handler) as url:
            client = fast()
            try:
                statuses: list[str] = [(await send(client, url)).status]
                await asyncio.sleep(0.05)  # the reply is read; the connection is pooled
                writers[0].get_extra_info("socket").shutdown(socket.SHUT_RDWR)
                # no await between the FIN and the send: the protocol has not seen it
                statuses.append((await send(client, url)).status)
                return statuses
            finally:
                await client.aclose()

    assert asyncio.run(main()) == ["ok", "ok"]
    assert [len(r) for r in per_connection] == [1, 1]


# -- a server may answer before it has read the request --------------------------------

TOO_LARGE = (
    b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large"
)


async def answer_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(TOO_LARGE)  # before reading a byte, then close
    await writer.drain()


async def answer_after_the_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")  # the body is left unread: the close resets
    writer.write(TOO_LARGE)
    await writer.drain()


@pytest.mark.parametrize("handler", [answer_at_once, answer_after_the_head])
@pytest.mark.parametrize("body_size", [10, 4 << 20])
def test_an_early_answer_is_recorded(handler: Handler, body_size: int) -> None:
    async def main() -> RequestResult:
        async with serve(handler) as url:
            client = fast()
            try:
                request, ex = exchange_for(url, time.perf_counter_ns())
                big = HttpRequest(request.method, request.url, request.headers, b"x" * body_size)
                return await asyncio.wait_for(client.send(big, ex), 10)
            finally:
                await client.aclose()

    result = asyncio.run(main())
    assert (result.status, result.http_status) == ("http_error", 413)


@contextmanager
def answering_on_accept(hold: bool) -> Iterator[str]:
    """A server in a thread that writes 413 as soon as it accepts, before the client
    can have sent anything, then closes (or holds the connection for a second)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(5)
    accepted: list[socket.socket] = []

    def serve_one() -> None:
        conn, _ = server.accept()
        accepted.append(conn)
        conn.sendall(TOO_LARGE)
        if not hold:
            conn.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


class SlowToStartLoop(asyncio.SelectorEventLoop):
    """Returns each new connection 50 ms late: whatever the server sent at once is in
    before the request starts, on every run (uvloop often gets there by itself)."""

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        made = await super().create_connection(*args, **kwargs)
        await asyncio.sleep(0.05)
        return made


def loop_factories() -> list[object]:
    factories: list[object] = [
        pytest.param(asyncio.new_event_loop, id="asyncio"),
        pytest.param(SlowToStartLoop, id="asyncio-slow-start"),
    ]
    try:
        import uvloop
    except ImportError:  # not on Windows
        return factories
    return [*factories, pytest.param(uvloop.new_event_loop, id="uvloop")]


@pytest.mark.parametrize("loop_factory", loop_factories())
@pytest.mark.parametrize("hold", [False, True], ids=["then-close", "then-hold"])
def test_an_answer_before_the_request_is_written_is_recorded(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], hold: bool
) -> None:
    # With uvloop the 413 is in the socket before the request starts: it was dropped
    # as "bytes nobody asked for" and the request became a connect_error.
    async def main(url: str) -> RequestResult:
        client = fast()
        try:
            return await send(client, url)
        finally:
            await client.aclose()

    with answering_on_accept(hold) as url, asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(main(url))
    assert (result.status, result.http_status) == ("http_error", 413)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", "connection closed before any response"),
        (b"HTTP/1.1 200 OK\r\ncontent-", "connection closed inside the response head"),
    ],
    ids=["nothing", "half-a-head"],
)
def test_a_connection_closed_before_the_head_is_a_connect_error(reply: bytes, error: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    result = run_one(handler)
    assert (result.status, result.error) == ("connect_error", error)


# -- what the parser refuses or accepts, end to end ------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        (
            b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + sse_response(TOKEN, DONE),
            "parse_error",
            "bad HTTP response: more than 16 interim (1xx) responses",
        ),
        (
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" * 3 + sse_response(TOKEN, DONE),
            "ok",
            None,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            "parse_error",
            "bad HTTP response: 101 Switching Protocols: no upgrade was asked for",
        ),
        (
            HEAD.replace(b"\r\n", b"\n") + chunk(TOKEN) + chunk(DONE) + LAST_CHUNK,
            "ok",
            None,
        ),
        (
            HEAD.replace(
                b"content-type: text/event-stream",
                b"content-type: text/event-stream;\r\n charset=utf-8",
            )
            + chunk(TOKEN)
            + chunk(DONE)
            + LAST_CHUNK,
            "ok",
            None,
        ),
        (
            HEAD.replace(b"chunked", b"gzip, chunked") + chunk(TOKEN) + LAST_CHUNK,
            "parse_error",
            "bad HTTP response: unsupported Transfer-Encoding 'gzip, chunked'",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
            "parse_error",
            "bad HTTP response: Duplicate Content-Length",
        ),
    ],
    ids=[
        "5000-interim",
        "3-early-hints",
        "101",
        "bare-lf-head",
        "obs-fold",
        "te-gzip",
        "dup-length",
    ],
)
def test_hostile_heads(reply: bytes, status: str, error: str | None) -> None:
    result = run_one(replying(reply))
    assert (result.status, result.error) == (status, error)


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "GZIP", "zstd"])
def test_a_content_coding_we_did_not_ask_for_is_a_parse_error(coding: str) -> None:
    head = HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: %s\r\n\r\n" % coding.encode())
    result = run_one(replying(head + chunk(TOKEN) + chunk(DONE) + LAST_CHUNK))
    assert result.status == "parse_error"
    assert result.error == f"unsupported Content-Encoding {coding!r} (asked for identity)"


def test_a_compressed_error_body_stays_an_http_error() -> None:
    # An error's body is only its message: the status decides, as on httpx.
    body = b"\x1f\x8b\x08\x00compressed-error-body"
    reply = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    result = run_one(replying(reply))
    assert (result.status, result.http_status) == ("http_error", 503)
    assert (result.error or "").startswith("HTTP 503")


@pytest.mark.parametrize("coding", ["identity", "Identity"])
def test_the_identity_coding_is_fine(coding: str) -> None:
    head = HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: %s\r\n\r\n" % coding.encode())
    assert run_one(replying(head + chunk(TOKEN) + chunk(DONE) + LAST_CHUNK)).status == "ok"


# -- the request goes out as httpx writes it -------------------------------------------


async def heads_sent(
    userinfo: str, rest: str, headers: tuple[tuple[str, str], ...], httpx_too: bool = True
) -> list[bytes]:
    """The heads the fast transport, then httpx, send for ``http://<userinfo><server><rest>``."""
    log: list[bytes] = []
    async with serve(replying(b"HTTP/1.1 204 No Content\r\n\r\n", log)) as base:
        url = base.replace("http://", "http://" + userinfo, 1) + rest
        client = fast()
        try:
            _, ex = exchange_for(base, time.perf_counter_ns())
            await asyncio.wait_for(client.send(HttpRequest("POST", url, headers, b"{}"), ex), 10)
        finally:
            await client.aclose()
        if httpx_too:
            async with httpx.AsyncClient() as hx:
                await hx.post(url, headers=list(headers), content=b"{}")
    return log


def field(head: bytes, name: bytes) -> list[bytes]:
    lines = head.split(b"\r\n")[1:]
    return [v.strip() for n, _, v in (ln.partition(b":") for ln in lines) if n.lower() == name]


URLS = [
    # (userinfo, what follows host:port)
    ("", "/v1/chat completions"),
    ("", '/v1/a b?q=a b&x="<>`{}|^'),
    ("", "/caf\u00e9/\u00fc?\u00e9=\u00fc"),
    ("", "/%7Euser/%41%zz/x"),
    ("", "/v1/./x/../chat"),
    ("", ""),
    ("", "?a=1"),
    ("", "/v1/chat#fragment"),
    ("user:pass@", "/v1"),
    ("us%40er:p%3Ass@", "/v1"),
    ("user@", "/v1"),
    (":secret@", "/v1"),
    ("us\u00e9r:p\u00e4ss@", "/v1"),
]


@pytest.mark.parametrize(("userinfo", "rest"), URLS)
@pytest.mark.parametrize("auth", [False, True], ids=["no-auth-header", "auth-header"])
def test_the_request_target_host_and_auth_are_httpx_s(userinfo: str, rest: str, auth: bool) -> None:
    # Issue 12 item 3: a space went out raw in the request line, and user:pass@ was
    # dropped. httpx's Basic auth from the URL replaces an Authorization header.
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    if auth:
        headers += (("authorization", "Bearer sk-x"),)
    fast_head, httpx_head = asyncio.run(heads_sent(userinfo, rest, headers))
    assert fast_head.split(b"\r\n")[0] == httpx_head.split(b"\r\n")[0]
    for name in (b"host", b"authorization"):
        assert field(fast_head, name) == field(httpx_head, name), name


@pytest.mark.parametrize(
    "header",
    [("Host", "api.example"), ("User-Agent", "my-client/1.0"), ("Accept-Encoding", "identity")],
)
def test_the_requests_own_headers_replace_the_defaults(header: tuple[str, str]) -> None:
    fast_head, httpx_head = asyncio.run(heads_sent("", "/v1", (header,)))
    name = header[0].lower().encode()
    assert field(fast_head, name) == field(httpx_head, name) == [header[1].encode()]


def test_the_body_length_is_always_ours() -> None:
    # httpx sends the request's own Content-Length (then fails: too little data).
    (fast_head,) = asyncio.run(heads_sent("", "/v1", (("Content-Length", "99"),), httpx_too=False))
    assert field(fast_head, b"content-length") == [b"2"]


def test_basic_auth_from_the_url() -> None:
    fast_head, _ = asyncio.run(heads_sent("u%40x:p%3Ass@", "/v1", ()))
    assert field(fast_head, b"authorization") == [b"Basic " + base64.b64encode(b"u@x:p:ss")]


# -- a header that would split the request is never sent -------------------------------


@pytest.mark.parametrize("char", ["\r", "\n", "\0", "\r\n"], ids=["cr", "lf", "nul", "crlf"])
@pytest.mark.parametrize("part", ["name", "value"])
def test_a_header_with_cr_lf_or_nul_is_not_sent(char: str, part: str) -> None:
    log: list[bytes] = []
    header = (f"x-a{char}x-injected", "1") if part == "name" else ("x-a", f"1{char}x-injected: 1")

    async def main() -> RequestResult:
        async with serve(replying(sse_response(TOKEN, DONE), log)) as url:
            client = fast()
            try:
                request, ex = exchange_for(url, time.perf_counter_ns())
                bad = HttpRequest("POST", url, (*request.headers, header), request.body)
                return await asyncio.wait_for(client.send(bad, ex), 10)
            finally:
                await client.aclose()

    result = asyncio.run(main())
    assert result.status == "connect_error"
    assert result.error == "request not sent: a header name or value holds CR, LF or NUL"
    assert "injected" not in (result.error or "")
    assert log == []
