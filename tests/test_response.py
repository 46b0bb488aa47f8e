"""Tests for llmbench.http.response.ResponseParser, the HTTP/1.1 response parser on llhttp.

Every framing (chunked, Content-Length, until close) is fed whole, one byte at a
time, at every two-way split and at random splits (a Hypothesis property): the
concatenated body and ``done`` must not depend on where the chunk boundaries fall.
Then what llhttp is relied on for, and what this module adds on top of it, each as a
table over its class. RFC 9112 is the reference: §2.2 line endings, §4 status line,
§5 field lines (§5.2 obs-fold), §6.3 message body length, §7.1 chunked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.http.response import (
    MAX_FRAMING_BYTES,
    MAX_HEAD_BYTES,
    MAX_INTERIM_RESPONSES,
    ResponseError,
    ResponseHead,
    ResponseParser,
)

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
OK = b"HTTP/1.1 200 OK\r\n"


# -- helpers ------------------------------------------------------------------------


def feed_all(
    chunks: Iterable[bytes], parser: ResponseParser | None = None
) -> tuple[ResponseParser, bytes]:
    parser = parser or ResponseParser()
    body = b"".join(parser.feed(chunk) for chunk in chunks)
    return parser, body


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def split_at(raw: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(raw)) for c in cuts})
    edges = [0, *points, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges)]


def chunked(pieces: Iterable[bytes], ext: bytes = b"", trailers: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces if p)
    return out + b"0" + ext + b"\r\n" + trailers + b"\r\n"


def feedings(raw: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and split in two at every position."""
    return [[raw], bytewise(raw)] + [[raw[:i], raw[i:]] for i in range(len(raw) + 1)]


def assert_every_feeding(raw: bytes, body: bytes, done: bool = True) -> ResponseParser:
    """Every feeding gives the same body and the same done."""
    last = ResponseParser()
    for chunks in feedings(raw):
        last, got = feed_all(chunks)
        assert got == body, f"feeding {[len(c) for c in chunks]}"
        assert last.done is done
    return last


def assert_every_feeding_fails(raw: bytes, match: str) -> None:
    for chunks in feedings(raw):
        with pytest.raises(ResponseError, match=match):
            feed_all(chunks)


# -- chunked bodies -----------------------------------------------------------------


SSE_BODY = [b'data: {"a":1}\n\n', b'data: {"b":2}\n\n', b"data: [DONE]\n\n"]


def test_chunked_body_every_feeding() -> None:
    parser = assert_every_feeding(CHUNKED_HEAD + chunked(SSE_BODY), b"".join(SSE_BODY))
    assert parser.head == ResponseHead(
        200,
        "OK",
        (("content-type", "text/event-stream"), ("transfer-encoding", "chunked")),
        True,
    )
    assert parser.reusable is True


def test_chunked_body_pieces_come_out_as_their_bytes_arrive() -> None:
    parser = ResponseParser()
    assert parser.feed(CHUNKED_HEAD) == b""
    assert parser.head is not None
    assert parser.done is False
    assert parser.feed(b"5\r\nhel") == b"hel"
    assert parser.feed(b"lo") == b"lo"  # the middle of a chunk
    assert parser.feed(b"\r\n3\r\nabc\r\n") == b"abc"
    assert parser.done is False
    assert parser.feed(b"0\r\n") == b""
    assert parser.done is False  # the final CRLF (end of trailer section) is still due
    assert parser.feed(b"\r\n") == b""
    assert parser.done is True


def test_the_head_and_the_first_body_bytes_in_one_read() -> None:
    parser = ResponseParser()
    assert parser.feed(CHUNKED_HEAD + b"5\r\nhello\r\n3\r\nab") == b"helloab"
    assert parser.feed(b"c\r\n0\r\n\r\n") == b"c"
    assert parser.done is True


def test_chunk_size_is_hex_and_case_insensitive() -> None:
    data = bytes(range(256)) * 2  # 512 = 0x200 bytes, then 0x1A and 0x1a
    raw = CHUNKED_HEAD + b"200\r\n" + data + b"\r\n1A\r\n" + b"x" * 26 + b"\r\n1a\r\n" + b"y" * 26
    raw += b"\r\n0\r\n\r\n"
    _, body = feed_all([raw])
    assert body == data + b"x" * 26 + b"y" * 26


