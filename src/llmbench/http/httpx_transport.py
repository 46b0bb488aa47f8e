"""The pure-httpx transport (``--transport httpx``): slower per event, but it brings
HTTP/2, proxies from the environment and httpx's TLS handling.

Its time limits mean what the fast transport's do (:class:`Timeouts`): every instant
is read from the transport's clock, and :meth:`Timeouts.check` decides. One loop
timer per request only says when to look again (:class:`_Watch`); nothing is re-armed
per chunk, and a limit ends the request only when the clock says it has passed.

What httpx (and h11 under it) raises becomes our status taxonomy in one function,
:func:`classify_httpx_error`: invalid HTTP is a ``parse_error``, a connection that
closed before any response head a ``connect_error``, a body cut short ``incomplete``.
A request is never resent here: httpcore only moves a request to a new connection
when the pooled one is found closed before anything was written on it, and a
kept-alive connection that closes under a written request is a ``connect_error``
(it may have reached the server), which ``--retries`` may repeat, counted.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import suppress

import h11
import httpx

from llmbench.exchange import Exchange
from llmbench.http.deadlines import MAX_WAIT_S, Limit, Timeouts
from llmbench.http.request import HttpRequest
from llmbench.http.transport import Clock
from llmbench.result import RequestResult, Status

__all__ = ["HttpxTransport", "classify_httpx_error"]

_NS = 1_000_000_000

# Compressed SSE arrives in bursts the decompressor releases, not as the server sent
# it: ask for the bytes as they are (a -H Accept-Encoding still wins).
_IDENTITY = "identity"
_HEADERS = {"accept-encoding": _IDENTITY}

# After the end signal the chunked body's terminator (``0\r\n\r\n``) follows in the
# same write or the next one: wait this long for it, unmeasured, so the connection
# goes back to the pool. A server that never ends the body has its connection closed.
_END_GRACE_S = 0.05

# h11's words for a body the peer cut short by closing (h11/_readers.py ``read_eof``,
# h11/_connection.py ``next_event``): the stream ended, it is not invalid HTTP.
_BODY_CUT = (
    "peer closed connection without sending complete message body",
    "peer unexpectedly closed connection",
)
_CLOSED_EARLY = "connection closed before any response"
# h11 quotes the offending header value (an API key, say) in its message: never shown.
_BAD_HEADER = "invalid request header (not shown)"
_BAD_REQUEST = "invalid HTTP request (not shown)"
_NOT_ASCII = "invalid request header: not ASCII (not shown)"


def _from_h11(exc: BaseException) -> bool:
    """Whether h11 judged the bytes. httpx and httpcore wrap h11's error ``from`` it,
    but httpcore's pool re-raises ``from None``: the chain goes on in ``__context__``."""
    link = exc.__cause__ or exc.__context__
    for _ in range(8):  # httpx -> httpcore -> h11; a longer chain is not theirs
        if link is None:
            return False
        if isinstance(link, h11.ProtocolError):
            return True
        link = link.__cause__ or link.__context__
    return False


def classify_httpx_error(exc: Exception, *, got_head: bool) -> tuple[Status, str] | None:
    """The one place where httpx's (and h11's) exceptions become our status taxonomy.

    ``got_head``: the response head had arrived. ``None`` means the connection ended
    mid-body: the Exchange judges what came (``incomplete`` without an end signal).
    A connect timeout never gets here: :meth:`HttpxTransport.send` names it."""
    if isinstance(exc, httpx.LocalProtocolError):  # h11 refused what we were to send
        return "connect_error", _BAD_HEADER if "header" in str(exc).lower() else _BAD_REQUEST
    if isinstance(exc, UnicodeEncodeError):  # httpx encodes header values as ASCII
        return "connect_error", _NOT_ASCII
    if isinstance(exc, httpx.InvalidURL):
        return "connect_error", f"invalid request URL: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return "connect_error", str(exc) or type(exc).__name__
    if isinstance(exc, httpx.DecodingError):
        return "parse_error", f"cannot decode the response body: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith(_BODY_CUT):
        return None if got_head else ("connect_error", _CLOSED_EARLY)
    if isinstance(exc, httpx.RemoteProtocolError) and _from_h11(exc):
        return "parse_error", f"bad HTTP response: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.NetworkError):
        # httpcore's "Server disconnected without sending a response.", a reset, a
        # broken pipe: before the head nothing was answered, after it the body was cut.
        return None if got_head else ("connect_error", _CLOSED_EARLY)
    return "connect_error", f"{type(exc).__name__}: {exc}"


# What the request path may raise besides httpx's own tree: httpx encodes header
# values as ASCII while building the request, and InvalidURL is not an HTTPError.
_REQUEST_ERRORS = (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError)


def _asked_identity(request: httpx.Request) -> bool:
    asked: str = request.headers.get("accept-encoding", "")
    return asked.strip().lower() == _IDENTITY


def _head_problem(request: httpx.Request, response: httpx.Response) -> str | None:
    """What h11 lets through in a head and the fast transport refuses, in its words."""
    headers = response.headers
    if "transfer-encoding" in headers and "content-length" in headers:
        # RFC 9112 §6.3 (3): a sign of response smuggling, "ought to be handled as an error".
        return "bad HTTP response: both Transfer-Encoding and Content-Length"
    coding = headers.get("content-encoding")
    if not 200 <= response.status_code < 300:
        return None  # an error's body is only its message: the status stays http_error
    if not coding or coding.lower() == _IDENTITY or not _asked_identity(request):
        return None  # a -H Accept-Encoding asked for a coding: httpx decodes it
    return f"unsupported Content-Encoding {coding!r} (asked for identity)"


