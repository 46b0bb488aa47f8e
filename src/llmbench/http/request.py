"""The request a provider builds: a plain value, no client objects."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HttpRequest"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
