"""The Provider contract: a workload item in, an HTTP request out; wire messages in,
StreamEvents out. No I/O and no clocks: the runner owns everything timed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from llmbench.config import RunConfig
from llmbench.events import StreamEvent
from llmbench.http.request import HttpRequest
from llmbench.workload import WorkloadItem

__all__ = ["Framing", "Provider", "ProviderFactory", "join_url"]

Framing = Literal["sse", "ndjson", "json"]


class Provider(Protocol):
    """One API family. ``decode`` gets one message: an SSE event's name and data,
    one NDJSON line (event ``"message"``), or a whole JSON body (framing ``json``).
    It may raise ValueError/KeyError/TypeError on a malformed message; the runner
    records that request as ``parse_error``."""

    name: str
    framing: Framing

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest: ...

    def decode(self, event: str, data: str) -> list[StreamEvent]: ...


ProviderFactory = Callable[[RunConfig], Provider]


def join_url(base: str, standard_path: str, endpoint: str | None) -> str:
    """``--url`` is the server's base URL: append the API's path unless it is there
    already; ``--endpoint`` replaces the URL's path outright."""
    base = base.rstrip("/")
    if endpoint is not None:
        parts = urlsplit(base)
        return urlunsplit((parts.scheme, parts.netloc, "/" + endpoint.lstrip("/"), "", ""))
    if base.endswith(standard_path):
        return base
    if standard_path.startswith("/v1/") and base.endswith("/v1"):
        return base + standard_path[3:]
    return base + standard_path
