"""Capturing an error response's body and turning it into one result message.

A response that is not a stream is not parsed as one: an HTTP error (status >= 400),
a redirect (3xx, never followed), a 2xx that has no body by definition (204, 205; RFC
9110 §15.3.5-6), an interim status given as final (1xx), or a 200 labelled JSON where
a stream was due. Its body's start is kept and, at the end, read for a message: one
line, credentials redacted first and only then cut to
:data:`~llmbench.caps.MAX_ERROR_BYTES` (a key cut in two would escape redaction).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from llmbench.caps import MAX_ERROR_BYTES, bounded
from llmbench.providers.base import error_text
from llmbench.redaction import redact_url
from llmbench.result import Status

__all__ = ["SECRET_ROOM", "ErrorBody", "is_error_status", "json_error", "one_line"]

# Room kept past the message's cap: a credential that starts inside the cap ends
# inside what is kept, so redaction sees it whole. 4 KiB is longer than any API key,
# and than the JWTs and signed tokens we know of.
SECRET_ROOM = 4096
_KEEP_BYTES = MAX_ERROR_BYTES + SECRET_ROOM

# 2xx statuses that carry no body (RFC 9110 §15.3.5 No Content, §15.3.6 Reset Content).
_NO_CONTENT = frozenset({204, 205})


def is_error_status(status: int) -> bool:
    """Whether a final status means "no stream here": anything but 2xx, and the
    2xx statuses that cannot carry a body."""
    return not 200 <= status < 300 or status in _NO_CONTENT


def one_line(body: bytes | str) -> str:
    """An error body as one line: whitespace runs (newlines too) become one space."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return " ".join(text.split())


def json_error(body: bytes | str) -> str | None:
    """The ``{"error": ...}`` a gateway sent as a 200 JSON body, if it is one
    (``"error": null`` or ``false`` is not)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = obj.get("error") if isinstance(obj, dict) else None
    return one_line(error_text(error)) if error else None


def _identity(text: str) -> str:
    return text


class ErrorBody:
    """The start of a body that is an error, not a stream; the rest is dropped.

    ``wrong_type`` is set for a 200 JSON body where a stream was due (the
    Content-Type mismatch, see :mod:`llmbench.content_type`), None for an error
    status. ``location`` is a redirect's Location header, when the transport gave it.
    """

    __slots__ = ("_kept", "_truncated", "location", "wrong_type")

    def __init__(self, wrong_type: str | None = None, location: str | None = None) -> None:
        self._kept = bytearray()
        self._truncated = False
        self.wrong_type = wrong_type
        self.location = location

    def add(self, data: bytes) -> None:
        """Keep what still fits under the cap (and the room for a credential)."""
        room = _KEEP_BYTES - len(self._kept)
        if len(data) > room:
            self._truncated = True
        if room > 0:
            self._kept += data[:room]

    def failure(
        self, http_status: int | None, redact: Callable[[str], str] = _identity
    ) -> tuple[Status, str]:
        """The result's status and message: an HTTP error from the body's start; a 200
        JSON body is one too when it carries ``{"error": ...}``, else a parse_error
        naming its type. Credentials are redacted before the message is cut."""
        status: Status = "http_error"
        if self.wrong_type is None:
            message = f"HTTP {http_status}: {self._reason(http_status, redact)}"
        else:
            body = self._body(redact)
            error = json_error(body)
            if error is not None:
                message = f"HTTP {http_status}: {error}"
            else:
                status, message = "parse_error", f"{self.wrong_type}: {one_line(body)}"
        return status, bounded(redact(message))

    def _reason(self, http_status: int | None, redact: Callable[[str], str]) -> str:
        if http_status is not None and 300 <= http_status < 400:
            if self.location is None:
                return "redirect not followed"
            return f"redirect to {redact(redact_url(self.location))} not followed"
        if http_status in _NO_CONTENT:
            return "no content"
        return one_line(self._body(redact))

    def _body(self, redact: Callable[[str], str]) -> str:
        """The kept text, redacted; when the body went on past what was kept, its last
        :data:`SECRET_ROOM` bytes go too, since a credential may be cut there."""
        text = redact(self._kept.decode("utf-8", "replace"))
        if not self._truncated:
            return text
        raw = text.encode("utf-8")
        return raw[: max(0, len(raw) - SECRET_ROOM)].decode("utf-8", "ignore")