def test_chunk_extensions_are_ignored() -> None:
    raw = CHUNKED_HEAD + chunked([b"hello", b" world"], ext=b';name=value;flag;q="a b"')
    assert_every_feeding(raw, b"hello world")


def test_trailers_are_read_and_dropped() -> None:
    raw = CHUNKED_HEAD + chunked([b"abc"], trailers=b"X-Checksum: 123\r\nX-Other: y\r\n")
    parser = assert_every_feeding(raw, b"abc")
    assert parser.head is not None
    assert parser.head.header("x-checksum") is None  # trailers are not merged into the head


def test_empty_chunked_body() -> None:
    assert_every_feeding(CHUNKED_HEAD + b"0\r\n\r\n", b"")


@pytest.mark.parametrize("after", [b"HTTP/1.1 200 OK\r\n", b"garbage", b"0\r\n\r\n"])
def test_bytes_after_the_response_are_not_body_and_spoil_the_connection(after: bytes) -> None:
    parser = assert_every_feeding(CHUNKED_HEAD + chunked([b"abc"]) + after, b"abc")
    assert parser.trailing is True
    assert parser.reusable is False
    assert parser.feed(b"more") == b""


@st.composite
def chunked_streams(draw: st.DrawFn) -> tuple[bytes, bytes]:
    pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
    ext = draw(st.sampled_from([b"", b";a=1", b";x"]))
    trailers = draw(st.sampled_from([b"", b"T: 1\r\n"]))
    return CHUNKED_HEAD + chunked(pieces, ext, trailers), b"".join(pieces)


@settings(max_examples=300, deadline=None)
@given(
    stream=chunked_streams(), cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12)
)
def test_any_split_gives_the_same_chunked_body(
    stream: tuple[bytes, bytes], cuts: list[int]
) -> None:
    raw, body = stream
    parser, got = feed_all(split_at(raw, cuts))
    assert got == body
    assert parser.done is True
    assert parser.eof() is True


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_any_split_gives_the_same_length_body(body: bytes, cuts: list[int]) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    parser, got = feed_all(split_at(raw, cuts))
    assert got == body
    assert parser.done is True


# -- content-length and until-close bodies --------------------------------------------


def test_content_length_body_every_feeding() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok": true}'
    parser = assert_every_feeding(raw, b'{"ok": true')  # the 12th byte is beyond the length
    assert parser.head is not None
    assert parser.head.keep_alive is True
    assert parser.trailing is True  # ... and spoils the connection


def test_content_length_not_done_until_all_bytes() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab") == b"ab"
    assert parser.done is False
    assert parser.eof() is False  # a cut-short body is not a clean end
    assert parser.feed(b"cd") == b"cd"
    assert parser.done is True


