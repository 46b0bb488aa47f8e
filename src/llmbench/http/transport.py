"""The Transport contract between the runner and an HTTP client.

A transport sends one request and drives its Exchange with the instants bytes
arrived, read from the clock it was given, then returns the Exchange's result. Every
failure comes back as a classified RequestResult, never as an exception; only
cancellation propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from llmbench.exchange import Exchange
from llmbench.http.request import HttpRequest
from llmbench.result import RequestResult

__all__ = ["Clock", "Transport"]

# What a transport reads instants from: nanoseconds, as time.perf_counter_ns (the
# default everywhere). Tests pass a fake one; it must be the clock that read t0_ns.
Clock = Callable[[], int]


class Transport(Protocol):
    async def send(self, request: HttpRequest, exchange: Exchange) -> RequestResult: ...

    async def aclose(self) -> None: ...
