"""Hostile HTTP/1.1 servers on 127.0.0.1 (port 0) for transport tests, and the
catalogue of misbehaviour both transports must classify alike.

A server plays a script on every connection: it reads one request (head and
Content-Length body, kept in :class:`Seen`, so a test can tell that no request was
sent twice), then plays its steps in order: ``bytes`` are written, a ``float`` is a
pause in seconds, ``"read"`` waits for (and records) the next request without
answering it, ``"close"`` ends the connection with a FIN and ``"reset"`` with a RST.
When the steps run out the connection is kept alive: the next request replays them.
So ``serve(WHOLE)`` is a good server, ``serve(HEAD)`` one that goes silent after the
head, ``serve()`` one that never answers.

Nothing here is transport-specific: the fast transport's tests can import the same
servers and tables (``INVALID_HTTP``, ``CLOSED_BEFORE_RESPONSE``, ``BODY_CUT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BODY_CUT",
    "CLOSED_BEFORE_RESPONSE",
    "DONE",
    "END",
    "HEAD",
    "INVALID_HTTP",
    "WHOLE",
    "Hostile",
    "Seen",
    "Step",
    "chunk",
    "serve",
    "token",
    "unaccepting",
]

Step = bytes | float | Literal["read", "close", "reset"]

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_SSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
DONE = b"data: [DONE]\n\n"
END = b"0\r\n\r\n"  # the last chunk: the chunked body is complete (RFC 9112 §7.1)


def token(text: str = "hi") -> bytes:
    """One OpenAI chat-completions SSE event carrying ``text``."""
    delta = b'{"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
    return b"data: " + delta % text.encode() + b"\n\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


WHOLE = HEAD + chunk(token()) + chunk(DONE) + END
# A pause before a reset: a RST can discard received bytes the client has not read
# yet, and the case is about what happens after they were read.
_LET_READ = 0.05

# Invalid HTTP in the head or the chunked framing: parse_error "bad HTTP response: ...".
INVALID_HTTP: dict[str, tuple[Step, ...]] = {
    "bad chunk size": (HEAD + b"zz\r\n" + token() + b"\r\n",),
    "negative chunk size": (HEAD + b"-5\r\nhello\r\n",),
    "bad chunk size after a token": (HEAD + chunk(token()) + b"xyz\r\n",),
    "garbage status line": (b"HTTP/1.1 OK\r\n\r\n",),
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n",),
    "status not a number": (b"HTTP/1.1 abc Fine\r\ncontent-length: 0\r\n\r\n",),
    "header without a colon": (_SSE + b"this is no header\r\ncontent-length: 0\r\n\r\n",),
    "space before the colon": (_SSE + b"x-a : b\r\ncontent-length: 0\r\n\r\n",),
    "conflicting Content-Length": (_SSE + b"content-length: 5\r\ncontent-length: 6\r\n\r\nhello!",),
    "Transfer-Encoding gzip, chunked": (_SSE + b"transfer-encoding: gzip, chunked\r\n\r\n" + END,),
    "Transfer-Encoding identity": (_SSE + b"transfer-encoding: identity\r\n\r\n" + token(),),
    "Transfer-Encoding and Content-Length": (
        _SSE + b"transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n" + END,
    ),
    "NUL in a header value": (_SSE + b"x-a: a\x00b\r\ncontent-length: 0\r\n\r\n",),
    "CR in a header value": (_SSE + b"x-a: a\rb\r\ncontent-length: 0\r\n\r\n",),
    "a head over 128 KiB": (_SSE + b"x-a: " + b"a" * 128 * 1024 + b"\r\n\r\n",),
}

# The connection ends before a complete response head: connect_error
# "connection closed before any response".
CLOSED_BEFORE_RESPONSE: dict[str, tuple[Step, ...]] = {
    "close": ("close",),
    "reset": ("reset",),
    "half a status line, then close": (b"HTTP/1.1 20", "close"),
    "half a head, then close": (b"HTTP/1.1 200 OK\r\ncontent-ty", "close"),
    "half a head, then reset": (b"HTTP/1.1 200 OK\r\ncontent-ty", _LET_READ, "reset"),
}

# The head came, then the body stopped short: incomplete, no end signal.
BODY_CUT: dict[str, tuple[Step, ...]] = {
    "chunked, closed after a token": (HEAD + chunk(token()), "close"),
    "chunked, reset after a token": (HEAD + chunk(token()), _LET_READ, "reset"),
    "chunked, closed inside a chunk": (HEAD + chunk(token())[:20], "close"),
    "chunked, closed inside a chunk size line": (HEAD + chunk(token()) + b"1", "close"),
    "a huge chunk never finished": (HEAD + b"ffffffffffff\r\n" + token(), "close"),
    "Content-Length longer than the body": (
        _SSE + b"content-length: %d\r\n\r\n%s" % (len(token()) + 100, token()),
        "close",
    ),
}


@dataclass
class Seen:
    """What a server saw: connections accepted and request heads, in arrival order."""

    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    hangups: int = 0  # connections the client closed (EOF where a request could start)
    asked: asyncio.Event = field(default_factory=asyncio.Event)  # set at the first request


@dataclass(frozen=True, slots=True)
class Hostile:
    url: str
    seen: Seen


async def _read_request(reader: asyncio.StreamReader, seen: Seen) -> bool:
    """Read one request (head and Content-Length body); False at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False
    seen.requests.append(head)
    seen.asked.set()
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await reader.readexactly(int(value))
    return True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST: SO_LINGER on, zero seconds."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _play(
    steps: tuple[Step, ...], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen
) -> bool:
    """Play the steps once; False when they ended the connection."""
    for step in steps:
        if isinstance(step, bytes):
            writer.write(step)
            await writer.drain()
        elif isinstance(step, float):
            await asyncio.sleep(step)
        elif step == "read":
            await _read_request(reader, seen)
        elif step == "close":
            writer.close()
            return False
        else:
            _reset(writer)
            return False
    return True


@contextlib.asynccontextmanager
async def serve(*steps: Step, early: bool = False) -> AsyncIterator[Hostile]:
    """A server on 127.0.0.1 that answers every request with ``steps``; ``early``:
    it plays them once as soon as a connection opens, before reading anything."""
    seen = Seen()
    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        try:
            if early and not await _play(steps, reader, writer, seen):
                return
            while await _read_request(reader, seen):
                if not await _play(steps, reader, writer, seen):
                    return
            seen.hangups += 1
        except ConnectionError:
            pass  # the client hung up mid-script: that is its right
        except asyncio.CancelledError:
            pass  # the test is over; ending quietly keeps asyncio from logging it

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield Hostile(f"http://127.0.0.1:{port}", seen)
    finally:
        srv.close()
        for writer in writers:
            writer.close()
        for task in handlers:  # a script may be mid-pause: end it, and wait for it
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


@contextlib.contextmanager
def unaccepting() -> Iterator[str]:
    """The URL of a listener whose accept queue is full: a connect there hangs (the
    kernel drops the SYN), as it does to a host that is down or firewalled."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):  # listen(0) queues one; the others wait in SYN_SENT
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()