def test_content_length_zero_is_done_at_the_head() -> None:
    parser, body = feed_all([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert (body, parser.done) == (b"", True)


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_are_done_at_the_head(status: int) -> None:
    parser, body = feed_all([b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status])
    assert (body, parser.done) == (b"", True)
    assert parser.head is not None
    assert parser.head.keep_alive is True


def test_read_until_close() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n"
    parser = assert_every_feeding(raw, b"data: 1\n\ndata: 2\n\n", done=False)
    assert parser.eof() is True
    assert parser.done is True
    assert parser.reusable is False


def test_eof_in_the_middle_of_a_chunked_body_is_not_clean() -> None:
    parser, body = feed_all([CHUNKED_HEAD + b"5\r\nhello\r\n"])
    assert body == b"hello"
    assert parser.eof() is False
    assert parser.done is False


def test_eof_inside_a_huge_chunk_is_not_clean() -> None:
    # A chunk announced at 2^64 - 1 bytes that never ends: its bytes are body as they
    # come, and the close does not make the body complete.
    parser, body = feed_all([CHUNKED_HEAD + b"ffffffffffffffff\r\n" + b"x" * 1000])
    assert body == b"x" * 1000
    assert parser.eof() is False


def test_eof_before_the_head_is_not_clean() -> None:
    parser, _ = feed_all([b"HTTP/1.1 200 OK\r\nContent-"])
    assert parser.head is None
    assert parser.eof() is False


# -- interim responses ----------------------------------------------------------------


def test_interim_responses_are_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc"
    )
    parser = assert_every_feeding(raw, b"abc")
    assert parser.head is not None
    assert (parser.head.status, parser.head.reason) == (201, "Created")
    assert parser.head.headers == (("content-length", "3"),)


@pytest.mark.parametrize(
    ("count", "ok"), [(1, True), (MAX_INTERIM_RESPONSES, True), (MAX_INTERIM_RESPONSES + 1, False)]
)
def test_interim_responses_are_capped(count: int, ok: bool) -> None:
    raw = b"HTTP/1.1 103 Early Hints\r\n\r\n" * count + OK + b"Content-Length: 0\r\n\r\n"
    if ok:
        assert feed_all([raw])[0].done is True
        return
    with pytest.raises(ResponseError, match=r"more than 16 interim \(1xx\) responses"):
        feed_all([raw])


def test_five_thousand_interim_responses_in_one_read_fail_without_recursion() -> None:
    # Issue 12 item 7: the hand-written parser recursed once per interim response.
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + OK + b"Content-Length: 0\r\n\r\n"
    with pytest.raises(ResponseError, match="interim"):
        ResponseParser().feed(raw)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
    ids=["upgrade-headers", "bare"],
)
def test_switching_protocols_was_not_asked_for(head: bytes) -> None:
    assert_every_feeding_fails(head + b"\x00\x01binary", "101 Switching Protocols")


# -- keep-alive -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nconnection: Close\r\nTransfer-Encoding: chunked\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        # RFC 9112 §9.3: a 1.0 response with the keep-alive option persists.
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", False),  # until close
    ],
)
def test_keep_alive_rules(head: bytes, keep_alive: bool) -> None:
    parser, _ = feed_all([head])
    assert parser.head is not None
    assert parser.head.keep_alive is keep_alive


# -- head details ---------------------------------------------------------------------


def test_header_lookup_is_case_insensitive_and_returns_the_first() -> None:
    raw = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nX-Dup: one\r\n"
        b"x-dup: two\r\nContent-Length: 0\r\n\r\n"
    )
    parser, _ = feed_all([raw])
    head = parser.head
    assert head is not None
    assert (head.status, head.reason) == (429, "Too Many Requests")
    assert head.header("Retry-After") == "7"
    assert head.header("RETRY-AFTER") == "7"
    assert head.header("retry-after") == "7"
    assert head.header("X-DUP") == "one"
    assert head.header("missing") is None


def test_status_line_without_reason() -> None:
    parser, _ = feed_all([b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"])
    assert parser.head is not None
    assert (parser.head.status, parser.head.reason) == (200, "")


def test_a_reason_split_across_reads_is_whole() -> None:
    parser = assert_every_feeding(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", b""
    )
    assert parser.head is not None
    assert parser.head.reason == "Service Unavailable"


@pytest.mark.parametrize("reason", [b"O\x00K", b"O\x01K", b"O\x7fK"])
def test_a_control_character_in_the_reason_is_an_error(reason: bytes) -> None:
    # RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); llhttp takes any
    # byte but CR and LF there, h11 does not.
    raw = b"HTTP/1.1 200 " + reason + b"\r\nContent-Length: 0\r\n\r\n"
    assert_every_feeding_fails(raw, "a control character in the status line's reason")


def test_obs_text_in_a_value_is_kept_as_latin_1() -> None:
    parser, _ = feed_all([OK + b"X-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n"])
    assert parser.head is not None
    assert parser.head.header("x-name") == "caf\xe9"


# -- line endings: RFC 9112 §2.2 ------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\nContent-Type: text/event-stream\nTransfer-Encoding: chunked\n\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\nTransfer-Encoding: chunked\r\n\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\n",
    ],
    ids=["all-lf", "mixed", "last-line-lf"],
)
def test_a_head_with_bare_lf_line_ends_is_read(head: bytes) -> None:
    # Issue 12 item 5: the hand-written parser waited for CRLFCRLF until the timeout.
    parser = assert_every_feeding(head + chunked(SSE_BODY), b"".join(SSE_BODY))
    assert parser.head is not None
    assert parser.head.header("content-type") == "text/event-stream"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"5\nhello\r\n0\r\n\r\n", "after chunk size"),
        (b"5\r\nhello\n0\r\n\r\n", "after chunk data"),
    ],
    ids=["size-line", "data"],
)
def test_chunk_lines_still_need_crlf(body: bytes, match: str) -> None:
    # As with h11: only the head's lines may end in a bare LF.
    assert_every_feeding_fails(CHUNKED_HEAD + body, match)


