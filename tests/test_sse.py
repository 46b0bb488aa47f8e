"""Tests for llmbench.sse, the sans-IO SSE parser (WHATWG HTML §9.2.6).

Every fixture is fed whole, one byte at a time, split at every position, and with
trailing bytes of a further, unterminated event; all must give the same events.
Hypothesis checks chunk-boundary invariance against a literal transcription of the
spec's algorithm (``reference`` below).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import re
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmbench.sse
from llmbench.sse import (
    DEFAULT_MAX_LINE_BYTES,
    LineTooLongError,
    SSEError,
    SSEEvent,
    SSEParser,
    _new_event,
)

BOM = b"\xef\xbb\xbf"
Parse = Callable[[bytes], list[SSEEvent]]


# -- feeding helpers ---------------------------------------------------------------


def feed_chunks(
    chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> list[SSEEvent]:
    parser = SSEParser(max_line_bytes)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def whole(stream: bytes) -> list[SSEEvent]:
    return feed_chunks([stream])


def bytewise(stream: bytes) -> list[SSEEvent]:
    return feed_chunks(stream[i : i + 1] for i in range(len(stream)))


def every_split(stream: bytes) -> list[SSEEvent]:
    """Split the stream in two at every position; all splits must agree."""
    results = [feed_chunks([stream[:i], stream[i:]]) for i in range(len(stream) + 1)]
    for i, result in enumerate(results):
        assert result == results[0], f"split at {i} differs"
    return results[0]


def with_trailing(stream: bytes) -> list[SSEEvent]:
    """Feed the stream plus the start of another event, which close() must drop."""
    return feed_chunks([stream + b"data: trailing\nevent: x\ndata"])


@pytest.fixture(params=[whole, bytewise, every_split, with_trailing])
def parse(request: pytest.FixtureRequest) -> Parse:
    result: Parse = request.param
    return result


def msg(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


# -- a literal transcription of §9.2.6, the oracle for the properties ---------------


def reference(stream: bytes) -> list[SSEEvent]:
    """Decode the whole stream, split its lines, run the spec's steps one by one."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, _unterminated = re.split(r"\r\n|\r|\n", text)  # discarded at EOF
    events: list[SSEEvent] = []
    data, event_type, last_id, retry = "", "", None, None
    for line in lines:
        if line == "":
            if data != "":
                events.append(
                    SSEEvent(event_type or "message", data.removesuffix("\n"), last_id, retry)
                )
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value != "" and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


def longest_line(stream: bytes) -> int:
    """The longest line in bytes (without its line end), the unterminated tail included."""
    body = stream.removeprefix(BOM)
    return max(len(line) for line in re.split(rb"\r\n|\r|\n", body))


# -- the event type ------------------------------------------------------------------


def test_event_defaults_and_frozen() -> None:
    event = SSEEvent(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]


def test_fast_constructor_builds_an_equal_event() -> None:
    # _new_event sets the slots one by one: a field added to SSEEvent must be added there.
    assert [f.name for f in dataclasses.fields(SSEEvent)] == ["event", "data", "id", "retry"]
    fast = _new_event("update", "payload", "7", 1500)
    assert fast == SSEEvent("update", "payload", "7", 1500)
    assert repr(fast) == "SSEEvent(event='update', data='payload', id='7', retry=1500)"
    assert hash(fast) == hash(SSEEvent("update", "payload", "7", 1500))


def test_line_too_long_is_an_sse_error() -> None:
    assert issubclass(LineTooLongError, SSEError)


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes must be >= 1, got 0"):
        SSEParser(max_line_bytes=0)


# -- dispatch rules ------------------------------------------------------------------


def test_single_event(parse: Parse) -> None:
    assert parse(b"data: hello\n\n") == [msg("hello")]


def test_data_with_and_without_the_space(parse: Parse) -> None:
    assert parse(b"data:x\n\ndata: x\n\n") == [msg("x"), msg("x")]


def test_only_one_leading_space_is_stripped(parse: Parse) -> None:
    stream = b"event:  spaced\ndata:  two\ndata:\ttab\ndata: trailing \n\n"
    assert parse(stream) == [msg(" two\n\ttab\ntrailing ", event=" spaced")]


