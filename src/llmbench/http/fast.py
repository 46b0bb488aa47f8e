"""A lean HTTP/1.1 streaming client on asyncio protocols: the default transport.

Why not httpx's own HTTP/1.1 path: at hundreds of concurrent streams its per-chunk
Python work saturates a core and inflates TTFT (benchmarks/client_overhead.py has
the figures). Here bytes go straight from ``data_received`` into the request's
Exchange, stamped with the transport's clock on arrival: no task switch per chunk.
llhttp parses them (:mod:`llmbench.http.response`); the request is written as httpx
would write it (the same request-target, Host and Basic auth from the URL).

The clock (``perf_counter_ns`` unless a test passes another) stamps every instant and
decides every time limit; the event loop's timer (``call_later``, also injectable)
only says when to look again.

No request is ever sent twice: a kept-alive connection is checked before it is
reused (closed, at EOF, or readable while idle: it is dropped unused, as urllib3 and
httpcore do), and a request written on a connection that then closes without a byte
of response is a ``connect_error``: whether the server acted on a POST is unknown.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import time
from collections.abc import Callable
from typing import Protocol, cast

import httpx

from llmbench.exchange import Exchange
from llmbench.http.deadlines import MAX_WAIT_S, Limit, Timeouts
from llmbench.http.request import HttpRequest
from llmbench.http.request_head import Target, encode
from llmbench.http.response import MAX_HEAD_BYTES, ResponseError, ResponseHead, ResponseParser
from llmbench.http.transport import Clock
from llmbench.result import RequestResult

__all__ = ["CallLater", "FastTransport"]

_NS = 1_000_000_000
# After the end signal the request is done, but the body may not be: a server writes
# the last chunk (``0\r\n\r\n``) a moment after ``[DONE]``. The connection waits
# this long, and for at most this many bytes, for its body to end so it can be reused;
# then it is closed. A well-behaved server needs microseconds and a few bytes.
DRAIN_S = 1.0
DRAIN_BYTES = 64 * 1024


class _Timer(Protocol):
    def cancel(self) -> object: ...


# What schedules a callback ``delay`` seconds from now: the running loop's call_later
# unless a test passes one driven by a fake clock.
CallLater = Callable[[float, Callable[[], None]], _Timer]


def _loop_call_later(delay: float, callback: Callable[[], None]) -> _Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (or an error) right now, without waiting."""
    try:
        if hasattr(select, "poll"):  # not select(): descriptors may pass FD_SETSIZE
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])  # Windows has no poll
    except (OSError, ValueError):
        return True  # cannot tell: treat it as spoiled