# -- obs-fold: RFC 9112 §5.2 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fold", "value"),
    [
        (b"X-Long: one\r\n two\r\n", "one two"),
        (b"X-Long: one\r\n\ttwo\r\n", "one\ttwo"),
        (b"X-Long: one\r\n two\r\n   three\r\n", "one two   three"),
        (b"X-Long:\r\n two\r\n", "two"),
        (b"X-Long: one\n two\n", "one two"),
    ],
    ids=["space", "tab", "twice", "empty-first-line", "bare-lf"],
)
def test_obs_fold_is_replaced_by_whitespace(fold: bytes, value: str) -> None:
    # A user agent MUST replace each obs-fold with one or more SP before using the
    # value; the hand-written parser rejected the line.
    raw = OK + fold + b"Content-Length: 2\r\n\r\nok"
    parser = assert_every_feeding(raw, b"ok")
    assert parser.head is not None
    assert parser.head.header("x-long") == value
    assert parser.head.header("content-length") == "2"


def test_a_folded_content_type_is_one_value() -> None:
    raw = OK + b"Content-Type: text/event-stream;\r\n charset=utf-8\r\nContent-Length: 0\r\n\r\n"
    parser, _ = feed_all([raw])
    assert parser.head is not None
    assert parser.head.header("content-type") == "text/event-stream; charset=utf-8"


@pytest.mark.parametrize(
    "fold",
    [
        b"X-Long: one\r\n tw\x00o\r\n",  # NUL: what llhttp's lenient mode lets through
        b"X-Long: o\x01ne\r\n two\r\n",
        b"X(bad): one\r\n two\r\n",
        b"X-Long : one\r\n two\r\n",  # whitespace before the colon (§5.1)
    ],
    ids=["nul-in-fold", "ctl-in-value", "bad-name", "space-before-colon"],
)
def test_a_folded_head_is_still_checked(fold: bytes) -> None:
    raw = OK + fold + b"Content-Length: 0\r\n\r\n"
    assert_every_feeding_fails(raw, "invalid header field|Invalid header token")


