"""Sans-IO HTTP/1.1 for the mock: a request parser and response byte builders.

Bytes go in, frozen `Request`s come out; nothing here touches a socket or a clock,
so the parser is tested with plain bytes. Only what an LLM benchmark client sends is
supported: a request line, headers and a `Content-Length` body (RFC 9112). A chunked
request body is refused with 501 rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTINUE",
    "LAST_CHUNK",
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "HttpError",
    "Request",
    "RequestParser",
    "chunk",
    "response_head",
]

# h11 and uvicorn refuse heads over 16 KiB; we allow more because benchmark clients may
# send long custom headers (auth tokens, tracing), and a bound is all that matters.
MAX_HEAD_BYTES = 64 * 1024
# Long-context prompts (128k tokens) are a few MiB of JSON; 64 MiB bounds memory per
# connection while never refusing a realistic request.
MAX_BODY_BYTES = 64 * 1024 * 1024
# RFC 9112 §9.6 ends a chunked message with a zero-size chunk and an empty trailer.
LAST_CHUNK = b"0\r\n\r\n"

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    411: b"Length Required",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    505: b"HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request that cannot be framed; the connection must answer `status` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. Header names are lower-cased; `path` excludes the query."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    keep_alive: bool

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class _Head:
    method: str
    path: str
    query: str
    headers: tuple[tuple[bytes, bytes], ...]
    length: int
    keep_alive: bool
    expect_continue: bool


class RequestParser:
    """Incremental request parser: `feed(data)` returns every request completed so far.

    Raises `HttpError` on malformed or over-long input; the parser is then unusable,
    like the connection it belongs to.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: _Head | None = None
        self._continue = False

    def take_continue(self) -> bool:
        """True once per request whose client waits for `100 Continue` before its body.

        curl sends `Expect: 100-continue` for bodies over 1 KiB and otherwise waits a
        second for the interim response (RFC 9110 §10.1.1): a second added to the TTFT.
        """
        wanted, self._continue = self._continue, False
        return wanted

    def feed(self, data: bytes) -> list[Request]:
        """Add `data` and return the requests it completes, in order."""
        self._buf += data
        out: list[Request] = []
        while True:
            if self._head is None:
                self._head = self._parse_head()
                if self._head is None:
                    return out
                self._continue = self._head.expect_continue and len(self._buf) < self._head.length
            head = self._head
            if len(self._buf) < head.length:
                return out
            body = bytes(self._buf[: head.length])
            del self._buf[: head.length]
            self._head = None
            out.append(
                Request(head.method, head.path, head.query, head.headers, body, head.keep_alive)
            )

    def _parse_head(self) -> _Head | None:
        # RFC 9112 §2.2: a server SHOULD ignore empty lines received before a request-line.
        while self._buf[:2] == b"\r\n":
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise HttpError(431, "request head too large")
            return None
        if end > MAX_HEAD_BYTES:
            raise HttpError(431, "request head too large")
        raw = bytes(self._buf[:end])
        del self._buf[: end + 4]
        return _head_from_bytes(raw)


def _head_from_bytes(raw: bytes) -> _Head:
    lines = raw.split(b"\r\n")
    method, path, query, version = _request_line(lines[0])
    headers = tuple(_header_line(line) for line in lines[1:])
    fields = dict(headers)
    if b"transfer-encoding" in fields:
        raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
    length = _content_length(fields.get(b"content-length"))
    connection = fields.get(b"connection", b"").lower()
    if version == b"HTTP/1.1":
        keep_alive = b"close" not in connection
    else:
        keep_alive = b"keep-alive" in connection
    expect = fields.get(b"expect", b"").lower() == b"100-continue"
    return _Head(method, path, query, headers, length, keep_alive, expect)


def _request_line(line: bytes) -> tuple[str, str, str, bytes]:
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1].startswith(b"/"):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    path, _, query = target.partition(b"?")
    try:
        return method.decode("ascii"), path.decode("ascii"), query.decode("ascii"), version
    except UnicodeDecodeError:
        raise HttpError(400, "non-ASCII request line") from None


def _header_line(line: bytes) -> tuple[bytes, bytes]:
    name, colon, value = line.partition(b":")
    # RFC 9112 §5.1: no whitespace is allowed between the field name and the colon.
    if not colon or not name or name != name.strip():
        raise HttpError(400, "malformed header line")
    return name.lower(), value.strip(b" \t")


def _content_length(value: bytes | None) -> int:
    if value is None:
        return 0
    if not value.isdigit():
        raise HttpError(400, "invalid Content-Length")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise HttpError(413, f"request body over {MAX_BODY_BYTES} bytes")
    return length


def response_head(
    status: int,
    content_type: bytes,
    *,
    length: int | None,
    keep_alive: bool,
    extra: bytes = b"",
) -> bytes:
    """Status line and headers; `length=None` means a chunked body.

    `extra` is pre-rendered header lines (each ending in CRLF), e.g. a `date` line.
    """
    framing = b"transfer-encoding: chunked" if length is None else b"content-length: %d" % length
    connection = b"" if keep_alive else b"connection: close\r\n"
    return b"HTTP/1.1 %d %s\r\n%scontent-type: %s\r\n%s\r\n%s\r\n" % (
        status,
        _REASONS.get(status, b"Unknown"),
        extra,
        content_type,
        framing,
        connection,
    )


def chunk(data: bytes) -> bytes:
    """Frame `data` as one HTTP/1.1 chunk (RFC 9112 §7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
