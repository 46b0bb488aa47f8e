"""Tests for llmbench.providers.openai (OpenAIChat, OpenAICompletions, their options),
the registry (make_provider) and join_url.

The wire messages below are written out literally, as vLLM sends them
(https://platform.openai.com/docs/api-reference/chat-streaming); nothing here is
built with the provider's own code, so a misread field cannot cancel itself out.
"""

from __future__ import annotations

import re

import orjson
import pytest

from fixtures.providers.wire import STEP_NS, chunkings, decode_all, messages, read, run
from llmbench.config import ConfigError, RunConfig
from llmbench.events import Content, End, StreamError, Usage
from llmbench.providers import make_provider, provider_names
from llmbench.providers.base import bearer, join_url
from llmbench.providers.dify import DifyOptions
from llmbench.providers.openai import OpenAIChat, OpenAICompletions, OpenAIOptions
from llmbench.workload import WorkloadItem

CHAT = "/v1/chat/completions"

# -- literal vLLM chat.completion.chunk messages (the `data:` of each SSE event) -------

ROLE_CHUNK = (
    '{"id":"chatcmpl-9f2","object":"chat.completion.chunk","created":1718000000,'
    '"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"role":"assistant",'
    '"content":""},"logprobs":null,"finish_reason":null}]}'
)
CONTENT_CHUNK = (
    '{"id":"chatcmpl-9f2","object":"chat.completion.chunk","created":1718000000,'
    '"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"content":" Hello"},'
    '"logprobs":null,"finish_reason":null}]}'
)
REASONING_CHUNK = (
    '{"id":"chatcmpl-9f2","object":"chat.completion.chunk","created":1718000000,'
    '"model":"deepseek-r1","choices":[{"index":0,"delta":{"reasoning_content":"Let me think",'
    '"content":null},"logprobs":null,"finish_reason":null}]}'
)
FINISH_CHUNK = (
    '{"id":"chatcmpl-9f2","object":"chat.completion.chunk","created":1718000000,'
    '"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":{"content":""},'
    '"logprobs":null,"finish_reason":"length","stop_reason":null}]}'
)
USAGE_CHUNK = (
    '{"id":"chatcmpl-9f2","object":"chat.completion.chunk","created":1718000000,'
    '"model":"Qwen/Qwen2.5-7B-Instruct","choices":[],"usage":{"prompt_tokens":17,'
    '"total_tokens":45,"completion_tokens":28}}'
)
ERROR_CHUNK = (
    '{"error":{"object":"error","message":"The model `x` does not exist.",'
    '"type":"NotFoundError","param":null,"code":404}}'
)
COMPLETIONS_CHUNK = (
    '{"id":"cmpl-41","object":"text_completion","created":1718000000,"model":"m",'
    '"choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":null,'
    '"stop_reason":null}]}'
)
COMPLETIONS_FINISH = (
    '{"id":"cmpl-41","object":"text_completion","created":1718000000,"model":"m",'
    '"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop",'
    '"stop_reason":null}]}'
)


def cfg(**kw: object) -> RunConfig:
    return RunConfig(**{"url": "http://10.0.0.5:8000", **kw})  # type: ignore[arg-type]


_OPTIONS = ("include_usage", "continuous_usage")


def chat(**kw: object) -> OpenAIChat:
    """OpenAIChat from RunConfig fields and OpenAIOptions fields (--no-usage, ...)."""
    options = OpenAIOptions(**{k: kw.pop(k) for k in _OPTIONS if k in kw})  # type: ignore[arg-type]
    return OpenAIChat(cfg(**kw), options)


# -- join_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "endpoint", "expected"),
    [
        ("http://h:8000", None, "http://h:8000/v1/chat/completions"),
        ("http://h:8000/", None, "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1", None, "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/", None, "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/chat/completions", None, "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/chat/completions/", None, "http://h:8000/v1/chat/completions"),
        ("https://gw.example/api/v1", None, "https://gw.example/api/v1/chat/completions"),
        ("https://gw.example/proxy", None, "https://gw.example/proxy/v1/chat/completions"),
        ("http://h:8000", "/generate_stream", "http://h:8000/generate_stream"),
        ("http://h:8000/", "generate_stream", "http://h:8000/generate_stream"),
        ("http://h:8000", "/v2/chat", "http://h:8000/v2/chat"),
    ],
)
def test_join_url(base: str, endpoint: str | None, expected: str) -> None:
    assert join_url(base, CHAT, endpoint) == expected