def test_whitespace_before_the_first_field_line_is_an_error() -> None:
    # §2.2: a recipient MUST reject it or ignore the line; it is not a fold.
    raw = OK + b" X-A: 1\r\nContent-Length: 0\r\n\r\n"
    assert_every_feeding_fails(raw, "Unexpected space after start line")


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"HTP/1.1 200 OK", "Expected HTTP/"),
        (b"garbage", "Expected HTTP/"),
        (b"HTTP/2 200 OK", "Expected dot"),
        (b"HTTP/1.1", "Expected space after version"),
        (b"HTTP/1.2 200 OK", "Invalid HTTP version"),
        (b"HTTP/1.1 abc OK", "Invalid status code"),
        (b"HTTP/1.1 20 OK", "Invalid status code"),  # status-code = 3DIGIT (§4)
        (b"HTTP/1.1 0 OK", "Invalid status code"),
        (b"HTTP/1.1 2000 OK", "Invalid response status"),
        (b"HTTP/1.1 \xb2\xb2\xb2 OK", "Invalid status code"),  # latin-1 superscript digits
    ],
)
def test_bad_status_line(line: bytes, match: str) -> None:
    assert_every_feeding_fails(line + b"\r\nContent-Length: 0\r\n\r\n", match)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"HTTP/2.0 200 OK", "unsupported HTTP version 2.0"),
        (b"HTTP/0.9 200 OK", "unsupported HTTP version 0.9"),
        (b"RTSP/1.0 200 OK", "not an HTTP response"),
        (b"ICE/1.0 200 OK", "not an HTTP response"),
    ],
)
def test_what_llhttp_reads_but_is_not_http_1(line: bytes, match: str) -> None:
    assert_every_feeding_fails(line + b"\r\nContent-Length: 0\r\n\r\n", match)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"no colon here", "Invalid header token"),
        (b": no name", "Invalid header token"),
        (b"Content-Length: -1", "Content-Length"),
        (b"Content-Length: 1, 1", "Content-Length"),
        (b"Content-Length: \xb9", "Content-Length"),
        (b"Content-Length: 99999999999999999999999", "Content-Length overflow"),
        (b"Content-Length: 0\r\nContent-Length: 0", "Duplicate Content-Length"),
        (b"Content-Length: 0\r\nContent-Length: 5", "Duplicate Content-Length"),
        (b"Content-Length: 2\r\nTransfer-Encoding: chunked", "Content-Length"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 2", "Content-Length"),
        (b"Transfer-Encoding: gzip, chunked", "unsupported Transfer-Encoding 'gzip, chunked'"),
        (b"Transfer-Encoding: chunked, gzip", "unsupported Transfer-Encoding"),
        (b"Transfer-Encoding: gzip", "unsupported Transfer-Encoding 'gzip'"),
        (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", "'gzip, chunked'"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "unsupported"),
    ],
)
def test_bad_framing_headers(header: bytes, match: str) -> None:
    assert_every_feeding_fails(OK + header + b"\r\n\r\n0\r\n\r\n", match)


CONTROL = [c for c in range(0x20) if c != 0x09] + [0x7F]


@pytest.mark.parametrize("char", CONTROL, ids=[f"0x{c:02x}" for c in CONTROL])
def test_every_control_character_in_a_field_value_is_an_error(char: int) -> None:
    # RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; CR, LF and NUL
    # MUST be rejected (or replaced). A bare LF ends the line (§2.2), so the rest of
    # the value is then a line without a colon: an error too.
    raw = OK + b"X-A: a" + bytes([char]) + b"b\r\nContent-Length: 0\r\n\r\n"
    match = {0x0A: "Invalid header token", 0x0D: "Missing expected LF after header value"}
    assert_every_feeding_fails(raw, match.get(char, "invalid header field b'X-A'"))


def test_htab_in_a_field_value_is_fine() -> None:
    parser, _ = feed_all([OK + b"X-A: a\tb\r\nContent-Length: 0\r\n\r\n"])
    assert parser.head is not None
    assert parser.head.header("x-a") == "a\tb"


@pytest.mark.parametrize(
    ("size", "data"),
    [
        (b"zz", b"hello"),
        (b"", b"hello"),
        (b"g", b"hello"),
        (b";ext", b"hello"),
        (b"0x5", b"hello"),
        (b"+5", b"hello"),
        (b"-5", b"hello"),
        (b"1_0", b"0123456789abcdef"),
        (b"5 ", b"hello"),
    ],
)
def test_chunk_size_is_hex_digits_only(size: bytes, data: bytes) -> None:
    # RFC 9112 §7.1: chunk-size = 1*HEXDIG. Python's int(x, 16) also takes a 0x
    # prefix, a sign and underscores: none of them is a chunk size.
    raw = CHUNKED_HEAD + size + b"\r\n" + data + b"\r\n0\r\n\r\n"
    assert_every_feeding_fails(raw, "Invalid character in chunk size")


def test_a_chunk_size_past_64_bits_overflows() -> None:
    raw = CHUNKED_HEAD + b"1" + b"0" * 16 + b"\r\nx\r\n0\r\n\r\n"
    assert_every_feeding_fails(raw, "Chunk size overflow")


@pytest.mark.parametrize(
    "raw",
    [
        CHUNKED_HEAD + b"5\r\nhelloXY\r\n0\r\n\r\n",
        CHUNKED_HEAD + b"3\r\nabc\n0\r\n\r\n",
        CHUNKED_HEAD + b"3\r\nabc\r0\r\n\r\n",
    ],
    ids=["data", "lf-only", "cr-only"],
)
def test_missing_crlf_after_chunk_data(raw: bytes) -> None:
    assert_every_feeding_fails(raw, "chunk data")


