"""Tests for llmbench.providers.dify (Dify ``/v1/chat-messages``).

Fixtures in tests/fixtures/providers/dify/ are the wire format from Dify's "Send Chat
Message" API reference: SSE whose ``data:`` JSON names its own event, keep-alive pings
as a bare ``event: ping`` block, and the blocking response body.
"""

from __future__ import annotations

import argparse
import re

import orjson
import pytest

from fixtures.providers.wire import HEAD_NS, STEP_NS, chunkings, decode_all, messages, read, run
from llmbench.config import ConfigError, RunConfig, public_options
from llmbench.events import Content, Conversation, End, Meta, StreamError, Usage
from llmbench.providers import make_provider
from llmbench.providers.base import OptionSources
from llmbench.providers.dify import Dify, DifyOptions, add_flags, options_from
from llmbench.workload import WorkloadItem

_OPTIONS = ("user", "conversation_id", "inputs")


AGENT_CONVERSATION = "c216c595-2d89-438c-b33c-aae5ddddd142"


def dify(**kw: object) -> Dify:
    """Dify from RunConfig fields and DifyOptions fields (--user, --inputs, ...)."""
    options = DifyOptions(**{k: kw.pop(k) for k in _OPTIONS if k in kw})  # type: ignore[arg-type]
    return Dify(RunConfig(**{"url": "https://api.dify.ai", "provider": "dify", **kw}), options)  # type: ignore[arg-type]


# -- requests ---------------------------------------------------------------------------


def test_registered() -> None:
    assert isinstance(make_provider(RunConfig(url="http://h", provider="dify")), Dify)
    options = DifyOptions(user="u-1")
    made = make_provider(RunConfig(url="http://h", provider="dify", provider_options=options))
    assert isinstance(made, Dify)
    assert made.options is options


# -- options ------------------------------------------------------------------------------


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(argv))


def test_options_from_flags() -> None:
    assert options_from(parsed(), OptionSources()) == DifyOptions("llmbench", "", {})
    argv = ("--user", "u7", "--conversation-id", "c-1", "--inputs", '{"city": "Paris"}')
    options = options_from(parsed(*argv), OptionSources())
    assert options == DifyOptions("u7", "c-1", {"city": "Paris"})
    assert public_options(options) == {
        "user": "u7",
        "conversation_id": "c-1",
        "inputs": {"city": "Paris"},
    }


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("[1, 2]", "--inputs must be a JSON object, got list"),
        ("{nope", "--inputs is not valid JSON: "),
    ],
)
def test_bad_inputs_flag_is_one_line_naming_it(inputs: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}") as info:
        options_from(parsed("--inputs", inputs), OptionSources())
    assert "\n" not in str(info.value)


def test_options_are_validated_when_made() -> None:
    with pytest.raises(ConfigError, match=r"^--inputs must be a JSON object, got list$"):
        DifyOptions(inputs=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.dify.ai", "https://api.dify.ai/v1/chat-messages"),
        ("https://api.dify.ai/v1", "https://api.dify.ai/v1/chat-messages"),
        ("http://10.0.0.9/v1/", "http://10.0.0.9/v1/chat-messages"),
        ("http://10.0.0.9/v1/chat-messages", "http://10.0.0.9/v1/chat-messages"),
    ],
)
def test_url(url: str, expected: str) -> None:
    assert dify(url=url).build_request(WorkloadItem("q"), None).url == expected


def test_streaming_body_and_headers() -> None:
    p = dify(user="bench-7", conversation_id="c-1", inputs={"city": "Paris"}, model="ignored")
    req = p.build_request(WorkloadItem('He said "hi"\nthen left'), "app-XYZ")
    assert req.method == "POST"
    assert orjson.loads(req.body) == {
        "inputs": {"city": "Paris"},
        "query": 'He said "hi"\nthen left',
        "response_mode": "streaming",
        "conversation_id": "c-1",
        "user": "bench-7",
        "files": [],
    }
    assert req.headers == (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("authorization", "Bearer app-XYZ"),
    )


def test_defaults_and_no_key() -> None:
    req = dify().build_request(WorkloadItem("q"), None)
    body = orjson.loads(req.body)
    assert (body["user"], body["conversation_id"], body["inputs"]) == ("llmbench", "", {})
    assert all(name != "authorization" for name, _ in req.headers)


def test_blocking_body() -> None:
    p = dify(stream=False)
    assert p.framing == "json"
    req = p.build_request(WorkloadItem("q"), "k")
    assert orjson.loads(req.body)["response_mode"] == "blocking"
    assert ("accept", "application/json") in req.headers


def test_extra_body_and_user_headers_win() -> None:
    p = dify(
        extra_body={"files": [{"type": "image"}], "auto_generate_name": False},
        headers=(("Authorization", "Bearer override"), ("X-Trace", "1")),
    )
    item = WorkloadItem("q", extra_body={"auto_generate_name": True})
    req = p.build_request(item, "app-key")
    body = orjson.loads(req.body)
    assert body["files"] == [{"type": "image"}]
    assert body["auto_generate_name"] is True
    assert ("Authorization", "Bearer override") in req.headers
    assert ("authorization", "Bearer app-key") not in req.headers
    assert ("X-Trace", "1") in req.headers


# -- decoding -------------------------------------------------------------------------