def test_join_url_v1_rule_only_for_v1_paths() -> None:
    assert join_url("http://h/v1", "/api/chat", None) == "http://h/v1/api/chat"


@pytest.mark.parametrize(
    ("provider", "url", "expected"),
    [
        (OpenAIChat, "http://h:8000/v1", "http://h:8000/v1/chat/completions"),
        (OpenAICompletions, "http://h:8000/v1", "http://h:8000/v1/completions"),
        (OpenAICompletions, "http://h:8000", "http://h:8000/v1/completions"),
        (OpenAICompletions, "http://h:8000/v1/completions", "http://h:8000/v1/completions"),
    ],
)
def test_provider_url(
    provider: type[OpenAIChat | OpenAICompletions], url: str, expected: str
) -> None:
    p = provider(cfg(url=url))
    assert p.url == expected
    assert p.build_request(WorkloadItem("hi"), None).url == expected


def test_endpoint_override() -> None:
    p = chat(url="http://h:8000", endpoint="/custom/chat")
    assert p.build_request(WorkloadItem("hi"), None).url == "http://h:8000/custom/chat"


# -- request bodies -------------------------------------------------------------------


def body_of(p: OpenAIChat | OpenAICompletions, item: WorkloadItem) -> object:
    return orjson.loads(p.build_request(item, None).body)