def test_oversized_head_raises() -> None:
    start = b"HTTP/1.1 200 OK\r\nX-Big: "
    parser = ResponseParser()
    parser.feed(start)
    for _ in range(15):
        parser.feed(b"a" * 4096)
    assert parser.feed(b"a" * (MAX_HEAD_BYTES - len(start) - 15 * 4096)) == b""  # at the bound
    with pytest.raises(ResponseError, match=f"response head larger than {MAX_HEAD_BYTES} bytes"):
        parser.feed(b"a")


def test_head_at_the_bound_is_accepted() -> None:
    start = b"HTTP/1.1 200 OK\r\nX-Big: "
    pad = b"a" * (MAX_HEAD_BYTES - len(start))
    parser = ResponseParser()
    assert parser.feed(start + pad) == b""  # exactly MAX_HEAD_BYTES and no head yet: fine
    parser.feed(b"\r\nContent-Length: 0\r\n\r\n")
    assert parser.head is not None
    assert parser.head.header("x-big") == pad.decode()


def test_interim_responses_count_towards_the_head_bound() -> None:
    parser = ResponseParser()
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"a" * 8000 + b"\r\n\r\n"
    for _ in range(MAX_HEAD_BYTES // len(interim)):
        parser.feed(interim)  # each ends, but all of them are still before the head
    with pytest.raises(ResponseError, match="response head larger than"):
        parser.feed(interim)


@pytest.mark.parametrize("start", [b"5;", b"0\r\nX-Trailer: "], ids=["chunk-extension", "trailer"])
def test_endless_chunk_framing_is_bounded(start: bytes) -> None:
    parser = ResponseParser()
    assert parser.feed(CHUNKED_HEAD + b"3\r\nabc\r\n") == b"abc"
    assert parser.feed(start) == b""
    for _ in range(7):
        assert parser.feed(b"e" * 8192) == b""
    assert parser.feed(b"e" * (MAX_FRAMING_BYTES - len(start) - 7 * 8192)) == b""  # at the bound
    with pytest.raises(ResponseError, match=f"{MAX_FRAMING_BYTES + 1} bytes of chunk framing"):
        parser.feed(b"e")


def test_framing_between_data_is_not_counted() -> None:
    parser = ResponseParser()
    parser.feed(CHUNKED_HEAD)
    for _ in range(MAX_FRAMING_BYTES // 1000 + 10):
        parser.feed(b"1;" + b"e" * 1000 + b"\r\n")
        assert parser.feed(b"x\r\n") == b"x"


# -- reuse ----------------------------------------------------------------------------


def test_reset_reads_a_second_response() -> None:
    parser, body = feed_all([CHUNKED_HEAD + chunked([b"first"])])
    assert (body, parser.done) == (b"first", True)
    parser.reset()
    assert (parser.head, parser.done) == (None, False)
    second = b"HTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\nsecond"
    _, body = feed_all(bytewise(second), parser)
    assert body == b"second"
    assert parser.done is True
    assert parser.head is not None
    assert parser.head.status == 404


def test_reset_in_the_middle_forgets_the_partial_response() -> None:
    parser = ResponseParser()
    parser.feed(CHUNKED_HEAD + b"a\r\nhal")  # a 10-byte chunk, 3 bytes in
    parser.reset()
    _, body = feed_all([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], parser)
    assert body == b"ok"
    assert parser.done is True


def test_reset_after_an_error_parses_again() -> None:
    parser = ResponseParser()
    with pytest.raises(ResponseError):
        parser.feed(b"garbage\r\n\r\n")
    parser.reset()
    _, body = feed_all([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], parser)
    assert body == b"ok"


@pytest.mark.parametrize("status", [b"000", b"042", b"099", b"600", b"999"])
def test_a_status_outside_100_599_is_an_error(status: bytes) -> None:
    # llhttp reads any three digits; a "042" taken for an interim reply would make the
    # real response after it a body, and the request would wait out its timeout.
    raw = b"HTTP/1.1 " + status + b" Weird\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    assert_every_feeding_fails(raw, "is not an HTTP status")
