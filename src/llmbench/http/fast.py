"""A lean HTTP/1.1 streaming client on asyncio protocols: the default transport.

Why not httpx's own HTTP/1.1 path: at hundreds of concurrent streams its per-chunk
Python work saturates a core and inflates TTFT (benchmarks/client_overhead.py has
the figures). Here bytes go straight from ``data_received`` into the request's
Exchange, stamped with the transport's clock on arrival: no task switch per chunk.

The clock (``perf_counter_ns`` unless a test passes another) stamps every instant and
decides every time limit; the event loop's timer only says when to look again.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.h1 import H1Error, ResponseParser
from llmbench.http.request import HttpRequest
from llmbench.http.transport import Clock
from llmbench.result import RequestResult

__all__ = ["FastTransport"]

_USER_AGENT = "llmbench"
# Without Accept-Encoding any coding is acceptable (RFC 9110 12.5.3), and compressed
# SSE would reach the parser as gzip bytes: ask for the bytes as they are.
_IDENTITY = "accept-encoding: identity\r\n"


class _StaleConnectionError(Exception):
    """A kept-alive connection closed before answering: resend on a fresh one."""


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    tls: bool
    path: str
    host_header: str


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname or ""
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host_header.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    return _Target(host, port, tls, path, host_header)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; serves one exchange at a time."""

    def __init__(self, pool: list[_Connection], clock: Clock) -> None:
        self._pool = pool
        self._clock = clock
        self._parser = ResponseParser()
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.waiter: asyncio.Future[RequestResult] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timeouts = Timeouts()
        self._head_at: int | None = None
        self._last_rx = 0
        self._got_bytes = False
        self.served = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def start(self, exchange: Exchange, payload: bytes, timeouts: Timeouts) -> None:
        loop = asyncio.get_running_loop()
        self.exchange = exchange
        self.waiter = loop.create_future()
        self._parser.reset()
        self._timeouts = timeouts
        self._head_at = None
        self._got_bytes = False
        self._arm(loop, exchange.t0_ns)
        assert self.transport is not None
        self.transport.write(payload)

    def _arm(self, loop: asyncio.AbstractEventLoop, due_ns: int) -> None:
        self._timer = loop.call_later(max(0, due_ns - self._clock()) / 1e9, self._on_timer)

    def _on_timer(self) -> None:
        """The one timer of a request: a limit passed, or look again when one might."""
        ex = self.exchange
        if ex is None:
            return
        now = self._clock()
        which, due = self._timeouts.check(
            ex.t0_ns, now, has_token=ex.has_token, head_at=self._head_at, last_rx=self._last_rx
        )
        if which is None:
            self._arm(asyncio.get_running_loop(), due)
            return
        result = ex.lost("timeout", self._timeouts.message(which), now, detail=which)
        self._complete(result)

    def data_received(self, data: bytes) -> None:
        t = self._clock()
        ex = self.exchange
        if ex is None:  # bytes nobody asked for: the connection is unusable
            self._close()
            return
        self._got_bytes = True
        self._last_rx = t
        parser = self._parser
        try:
            body = parser.feed(data)
        except H1Error as exc:
            self._complete(ex.lost("parse_error", f"bad HTTP response: {exc}", t), False)
            return
        if self._head_at is None and parser.head is not None:
            self._head_at = t
            ex.on_head(parser.head.status, t, parser.head.header("content-type"))
        if body and ex.on_data(body, t):
            self._complete(ex.finish(t), False)
        elif parser.done:
            assert parser.head is not None
            self._complete(ex.finish(t), parser.head.keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex = self.exchange
        if ex is None:
            if self in self._pool:
                self._pool.remove(self)
            return
        t = self._clock()
        if not self._got_bytes and self.served > 0:
            self._complete_error(_StaleConnectionError())
        elif self._parser.head is None:
            why = f": {exc}" if exc else ""
            self._complete(ex.lost("connect_error", f"connection closed before response{why}", t))
        else:
            self._parser.eof()
            self._complete(ex.finish(t), False)

    def _complete(self, result: RequestResult, reusable: bool = False) -> None:
        waiter = self.waiter
        self._reset_request()
        self.served += 1
        if reusable and not self.closed:
            self._pool.append(self)
        else:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _complete_error(self, exc: Exception) -> None:
        waiter = self.waiter
        self._reset_request()
        self._close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _reset_request(self) -> None:
        self.exchange = None
        self.waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def abort(self) -> None:
        """Drop the connection and forget the request (cancellation)."""
        self._reset_request()
        self._close()


class FastTransport:
    """HTTP/1.1 over asyncio protocols with a LIFO pool of kept-alive connections.

    ``clock`` stamps bytes and time limits; it must be the clock that read each
    Exchange's ``t0_ns`` (the runner's)."""

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None,
        clock: Clock = time.perf_counter_ns,
    ) -> None:
        self._timeouts = timeouts
        self._ssl = ssl_context
        self._clock = clock
        self._pool: list[_Connection] = []
        self._targets: dict[str, tuple[_Target, bytes]] = {}

    def _prefix(self, url: str) -> tuple[_Target, bytes]:
        cached = self._targets.get(url)
        if cached is None:
            target = _target(url)
            line = f"POST {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\n"
            cached = (target, line.encode())
            self._targets[url] = cached
        return cached

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        target, prefix = self._prefix(request.url)
        if request.method != "POST":
            prefix = prefix.replace(b"POST", request.method.encode(), 1)
        lines = "".join(f"{k}: {v}\r\n" for k, v in request.headers)
        if not any(k.lower() == "accept-encoding" for k, _ in request.headers):
            lines = _IDENTITY + lines
        head = f"user-agent: {_USER_AGENT}\r\ncontent-length: {len(request.body)}\r\n{lines}\r\n"
        payload = prefix + head.encode() + request.body
        for _attempt in range(3):
            conn = self._pool.pop() if self._pool else None
            if conn is None or conn.closed:
                try:
                    conn = await self._connect(target)
                except TimeoutError:
                    message = self._timeouts.message("connect")
                    return exchange.lost("timeout", message, self._clock(), detail="connect")
                except (OSError, ssl.SSLError) as exc:
                    message = f"cannot connect to {target.host}:{target.port}: {exc}"
                    return exchange.lost("connect_error", message, self._clock())
            try:
                conn.start(exchange, payload, self._timeouts)
                assert conn.waiter is not None
                return await conn.waiter
            except _StaleConnectionError:
                continue
            except BaseException:
                conn.abort()
                raise
        return exchange.lost(
            "connect_error", "server closed every connection before answering", self._clock()
        )

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if target.tls:
            if self._ssl is None:  # loading the CA bundle costs milliseconds: once per run
                self._ssl = ssl.create_default_context()
            context = self._ssl
        async with asyncio.timeout(self._timeouts.connect_s):
            _, conn = await loop.create_connection(
                lambda: _Connection(self._pool, self._clock),
                target.host,
                target.port,
                ssl=context,
                server_hostname=target.host if target.tls else None,
            )
        return conn

    async def aclose(self) -> None:
        while self._pool:
            self._pool.pop().abort()
