"""Tests for llmbench.providers.anthropic (Anthropic Messages API).

Fixtures in tests/fixtures/providers/anthropic/ are the event sequences of the
"Streaming Messages" documentation (basic text with a ping, extended thinking, a
mid-stream ``overloaded_error``) and a non-streaming ``message`` body.
"""

from __future__ import annotations

import argparse

import orjson
import pytest

from fixtures.providers.wire import STEP_NS, chunkings, decode_all, messages, read, run
from llmbench.config import RunConfig
from llmbench.events import Content, End, Meta, StreamError, Usage
from llmbench.providers import make_provider
from llmbench.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    Anthropic,
    AnthropicOptions,
    add_flags,
    options_from,
)
from llmbench.providers.base import OptionSources
from llmbench.workload import WorkloadItem


def anthropic(version: str = "2023-06-01", **kw: object) -> Anthropic:
    base = {"url": "https://api.anthropic.com", "provider": "anthropic", **kw}
    return Anthropic(RunConfig(**base), AnthropicOptions(version))  # type: ignore[arg-type]


# -- requests ---------------------------------------------------------------------------


def test_registered() -> None:
    p = make_provider(RunConfig(url="http://h", provider="anthropic"))
    assert isinstance(p, Anthropic)


def test_version_option_flag_and_default() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    assert options_from(parser.parse_args([]), OptionSources()) == AnthropicOptions("2023-06-01")
    args = parser.parse_args(["--anthropic-version", "2024-10-22"])
    options = options_from(args, OptionSources())
    cfg = RunConfig(url="http://h", provider="anthropic", provider_options=options)
    req = make_provider(cfg).build_request(WorkloadItem("q"), None)
    assert ("anthropic-version", "2024-10-22") in req.headers


@pytest.mark.parametrize(
    "url",
    ["https://api.anthropic.com", "https://api.anthropic.com/v1", "https://api.anthropic.com/"],
)
def test_url(url: str) -> None:
    req = anthropic(url=url).build_request(WorkloadItem("q"), None)
    assert req.url == "https://api.anthropic.com/v1/messages"


def test_request_headers_use_x_api_key_not_authorization() -> None:
    req = anthropic(version="2023-06-01").build_request(WorkloadItem("q"), "sk-ant-1")
    assert req.headers == (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("anthropic-version", "2023-06-01"),
        ("x-api-key", "sk-ant-1"),
    )
    assert all(name != "authorization" for name, _ in req.headers)


def test_no_key_no_key_header() -> None:
    req = anthropic().build_request(WorkloadItem("q"), None)
    assert [n for n, _ in req.headers] == ["content-type", "accept", "anthropic-version"]


def test_body_defaults_max_tokens() -> None:
    req = anthropic(model="claude-sonnet-4-20250514").build_request(WorkloadItem("Hello"), None)
    assert orjson.loads(req.body) == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
    }
    assert DEFAULT_MAX_TOKENS == 1024


