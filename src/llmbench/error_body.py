"""Capturing an error response's body and turning it into one result message.

An HTTP error (status >= 400), or a 200 labelled JSON where a stream was due, is
not parsed as a stream: its first :data:`~llmbench.caps.MAX_ERROR_BYTES` are kept
and, at the end, read for a message (one line, bounded).
"""

from __future__ import annotations

import orjson

from llmbench.caps import MAX_ERROR_BYTES, bounded
from llmbench.providers.base import error_text
from llmbench.result import Status

__all__ = ["ErrorBody", "json_error", "one_line"]


def one_line(body: bytes) -> str:
    """An error body as one line: whitespace runs (newlines too) become one space."""
    return " ".join(body.decode("utf-8", "replace").split())


def json_error(body: bytes) -> str | None:
    """The ``{"error": ...}`` a gateway sent as a 200 JSON body, if it is one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = obj.get("error") if isinstance(obj, dict) else None
    return None if error is None else " ".join(error_text(error).split())


class ErrorBody:
    """The start of a body that is an error, not a stream; the rest is dropped.

    ``wrong_type`` is set for a 200 JSON body where a stream was due (the
    Content-Type mismatch, see :mod:`llmbench.content_type`), None for an HTTP error.
    """

    __slots__ = ("_kept", "wrong_type")

    def __init__(self, wrong_type: str | None = None) -> None:
        self._kept = bytearray()
        self.wrong_type = wrong_type

    def add(self, data: bytes) -> None:
        """Keep what still fits under the cap."""
        room = MAX_ERROR_BYTES - len(self._kept)
        if room > 0:
            self._kept += data[:room]

    def failure(self, http_status: int | None) -> tuple[Status, str]:
        """The result's status and message: an HTTP error from the body's start; a 200
        JSON body is one too when it carries ``{"error": ...}``, else a parse_error
        naming its type."""
        body = bytes(self._kept)
        if self.wrong_type is None:
            return "http_error", bounded(f"HTTP {http_status}: {one_line(body)}")
        error = json_error(body)
        if error is not None:
            return "http_error", bounded(f"HTTP {http_status}: {error}")
        return "parse_error", bounded(f"{self.wrong_type}: {one_line(body)}")
