"""A request as bytes, written as httpx writes it: the fast transport's request head.

The request-target, Host and Basic auth from ``user:pass@`` come from httpx's own URL
parsing, so both transports send the same bytes for the same URL: path and query
percent-encoded with httpx's safe sets (a space is ``%20``, never a raw byte in the
request line), dot segments removed, IDNA hosts, the default port left out of Host.
A header that holds CR, LF or NUL is never written.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx

from llmbench.http.request import HttpRequest

__all__ = ["Target", "encode"]

_USER_AGENT_LINE = "user-agent: llmbench\r\n"
# Without Accept-Encoding any coding is acceptable (RFC 9110 12.5.3), and compressed
# SSE would reach the parser as gzip bytes: ask for the bytes as they are.
_IDENTITY = "accept-encoding: identity\r\n"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's requests go, and the lines of their heads that the URL decides."""

    host: str  # to connect to (IDNA, IPv6 without brackets)
    port: int
    tls: bool
    request_line: str  # "POST <target> HTTP/1.1\r\n"
    host_line: str  # "host: <netloc>\r\n", unless the request has its own Host
    auth_line: str  # "authorization: Basic ...\r\n" from user:pass@ in the URL, or ""

    @classmethod
    def of(cls, url: str) -> Target:
        """What httpx sends for ``url`` (raises ``httpx.InvalidURL``). Basic auth from
        the URL replaces any Authorization header of the request, as httpx's
        ``_build_request_auth`` does."""
        parsed = httpx.URL(url)
        tls = parsed.scheme == "https"
        auth = ""
        if parsed.username or parsed.password:
            userpass = f"{parsed.username}:{parsed.password}".encode()
            auth = f"authorization: Basic {base64.b64encode(userpass).decode('ascii')}\r\n"
        return cls(
            host=parsed.raw_host.decode("ascii"),
            port=parsed.port or (443 if tls else 80),
            tls=tls,
            request_line=f"POST {parsed.raw_path.decode('ascii')} HTTP/1.1\r\n",
            host_line=f"host: {parsed.netloc.decode('ascii')}\r\n",
            auth_line=auth,
        )


def encode(request: HttpRequest, target: Target) -> tuple[bytes | None, bool]:
    """The request's bytes (None if a header is unsafe to send), and whether it asks
    for the identity coding. As with httpx, the request's own Host, User-Agent and
    Accept-Encoding replace ours; the body's length is always ours."""
    headers = request.headers
    names = {k.lower() for k, _ in headers}
    if "content-length" in names or (target.auth_line and "authorization" in names):
        drop = {"content-length", "authorization" if target.auth_line else ""}
        headers = tuple(h for h in headers if h[0].lower() not in drop)
    lines = _header_lines(headers)
    if lines is None:
        return None, True
    ours = target.host_line if "host" not in names else ""
    ours += target.auth_line
    if "user-agent" not in names:
        ours += _USER_AGENT_LINE
    identity = True
    if "accept-encoding" not in names:
        ours += _IDENTITY
    else:
        asked = (v for k, v in headers if k.lower() == "accept-encoding")
        identity = all(v.strip().lower() == "identity" for v in asked)
    line = target.request_line
    if request.method != "POST":
        line = line.replace("POST", request.method, 1)
    head = f"{line}{ours}content-length: {len(request.body)}\r\n{lines}\r\n"
    return head.encode() + request.body, identity


def _header_lines(headers: tuple[tuple[str, str], ...]) -> str | None:
    """The header block, or None if a name or value holds CR, LF or NUL: such a
    header would end the line early and let the rest pass as headers of its own
    (configuration refuses them; this is the last line of defence)."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
    n = len(headers)
    if lines.count("\r") != n or lines.count("\n") != n or "\0" in lines:
        return None
    return lines
