"""The pure-httpx transport (``--transport httpx``): slower per event, but it brings
HTTP/2, proxies from the environment and httpx's TLS handling.

Its time limits mean what the fast transport's do (:class:`Timeouts`): the ttft and
total limits count from the Exchange's ``t0_ns`` on the transport's clock. httpx's
own read timeout would also run while waiting for the response head, so the stall
limit is enforced here, per chunk, only once the head is in.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx

from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.request import HttpRequest
from llmbench.http.transport import Clock
from llmbench.result import RequestResult, Status

__all__ = ["HttpxTransport", "classify_httpx_error"]

_NS = 1_000_000_000


def classify_httpx_error(exc: Exception) -> tuple[Status, str]:
    """The one place where httpx exceptions become our status taxonomy. A connect
    timeout never gets here: :meth:`HttpxTransport.send` names it a ``connect`` timeout."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return "connect_error", str(exc) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "incomplete", f"connection lost: {exc}"
    return "connect_error", f"{type(exc).__name__}: {exc}"


class _StalledError(Exception):
    """No bytes for the stall limit after the response head."""


# Compressed SSE arrives in bursts the decompressor releases, not as the server sent
# it: ask for the bytes as they are (a -H Accept-Encoding still wins).
_HEADERS = {"accept-encoding": "identity"}


class HttpxTransport:
    """One shared AsyncClient whose pool and timeouts come from the run's config:
    httpx's defaults (100 connections, 5 s timeouts) would throttle a load test.

    ``clock`` stamps bytes and places the ttft/total deadlines; it must be the clock
    that read each Exchange's ``t0_ns`` (the runner's)."""

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
        timeout = httpx.Timeout(None, connect=timeouts.connect_s)
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

    def _deadline(self, t0_ns: int, after_s: float) -> float:
        """The event-loop instant ``after_s`` seconds past ``t0_ns`` on our clock."""
        loop = asyncio.get_running_loop()
        return loop.time() + (t0_ns - self._clock()) / _NS + after_s

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        req = self._client.build_request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
        t = self._timeouts
        clock = self._clock
        try:
            first = self._deadline(exchange.t0_ns, t.first_deadline_s())
            async with asyncio.timeout_at(first) as scope:
                await self._stream(req, exchange, scope)
        except TimeoutError:
            which = t.expired(has_token=exchange.has_token)
            return exchange.lost("timeout", t.message(which), clock(), detail=which)
        except _StalledError:
            return exchange.lost("timeout", t.message("stall"), clock(), detail="stall")
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                return exchange.lost("timeout", t.message("connect"), clock(), detail="connect")
            if exchange.http_status is not None and isinstance(exc, httpx.RemoteProtocolError):
                return exchange.finish(clock())
            status, message = classify_httpx_error(exc)
            return exchange.lost(status, message, clock())
        return exchange.finish(clock())

    async def _stream(self, req: httpx.Request, exchange: Exchange, scope: asyncio.Timeout) -> None:
        response = await self._client.send(req, stream=True)
        clock = self._clock
        try:
            exchange.on_head(response.status_code, clock(), response.headers.get("content-type"))
            waiting_for_token = not exchange.has_token
            chunks = response.aiter_raw()
            stall = self._timeouts.stall_s
            while True:
                try:
                    async with asyncio.timeout(stall):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _StalledError from None
                if exchange.on_data(chunk, clock()):
                    break
                if waiting_for_token and exchange.has_token:  # ttft limit met: only total is left
                    scope.reschedule(self._deadline(exchange.t0_ns, self._timeouts.total_s))
                    waiting_for_token = False
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