def test_multi_line_data_joined_with_lf(parse: Parse) -> None:
    assert parse(b"data: a\ndata: b\ndata\ndata: c\n\n") == [msg("a\nb\n\nc")]


def test_empty_data_field_dispatches_an_empty_event(parse: Parse) -> None:
    # "data" appends "" then LF: the data buffer is not empty, so the event fires.
    assert parse(b"data\n\ndata:\n\n") == [msg(""), msg("")]


def test_field_without_colon_has_empty_value(parse: Parse) -> None:
    stream = b"id: 1\ndata: a\n\nid\nevent\ndata: b\n\n"
    assert parse(stream) == [msg("a", id="1"), msg("b", id="")]


def test_block_without_data_is_not_dispatched(parse: Parse) -> None:
    stream = b"event: ping\n\nretry: 10\n\nid: 5\n\n: comment\n\ndata: x\n\n"
    # neither the event type nor retry of a block that dispatched nothing leaks on
    assert parse(stream) == [msg("x", id="5")]


def test_event_name_resets_after_dispatch(parse: Parse) -> None:
    stream = b"event: delta\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\n"
    assert parse(stream) == [msg("a", event="delta"), msg("b"), msg("c")]


def test_last_event_wins_within_a_block(parse: Parse) -> None:
    assert parse(b"event: a\nevent: b\nid: 1\nid: 2\ndata: x\n\n") == [msg("x", event="b", id="2")]


def test_comments_are_ignored(parse: Parse) -> None:
    stream = b": ping\n\n:HTTP_STATUS/200\ndata: a\n:\ndata: b\n\n"
    assert parse(stream) == [msg("a\nb")]


def test_unknown_fields_are_ignored(parse: Parse) -> None:
    stream = b"foo: bar\nDATA: shout\n data: lead\ndata : sp\nx\ndata: a\n\nfoo: only\n\n"
    assert parse(stream) == [msg("a")]


def test_id_persists_until_changed(parse: Parse) -> None:
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid:\ndata: d\n\n"
    assert parse(stream) == [msg("a", id="1"), msg("b", id="1"), msg("c", id="2"), msg("d", id="")]


def test_id_containing_nul_is_ignored(parse: Parse) -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert parse(stream) == [msg("a", id="1"), msg("b", id="1")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"3000", 3000),
        (b"0", 0),
        (b"007", 7),
        (b"", None),
        (b"3s", None),
        (b"-1", None),
        (b"1.5", None),
        (b" 5", None),  # two spaces after the colon: the value is " 5"
        ("٣".encode(), None),  # a digit, but not an ASCII digit
        (b"1" * 5000, None),  # beyond int()'s digit limit: ignored, not a crash
    ],
)
def test_retry_needs_ascii_digits(value: bytes, expected: int | None) -> None:
    stream = b"retry: " + value + b"\ndata: x\n\n"
    for parse in (whole, bytewise, with_trailing):
        assert parse(stream) == [msg("x", retry=expected)]


def test_unusable_retry_keeps_the_earlier_one_in_the_block() -> None:
    assert whole(b"retry: 5\nretry: " + b"9" * 5000 + b"\ndata: x\n\n") == [msg("x", retry=5)]


def test_retry_applies_to_its_own_block_only(parse: Parse) -> None:
    stream = b"retry: 10\ndata: a\n\ndata: b\n\nretry: 20\nretry: x\ndata: c\n\n"
    assert parse(stream) == [msg("a", retry=10), msg("b"), msg("c", retry=20)]


def test_state_carried_between_chunks_leaves_the_fast_path() -> None:
    # Each block arrives as whole chunks, but the first chunk's field is still pending.
    assert feed_chunks([b"event: e\n", b"data: x\n\n"]) == [msg("x", event="e")]
    assert feed_chunks([b"retry: 5\n", b"data: x\n\n"]) == [msg("x", retry=5)]
    assert feed_chunks([b"data: a\n", b"data: b\n\n"]) == [msg("a\nb")]
    assert feed_chunks([b"data: a\n", b"\n", b"data: b\n\n"]) == [msg("a"), msg("b")]