def test_chat_body_all_fields() -> None:
    p = chat(model="llama-3-8b", max_tokens=64)
    req = p.build_request(WorkloadItem("Why is the sky blue?"), None)
    assert req.method == "POST"
    assert orjson.loads(req.body) == {
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        "model": "llama-3-8b",
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_chat_body_minimal_without_usage() -> None:
    p = chat(include_usage=False)
    assert body_of(p, WorkloadItem("x")) == {
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }


def test_chat_body_uses_item_messages_and_item_max_tokens() -> None:
    p = chat(model="m", max_tokens=64)
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    item = WorkloadItem("ignored", messages=messages, max_tokens=7)
    assert body_of(p, item) == {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "model": "m",
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_extra_body_is_merged_last() -> None:
    item = WorkloadItem("x", extra_body={"temperature": 0.0, "ignore_eos": True, "max_tokens": 9})
    assert body_of(chat(max_tokens=64), item) == {
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 9,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "ignore_eos": True,
    }


def test_completions_body() -> None:
    p = OpenAICompletions(cfg(model="m", max_tokens=32))
    assert body_of(p, WorkloadItem("Once upon a time")) == {
        "prompt": "Once upon a time",
        "model": "m",
        "max_tokens": 32,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    p = OpenAICompletions(cfg(), OpenAIOptions(include_usage=False))
    assert body_of(p, WorkloadItem("p")) == {"prompt": "p", "stream": True}


def test_build_request_is_pure() -> None:
    p = chat(model="m")
    item = WorkloadItem("same")
    assert p.build_request(item, "k") == p.build_request(item, "k")


# -- headers --------------------------------------------------------------------------


BASE_HEADERS = (("content-type", "application/json"), ("accept", "text/event-stream"))


@pytest.mark.parametrize(
    ("key", "auth"),
    [
        ("sk-abc123", (("authorization", "Bearer sk-abc123"),)),
        ("Bearer sk-abc123", (("authorization", "Bearer sk-abc123"),)),
        ("bearer-looking-key", (("authorization", "Bearer bearer-looking-key"),)),
        ("Bearerx", (("authorization", "Bearer Bearerx"),)),
        (None, ()),
        ("", ()),
    ],
)
def test_headers(key: str | None, auth: tuple[tuple[str, str], ...]) -> None:
    assert bearer(key) == auth
    assert chat().build_request(WorkloadItem("x"), key).headers == BASE_HEADERS + auth
    completions = OpenAICompletions(cfg())
    assert completions.build_request(WorkloadItem("x"), key).headers == BASE_HEADERS + auth


def test_key_never_in_body() -> None:
    req = chat(model="m").build_request(WorkloadItem("x"), "sk-secret-42")
    assert b"sk-secret-42" not in req.body


# -- decoding -------------------------------------------------------------------------


def test_provider_identity() -> None:
    assert (OpenAIChat.name, OpenAIChat.framing) == ("openai-chat", "sse")
    assert (OpenAICompletions.name, OpenAICompletions.framing) == ("openai-completions", "sse")


@pytest.mark.parametrize(
    ("data", "events"),
    [
        (ROLE_CHUNK, [Content("", "")]),
        (CONTENT_CHUNK, [Content(" Hello", "")]),
        (REASONING_CHUNK, [Content("", "Let me think")]),
        (FINISH_CHUNK, [Content("", ""), End("length", final=False)]),  # usage may follow
        (USAGE_CHUNK, [Usage(17, 28)]),
        ("[DONE]", [End("[DONE]")]),
        (ERROR_CHUNK, [StreamError("The model `x` does not exist.")]),
        ('{"error":"overloaded"}', [StreamError("overloaded")]),
        ('{"error":{"code":503}}', [StreamError("{'code': 503}")]),
    ],
    ids=[
        "role",
        "content",
        "reasoning",
        "finish",
        "usage",
        "done",
        "error",
        "error-str",
        "error-nomsg",
    ],
)
def test_chat_decode(data: str, events: list[object]) -> None:
    assert chat().decode("message", data) == events


def test_chat_decode_reasoning_field_name_variant() -> None:
    # Some servers (newer vLLM, OpenRouter) name the thinking channel "reasoning".
    data = '{"choices":[{"index":0,"delta":{"reasoning":"hmm"},"finish_reason":null}]}'
    assert chat().decode("message", data) == [Content("", "hmm")]


def test_chat_decode_content_and_usage_in_one_chunk() -> None:
    # vLLM with continuous_usage_stats puts usage on every chunk.
    data = (
        '{"choices":[{"index":0,"delta":{"content":"!"},"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}'
    )
    assert chat().decode("message", data) == [
        Content("!", ""),
        Usage(3, 5),
        End("stop", final=False),
    ]


def test_chat_decode_usage_null_gives_nothing() -> None:
    data = '{"id":"x","choices":[],"usage":null}'
    assert chat().decode("message", data) == []


def test_error_message_is_capped_by_the_exchange_after_redaction() -> None:
    data = orjson.dumps({"error": {"message": "e" * 5000}}).decode()
    assert chat().decode("message", data) == [StreamError("e" * 5000)]
    out = run(chat(), [b"data: " + data.encode() + b"\n\n"]).result
    assert (out.status, out.error) == ("stream_error", "e" * 1024)


def test_completions_decode() -> None:
    p = OpenAICompletions(cfg())
    assert p.decode("message", COMPLETIONS_CHUNK) == [Content(" world", "")]
    assert p.decode("message", COMPLETIONS_FINISH) == [Content("", ""), End("stop", final=False)]
    assert p.decode("message", USAGE_CHUNK) == [Usage(17, 28)]
    assert p.decode("message", "[DONE]") == [End("[DONE]")]


@pytest.mark.parametrize("data", ['{"choices":[{"delta":', "not json", "", "[DONE"])
def test_malformed_json_raises_value_error(data: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        chat().decode("message", data)


# -- the registry ---------------------------------------------------------------------


def test_make_provider_by_name() -> None:
    assert isinstance(make_provider(cfg(provider="openai-chat")), OpenAIChat)
    assert isinstance(make_provider(cfg(provider="openai-completions")), OpenAICompletions)
    options = OpenAIOptions(include_usage=False)
    made = make_provider(cfg(provider="openai-completions", provider_options=options))
    assert isinstance(made, OpenAICompletions)
    assert made.options is options
    names = provider_names()
    assert names == sorted(names)
    assert {"openai-chat", "openai-completions"} <= set(names)


def test_unknown_provider_lists_known_names() -> None:
    known = ", ".join(provider_names())
    assert "openai-chat, openai-completions" in known
    message = f"unknown --provider 'no-such-api'; known: {known}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make_provider(cfg(provider="no-such-api"))


# -- flags: --no-stream, --continuous-usage, --ignore-eos, --extra-body, -H --------------


def test_no_stream_body_and_framing() -> None:
    p = chat(stream=False, model="m", continuous_usage=True)
    assert p.framing == "json"
    req = p.build_request(WorkloadItem("x"), None)
    assert orjson.loads(req.body) == {
        "messages": [{"role": "user", "content": "x"}],
        "model": "m",
        "stream": False,
    }
    assert ("accept", "application/json") in req.headers
    completions = OpenAICompletions(cfg(stream=False))
    assert completions.framing == "json"
    assert orjson.loads(completions.build_request(WorkloadItem("p"), None).body) == {
        "prompt": "p",
        "stream": False,
    }


def test_no_stream_decodes_whole_bodies() -> None:
    p = chat(stream=False)
    assert decode_all(p, read("openai/chat-completion.json")) == [
        Content("Hello! How can I assist you today?", ""),
        Usage(19, 10),
        End("stop"),
    ]
    assert decode_all(p, read("openai/chat-completion-reasoning.json")) == [
        Content("4", "Two plus two is four."),
        Usage(8, 12),
        End("length"),
    ]
    c = OpenAICompletions(cfg(stream=False))
    assert decode_all(c, read("openai/text-completion.json")) == [
        Content("\n\nThis is indeed a test", ""),
        Usage(5, 7),
        End("length"),
    ]


def test_no_stream_through_the_exchange() -> None:
    out = run(chat(stream=False), chunkings(read("openai/chat-completion.json"))["sevens"]).result
    assert (out.status, out.output_tokens, out.input_tokens, out.chars) == ("ok", 10, 19, 34)
    assert out.ttft_ns == out.latency_ns  # the whole response is the first token


def test_continuous_usage_request_and_tokens_per_chunk() -> None:
    body = body_of(chat(continuous_usage=True), WorkloadItem("x"))
    assert body == {
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    # vLLM's continuous_usage_stats needs include_usage, so the flag implies it
    no_usage = body_of(chat(continuous_usage=True, include_usage=False), WorkloadItem("x"))
    assert isinstance(no_usage, dict)
    assert no_usage["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    out = run(chat(continuous_usage=True), messages(read("openai/continuous-usage.txt"), "sse"))
    # the finishing chunk's usage comes before its End, so its 3 tokens count too
    assert out.result.chunk_tokens == (1, 3, 3)
    assert out.result.output_tokens == 7
    assert (out.result.ttft_ns, out.result.latency_ns) == (2 * STEP_NS, 4 * STEP_NS)


def test_ignore_eos() -> None:
    body = body_of(chat(ignore_eos=True, include_usage=False), WorkloadItem("x"))
    assert body == {
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "ignore_eos": True,
    }
    assert "ignore_eos" not in body_of(chat(), WorkloadItem("x"))  # type: ignore[operator]


def test_cfg_extra_body_then_item_extra_body() -> None:
    p = chat(
        max_tokens=64,
        extra_body={"temperature": 0.7, "top_p": 0.9, "stream_options": {"x": 1}},
    )
    item = WorkloadItem("x", extra_body={"temperature": 0.0})
    body = body_of(p, item)
    assert body == {
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True, "x": 1},
        "temperature": 0.0,
        "top_p": 0.9,
    }
    assert p.cfg.extra_body == {"temperature": 0.7, "top_p": 0.9, "stream_options": {"x": 1}}


def test_user_headers_added_and_win() -> None:
    p = chat(headers=(("X-Team", "infra"), ("Authorization", "Basic dTpw"), ("Accept", "*/*")))
    req = p.build_request(WorkloadItem("x"), "sk-abc")
    assert req.headers == (
        ("content-type", "application/json"),
        ("X-Team", "infra"),
        ("Authorization", "Basic dTpw"),
        ("Accept", "*/*"),
    )
    completions = OpenAICompletions(cfg(headers=(("X-Team", "infra"),)))
    assert ("X-Team", "infra") in completions.build_request(WorkloadItem("x"), None).headers


# -- options ------------------------------------------------------------------------------


def test_options_defaults_and_registry_defaults() -> None:
    assert OpenAIOptions() == OpenAIOptions(include_usage=True, continuous_usage=False)
    made = make_provider(cfg())
    assert isinstance(made, OpenAIChat)
    assert made.options == OpenAIOptions()


def test_options_of_another_provider_are_a_config_error() -> None:
    message = "--provider 'openai-chat' takes OpenAIOptions options, got DifyOptions"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make_provider(cfg(provider_options=DifyOptions()))
