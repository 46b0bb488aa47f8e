"""Both transports drive an Exchange the same way: the same server misbehaviour gives
the same status and detail, and both ask for uncompressed bytes.

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

from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.transport import Transport
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
}


@asynccontextmanager
async def server(reply: bytes, heads: list[bytes]) -> AsyncIterator[str]:
    """Reads each request head (kept in ``heads``), writes ``reply``, then holds on."""

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        heads.append(await reader.readuntil(b"\r\n\r\n"))
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


def transport(name: str) -> Transport:
    if name == "fast":
        return FastTransport(timeouts=TIMEOUTS, ssl_context=None)
    return HttpxTransport(concurrency=4, timeouts=TIMEOUTS, ssl_context=None)


async def one(name: str, url: str) -> RequestResult:
    provider = OpenAIChat(RunConfig(url=url))
    client = transport(name)
    try:
        ex = Exchange(
            provider, index=0, phase="measure", t0_ns=time.perf_counter_ns(), max_line_bytes=4096
        )
        request = provider.build_request(WorkloadItem(prompt="hi"), "sk-x")
        return await asyncio.wait_for(client.send(request, ex), 20)
    finally:
        await client.aclose()


def drive(name: str, reply: str) -> tuple[RequestResult, list[bytes]]:
    heads: list[bytes] = []

    async def main() -> RequestResult:
        async with server(REPLIES[reply], heads) as url:
            return await one(name, url)

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