def test_unterminated_final_block_is_discarded(parse: Parse) -> None:
    assert parse(b"data: a\n\ndata: b\n") == [msg("a")]
    assert parse(b"data: a\n\ndata: b") == [msg("a")]


def test_close_discards_and_returns_empty() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\nevent: e\ndata: b\nda") == [msg("a")]
    assert parser.close() == []


def test_empty_chunks_are_harmless() -> None:
    assert feed_chunks([b"", b"data: a\r", b"", b"\n", b"", b"\n", b""]) == [msg("a")]


# -- line ends -----------------------------------------------------------------------


def test_crlf_and_cr_line_ends(parse: Parse) -> None:
    stream = b"data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\revent: e\ndata: f\r\n\n"
    assert parse(stream) == [msg("a\nb"), msg("c\nd"), msg("f", event="e")]


def test_cr_lf_split_across_chunks_is_one_line_end() -> None:
    # Were the LF counted again, the empty line would dispatch "a" on its own.
    assert feed_chunks([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [msg("a\nb")]
    assert feed_chunks([b"data: a\r", b"", b"\ndata: b\r\n\r\n"]) == [msg("a\nb")]
    # CR then CR is two line ends, whatever the split
    assert feed_chunks([b"data: a\r", b"\rdata: b\n\n"]) == [msg("a"), msg("b")]


def test_lf_after_a_cr_inside_a_later_chunk_is_a_line_end() -> None:
    assert feed_chunks([b"data: a\r", b"data: b\n", b"\ndata: c\n\n"]) == [msg("a\nb"), msg("c")]


# -- bytes and text ------------------------------------------------------------------


def test_utf8_character_split_across_chunks() -> None:
    stream = "data: café 🚀 日本\n\n".encode()
    expected = [msg("café 🚀 日本")]
    rocket = stream.index("🚀".encode())
    for cut in range(rocket, rocket + 5):
        assert feed_chunks([stream[:cut], stream[cut:]]) == expected
    assert bytewise(stream) == expected


def test_invalid_utf8_becomes_replacement_character(parse: Parse) -> None:
    stream = b"data: a\xffb\ndata: \xe2\x82\nid: \xc3\n\n"
    assert parse(stream) == [msg("a\ufffdb\n\ufffd", id="\ufffd")]


def test_bom_is_stripped(parse: Parse) -> None:
    assert parse(BOM + b"data: x\n\n") == [msg("x")]


def test_bom_split_across_chunks() -> None:
    stream = BOM + b"data: x\n\n"
    for cut in range(1, 4):
        assert feed_chunks([stream[:cut], stream[cut:]]) == [msg("x")]
    assert feed_chunks([b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"]) == [msg("x")]


def test_only_one_leading_bom_is_stripped(parse: Parse) -> None:
    # A second BOM becomes part of the field name, which is then unknown.
    assert parse(BOM + BOM + b"data: x\n\ndata: y\n\n") == [msg("y")]
    assert parse(b"data: a\n\n" + BOM + b"data: b\n\n") == [msg("a")]


def test_stream_of_only_a_bom_prefix() -> None:
    assert feed_chunks([b"\xef", b"\xbb"]) == []
    assert feed_chunks([b"\xef\xbbdata: x\n\n"]) == []  # not a BOM: "\ufffddata" is unknown
    # a BOM prefix followed by something else is kept, so here the field name is "\ufffd"
    assert feed_chunks([b"\xef\xbb:data: x\n\n"]) == []
    assert feed_chunks([b"\xef", b"\xbb:data: x\n\n"]) == []


# -- sizes and bounds ----------------------------------------------------------------


def test_event_larger_than_200kb() -> None:
    payload = '{"text": "' + "é" * 150_000 + '"}'  # 300 KB of UTF-8
    stream = b"data: " + payload.encode() + b"\n\ndata: [DONE]\n\n"
    expected = [msg(payload), msg("[DONE]")]
    assert whole(stream) == expected
    assert feed_chunks(stream[i : i + 1000] for i in range(0, len(stream), 1000)) == expected
    assert feed_chunks(stream[i : i + 7] for i in range(0, len(stream), 7)) == expected


def test_line_at_the_bound_passes_and_one_byte_more_raises() -> None:
    fits = b"data: 1234\n\n"  # "data: 1234" is exactly 10 bytes
    assert feed_chunks([fits], max_line_bytes=10) == [msg("1234")]
    assert feed_chunks([fits[i : i + 1] for i in range(len(fits))], max_line_bytes=10) == [
        msg("1234")
    ]
    assert feed_chunks([fits.replace(b"\n", b"\r\n")], max_line_bytes=10) == [msg("1234")]
    too_long = b"data: 12345\n\n"
    for chunks in ([too_long], [too_long[:6], too_long[6:]], [too_long[:11], too_long[11:]]):
        with pytest.raises(LineTooLongError, match=r"exceeds max_line_bytes=10$"):
            feed_chunks(chunks, max_line_bytes=10)


def test_long_line_raises_before_its_line_end_arrives() -> None:
    parser = SSEParser(max_line_bytes=100)
    for _ in range(10):
        assert parser.feed(b"data: " + b"x" * 4) == []  # 100 bytes pending: still fine
    with pytest.raises(
        LineTooLongError, match=r"^SSE line of at least 101 bytes exceeds max_line_bytes=100$"
    ):
        parser.feed(b"x")


def test_many_short_data_lines_are_bounded_as_one_event() -> None:
    # Each line is short; the event's data ("x" * 9 joined by LF, 10 per line) is not.
    parser = SSEParser(max_line_bytes=100)
    for _ in range(10):
        assert parser.feed(b"data: xxxxxxxxx\n") == []  # 99 characters of data so far
    with pytest.raises(LineTooLongError, match=r"^SSE event data of at least 109 characters"):
        parser.feed(b"data: xxxxxxxxx\n")


def test_multi_line_event_at_the_bound_is_dispatched() -> None:
    block = b"data: xxxxxxxxx\n" * 10 + b"\n"  # 10 * 9 + 9 line feeds = 99 characters
    assert feed_chunks([block], max_line_bytes=99) == [msg("\n".join(["x" * 9] * 10))]


def test_long_line_in_a_big_chunk_raises() -> None:
    with pytest.raises(LineTooLongError, match="max_line_bytes=64"):
        feed_chunks([b"data: ok\n\n" * 20 + b"data: " + b"x" * 100 + b"\n\n"], max_line_bytes=64)


def test_ten_megabyte_event_is_bounded_in_memory() -> None:
    bound, chunk = 1024 * 1024, 64 * 1024
    stream = b"data: " + b"x" * (10 * 1024 * 1024) + b"\n\n"
    fed: list[int] = []

    def reads() -> Iterator[bytes]:
        for start in range(0, len(stream), chunk):
            piece = stream[start : start + chunk]  # a fresh object, as a socket read gives
            fed.append(len(piece))
            yield piece

    tracemalloc.start()
    try:
        with pytest.raises(LineTooLongError, match=f"max_line_bytes={bound}"):
            feed_chunks(reads(), max_line_bytes=bound)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(fed) <= bound + chunk  # it raised on the first chunk past the bound
    assert peak < bound + 4 * chunk  # at most the bound plus a chunk or two in flight


# -- a real stream -------------------------------------------------------------------

VLLM_STREAM = (
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,'
    b'"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,'
    b'"delta":{"content":" w\xc3\xb6rld"},"logprobs":null,"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],'
    b'"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3}}\n\n'
    b"data: [DONE]\n\n"
)


def test_vllm_openai_stream(parse: Parse) -> None:
    events = parse(VLLM_STREAM)
    assert [e.data for e in events] == [
        line.removeprefix("data: ") for line in VLLM_STREAM.decode().split("\n\n")[:-1]
    ]
    assert '"delta":{"content":" wörld"}' in events[2].data
    assert events[-1] == msg("[DONE]")
    assert {(e.event, e.id, e.retry) for e in events} == {("message", None, None)}
    assert len(events) == 5


def test_vllm_stream_with_crlf_and_comments(parse: Parse) -> None:
    stream = b": keep-alive\r\n\r\n" + VLLM_STREAM.replace(b"\n", b"\r\n")
    assert parse(stream) == whole(VLLM_STREAM)


def test_dashscope_stream(parse: Parse) -> None:
    # DashScope writes fields without the space and a status comment in every block.
    stream = (
        b'id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"text":"Hi"}}\n\n'
        b'id:2\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"finish_reason":"stop"}}\n\n'
    )
    assert parse(stream) == [
        msg('{"output":{"text":"Hi"}}', event="result", id="1"),
        msg('{"output":{"finish_reason":"stop"}}', event="result", id="2"),
    ]


def test_dify_ping_without_data_is_not_dispatched(parse: Parse) -> None:
    stream = b'event: ping\n\ndata: {"event": "message", "answer": "Hi"}\n\n'
    assert parse(stream) == [msg('{"event": "message", "answer": "Hi"}')]


# -- properties ----------------------------------------------------------------------

_text = st.text(
    alphabet=st.sampled_from(["a", " ", ":", "0", "\0", "é", "日", "🚀", "\ufeff", "٣"])
    | st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    max_size=8,
)
_field = st.tuples(
    st.sampled_from(["data", "data", "data", "event", "id", "retry", "foo", "Data", ""]),
    st.sampled_from(["", ":", ": ", ": ", ":  "]),
    st.sampled_from(["", "x", " x", "0", "123", "1x", "٣", "a\0b", "é🚀", "\ufeff"]) | _text,
).map("".join)
_line = st.one_of(_field, _field, _field, _text.map(lambda t: ":" + t), st.just(""))
_end = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"])
# Blocks of lines closed by a blank line, so most streams dispatch several events.
_block = st.lists(st.tuples(_line, _end), min_size=1, max_size=4).flatmap(
    lambda lines: _end.map(lambda end: b"".join(ln.encode() + e for ln, e in lines) + end)
)
_stream = st.tuples(
    st.sampled_from([b"", BOM, b"\xef\xbb", b"\xef"]),
    st.lists(_block, max_size=8),
    st.sampled_from([b"", b"data: unterminated", b"\r", b"\n"]),
).map(lambda t: t[0] + b"".join(t[1]) + t[2])


def _split(data: st.DataObject, stream: bytes) -> list[bytes]:
    """Cut at random places, and at some line ends, as a server flushing events would."""
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    line_ends = [i + 1 for i, byte in enumerate(stream) if byte == 10]
    if line_ends:
        cuts += data.draw(st.lists(st.sampled_from(line_ends), max_size=len(line_ends)))
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(stream=_stream, data=st.data())
def test_any_chunking_gives_the_events_of_the_spec(stream: bytes, data: st.DataObject) -> None:
    expected = reference(stream)
    assert whole(stream) == expected
    assert feed_chunks(_split(data, stream)) == expected


_fuzz_bytes = st.lists(
    st.sampled_from([b"data:", b"data: ", b"id:", b"retry:", b"event:", b":", b" ", b"1", b"x"])
    | st.sampled_from([b"\r", b"\n", b"\r\n", b"\0", BOM, b"\xef", b"\xff", b"\xc3", b"\xe2\x82"])
    | st.binary(max_size=8),
    max_size=40,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(stream=_fuzz_bytes, data=st.data(), bound=st.integers(1, 24))
def test_arbitrary_bytes_never_crash(stream: bytes, data: st.DataObject, bound: int) -> None:
    chunks = _split(data, stream)
    if longest_line(stream) > bound:
        with pytest.raises(LineTooLongError, match=f"max_line_bytes={bound}"):
            feed_chunks(chunks, max_line_bytes=bound)
        with pytest.raises(LineTooLongError):
            feed_chunks([stream], max_line_bytes=bound)
    else:
        assert feed_chunks(chunks, max_line_bytes=bound) == reference(stream)


# -- purity --------------------------------------------------------------------------


def imported_modules(path: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


def test_module_is_sans_io() -> None:
    # no sockets, event loop or clock: only the standard library's dataclasses
    assert imported_modules(llmbench.sse.__file__) == {"__future__", "dataclasses"}
