"""The pure-httpx transport (``--transport httpx``): slower per event, but it brings
HTTP/2, proxies from the environment and httpx's TLS handling.

Its time limits mean what the fast transport's do (:class:`Timeouts`): httpx's own
read timeout would also run while waiting for the response head, so the stall limit
is enforced here, per chunk, only once the head is in.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx

from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.request import HttpRequest
from llmbench.result import RequestResult

__all__ = ["HttpxTransport", "classify_httpx_error"]

_now = time.perf_counter_ns


def classify_httpx_error(exc: Exception) -> tuple[str, str]:
    """The one place where httpx exceptions become our status taxonomy."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect_error", f"connect timed out: {exc}"
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
    httpx's defaults (100 connections, 5 s timeouts) would throttle a load test."""

    def __init__(
        self,
        *,
        concurrency: int,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | None,
        http2: bool = False,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(None, connect=timeouts.connect_s)
        self._timeouts = timeouts
        self._client = httpx.AsyncClient(
            limits=limits,
            timeout=timeout,
            verify=ssl_context if ssl_context is not None else True,
            http2=http2,
            trust_env=True,
            headers=_HEADERS,
        )

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        req = self._client.build_request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
        t = self._timeouts
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout_at(start + t.first_deadline_s()) as scope:
                await self._stream(req, exchange, scope, start + t.total_s)
        except TimeoutError:
            which = t.expired(has_token=exchange.has_token)
            return exchange.fail("timeout", t.message(which), _now(), detail=which)
        except _StalledError:
            return exchange.fail("timeout", t.message("stall"), _now(), detail="stall")
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                return exchange.fail("timeout", t.message("connect"), _now(), detail="connect")
            if exchange.http_status is not None and isinstance(exc, httpx.RemoteProtocolError):
                return exchange.finish(_now())
            status, message = classify_httpx_error(exc)
            return exchange.fail(status, message, _now())
        return exchange.finish(_now())

    async def _stream(
        self, req: httpx.Request, exchange: Exchange, scope: asyncio.Timeout, total_at: float
    ) -> None:
        response = await self._client.send(req, stream=True)
        try:
            exchange.on_head(response.status_code, _now(), response.headers.get("content-type"))
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
                if exchange.on_data(chunk, _now()):
                    break
                if waiting_for_token and exchange.has_token:  # ttft limit met: total from now
                    scope.reschedule(total_at)
                    waiting_for_token = False
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
