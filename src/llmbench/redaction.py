"""Credentials kept out of everything llmbench prints or writes. Pure: strings in,
strings out.

Which header and query names carry credentials (:func:`is_secret_name`), the
credentials in a set of headers (:func:`secret_values`), a URL without them
(:func:`redact_url`), and a result whose error text no longer echoes a key
(:func:`redact_result`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmbench.caps import bounded
from llmbench.result import RequestResult

__all__ = [
    "REDACTED",
    "Redactor",
    "is_secret_name",
    "redact_result",
    "redact_url",
    "secret_values",
]

REDACTED = "<redacted>"

# Header and query-parameter names whose values are credentials: Authorization,
# X-Api-Key, Api-Key, X-Auth-Token, Cookie, X-Signature, ... (matched anywhere in the name).
_SECRET_NAME = re.compile(r"auth|token|secret|key|cookie|session|passw|credential|sign", re.I)


class Redactor(Protocol):
    """Anything that scrubs known secrets from a text (``workload.KeyRing``)."""

    def redact(self, text: str) -> str: ...


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter called ``name`` carries a credential."""
    return _SECRET_NAME.search(name) is not None


def secret_values(headers: tuple[tuple[str, str], ...]) -> list[str]:
    """The credentials in ``headers``: each secret-named value, and its token without
    the scheme (``Bearer X`` gives ``X`` too: a server may echo either)."""
    out: list[str] = []
    for name, value in headers:
        if is_secret_name(name) and value:
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token.strip() and scheme.isalpha():
                out.append(token.strip())
    return out


def redact_url(url: str) -> str:
    """The URL without user:password or secret-named query values (``?key=...``),
    for anything we print or write."""
    parts = urlsplit(url)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs])
    if parts.username is None and parts.password is None and query == parts.query:
        return url
    host = parts.netloc.rpartition("@")[2]  # keeps [::1] brackets and the port as given
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def redact_result(result: RequestResult, keys: Redactor) -> RequestResult:
    """``result`` with every key and secret scrubbed from its error: a server may echo
    what it was sent. Returned as is when there was nothing to scrub."""
    if not result.error:
        return result
    redacted = keys.redact(result.error)
    if redacted == result.error:
        return result
    # "<redacted>" may be longer than a short key: the error stays within its cap.
    return dataclasses.replace(result, error=bounded(redacted))
