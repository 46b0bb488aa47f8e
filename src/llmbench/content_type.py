"""The Content-Type policy: which label a 200 response may carry for each framing.

A 200 with another type (a proxy's page, a misconfigured gateway) is not the stream
we asked for, even when its body happens to parse as events. An unlabelled body is
let through: the body decides.
"""

from __future__ import annotations

from collections.abc import Callable

from llmbench.caps import bounded

__all__ = ["is_json", "media_type", "mismatch"]

_SSE_TYPE = "text/event-stream"

# Per framing: what the message names, and the test a media type must pass. NDJSON
# and JSON accept any type naming json (application/json, application/x-ndjson,
# application/jsonl, application/problem+json, ...).
_EXPECTED_TYPE: dict[str, tuple[str, Callable[[str], bool]]] = {
    "sse": (_SSE_TYPE, lambda media: media == _SSE_TYPE),
    "ndjson": ("an NDJSON type", lambda media: "json" in media),
    "json": ("a JSON type", lambda media: "json" in media),
}

# A media type echoed into a message is the server's text: keep it short.
_MAX_TYPE_BYTES = 200


def _identity(text: str) -> str:
    return text


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower-cased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    """Whether the type names JSON: a body that may carry an API's ``{"error": ...}``."""
    return "json" in media_type(content_type)


def mismatch(
    framing: str, content_type: str | None, redact: Callable[[str], str] = _identity
) -> str | None:
    """Why a 200 labelled ``content_type`` is not ``framing``'s body, or None if it may
    be. The message shows the type as sent (lower-casing could hide a credential from
    ``redact``), redacted before it is cut."""
    if not content_type:
        return None  # unlabelled: the body decides
    want, ok = _EXPECTED_TYPE[framing]
    if ok(media_type(content_type)):
        return None
    shown = redact(content_type.split(";", 1)[0].strip())
    return f"expected {want}, got {bounded(shown, _MAX_TYPE_BYTES)}"
