"""A provider's framing as a message decoder: a response body in, messages out.

``Provider.framing`` names how the API splits its body into messages (DESIGN.md,
"The Provider contract"); each name has a :class:`MessageDecoder` here:

- ``sse``: :class:`~llmbench.sse.SSEParser`, one message per dispatched event;
- ``ndjson``: :class:`NdjsonDecoder`, one message per line (event ``"message"``);
- ``json``: :class:`JsonBodyDecoder`, the whole body as one message at EOF.

A message is what ``Provider.decode(event, data)`` reads. The SSE parser's events
are messages as they come (no copy per token); NDJSON lines and JSON bodies become
a :class:`JsonMessage`. Sans-IO, like the parsers it wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from llmbench.lines import LineSplitter
from llmbench.sse import SSEParser

__all__ = [
    "DECODERS",
    "JsonBodyDecoder",
    "JsonMessage",
    "Message",
    "MessageDecoder",
    "NdjsonDecoder",
    "message_decoder",
]


class Message(Protocol):
    """One message of a body: its event type and its data. An SSEEvent is one."""

    @property
    def event(self) -> str: ...

    @property
    def data(self) -> str: ...


@dataclass(frozen=True, slots=True)
class JsonMessage:
    """An NDJSON line or a whole JSON body: data only, the event type is always
    ``"message"`` (as an SSE event without an ``event:`` field)."""

    data: str
    event: ClassVar[str] = "message"


class MessageDecoder(Protocol):
    """Splits a body into messages, fed in chunks that may split anywhere.

    ``undispatched`` counts messages with no data (SSE pings), which decode never
    sees. ``feed`` and ``close`` may raise :class:`~llmbench.sse.SSEError` or
    ValueError for a body that passes the decoder's bound."""

    @property
    def undispatched(self) -> int: ...

    def feed(self, data: bytes) -> Sequence[Message]: ...

    def close(self) -> Sequence[Message]: ...


class JsonBodyDecoder:
    """Framing ``json``: the whole body is one message, delivered at EOF."""

    __slots__ = ("_max", "_parts", "_size")

    undispatched: ClassVar[int] = 0

    def __init__(self, max_bytes: int) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_bytes

    def feed(self, data: bytes) -> list[JsonMessage]:
        self._size += len(data)
        if self._size > self._max:
            raise ValueError(f"response body larger than {self._max} bytes")
        self._parts.append(data)
        return []

    def close(self) -> list[JsonMessage]:
        return [JsonMessage(b"".join(self._parts).decode("utf-8", "replace"))]


class NdjsonDecoder:
    """Framing ``ndjson``: one message per non-empty line."""

    __slots__ = ("_lines",)

    undispatched: ClassVar[int] = 0

    def __init__(self, max_line_bytes: int) -> None:
        self._lines = LineSplitter(max_line_bytes)

    def feed(self, data: bytes) -> list[JsonMessage]:
        return [JsonMessage(line) for line in self._lines.feed(data)]

    def close(self) -> list[JsonMessage]:
        return [JsonMessage(line) for line in self._lines.close()]


# Framing name -> a decoder for one body, given the bound on a line (or JSON body).
DECODERS: dict[str, Callable[[int], MessageDecoder]] = {
    "sse": SSEParser,
    "ndjson": NdjsonDecoder,
    "json": JsonBodyDecoder,
}


def message_decoder(framing: str, max_line_bytes: int) -> MessageDecoder:
    """A fresh decoder for one body in ``framing`` (a key of :data:`DECODERS`)."""
    return DECODERS[framing](max_line_bytes)
