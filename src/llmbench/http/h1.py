"""Sans-IO HTTP/1.1 response parser: bytes in, head and body pieces out.

Only what a streaming benchmark client needs (RFC 9112): a status line, headers,
and a body whose length comes from the chunked transfer coding (§7.1),
``Content-Length`` or the end of the connection (§6.3). Chunk extensions and
trailers are read and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_HEAD_BYTES",
    "H1Error",
    "ResponseHead",
    "ResponseParser",
]

# A response head (status line + headers) larger than this is not a server we can
# talk to. h11, under httpx, refuses a head past 16 KiB by default (its
# max_incomplete_event_size); 4x that leaves room for gateways that add long cookie
# or security headers, and still bounds what one connection buffers before its body.
# A chunk-size line has the same bound.
MAX_HEAD_BYTES = 64 * 1024

_CRLF = b"\r\n"


class H1Error(Exception):
    """The server's bytes are not valid HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _is_digits(text: str, length: int | None = None) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', which int() rejects."""
    ok = text.isascii() and text.isdigit()
    return ok and (length is None or len(text) == length)


def _parse_head(raw: bytes) -> tuple[ResponseHead, int | None, bool]:
    """Return the head, the content length (None if absent) and whether chunked."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _is_digits(parts[1], 3):
        raise H1Error(f"bad status line: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise H1Error(f"bad header line: {line[:80]!r}")
        headers.append((name.strip().lower(), value.strip()))
    status = int(parts[1])
    head = ResponseHead(status, parts[2] if len(parts) > 2 else "", tuple(headers), True)
    conn = (head.header("connection") or "").lower()
    chunked = "chunked" in (head.header("transfer-encoding") or "").lower()
    length_text = head.header("content-length")
    length = None
    if length_text is not None and not chunked:
        if not _is_digits(length_text):
            raise H1Error(f"bad content-length: {length_text[:40]!r}")
        length = int(length_text)
    if status in (204, 304) or 100 <= status < 200:
        length = 0
    keep_alive = "close" not in conn and parts[0] != "HTTP/1.0" and (chunked or length is not None)
    return (
        ResponseHead(head.status, head.reason, head.headers, keep_alive),
        length,
        chunked,
    )


class ResponseParser:
    """Parse one response. ``feed`` returns body bytes; ``head`` and ``done`` say where we are.

    The parser is reset with :meth:`reset` for the next response on a kept-alive
    connection. Body pieces are returned as they arrive: a streaming client must
    see each chunk as soon as its bytes are in.
    """

    __slots__ = ("_buf", "_chunk_left", "_chunked", "_length_left", "_state", "done", "head")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buf = b""
        # 0 head, 1 body by length, 2 chunk size, 3 chunk data, 4 trailers,
        # 5 body until close, 6 the CRLF after a chunk's data
        self._state = 0
        self._chunked = False
        self._length_left = 0
        self._chunk_left = 0
        self.head: ResponseHead | None = None
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return the body bytes it completed (possibly empty)."""
        if self._state == 3 and not self._buf and len(data) < self._chunk_left:
            self._chunk_left -= len(data)  # fast path: the middle of a long chunk
            return data
        buf = self._buf + data if self._buf else data
        self._buf = b""
        if self._state == 0:
            buf = self._feed_head(buf)
            if self.head is None:
                return b""
        if self._state == 1:
            return self._feed_length(buf)
        if self._state == 5:
            return buf
        return self._feed_chunked(buf)

    def eof(self) -> bool:
        """The connection closed; return True if that ended the body cleanly."""
        if self._state == 5 and not self.done:
            self.done = True
        return self.done

    def _feed_head(self, buf: bytes) -> bytes:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise H1Error(f"response head larger than {MAX_HEAD_BYTES} bytes")
            self._buf = buf
            return b""
        head, length, chunked = _parse_head(buf[:end])
        if head.status < 200:  # 1xx interim response: skip it, read the real head
            return self._feed_head(buf[end + 4 :])
        self.head = head
        if chunked:
            self._state = 2
        elif length is not None:
            self._state = 1
            self._length_left = length
            if length == 0:
                self.done = True
        else:
            self._state = 5
        return buf[end + 4 :]

    def _feed_length(self, buf: bytes) -> bytes:
        if len(buf) >= self._length_left:
            body, self._length_left = buf[: self._length_left], 0
            self.done = True
            return body
        self._length_left -= len(buf)
        return buf

    def _feed_chunked(self, buf: bytes) -> bytes:
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size and not self.done:
            state = self._state
            if state == 3:
                take = min(self._chunk_left, size - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._state = 6  # expect CRLF after data
                continue
            end = buf.find(_CRLF, pos)
            if end < 0:
                if size - pos > MAX_HEAD_BYTES:
                    raise H1Error("chunk header line too long")
                self._buf = buf[pos:]
                break
            line = buf[pos:end]
            pos = end + 2
            if state == 2:
                left = self._chunk_size(line)
                stop = pos + left
                if left and buf[stop : stop + 2] == _CRLF:  # the usual case: a whole chunk
                    out.append(buf[pos:stop])
                    pos = stop + 2
                else:
                    self._chunk_left = left
                    self._state = 3 if left else 4
            else:
                self._on_line(line)
        return b"".join(out) if len(out) != 1 else out[0]

    @staticmethod
    def _chunk_size(line: bytes) -> int:
        size_text = line.split(b";", 1)[0].strip() if b";" in line else line.strip()
        if not size_text or not _HEX.issuperset(size_text):  # RFC 9112 §7.1: 1*HEXDIG
            raise H1Error(f"bad chunk size: {size_text[:20]!r}")
        return int(size_text, 16)

    def _on_line(self, line: bytes) -> None:
        if self._state == 6:
            if line:
                raise H1Error("missing CRLF after chunk data")
            self._state = 2
        elif self._state == 4 and not line:  # end of trailers
            self.done = True