def test_stream_events() -> None:
    events = decode_all(dify(), read("dify/stream.txt"))
    assert events == [
        Meta("workflow_started"),
        Meta("node_started"),
        Meta("node_finished"),
        Content(" I"),
        Content("'m"),
        Content(" glad 你好"),
        Meta("message_file"),
        Meta("workflow_finished"),
        Usage(1033, 135),
        Conversation("45701982-8118-4bc5-8e9b-64562b4555f2"),
        End("message_end"),
        Meta("tts_message"),
        Meta("tts_message_end"),
    ]


@pytest.mark.parametrize("how", ["whole", "bytes", "sevens"])
def test_stream_any_chunking(how: str) -> None:
    out = run(dify(), chunkings(read("dify/stream.txt"))[how]).result
    assert (out.status, out.chars, out.output_tokens, out.input_tokens) == ("ok", 12, 135, 1033)
    assert out.end_reason == "message_end"


def test_stream_timing_ttft_is_first_answer_and_meta_is_counted() -> None:
    parts = messages(read("dify/stream.txt"), "sse")
    assert len(parts) == 12  # 11 data events and the bare ping
    r = run(dify(), parts)
    # chunk 4 (the first "message") is the first token; chunk 10 is message_end
    assert r.result.ttfb_ns == HEAD_NS
    assert r.result.ttft_ns == 5 * STEP_NS
    assert r.result.latency_ns == 10 * STEP_NS
    assert r.result.chunks == 3
    # workflow_*/node_* x4, message_file, and the bare `event: ping`: it has no data,
    # so the SSE algorithm never dispatches it (WHATWG 9.2.6), but it counts. The two
    # tts events come after message_end, the final end: they are never read.
    assert r.meta_events == 6
    assert r.result.meta_events == 6  # what results.jsonl records
    assert r.result.last_frame is not None
    assert '"message_end"' in r.result.last_frame


def test_agent_messages_are_content_and_thoughts_meta() -> None:
    events = decode_all(dify(), read("dify/agent.txt"))
    assert events == [
        Meta("agent_thought"),
        Content("I have"),
        Content(" created"),
        Meta("agent_thought"),
        Usage(402, 27),
        Conversation(AGENT_CONVERSATION),
        End("message_end"),
    ]


def test_error_event_is_stream_error() -> None:
    events = decode_all(dify(), read("dify/error.txt"))
    assert events == [
        Content("Sure"),
        StreamError(
            "provider_quota_exceeded: Your quota for Dify Hosted Model Provider has been exhausted."
        ),
    ]
    out = run(dify(), messages(read("dify/error.txt"), "sse")).result
    assert out.status == "stream_error"
    assert out.error is not None
    assert out.error.startswith("provider_quota_exceeded")


def test_ping_with_data_and_unknown_events_are_meta() -> None:
    p = dify()
    assert p.decode("ping", "") == [Meta("ping")]
    assert p.decode("message", '{"event": "ping"}') == [Meta("ping")]
    assert p.decode("message", '{"event": "message_replace", "answer": "x"}') == [
        Meta("message_replace")
    ]
    assert p.decode("message", '{"event": "some_future_event"}') == [Meta("some_future_event")]


def test_sse_event_name_used_when_json_has_none() -> None:
    assert dify().decode("message_end", '{"metadata": {}}') == [End("message_end")]


def test_blocking_body_decodes_whole() -> None:
    p = dify(stream=False)
    raw = read("dify/blocking.json")
    assert decode_all(p, raw) == [
        Content("iPhone 13 Pro Max specs are listed here:..."),
        Usage(1033, 128),
        Conversation("45701982-8118-4bc5-8e9b-64562b4555f2"),
        End("blocking"),
    ]
    out = run(p, chunkings(raw)["sevens"]).result
    assert out.status == "ok"
    assert out.ttft_ns == out.latency_ns  # the whole body is the first token and the end
    assert (out.output_tokens, out.input_tokens) == (128, 1033)


def test_blocking_error_body() -> None:
    body = '{"status": 400, "code": "invalid_param", "message": "query is required"}'
    assert dify(stream=False).decode("message", body) == [
        StreamError("invalid_param: query is required")
    ]


@pytest.mark.parametrize("data", ['{"event": "message"', "nope"])
def test_malformed_raises_value_error(data: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        dify().decode("message", data)


def test_a_reply_names_its_conversation_for_a_sessions_later_turns() -> None:
    out = run(dify(), chunkings(read("dify/stream.txt"))["bytes"]).result
    assert out.conversation_id == "45701982-8118-4bc5-8e9b-64562b4555f2"


@pytest.mark.parametrize("value", ["", 7, None, ["x"], "x" * 257])
def test_an_implausible_conversation_id_is_ignored(value: object) -> None:
    data = orjson.dumps({"event": "message_end", "conversation_id": value}).decode()
    assert dify().decode("", data) == [End("message_end")]


def test_a_sessions_turn_sends_its_own_conversation_id() -> None:
    p = dify(conversation_id="fixed")

    def body(item: WorkloadItem) -> object:
        return orjson.loads(p.build_request(item, None).body)["conversation_id"]

    assert body(WorkloadItem("q")) == "fixed"  # --conversation-id for single requests
    assert body(WorkloadItem("q", conversation_id="")) == ""  # a session's first turn
    assert body(WorkloadItem("q", conversation_id="c-1")) == "c-1"