class _Connection(asyncio.Protocol):
    """One keep-alive connection; serves one exchange at a time."""

    def __init__(
        self,
        pool: list[_Connection],
        draining: set[_Connection],
        clock: Clock,
        call_later: CallLater,
    ) -> None:
        self._pool = pool
        self._draining = draining
        self._drain_left = 0
        self._clock = clock
        self._call_later = call_later
        self._parser = ResponseParser()
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.waiter: asyncio.Future[RequestResult] | None = None
        self._timer: _Timer | None = None
        self._due = 0
        self._timeouts = Timeouts()
        self._identity = True
        self._head_at: int | None = None
        self._last_rx = 0
        self._got_bytes = False
        # Until the first request starts, what arrives is kept for it: a server may
        # answer (400, 413, ...) before it has read a request, or close at once.
        self._early: list[tuple[bytes, int]] | None = []
        self._early_bytes = 0
        self._lost: tuple[Exception | None, int] | None = None
        self._fd = -1
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._fd = sock.fileno()
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def alive(self) -> bool:
        """Whether an idle connection can carry a new request: not closed, no EOF
        seen, and nothing to read (an idle connection that is readable has a FIN, a
        reset or bytes nobody asked for waiting, which the loop has not yet seen)."""
        if self.closed:
            return False
        return self._fd < 0 or not _readable(self._fd)

    # -- one request ------------------------------------------------------------------

    def start(
        self, exchange: Exchange, payload: bytes, timeouts: Timeouts, identity: bool
    ) -> asyncio.Future[RequestResult]:
        """Send the request and read its response into ``exchange``; the future gets
        the result (it may already have it: an answer that came before the request)."""
        self.exchange = exchange
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        self._parser.reset()
        self._timeouts = timeouts
        self._identity = identity
        self._head_at = None
        self._got_bytes = False
        self._arm(self._check(exchange, self._clock())[1])
        early, lost = self._early or (), self._lost
        self._early = None
        if lost is None:
            assert self.transport is not None
            self.transport.write(payload)
        for data, t in early:
            if self.exchange is None:
                break
            self.data_received(data, t)
        if lost is not None and self.exchange is not None:
            self._on_lost(*lost)
        return waiter

    def _check(self, ex: Exchange, now: int) -> tuple[Limit | None, int]:
        return self._timeouts.check(
            ex.t0_ns, now, has_token=ex.has_token, head_at=self._head_at, last_rx=self._last_rx
        )

    def _arm(self, due_ns: int) -> None:
        self._due = due_ns
        delay = min(max(0, due_ns - self._clock()) / _NS, MAX_WAIT_S)
        self._timer = self._call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        """The one timer of a request: a limit passed, or look again when one might."""
        ex = self.exchange
        if ex is None:
            return
        now = self._clock()
        which, due = self._check(ex, now)
        if which is None:
            self._arm(due)
            return
        self._complete(ex.lost("timeout", self._timeouts.message(which), now, detail=which))

    def data_received(self, data: bytes, t: int | None = None) -> None:
        """Bytes from the socket, stamped now (or, replayed, when they came)."""
        if t is None:
            t = self._clock()
        ex = self.exchange
        if ex is None:
            self._unasked(data, t)
            return
        self._got_bytes = True
        self._last_rx = t
        parser = self._parser
        try:
            body = parser.feed(data)
        except ResponseError as exc:
            self._complete(ex.lost("parse_error", f"bad HTTP response: {exc}", t))
            return
        if self._head_at is None and (parser.head is None or self._on_head(ex, parser.head, t)):
            return
        if body:
            ex.on_data(body, t)
        if parser.done:
            self._complete(ex.finish(t), parser.reusable)
        elif ex.ended:  # the end signal (or a failure) before the body's end: stop here
            result = ex.finish(t)
            head = parser.head
            self._complete(result, drain=head is not None and head.keep_alive)

    def _unasked(self, data: bytes, t: int) -> None:
        """Bytes with no request: the rest of a finished body, an early answer (kept
        for the first request), or junk on an idle connection (which spoils it)."""
        if self in self._draining:
            self._drain_more(data)
            return
        early = self._early
        if early is None or self._early_bytes + len(data) > MAX_HEAD_BYTES:
            self._close()
            return
        early.append((data, t))
        self._early_bytes += len(data)

    def _on_head(self, ex: Exchange, head: ResponseHead, t: int) -> bool:
        """The response head is in; return True if that ended the request."""
        self._head_at = t
        ex.on_head(head.status, t, head.header("content-type"), head.header("location"))
        coding = head.header("content-encoding")
        # A 2xx body is the stream we parse; an error's body is only its message, and
        # its status (a 503 that --retries may repeat) must stay an http_error.
        is_stream = 200 <= head.status < 300
        if self._identity and coding and coding.lower() != "identity" and is_stream:
            message = f"unsupported Content-Encoding {coding!r} (asked for identity)"
            self._complete(ex.lost("parse_error", message, t))
            return True
        due = self._check(ex, t)[1]
        if due < self._due:  # the head starts the stall limit: it may come sooner
            self._cancel_timer()
            self._arm(due)
        return False

    def eof_received(self) -> bool | None:
        self.closed = True  # no new request on it; connection_lost follows
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        t = self._clock()
        self.closed = True
        if self.exchange is not None:
            self._on_lost(exc, t)
        elif self._early is not None:
            self._lost = (exc, t)  # before its first request: start() reports it
        elif self in self._draining:
            self._stop_draining()
        elif self in self._pool:
            self._pool.remove(self)

    def _on_lost(self, exc: Exception | None, t: int) -> None:
        ex = self.exchange
        assert ex is not None
        if self._parser.head is None:
            where = "inside the response head" if self._got_bytes else "before any response"
            why = f": {exc}" if exc else ""
            self._complete(ex.lost("connect_error", f"connection closed {where}{why}", t))
            return
        self._parser.eof()  # a body until close ends here; the Exchange judges the rest
        self._complete(ex.finish(t))

    def _complete(self, result: RequestResult, reusable: bool = False, drain: bool = False) -> None:
        waiter = self.waiter
        self._reset_request()
        if reusable and not self.closed:
            self._pool.append(self)
        elif drain and not self.closed:
            self._draining.add(self)
            self._drain_left = DRAIN_BYTES
            self._timer = self._call_later(DRAIN_S, self._drain_timed_out)
        else:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _drain_more(self, data: bytes) -> None:
        """Bytes of a finished request's body: read until it ends, then reuse."""
        self._drain_left -= len(data)
        try:
            self._parser.feed(data)
        except ResponseError:
            self._drain_left = -1
        if self._parser.done or self._drain_left < 0:
            reusable = self._parser.reusable and self._drain_left >= 0
            self._stop_draining()
            if reusable and not self.closed:
                self._pool.append(self)
            else:
                self._close()

    def _drain_timed_out(self) -> None:
        self._stop_draining()
        self._close()

    def _stop_draining(self) -> None:
        self._draining.discard(self)
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _reset_request(self) -> None:
        self.exchange = None
        self.waiter = None
        self._cancel_timer()

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
    Exchange's ``t0_ns`` (the runner's). ``call_later`` schedules the timer that
    looks at the clock again (the running loop's unless a test passes its own)."""

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None,
        clock: Clock = time.perf_counter_ns,
        call_later: CallLater = _loop_call_later,
    ) -> None:
        self._timeouts = timeouts
        self._ssl = ssl_context
        self._clock = clock
        self._call_later = call_later
        self._pool: list[_Connection] = []
        self._draining: set[_Connection] = set()  # finished requests' bodies still coming
        self._targets: dict[str, Target] = {}

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = Target.of(url)
        return target

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        try:
            target = self._target(request.url)
        except httpx.InvalidURL as exc:
            message = f"request not sent: bad URL: {exc}"
            return exchange.lost("connect_error", message, self._clock())
        payload, identity = encode(request, target)
        if payload is None:
            message = "request not sent: a header name or value holds CR, LF or NUL"
            return exchange.lost("connect_error", message, self._clock())
        conn = self._checkout()
        if conn is None:
            got = await self._connect(target, exchange)
            if not isinstance(got, _Connection):
                return got
            conn = got
        try:
            return await conn.start(exchange, payload, self._timeouts, identity)
        except BaseException:
            conn.abort()
            raise

    def _checkout(self) -> _Connection | None:
        """The most recently used idle connection that is still alive (LIFO: the
        warmest one). A dead one is dropped before anything is written to it."""
        pool = self._pool
        while pool:
            conn = pool.pop()
            if conn.alive():
                return conn
            conn.abort()
        return None

    async def _connect(self, target: Target, exchange: Exchange) -> _Connection | RequestResult:
        """A new connection, or the result that says why there is none. The connect
        limit runs from now, the ttft and total limits from t0, all on our clock."""
        loop = asyncio.get_running_loop()
        started = self._clock()
        passed: list[Limit] = []
        timer: list[_Timer] = []
        try:
            async with asyncio.timeout(None) as scope:

                def look() -> None:
                    now = self._clock()
                    which, due = self._timeouts.check_connect(exchange.t0_ns, started, now)
                    if which is None:
                        wait = min((due - now) / _NS, MAX_WAIT_S)
                        timer[:] = [self._call_later(wait, look)]
                    else:
                        passed.append(which)
                        scope.reschedule(loop.time())  # cancels the connect: TimeoutError

                look()
                try:
                    return await self._open(target)
                except OSError as exc:  # ssl.SSLError is one; TimeoutError from the kernel too
                    message = f"cannot connect to {target.host}:{target.port}: {exc}"
                    return exchange.lost("connect_error", message, self._clock())
                finally:
                    for handle in timer:
                        handle.cancel()
        except TimeoutError:
            if not passed:
                raise
        which = passed[0]
        return exchange.lost("timeout", self._timeouts.message(which), self._clock(), detail=which)

    async def _open(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if target.tls:
            if self._ssl is None:  # loading the CA bundle costs milliseconds: once per run
                self._ssl = ssl.create_default_context()
            context = self._ssl
        _, conn = await loop.create_connection(
            lambda: _Connection(self._pool, self._draining, self._clock, self._call_later),
            target.host,
            target.port,
            ssl=context,
            server_hostname=target.host if target.tls else None,
        )
        return conn

    async def aclose(self) -> None:
        while self._pool:
            self._pool.pop().abort()
        while self._draining:
            self._draining.pop().abort()