class _Watch:
    """One request's time limits: a loop timer that asks :meth:`Timeouts.check` (on
    the transport's clock) when a limit might have passed, and re-arms itself until
    one has; then it ends the request's timeout scope. A chunk only writes
    ``last_rx``: the moving stall deadline is re-checked lazily, as in the fast
    transport."""

    __slots__ = ("_clock", "_ex", "_loop", "_scope", "_t", "_timer", "fired", "head_at", "last_rx")

    def __init__(self, timeouts: Timeouts, clock: Clock, exchange: Exchange) -> None:
        self._t = timeouts
        self._clock = clock
        self._ex = exchange
        self._loop = asyncio.get_running_loop()
        self._scope: asyncio.Timeout | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.head_at: int | None = None
        self.last_rx = 0
        self.fired: tuple[Limit, int] | None = None  # (the limit, the instant it was seen)

    def start(self, scope: asyncio.Timeout) -> None:
        self._scope = scope
        self._look()

    def on_head(self, t_ns: int) -> None:
        """The head is in: the stall limit starts, and may pass before the next look."""
        self.head_at = t_ns
        if self._t.stall_s is not None:
            self.stop()
            self._look()

    def _look(self) -> None:
        self._timer = None
        now = self._clock()
        ex = self._ex
        which, due = self._t.check(
            ex.t0_ns, now, has_token=ex.has_token, head_at=self.head_at, last_rx=self.last_rx
        )
        if which is None:
            self._timer = self._loop.call_later(min((due - now) / _NS, MAX_WAIT_S), self._look)
        elif self._scope is not None:
            self.fired = (which, now)
            self._scope.reschedule(self._loop.time())  # cancels the request: TimeoutError

    def stop(self) -> None:
        """No limit applies any more (the stream is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read and drop what follows the end signal until the body ends, for at most
    :data:`_END_GRACE_S`: the connection is then reusable; else closing drops it."""
    with suppress(TimeoutError, *_REQUEST_ERRORS):
        async with asyncio.timeout(_END_GRACE_S):
            async for _ in chunks:
                pass


class HttpxTransport:
    """One shared AsyncClient whose pool and timeouts come from the run's config:
    httpx's defaults (100 connections, 5 s timeouts) would throttle a load test.

    ``clock`` stamps bytes and decides the time limits; it must be the clock that
    read each Exchange's ``t0_ns`` (the runner's)."""

    def __init__(
        self,
        *,
        concurrency: int,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None,
        http2: bool = False,
        clock: Clock = time.perf_counter_ns,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # Only connecting has an httpx timeout; the other limits are _Watch's. A loop
        # timer overflows on a huge delay: a limit past MAX_WAIT_S never passes anyway.
        timeout = httpx.Timeout(None, connect=min(timeouts.connect_s, MAX_WAIT_S))
        self._timeouts = timeouts
        self._clock = clock
        self._client = httpx.AsyncClient(
            limits=limits,
            timeout=timeout,
            verify=ssl_context if ssl_context is not None else True,
            http2=http2,
            trust_env=True,
            headers=_HEADERS,
        )

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        t = self._timeouts
        clock = self._clock
        watch = _Watch(t, clock, exchange)
        try:
            req = self._client.build_request(
                request.method, request.url, headers=list(request.headers), content=request.body
            )
            async with asyncio.timeout(None) as scope:
                watch.start(scope)
                try:
                    return await self._exchange(req, exchange, watch)
                finally:
                    watch.stop()
        except TimeoutError:
            which, at = watch.fired or ("total", clock())  # only the watch ends the scope
            return exchange.lost("timeout", t.message(which), at, detail=which)
        except httpx.ConnectTimeout:
            return exchange.lost("timeout", t.message("connect"), clock(), detail="connect")
        except _REQUEST_ERRORS as exc:
            verdict = classify_httpx_error(exc, got_head=exchange.http_status is not None)
            if verdict is None:
                return exchange.finish(clock())
            return exchange.lost(*verdict, clock())

    async def _exchange(
        self, req: httpx.Request, exchange: Exchange, watch: _Watch
    ) -> RequestResult:
        """The receive loop: head, then chunks, until the body ends or the Exchange
        says the stream is over (its end signal, or a failure)."""
        clock = self._clock
        response = await self._client.send(req, stream=True)
        try:
            t = clock()
            watch.on_head(t)
            headers = response.headers
            exchange.on_head(
                response.status_code, t, headers.get("content-type"), headers.get("location")
            )
            problem = _head_problem(req, response)
            if problem is not None:
                return exchange.lost("parse_error", problem, t)
            if exchange.ended:  # the head alone failed it (a Content-Type that is no stream)
                return exchange.finish(t)
            # As it arrives when we asked for identity, else decoded (bursty) by httpx.
            chunks = response.aiter_raw() if _asked_identity(req) else response.aiter_bytes()
            async for chunk in chunks:
                t = watch.last_rx = clock()
                exchange.on_data(chunk, t)
                if exchange.ended:
                    watch.stop()
                    result = exchange.finish(t)
                    if result.ok:
                        await _drain(chunks)
                    return result
            return exchange.finish(clock())
        finally:
            await response.aclose()  # a body not read to its end closes the connection

    async def aclose(self) -> None:
        await self._client.aclose()
