"""Both transports drive an Exchange the same way: the same server misbehaviour gives
the same status and detail, both ask for uncompressed bytes, and both read every
instant and time limit from the clock they are given.

The server is a few lines of asyncio on 127.0.0.1 that plays one scripted reply per
test (never answer, answer then go silent, a 200 HTML page); the limits are short but
every assertion is on what was recorded, never on how long it took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from faketime import FakeClock
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.transport import Clock, Transport
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult
from llmbench.workload import WorkloadItem

TIMEOUTS = Timeouts(total_s=30.0, connect_s=10.0, ttft_s=0.5, stall_s=0.3)
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
HTML = b"<html><body>502 Bad Gateway</body></html>"
QUOTA = b'{"error": {"message": "quota exceeded", "type": "billing"}}'
REPLIES = {
    "hang": b"",  # never answers
    "stall": HEAD + b"%x\r\n%s\r\n" % (len(TOKEN), TOKEN),  # one token, then silence
    "html": b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n%s"
    % (len(HTML), HTML),
    "json-error": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(QUOTA), QUOTA),
    "whole": HEAD
    + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in (TOKEN, b"data: [DONE]\n\n"))
    + b"0\r\n\r\n",
}


@asynccontextmanager
async def server(
    reply: bytes, heads: list[bytes], asked: asyncio.Event | None = None
) -> AsyncIterator[str]:
    """Reads each request head (kept in ``heads``; ``asked`` is set), writes ``reply``,
    then holds on."""

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        if asked is not None:
            asked.set()
        writer.write(reply)
        await writer.drain()
        await reader.read()  # until the client closes

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.close()
        for writer in writers:  # closed here, whether or not the client hung up first
            writer.close()
        await asyncio.sleep(0)  # let the transports finish closing


def transport(name: str, timeouts: Timeouts, clock: Clock | None) -> Transport:
    if name == "fast":
        if clock is None:
            return FastTransport(timeouts=timeouts, ssl_context=None)
        return FastTransport(timeouts=timeouts, ssl_context=None, clock=clock)
    if clock is None:
        return HttpxTransport(concurrency=4, timeouts=timeouts, ssl_context=None)
    return HttpxTransport(concurrency=4, timeouts=timeouts, ssl_context=None, clock=clock)


async def one(client: Transport, url: str, t0_ns: int) -> RequestResult:
    provider = OpenAIChat(RunConfig(url=url))
    try:
        ex = Exchange(provider, index=0, phase="measure", t0_ns=t0_ns, max_line_bytes=4096)
        request = provider.build_request(WorkloadItem(prompt="hi"), "sk-x")
        return await asyncio.wait_for(client.send(request, ex), 20)
    finally:
        await client.aclose()


def drive(
    name: str,
    reply: str,
    *,
    timeouts: Timeouts = TIMEOUTS,
    clock: FakeClock | None = None,
    t0_ns: int | None = None,
) -> tuple[RequestResult, list[bytes]]:
    """One request against a server playing ``reply``; real time unless ``clock``."""
    heads: list[bytes] = []
    now = time.perf_counter_ns if clock is None else clock.now_ns

    async def main() -> RequestResult:
        async with server(REPLIES[reply], heads) as url:
            client = transport(name, timeouts, None if clock is None else clock.now_ns)
            return await one(client, url, now() if t0_ns is None else t0_ns)

    return asyncio.run(main()), heads


EXPECTED = {
    # No response head within the ttft limit: ttft, even though stall is shorter.
    "hang": ("timeout", "ttft", "timeout:ttft: no first token within 0.5 s"),
    "stall": ("timeout", "stall", "timeout:stall: no bytes mid-stream for 0.3 s"),
    "html": ("parse_error", None, "expected text/event-stream, got text/html"),
    "json-error": ("http_error", None, "HTTP 200: quota exceeded"),
}


@pytest.mark.parametrize("reply", sorted(EXPECTED))
@pytest.mark.parametrize("name", ["fast", "httpx"])
def test_both_transports_classify_alike(name: str, reply: str) -> None:
    result, heads = drive(name, reply)
    assert (result.status, result.detail, result.error) == EXPECTED[reply]
    assert len(heads) == 1
    assert b"\r\naccept-encoding: identity\r\n" in heads[0].lower()


# -- time comes from the injected clock ------------------------------------------------

T_NS = 5_000_000_000_000  # the fake clock's reading: far from any perf_counter_ns today


@pytest.mark.parametrize("name", ["fast", "httpx"])
def test_every_instant_is_read_from_the_injected_clock(name: str) -> None:
    # Time stands still at T_NS while the whole stream arrives: every duration is the
    # 700 ns between the Exchange's t0 and that reading, to the nanosecond.
    result, _ = drive(name, "whole", clock=FakeClock(T_NS), t0_ns=T_NS - 700)
    assert (result.status, result.end_ns) == ("ok", T_NS)
    assert (result.ttfb_ns, result.ttft_ns, result.latency_ns) == (700, 700, 700)


@pytest.mark.parametrize("name", ["fast", "httpx"])
def test_the_total_limit_is_measured_on_the_injected_clock(name: str) -> None:
    # The server never answers and the limit is 30 s of real time, but on the given
    # clock 31 s have passed since t0: the limit is already gone when the request starts.
    timeouts = Timeouts(total_s=30.0, connect_s=10.0)
    clock = FakeClock(T_NS)
    result, _ = drive(name, "hang", timeouts=timeouts, clock=clock, t0_ns=T_NS - 31 * 10**9)
    assert (result.status, result.detail, result.end_ns) == ("timeout", "total", T_NS)
    assert result.error == "timeout:total: no complete response within 30 s"


def test_fast_transport_waits_for_the_injected_clock_to_pass_a_limit() -> None:
    # The loop's timer only says when to look again: while the given clock stands
    # still, no limit passes, however often the timer fires (every 50 ms here).
    clock = FakeClock(T_NS)
    timeouts = Timeouts(total_s=30.0, connect_s=10.0, ttft_s=0.05)

    async def main() -> RequestResult:
        asked = asyncio.Event()
        async with server(REPLIES["hang"], [], asked) as url, asyncio.TaskGroup() as tg:
            client = FastTransport(timeouts=timeouts, ssl_context=None, clock=clock.now_ns)
            task = tg.create_task(one(client, url, T_NS))
            await asked.wait()  # the request is sent, and unanswered
            await asyncio.sleep(0.3)  # six timer turns of real time; none on the clock
            assert not task.done()
            clock.advance(2.0)
        return task.result()

    result = asyncio.run(main())
    assert (result.status, result.detail, result.end_ns) == ("timeout", "ttft", T_NS + 2 * 10**9)
    assert result.ttfb_ns is None
