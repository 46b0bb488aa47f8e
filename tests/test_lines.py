"""Tests for llmbench.lines, the NDJSON line splitter.

Like the SSE tests: every fixture fed whole, one byte at a time, split at every
position and with trailing bytes, plus a Hypothesis property against a plain
``bytes.split`` reference.
"""

from __future__ import annotations

import ast
import itertools
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmbench.lines
from llmbench.lines import LineSplitter
from llmbench.sse import DEFAULT_MAX_LINE_BYTES, LineTooLongError

Split = Callable[[bytes], list[str]]


def feed_chunks(chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[str]:
    splitter = LineSplitter(max_line_bytes)
    lines: list[str] = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    return lines + splitter.close()


def whole(stream: bytes) -> list[str]:
    return feed_chunks([stream])


def bytewise(stream: bytes) -> list[str]:
    return feed_chunks(stream[i : i + 1] for i in range(len(stream)))


def every_split(stream: bytes) -> list[str]:
    results = [feed_chunks([stream[:i], stream[i:]]) for i in range(len(stream) + 1)]
    for i, result in enumerate(results):
        assert result == results[0], f"split at {i} differs"
    return results[0]


def with_trailing(stream: bytes) -> list[str]:
    """Feed the stream plus one more unterminated line, which close() must return."""
    if not stream.endswith(b"\n"):
        stream += b"\n"  # else the trailing bytes would extend the stream's last line
    lines = feed_chunks([stream + b'{"trailing": true}'])
    assert lines[-1] == '{"trailing": true}'
    return lines[:-1]


@pytest.fixture(params=[whole, bytewise, every_split, with_trailing])
def split(request: pytest.FixtureRequest) -> Split:
    result: Split = request.param
    return result


def reference(stream: bytes) -> list[str]:
    lines = [line.removesuffix(b"\r") for line in stream.split(b"\n")]
    return [line.decode("utf-8", "replace") for line in lines if line]


def test_lines_end_in_lf(split: Split) -> None:
    assert split(b'{"a": 1}\n{"b": 2}\n') == ['{"a": 1}', '{"b": 2}']


def test_lines_end_in_crlf(split: Split) -> None:
    assert split(b'{"a": 1}\r\n{"b": 2}\r\n') == ['{"a": 1}', '{"b": 2}']


def test_crlf_split_across_chunks() -> None:
    assert feed_chunks([b"one\r", b"\ntwo\r\n"]) == ["one", "two"]


def test_lone_cr_is_not_a_line_end(split: Split) -> None:
    # NDJSON ends lines with LF only; a CR inside a line stays, a CR before LF goes.
    assert split(b"a\rb\nc\r\r\n") == ["a\rb", "c\r"]


def test_empty_lines_are_skipped(split: Split) -> None:
    assert split(b"\n\r\none\n\n\r\n\ntwo\n") == ["one", "two"]


def test_final_line_without_lf_is_returned_by_close() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"done": false}\n{"done": tr') == ['{"done": false}']
    assert splitter.feed(b"ue}") == []
    assert splitter.close() == ['{"done": true}']


def test_final_cr_without_lf_is_dropped() -> None:
    assert feed_chunks([b"last\r"]) == ["last"]
    assert feed_chunks([b"\r"]) == []


def test_close_without_pending_returns_nothing() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\n") == ["one"]
    assert splitter.close() == []


def test_utf8_character_split_across_chunks() -> None:
    stream = '{"t": "日本 🚀"}\n'.encode()
    for cut in range(len(stream) + 1):
        assert feed_chunks([stream[:cut], stream[cut:]]) == ['{"t": "日本 🚀"}']


def test_invalid_utf8_becomes_replacement_character(split: Split) -> None:
    assert split(b"a\xffb\n\xe2\x82\n") == ["a\ufffdb", "\ufffd"]


def test_ollama_chat_stream(split: Split) -> None:
    stream = (
        b'{"model":"llama3.2","created_at":"2024-07-01T00:00:00Z",'
        b'"message":{"role":"assistant","content":"Hel"},"done":false}\n'
        b'{"model":"llama3.2","created_at":"2024-07-01T00:00:00Z",'
        b'"message":{"role":"assistant","content":"lo"},"done":false}\n'
        b'{"model":"llama3.2","created_at":"2024-07-01T00:00:00Z",'
        b'"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",'
        b'"prompt_eval_count":26,"eval_count":2}'
    )
    lines = split(stream)
    assert [orjson.loads(line)["message"]["content"] for line in lines] == ["Hel", "lo", ""]
    assert orjson.loads(lines[-1])["eval_count"] == 2


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes must be >= 1, got -1"):
        LineSplitter(max_line_bytes=-1)


def test_line_at_the_bound_passes_and_one_byte_more_raises() -> None:
    assert feed_chunks([b"0123456789\n"], max_line_bytes=10) == ["0123456789"]
    assert bytewise(b"0123456789") == ["0123456789"]
    for chunks in ([b"0123456789a\n"], [b"01234", b"56789a"], [b"ok\n0123456789a"]):
        with pytest.raises(LineTooLongError, match=r"exceeds max_line_bytes=10$"):
            feed_chunks(chunks, max_line_bytes=10)


def test_long_line_raises_before_its_lf_arrives() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    assert splitter.feed(b"x" * 100) == []
    with pytest.raises(
        LineTooLongError, match=r"^NDJSON line of at least 101 bytes exceeds max_line_bytes=100$"
    ):
        splitter.feed(b"x")


def test_ten_megabyte_line_is_bounded_in_memory() -> None:
    bound, chunk = 1024 * 1024, 64 * 1024
    stream = b"x" * (10 * 1024 * 1024) + b"\n"
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
    assert sum(fed) <= bound + chunk
    assert peak < bound + 4 * chunk


_stream = st.lists(
    st.sampled_from([b"\n", b"\r\n", b"\r", b"{}", b'{"a":1}', "é🚀".encode(), b"\xff", b"\xe2"])
    | st.binary(max_size=6),
    max_size=30,
).map(b"".join)


def _split(data: st.DataObject, stream: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    return [stream[a:b] for a, b in itertools.pairwise([0, *cuts, len(stream)])]


@settings(max_examples=300, deadline=None)
@given(stream=_stream, data=st.data())
def test_any_chunking_gives_the_reference_lines(stream: bytes, data: st.DataObject) -> None:
    expected = reference(stream)
    assert whole(stream) == expected
    assert feed_chunks(_split(data, stream)) == expected


@settings(max_examples=300, deadline=None)
@given(stream=_stream, data=st.data(), bound=st.integers(1, 16))
def test_arbitrary_bytes_raise_only_past_the_bound(
    stream: bytes, data: st.DataObject, bound: int
) -> None:
    chunks = _split(data, stream)
    if max(len(line) for line in stream.split(b"\n")) > bound:
        with pytest.raises(LineTooLongError, match=f"max_line_bytes={bound}"):
            feed_chunks(chunks, max_line_bytes=bound)
    else:
        assert feed_chunks(chunks, max_line_bytes=bound) == reference(stream)


def test_module_is_sans_io() -> None:
    tree = ast.parse(Path(llmbench.lines.__file__).read_text(encoding="utf-8"))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules == {"__future__", "llmbench.sse"}
    assert not any(isinstance(node, ast.Import) for node in ast.walk(tree))
