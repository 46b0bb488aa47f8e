"""Sans-IO HTTP/1.1 response parser on llhttp: bytes in, head and body pieces out.

The wire is parsed by llhttp, Node.js's HTTP parser (through httptools, as uvicorn
does), which years of hostile traffic have hardened; this module adds what a
benchmark client needs on top, each decided once per response, never per chunk:
the head as a value, the body as bytes, what llhttp leaves to its caller (bounds on
the head and on interim responses, end-of-connection bodies, which transfer codings
we accept) and one exception type for every way a response can be wrong.

llhttp behaviours relied on, as checked by tests/test_response.py (RFC 9112):

- strict by default: a status line that is not ``HTTP/x.y NNN``, a header without a
  colon or with whitespace before it (§5.1), a bad or negative Content-Length,
  ``Content-Length`` twice, even with equal values (RFC 9110 §8.6 lets a recipient
  reject that), ``Transfer-Encoding`` together with ``Content-Length`` (§6.3 (3):
  "ought to be handled as an error"), a chunk size that is not 1*HEXDIG or overflows
  64 bits (§7.1), chunk data not followed by CRLF, CR, LF or NUL in a field value
  (RFC 9110 §5.5): all are errors;
- a bare LF ending the status line or a field line is accepted
  (``lenient_optional_cr_before_lf``): §2.2 lets a recipient recognise a single LF as
  a line terminator of the start-line and fields, and h11 (under httpx) does, so both
  transports read such a head. The flag also lets a bare LF end chunk data, which
  §7.1 and h11 do not: it is switched off once the head is in;
- obs-fold (a field line continued on the next line after SP or HTAB) is an error
  in llhttp's strict mode, but §5.2 says a user agent MUST replace each obs-fold
  with SP: a head that failed with one of llhttp's obs-fold reasons is parsed again
  with ``lenient_headers``, which joins the lines with their whitespace. That mode
  also stops llhttp checking field characters, so here field names must then be
  tokens and values free of control characters (RFC 9110 §5.5). Whitespace before
  the first field line stays an error (§2.2 allows rejecting it);
- llhttp also reads ``RTSP/`` and ``ICE/`` status lines, HTTP/0.9 and 2.0 versions
  and any byte in a reason phrase: refused here (h11 refuses them too);
- ``Transfer-Encoding: gzip, chunked`` is de-chunked by llhttp and anything not
  ending in chunked is read until close (§6.3 (4)): the gzip bytes would reach the
  stream parser. We asked for no transfer coding (RFC 9112 §7.4: chunked is the only
  one a client always accepts), so any coding but ``chunked`` is an error here;
- interim 1xx responses are parsed in a loop (no recursion) and each reported as a
  message; 101 Switching Protocols pauses llhttp for an upgrade;
- after a complete message llhttp starts on the next one, so bytes after the
  response are caught where that next message would begin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httptools

__all__ = [
    "MAX_FRAMING_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_INTERIM_RESPONSES",
    "ResponseError",
    "ResponseHead",
    "ResponseParser",
]

# A response head (status line + headers, with any interim responses before it)
# larger than this is not a server we can talk to. h11, under httpx, refuses a head
# past 16 KiB by default (its max_incomplete_event_size); 4x that leaves room for
# gateways that add long cookie or security headers, and still bounds what one
# connection buffers before its body. llhttp itself has no such bound.
MAX_HEAD_BYTES = 64 * 1024
# Interim (1xx) responses before the final one. A server sends one 100 Continue or a
# 103 Early Hints or two; llhttp would read any number of them, so a server could
# keep a request busy on interim heads forever. 16 is far beyond any real use.
MAX_INTERIM_RESPONSES = 16
# Chunked framing in a row without a body byte: chunk-size lines, chunk extensions,
# trailers. llhttp streams these without a bound, and httptools collects each
# trailer field in memory; real framing is a few bytes per chunk.
MAX_FRAMING_BYTES = 64 * 1024

# llhttp's reasons for an obs-fold in strict mode (llhttp/src/llhttp/http.ts): after a
# value, and after an empty one. The second is also its reason for a bad character in
# a value: parsed again, that one fails on the check that lenient mode adds here.
_OBS_FOLD = frozenset({"Unexpected whitespace after header value", "Invalid header value char"})
# What lenient_headers lets through and RFC 9110 does not: a field name must be a
# token (§5.1), a field value VCHAR / obs-text / SP / HTAB (§5.5).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_VERSIONS = frozenset({"1.0", "1.1"})


class ResponseError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response (the one error type)."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order
    keep_alive: bool  # the connection may carry another request once the body is read

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ResponseParser:
    """Parse one response. ``feed`` returns body bytes; ``head`` and ``done`` say where
    we are; ``reusable`` says whether the connection may serve another request.

    Body pieces are returned as they arrive: a streaming client must see each chunk
    as soon as its bytes are in. :meth:`reset` readies the parser for the next
    response on a kept-alive connection."""

    __slots__ = (
        "_framing",
        "_head_bytes",
        "_head_data",
        "_headers",
        "_interim",
        "_lenient",
        "_parser",
        "_pieces",
        "_reason",
        "_until_close",
        "done",
        "head",
        "on_body",
        "trailing",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pieces: list[bytes] = []
        # llhttp calls on_body(bytes) per body piece: a list's own append is a C call,
        # no Python frame per chunk (what the token path pays for parsing).
        self.on_body = self._pieces.append
        self._head_data: list[bytes] = []
        self._head_bytes = 0
        self._interim = 0
        self._framing = 0
        self._until_close = False
        self.head: ResponseHead | None = None
        self.done = False
        self.trailing = False  # bytes came after the response: the connection is spoiled
        self._new_parser(lenient=False)

    def _new_parser(self, *, lenient: bool) -> None:
        self._lenient = lenient
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._parser = httptools.HttpResponseParser(self)
        self._parser.set_dangerous_leniencies(
            lenient_optional_cr_before_lf=True, lenient_headers=lenient
        )

    @property
    def reusable(self) -> bool:
        """The response is complete, keep-alive, and nothing came after it."""
        return self.done and not self.trailing and self.head is not None and self.head.keep_alive

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return the body bytes it completed (possibly empty)."""
        if self.head is None:
            return self._feed_head(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(exc)
        pieces = self._pieces
        if not pieces:
            self._framing += len(data)
            if self._framing > MAX_FRAMING_BYTES and not self.done:
                raise ResponseError(f"{self._framing} bytes of chunk framing without data")
            return b""
        self._framing = 0
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        return body

    def eof(self) -> bool:
        """The connection closed; return True if that ended the body cleanly
        (a body delimited by the close, RFC 9112 §6.3 (8))."""
        if self.head is not None and not self.done and self._until_close:
            self.done = True
        return self.done

    def _feed_head(self, data: bytes) -> bytes:
        self._head_data.append(data)
        self._head_bytes += len(data)
        obs_fold = False
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            obs_fold = self.head is None and not self._lenient and str(exc) in _OBS_FOLD
            if not obs_fold:
                self._fail(exc)
        if obs_fold:  # outside the except: a new error must not chain to this one
            self._refeed_lenient()
        if self.head is None:
            if self._head_bytes > MAX_HEAD_BYTES:
                raise ResponseError(f"response head larger than {MAX_HEAD_BYTES} bytes")
            return b""
        self._head_data = []
        body = b"".join(self._pieces)
        self._pieces.clear()
        return body

    def _refeed_lenient(self) -> None:
        """RFC 9112 §5.2: parse the head again, joining obs-folded lines."""
        self._interim = 0
        self._new_parser(lenient=True)
        try:
            self._parser.feed_data(b"".join(self._head_data))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        """Raise llhttp's error (or ours, from a callback) as a ResponseError, unless
        the response was complete: then the bytes after it are only noted."""
        if self.done:
            self.trailing = True
            return
        cause = exc.__context__
        if isinstance(cause, ResponseError):
            raise cause from None
        if isinstance(exc, httptools.HttpParserUpgrade):
            raise ResponseError("unexpected protocol upgrade") from None
        raise ResponseError(str(exc) or type(exc).__name__) from None

    # -- llhttp callbacks (once per message or header, never per chunk) -----------------

    def on_message_begin(self) -> None:
        if self.done:
            raise ResponseError("bytes after the response")  # caught by _fail
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # a span may come in pieces when a head is split

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head is not None:
            return  # a trailer field (§7.1.2): read and dropped, never merged
        if self._lenient and (not _TOKEN.fullmatch(name) or _CTL.search(value)):
            raise ResponseError(f"invalid header field {name[:40]!r}")
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1").strip()))

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if not 100 <= status <= 599:  # RFC 9110 §15: llhttp reads any three digits
            raise ResponseError(f"status {status:03d} is not an HTTP status (100-599)")
        if status < 200:
            self._interim_response(status)
            return
        if parser.get_http_version() not in _VERSIONS:
            raise ResponseError(f"unsupported HTTP version {parser.get_http_version()}")
        if not b"".join(self._head_data).lstrip(b"\r\n").startswith(b"HTTP/"):
            raise ResponseError("not an HTTP response (llhttp also reads RTSP/ and ICE/)")
        if _CTL.search(self._reason):  # §4: HTAB / SP / VCHAR / obs-text; llhttp takes any
            raise ResponseError("a control character in the status line's reason")
        head = ResponseHead(
            status,
            self._reason.decode("latin-1"),
            tuple(self._headers),
            parser.should_keep_alive(),
        )
        coding = self._transfer_coding(head)
        self._until_close = coding is None and head.header("content-length") is None
        if status in (204, 304):
            self._until_close = False
        self.head = head
        # Bare LF and folding are for the head's lines (§2.2, §5.2); chunk framing and
        # trailers are read strictly, as h11 reads them.
        parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=False, lenient_headers=False)

    def on_message_complete(self) -> None:
        if self.head is not None:  # an interim response's end is not the response's
            self.done = True

    def _interim_response(self, status: int) -> None:
        if status == 101:
            raise ResponseError("101 Switching Protocols: no upgrade was asked for")
        self._interim += 1
        if self._interim > MAX_INTERIM_RESPONSES:
            raise ResponseError(f"more than {MAX_INTERIM_RESPONSES} interim (1xx) responses")

    def _transfer_coding(self, head: ResponseHead) -> str | None:
        """The Transfer-Encoding, which may only be ``chunked`` (see the module doc)."""
        values = [v for k, v in head.headers if k == "transfer-encoding"]
        if not values:
            return None
        joined = ", ".join(values)
        codings = [c.strip().lower() for c in joined.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise ResponseError(f"unsupported Transfer-Encoding {joined[:80]!r}")
        return "chunked"
