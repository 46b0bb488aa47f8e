"""The pure-httpx transport (``--transport httpx``): slower per event, but it brings
HTTP/2, proxies from the environment and httpx's TLS handling."""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx

from llmbench.exchange import Exchange
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


class HttpxTransport:
    """One shared AsyncClient whose pool and timeouts come from the run's config:
    httpx's defaults (100 connections, 5 s timeouts) would throttle a load test."""

    def __init__(
        self,
        *,
        concurrency: int,
        connect_timeout_s: float,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None,
        http2: bool = False,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=None)
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            limits=limits,
            timeout=timeout,
            verify=ssl_context if ssl_context is not None else True,
            http2=http2,
        )

    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult:
        req = self._client.build_request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.send(req, stream=True)
                try:
                    exchange.on_head(response.status_code, _now())
                    async for chunk in response.aiter_raw():
                        if exchange.on_data(chunk, _now()):
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            return exchange.fail(
                "timeout", f"no complete response in {self._timeout_s:g} s", _now()
            )
        except httpx.HTTPError as exc:
            if exchange.http_status is not None and isinstance(exc, httpx.RemoteProtocolError):
                return exchange.finish(_now())
            status, message = classify_httpx_error(exc)
            return exchange.fail(status, message, _now())
        return exchange.finish(_now())

    async def aclose(self) -> None:
        await self._client.aclose()
