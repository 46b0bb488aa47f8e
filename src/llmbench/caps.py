"""Size caps on the error text one request keeps, defined once.

An error message (from a transport, a stream's error event or an HTTP error body)
is stored in every failed result and printed in the report: enough to read, never a
memory risk. This module imports nothing from llmbench, so the providers and the
receive path can both use it without an import cycle.
"""

from __future__ import annotations

__all__ = ["MAX_ERROR_BYTES", "bounded"]

# What we keep of an error body or message: 1 KiB holds any server's one-line error
# with its code, and a thousand failing streams then pin at most 1 MiB.
MAX_ERROR_BYTES = 1024


def bounded(text: str, limit: int = MAX_ERROR_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")
