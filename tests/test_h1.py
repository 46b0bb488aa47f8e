"""Tests for llmbench.http.h1.ResponseParser, the sans-IO HTTP/1.1 response parser.

Every framing (chunked, Content-Length, until close) is fed whole, one byte at a
time, at every two-way split and at random splits (a Hypothesis property): the
concatenated body and ``done`` must not depend on where the chunk boundaries fall.
RFC 9112 is the reference: §4 status line, §6.3 message body length, §7.1 chunked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.http.h1 import MAX_HEAD_BYTES, H1Error, ResponseHead, ResponseParser

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


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


def assert_every_feeding(raw: bytes, body: bytes, done: bool = True) -> ResponseParser:
    """Whole, byte by byte and split in two at every position: same body, same done."""
    feedings = [[raw], bytewise(raw)] + [[raw[:i], raw[i:]] for i in range(len(raw) + 1)]
    last = ResponseParser()
    for chunks in feedings:
        last, got = feed_all(chunks)
        assert got == body, f"feeding {[len(c) for c in chunks]}"
        assert last.done is done
    return last


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


def test_chunked_body_pieces_come_out_as_their_bytes_arrive() -> None:
    parser = ResponseParser()
    assert parser.feed(CHUNKED_HEAD) == b""
    assert parser.head is not None
    assert parser.done is False
    assert parser.feed(b"5\r\nhel") == b"hel"
    assert parser.feed(b"lo") == b"lo"  # the middle of a chunk (the fast path)
    assert parser.feed(b"\r\n3\r\nabc\r\n") == b"abc"
    assert parser.done is False
    assert parser.feed(b"0\r\n") == b""
    assert parser.done is False  # the final CRLF (end of trailer section) is still due
    assert parser.feed(b"\r\n") == b""
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


def test_bytes_after_the_last_chunk_are_not_body() -> None:
    raw = CHUNKED_HEAD + chunked([b"abc"]) + b"HTTP/1.1 200 OK\r\n"
    parser = assert_every_feeding(raw, b"abc")
    assert parser.feed(b"more") == b""


def test_chunked_wins_over_content_length() -> None:
    # RFC 9112 §6.3 (3): Transfer-Encoding overrides Content-Length.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert_every_feeding(head + chunked([b"hello"]), b"hello")


def test_chunked_is_found_in_a_list_of_codings() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
    assert_every_feeding(head + chunked([b"zz"]), b"zz")


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


def test_eof_in_the_middle_of_a_chunked_body_is_not_clean() -> None:
    parser, body = feed_all([CHUNKED_HEAD + b"5\r\nhello\r\n"])
    assert body == b"hello"
    assert parser.eof() is False
    assert parser.done is False


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
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
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


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"HTP/1.1 200 OK",
        b"HTTP/2 200 OK",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1",
        b"garbage",
        b"",
    ],
)
def test_bad_status_line(line: bytes) -> None:
    with pytest.raises(H1Error, match="bad status line"):
        ResponseParser().feed(line + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("line", [b"HTTP/1.1 20 OK", b"HTTP/1.1 0 OK", b"HTTP/1.1 2000 OK"])
def test_status_code_must_be_three_digits(line: bytes) -> None:
    # RFC 9112 §4: status-code = 3DIGIT. A two-digit code is below 200 and was
    # silently skipped as if it were a 1xx interim response.
    with pytest.raises(H1Error, match="bad status line"):
        ResponseParser().feed(line + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 \xb2\xb2\xb2 OK\r\nContent-Length: 0\r\n\r\n",  # latin-1 superscript digits
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb9\r\n\r\n",
    ],
    ids=["status", "content-length"],
)
def test_non_ascii_digits_raise_h1error_not_valueerror(raw: bytes) -> None:
    # str.isdigit() is True for U+00B2/U+00B9 but int() rejects them: a ValueError
    # escaped, which the fast transport does not catch (it catches H1Error only).
    with pytest.raises(H1Error):
        ResponseParser().feed(raw)


def test_bad_header_line() -> None:
    with pytest.raises(H1Error, match="bad header line"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")


def test_bad_content_length() -> None:
    with pytest.raises(H1Error, match="bad content-length"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")


@pytest.mark.parametrize("size", [b"zz", b"", b"g", b";ext"])
def test_bad_chunk_size(size: bytes) -> None:
    with pytest.raises(H1Error, match="bad chunk size"):
        feed_all([CHUNKED_HEAD, size + b"\r\nhello\r\n0\r\n\r\n"])


@pytest.mark.parametrize(
    ("size", "data"),
    [(b"0x5", b"hello"), (b"+5", b"hello"), (b"-0", b""), (b"1_0", b"0123456789abcdef")],
)
def test_chunk_size_is_hex_digits_only(size: bytes, data: bytes) -> None:
    # RFC 9112 §7.1: chunk-size = 1*HEXDIG. Python's int(x, 16) also takes a 0x
    # prefix, a sign and underscores, so these bodies were accepted.
    with pytest.raises(H1Error, match="bad chunk size"):
        feed_all([CHUNKED_HEAD, size + b"\r\n" + data + b"\r\n0\r\n\r\n"])


@pytest.mark.parametrize(
    "chunks",
    [
        [CHUNKED_HEAD + b"5\r\nhelloXY\r\n0\r\n\r\n"],
        [CHUNKED_HEAD + b"5\r\nhello", b"X", b"\r\n0\r\n\r\n"],
        bytewise(CHUNKED_HEAD + b"3\r\nabc\n0\r\n\r\n"),
    ],
    ids=["whole", "split", "bytewise-lf-only"],
)
def test_missing_crlf_after_chunk_data(chunks: list[bytes]) -> None:
    with pytest.raises(H1Error, match="missing CRLF after chunk data"):
        feed_all(chunks)


def test_oversized_head_raises() -> None:
    start = b"HTTP/1.1 200 OK\r\nX-Big: "
    parser = ResponseParser()
    parser.feed(start)
    for _ in range(15):
        parser.feed(b"a" * 4096)
    assert parser.feed(b"a" * (MAX_HEAD_BYTES - len(start) - 15 * 4096)) == b""  # at the bound
    with pytest.raises(H1Error, match=f"response head larger than {MAX_HEAD_BYTES} bytes"):
        parser.feed(b"a")


def test_head_at_the_bound_is_accepted() -> None:
    start = b"HTTP/1.1 200 OK\r\nX-Big: "
    pad = b"a" * (MAX_HEAD_BYTES - len(start))
    parser = ResponseParser()
    assert parser.feed(start + pad) == b""  # exactly MAX_HEAD_BYTES buffered: still fine
    parser.feed(b"\r\nContent-Length: 0\r\n\r\n")
    assert parser.head is not None
    assert parser.head.header("x-big") == pad.decode()


def test_oversized_chunk_size_line_raises() -> None:
    parser = ResponseParser()
    parser.feed(CHUNKED_HEAD)
    with pytest.raises(H1Error, match="chunk header line too long"):
        parser.feed(b"5;" + b"e" * MAX_HEAD_BYTES)


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