def test_body_max_tokens_and_system_message() -> None:
    msgs = ({"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"})
    item = WorkloadItem("hi", messages=msgs, max_tokens=50)
    body = orjson.loads(anthropic(max_tokens=9).build_request(item, None).body)
    assert body["max_tokens"] == 50
    assert body["system"] == "Be terse."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_extra_body_merges_and_user_header_overrides_version() -> None:
    p = anthropic(
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}},
        headers=(("anthropic-version", "2024-01-01"), ("anthropic-beta", "x")),
    )
    req = p.build_request(WorkloadItem("q"), "k")
    assert orjson.loads(req.body)["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert ("anthropic-version", "2024-01-01") in req.headers
    assert ("anthropic-version", "2023-06-01") not in req.headers
    assert ("anthropic-beta", "x") in req.headers


def test_non_streaming_request() -> None:
    p = anthropic(stream=False)
    assert p.framing == "json"
    req = p.build_request(WorkloadItem("q"), None)
    assert "stream" not in orjson.loads(req.body)
    assert ("accept", "application/json") in req.headers


# -- decoding ---------------------------------------------------------------------------


def test_stream_events() -> None:
    assert decode_all(anthropic(), read("anthropic/stream.txt")) == [
        Usage(25, 1),
        Meta("content_block_start"),
        Meta("ping"),
        Content("Hello"),
        Content("!"),
        Meta("content_block_stop"),
        Usage(None, 15),
        End("message_stop"),
    ]


@pytest.mark.parametrize("how", ["whole", "bytes", "sevens"])
def test_stream_any_chunking(how: str) -> None:
    out = run(anthropic(), chunkings(read("anthropic/stream.txt"))[how]).result
    assert (out.status, out.end_reason, out.chars, out.output_tokens) == (
        "ok",
        "message_stop",
        6,
        15,
    )


def test_stream_timing() -> None:
    r = run(anthropic(), messages(read("anthropic/stream.txt"), "sse"))
    assert r.result.ttft_ns == 4 * STEP_NS  # the first text_delta, after start/block/ping
    assert r.result.latency_ns == 8 * STEP_NS  # message_stop
    assert r.meta_events == 3  # content_block_start, ping, content_block_stop


def test_input_tokens_from_message_start_survive_message_delta() -> None:
    out = run(anthropic(), messages(read("anthropic/stream.txt"), "sse")).result
    assert (out.input_tokens, out.output_tokens) == (25, 15)


def test_thinking_stream() -> None:
    events = decode_all(anthropic(), read("anthropic/thinking.txt"))
    assert [e for e in events if isinstance(e, Content)] == [
        Content("", "I need to find the GCD of 1071 and 462."),
        Content("The GCD is 21."),
    ]
    assert Meta("signature_delta") in events
    assert events[-2:] == [Usage(50, 40), End("message_stop")]
    out = run(anthropic(), messages(read("anthropic/thinking.txt"), "sse")).result
    assert out.ttft_ns == 3 * STEP_NS  # thinking counts as the first token
    assert (out.input_tokens, out.output_tokens) == (50, 40)


def test_error_event() -> None:
    events = decode_all(anthropic(), read("anthropic/error.txt"))
    assert events[-1] == StreamError("overloaded_error: Overloaded")
    out = run(anthropic(), messages(read("anthropic/error.txt"), "sse")).result
    assert (out.status, out.error) == ("stream_error", "overloaded_error: Overloaded")


def test_tool_input_deltas_are_meta() -> None:
    data = (
        '{"type":"content_block_delta","index":1,"delta":'
        '{"type":"input_json_delta","partial_json":"{\\"location\\": \\"San Fra"}}'
    )
    assert anthropic().decode("content_block_delta", data) == [Meta("input_json_delta")]


def test_unknown_event_is_meta() -> None:
    assert anthropic().decode("future_event", '{"type":"future_event"}') == [Meta("future_event")]


def test_whole_message() -> None:
    p = anthropic(stream=False)
    raw = read("anthropic/message.json")
    assert decode_all(p, raw) == [
        Content("Hi! My name is Claude.", "The user greets me."),
        Usage(2095, 503),
        End("end_turn"),
    ]
    out = run(p, chunkings(raw)["sevens"]).result
    assert (out.status, out.input_tokens, out.output_tokens) == ("ok", 2095, 503)
    assert out.ttft_ns == out.latency_ns


def test_whole_error_body() -> None:
    body = (
        '{"type":"error","error":{"type":"invalid_request_error",'
        '"message":"max_tokens: Field required"}}'
    )
    assert anthropic(stream=False).decode("message", body) == [
        StreamError("invalid_request_error: max_tokens: Field required")
    ]


@pytest.mark.parametrize(
    "data", ['{"type":"content_block_delta"}', "{", '{"type":"message_start"}']
)
def test_malformed_raises(data: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        anthropic().decode("message", data)
