"""Tests for llmbench.providers.dashscope (Alibaba DashScope native text generation).

Fixtures in tests/fixtures/providers/dashscope/ follow the API reference's HTTP examples:
``id:``/``event:result``/``:HTTP_STATUS/200`` comment/``data:`` with no spaces, the
string ``"null"`` as finish_reason until the end, cumulative usage on every event, no
``[DONE]``; ``event:error`` with ``code``/``message`` on failure.
"""

from __future__ import annotations

import orjson
import pytest

from fixtures.providers.wire import STEP_NS, chunkings, decode_all, messages, read, run
from llmbench.config import RunConfig
from llmbench.events import Content, End, StreamError, Usage
from llmbench.providers import make_provider
from llmbench.providers.dashscope import DashScope
from llmbench.workload import WorkloadItem

PATH = "/api/v1/services/aigc/text-generation/generation"


def dashscope(**kw: object) -> DashScope:
    base = {"url": "https://dashscope.aliyuncs.com", "provider": "dashscope", **kw}
    return DashScope(RunConfig(**base))  # type: ignore[arg-type]


# -- requests ---------------------------------------------------------------------------


def test_registered() -> None:
    p = make_provider(RunConfig(url="http://h", provider="dashscope"))
    assert isinstance(p, DashScope)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dashscope.aliyuncs.com", "https://dashscope.aliyuncs.com" + PATH),
        ("https://dashscope.aliyuncs.com/api/v1", "https://dashscope.aliyuncs.com" + PATH),
        ("https://dashscope-intl.aliyuncs.com/", "https://dashscope-intl.aliyuncs.com" + PATH),
        ("https://gw.example/ds", "https://gw.example/ds" + PATH),
    ],
)
def test_url(url: str, expected: str) -> None:
    assert dashscope(url=url).build_request(WorkloadItem("q"), None).url == expected


def test_streaming_request() -> None:
    p = dashscope(model="qwen-plus", max_tokens=256)
    req = p.build_request(WorkloadItem("你好"), "sk-abc")
    assert orjson.loads(req.body) == {
        "model": "qwen-plus",
        "input": {"messages": [{"role": "user", "content": "你好"}]},
        "parameters": {"result_format": "message", "incremental_output": True, "max_tokens": 256},
    }
    assert req.headers == (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("x-dashscope-sse", "enable"),
        ("authorization", "Bearer sk-abc"),
    )


def test_non_streaming_request_has_no_sse_header() -> None:
    p = dashscope(stream=False)
    assert p.framing == "json"
    req = p.build_request(WorkloadItem("q"), None)
    assert [n for n, _ in req.headers] == ["content-type", "accept"]
    assert orjson.loads(req.body)["parameters"] == {"result_format": "message"}


def test_extra_body_merges_into_parameters() -> None:
    p = dashscope(max_tokens=8, extra_body={"parameters": {"enable_thinking": True, "seed": 1}})
    item = WorkloadItem("q", max_tokens=3, extra_body={"parameters": {"seed": 2}})
    params = orjson.loads(p.build_request(item, None).body)["parameters"]
    assert params == {
        "result_format": "message",
        "incremental_output": True,
        "max_tokens": 3,
        "enable_thinking": True,
        "seed": 2,
    }


def test_item_messages_are_sent() -> None:
    messages_ = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    body = orjson.loads(dashscope().build_request(WorkloadItem("x", messages_), None).body)
    assert body["input"]["messages"] == list(messages_)


# -- decoding ---------------------------------------------------------------------------


def test_stream_events() -> None:
    assert decode_all(dashscope(), read("dashscope/stream.txt")) == [
        Content("我是"),
        Usage(22, 1),
        Content("通义千问"),
        Usage(22, 4),
        Content("，由阿里云开发。"),
        Usage(22, 11),
        Content(""),
        Usage(22, 11),
        End("stop"),
    ]


@pytest.mark.parametrize("how", ["whole", "bytes", "sevens"])
def test_stream_any_chunking(how: str) -> None:
    out = run(dashscope(), chunkings(read("dashscope/stream.txt"))[how]).result
    assert (out.status, out.end_reason, out.chars) == ("ok", "stop", 14)
    assert (out.input_tokens, out.output_tokens) == (22, 11)


def test_stream_timing_and_tokens_per_chunk() -> None:
    out = run(dashscope(), messages(read("dashscope/stream.txt"), "sse")).result
    assert out.ttft_ns == STEP_NS
    assert out.latency_ns == 4 * STEP_NS
    # cumulative output_tokens on every event tell how many tokens each chunk carried
    assert out.chunk_tokens == (1, 3, 7)


def test_thinking_is_reasoning_and_null_finish_is_not_the_end() -> None:
    events = decode_all(dashscope(), read("dashscope/thinking.txt"))
    assert [e for e in events if isinstance(e, Content)] == [
        Content("", "嗯"),
        Content("", "，用户在问候"),
        Content("你好！", ""),
        Content("", ""),
    ]
    assert [e for e in events if isinstance(e, End)] == [End("length")]
    out = run(dashscope(), messages(read("dashscope/thinking.txt"), "sse")).result
    assert (out.ttft_ns, out.latency_ns, out.status) == (STEP_NS, 4 * STEP_NS, "ok")


def test_multimodal_content_parts() -> None:
    events = decode_all(dashscope(), read("dashscope/multimodal.txt"))
    assert [e for e in events if isinstance(e, Content)] == [
        Content("Hello"),
        Content("! How can I help?"),
    ]
    assert events[-1] == End("stop")


def test_old_text_result_format() -> None:
    data = (
        '{"output":{"finish_reason":"null","text":"我是"},'
        '"usage":{"input_tokens":10,"output_tokens":1}}'
    )
    assert dashscope().decode("result", data) == [Content("我是"), Usage(10, 1)]


def test_error_event() -> None:
    events = decode_all(dashscope(), read("dashscope/error.txt"))
    assert events[-1] == StreamError(
        "DataInspectionFailed: Output data may contain inappropriate content."
    )
    out = run(dashscope(), messages(read("dashscope/error.txt"), "sse")).result
    assert out.status == "stream_error"
    assert out.ttft_ns == STEP_NS


def test_error_body_without_output() -> None:
    body = '{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"x"}'
    assert dashscope(stream=False).decode("message", body) == [
        StreamError("InvalidApiKey: Invalid API-key provided.")
    ]


def test_whole_body() -> None:
    p = dashscope(stream=False)
    raw = read("dashscope/whole.json")
    text = "我是阿里云开发的一款超大规模语言模型，我叫通义千问。"
    assert decode_all(p, raw) == [Content(text), Usage(22, 17), End("stop")]
    out = run(p, chunkings(raw)["bytes"]).result
    assert out.status == "ok"
    assert out.ttft_ns == out.latency_ns


def test_no_end_signal_is_incomplete() -> None:
    raw = read("dashscope/stream.txt")
    cut = raw[: raw.rindex(b"id:4")]
    assert run(dashscope(), [cut]).result.status == "incomplete"
