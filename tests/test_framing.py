"""Tests for llmbench.framing: each provider framing's message decoder."""

from __future__ import annotations

import dataclasses

import pytest

from llmbench.framing import (
    DECODERS,
    JsonBodyDecoder,
    JsonMessage,
    NdjsonDecoder,
    message_decoder,
)
from llmbench.providers.base import FRAMINGS
from llmbench.sse import LineTooLongError, SSEEvent, SSEParser

NDJSON = b'{"a":1}\r\n\n{"b":"\xc3\xa9"}\n{"c":3}'  # CRLF, an empty line, no final LF


def feed_split(decoder_framing: str, body: bytes, cut: int) -> list[tuple[str, str]]:
    decoder = message_decoder(decoder_framing, 1024)
    messages = [*decoder.feed(body[:cut]), *decoder.feed(body[cut:]), *decoder.close()]
    return [(m.event, m.data) for m in messages]


def test_every_framing_has_a_decoder() -> None:
    assert sorted(DECODERS) == sorted(FRAMINGS)
    assert isinstance(message_decoder("sse", 10), SSEParser)
    assert isinstance(message_decoder("ndjson", 10), NdjsonDecoder)
    assert isinstance(message_decoder("json", 10), JsonBodyDecoder)


def test_an_sse_event_is_a_message_as_it_comes() -> None:
    (event,) = message_decoder("sse", 1024).feed(b"event: delta\ndata: x\n\n")
    assert type(event) is SSEEvent  # no copy per token
    assert (event.event, event.data) == ("delta", "x")


def test_an_ndjson_line_is_a_json_message_not_an_sse_event() -> None:
    decoder = message_decoder("ndjson", 1024)
    messages = [*decoder.feed(NDJSON), *decoder.close()]
    assert messages == [JsonMessage('{"a":1}'), JsonMessage('{"b":"é"}'), JsonMessage('{"c":3}')]
    assert {type(m) for m in messages} == {JsonMessage}
    assert {m.event for m in messages} == {"message"}
    assert decoder.undispatched == 0


@pytest.mark.parametrize("framing", ["ndjson", "json"])
def test_any_split_gives_the_same_messages(framing: str) -> None:
    whole = feed_split(framing, NDJSON, 0)
    assert all(feed_split(framing, NDJSON, cut) == whole for cut in range(len(NDJSON) + 1))


def test_a_json_body_is_one_message_at_eof() -> None:
    decoder = message_decoder("json", 1024)
    assert decoder.feed(b'{"choices": ') == []
    assert decoder.feed(b'[], "x": "\xe2\x82') == []  # a character split across chunks
    assert decoder.feed(b'\xac"}') == []
    assert decoder.close() == [JsonMessage('{"choices": [], "x": "€"}')]
    assert decoder.undispatched == 0


def test_a_json_body_past_the_bound_is_refused() -> None:
    decoder = message_decoder("json", 10)
    decoder.feed(b"x" * 10)
    with pytest.raises(ValueError, match=r"^response body larger than 10 bytes$"):
        decoder.feed(b"x")


def test_an_ndjson_line_past_the_bound_is_refused() -> None:
    with pytest.raises(LineTooLongError, match=r"max_line_bytes=10$"):
        message_decoder("ndjson", 10).feed(b"x" * 11)


def test_a_json_message_is_frozen() -> None:
    message = JsonMessage("{}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.data = "[]"  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(JsonMessage)] == ["data"]
