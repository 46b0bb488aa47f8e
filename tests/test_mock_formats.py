"""Tests for the mock's wire formats (llmbench.mock.formats*), as plain bytes.

Two checks per format, from two directions: a round trip (the provider builds a request,
the mock parses it and renders a reply, llmbench's own framing and the provider decode
it into a result), and the shape of the mock's messages against the documented examples
in tests/fixtures/providers/ (every field a documented message has, the mock's has too,
with the same JSON type). The mock never imports `providers/`; only this test joins them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.providers.wire import decode_all, messages, read, run
from llmbench.config import RunConfig
from llmbench.environment import local_sources
from llmbench.events import Content
from llmbench.mock.formats import (
    ALL,
    DEFAULT_VOCAB,
    FORMATS,
    Endpoint,
    FormatError,
    GenRequest,
    Reply,
    Vocab,
    routes,
)
from llmbench.mock.options import MockOptions, OptionsError
from llmbench.providers import make_provider
from llmbench.providers.base import Provider
from llmbench.providers.template import TemplateOptions
from llmbench.providers.template_spec import read_spec
from llmbench.workload import WorkloadItem

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "providers"
N = 5


def _template(name: str) -> TemplateOptions:
    """``--provider-config examples/providers/NAME``, read as a run reads it."""
    path = EXAMPLES / name
    return TemplateOptions(path, read_spec(path, local_sources({})))


# provider name, extra RunConfig fields, the mock path it must reach.
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "openai-chat": ("openai-chat", {}, "/v1/chat/completions"),
    "openai-completions": ("openai-completions", {}, "/v1/completions"),
    "dify": ("dify", {}, "/v1/chat-messages"),
    "dashscope": ("dashscope", {}, "/api/v1/services/aigc/text-generation/generation"),
    "anthropic": ("anthropic", {}, "/v1/messages"),
    "ollama": ("template", {"provider_options": _template("ollama-chat.toml")}, "/api/chat"),
    "tgi": (
        "template",
        {"provider_options": _template("tgi-generate-stream.toml")},
        "/generate_stream",
    ),
}


def provider(case: str, **kw: Any) -> Provider:
    name, extra, _ = CASES[case]
    cfg = RunConfig(url="http://127.0.0.1:9", provider=name, model="m", **{**extra, **kw})
    return make_provider(cfg)


def request(case: str, endpoint: Endpoint, p: Provider) -> GenRequest:
    req = p.build_request(WorkloadItem("one two three"), "sk-test")
    headers = {name.lower().encode(): value.encode() for name, value in req.headers}
    return endpoint.parse(req.body, headers.get)


def reply(gen: GenRequest, n: int = N, finish: str = "stop") -> Reply:
    return Reply(gen, n, finish, "0123abcd", 1_700_000_000)


def wire(endpoint: Endpoint, r: Reply) -> bytes:
    """Every body byte of a streamed reply, in the order the timing engine writes them."""
    ev = endpoint.stream(r)
    tokens = tuple(ev.tokens[k % len(ev.tokens)] for k in range(r.n))
    return b"".join(ev.preamble + ev.first + tokens + ev.tail)


def endpoint_for(case: str, vocab: Vocab = DEFAULT_VOCAB) -> Endpoint:
    return routes(ALL, vocab)[CASES[case][2]]


# -- round trips: provider -> mock -> provider ------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_streamed_round_trip(case: str) -> None:
    endpoint, p = endpoint_for(case), provider(case)
    gen = request(case, endpoint, p)
    assert gen.stream
    raw = wire(endpoint, reply(gen))
    result = run(p, messages(raw, p.framing)).result
    assert result.status == "ok", result
    assert result.output_tokens == N
    assert result.token_source == "usage"
    assert result.ttft_ns is not None
    assert result.latency_ns is not None
    assert result.ttft_ns < result.latency_ns


@pytest.mark.parametrize(
    "case", ["openai-chat", "openai-completions", "dify", "dashscope", "anthropic"]
)
def test_whole_body_round_trip(case: str) -> None:
    endpoint, p = endpoint_for(case), provider(case, stream=False)
    gen = request(case, endpoint, p)
    assert not gen.stream
    result = run(p, [endpoint.body(reply(gen)).body]).result
    assert result.status == "ok", result
    assert result.output_tokens == N


@pytest.mark.parametrize("case", list(CASES))
def test_text_arrives_byte_for_byte_in_any_chunking(case: str) -> None:
    vocab = Vocab.from_text('</script> "quoted" \\ 中文 <img src=x>')
    endpoint, p = endpoint_for(case, vocab), provider(case)
    raw = wire(endpoint, reply(request(case, endpoint, p), n=7))
    for chunks in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        assert run(p, chunks).result.output_tokens == 7
    texts = [e.text for e in decode_all(p, raw) if isinstance(e, Content)]
    assert "".join(texts) == vocab.text(7)


# -- shapes against the documented examples ---------------------------------------------


def shape(value: Any, at: str = "") -> Iterator[str]:
    """Every path in a JSON value with its type, e.g. `output.choices[].message.content:str`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from shape(item, f"{at}.{key}" if at else key)
    elif isinstance(value, list):
        for item in value:
            yield from shape(item, at + "[]")
    else:
        yield f"{at}:{'null' if value is None else type(value).__name__}"


def message_shapes(raw: bytes, framing: str) -> dict[str, set[str]]:
    """The shapes of the JSON messages in an SSE or NDJSON body, by the kind each names."""
    out: dict[str, set[str]] = {}
    for line in raw.decode().splitlines():
        data = line.removeprefix("data:").strip() if framing == "sse" else line
        if data.startswith("{"):
            obj = orjson.loads(data)
            kind = str(obj.get("event") or obj.get("type") or "message")
            out.setdefault(kind, set()).update(shape(obj))
    return out


# Each kind of message the mock sends (Dify `event`, Anthropic `type`) is compared with
# the documented messages of the same kind.
@pytest.mark.parametrize(
    ("case", "fixture"),
    [
        ("dify", "dify/stream.txt"),
        ("dashscope", "dashscope/stream.txt"),
        ("anthropic", "anthropic/stream.txt"),
        ("ollama", "template/ollama-chat.ndjson"),
        ("tgi", "template/tgi-generate-stream.txt"),
    ],
)
def test_streamed_messages_have_every_documented_field(case: str, fixture: str) -> None:
    endpoint, p = endpoint_for(case), provider(case)
    raw = wire(endpoint, reply(request(case, endpoint, p)))
    framing = "ndjson" if fixture.endswith(".ndjson") else "sse"
    ours = message_shapes(raw, framing)
    theirs = message_shapes(read(fixture), framing)
    missing = {
        (kind, path)
        for kind in ours.keys() & theirs.keys()
        for path in theirs[kind] - ours[kind]
        if not _optional(path, ours[kind])
    }
    assert not missing
    assert ours.keys() & theirs.keys()


# Documented fields the mock leaves out: timings a format cannot know (it has no clock)
# and the thinking blocks of reasoning models.
_NOT_MOCKED = ("_duration", ".latency", ".elapsed_time", ".thinking", ".signature")


def _optional(path: str, ours: set[str]) -> bool:
    """A documented path the mock has with another type (null in one of the two), or
    one of `_NOT_MOCKED`."""
    name = path.rsplit(":", 1)[0]
    return name.endswith(_NOT_MOCKED) or any(p.rsplit(":", 1)[0] == name for p in ours)


@pytest.mark.parametrize(
    ("case", "fixture"),
    [
        ("dify", "dify/blocking.json"),
        ("dashscope", "dashscope/whole.json"),
        ("anthropic", "anthropic/message.json"),
    ],
)
def test_whole_bodies_have_every_documented_field(case: str, fixture: str) -> None:
    endpoint, p = endpoint_for(case), provider(case, stream=False)
    body = endpoint.body(reply(request(case, endpoint, p))).body
    ours = set(shape(orjson.loads(body)))
    missing = {path for path in set(shape(orjson.loads(read(fixture)))) - ours}
    assert not {path for path in missing if not _optional(path, ours)}


def test_dashscope_events_are_written_as_documented() -> None:
    endpoint, p = endpoint_for("dashscope"), provider("dashscope")
    raw = wire(endpoint, reply(request("dashscope", endpoint, p), n=2, finish="length"))
    events = raw.split(b"\n\n")[:-1]
    assert [e.split(b"\n")[:3] for e in events] == [
        [b"id:%d" % k, b"event:result", b":HTTP_STATUS/200"] for k in (1, 2, 3)
    ]
    data = [orjson.loads(e.split(b"\n")[3].removeprefix(b"data:")) for e in events]
    choices = [d["output"]["choices"][0] for d in data]
    assert [c["finish_reason"] for c in choices] == ["null", "null", "length"]
    assert [c["message"]["content"] for c in choices] == [" the", " of", ""]
    assert [d["usage"]["output_tokens"] for d in data] == [1, 2, 2]


def test_dashscope_streams_only_with_the_sse_header_and_accumulates_by_default() -> None:
    endpoint = endpoint_for("dashscope")
    body = orjson.dumps(
        {"model": "qwen", "input": {"messages": [{"role": "user", "content": "x"}]}}
    )
    assert not endpoint.parse(body, {}.get).stream
    gen = endpoint.parse(body, {b"x-dashscope-sse": b"enable"}.get)
    assert gen.stream
    assert gen.cumulative
    texts = [
        orjson.loads(line.removeprefix(b"data:"))["output"]["choices"][0]["message"]["content"]
        for line in wire(endpoint, reply(gen, n=3)).split(b"\n")
        if line.startswith(b"data:")
    ]
    assert texts == [" the", " the of", " the of and", " the of and"]


def test_anthropic_event_flow_is_the_documented_one() -> None:
    endpoint, p = endpoint_for("anthropic"), provider("anthropic", max_tokens=2)
    gen = request("anthropic", endpoint, p)
    raw = wire(endpoint, reply(gen, n=2, finish="length"))
    names = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    delta = next(line for line in raw.decode().splitlines() if '"message_delta"' in line)
    assert orjson.loads(delta[6:])["delta"]["stop_reason"] == "max_tokens"


def test_dify_ping_and_workflow_events_are_counted_not_timed() -> None:
    endpoint, p = endpoint_for("dify"), provider("dify")
    raw = wire(endpoint, reply(request("dify", endpoint, p)))
    assert raw.startswith(b"event: ping\n\n")
    outcome = run(p, messages(raw, "sse"))
    assert outcome.result.status == "ok"
    assert outcome.meta_events >= 4  # workflow_started, node_started, node_finished, ...


def test_tgi_last_event_carries_the_whole_text_and_details() -> None:
    endpoint = endpoint_for("tgi")
    gen = endpoint.parse(b'{"inputs":"a b","parameters":{"details":true}}', {}.get)
    events = [
        orjson.loads(m.removeprefix(b"data:"))
        for m in wire(endpoint, reply(gen, n=3)).split(b"\n\n")[:-1]
    ]
    assert [e["index"] for e in events] == [1, 2, 3]
    assert [e["generated_text"] for e in events] == [None, None, " the of and"]
    assert events[-1]["details"]["generated_tokens"] == 3
    assert events[-1]["details"]["finish_reason"] == "eos_token"


# -- requests the APIs refuse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "match"),
    [
        ("/v1/messages", {"messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ("/v1/messages", {"max_tokens": 5, "messages": []}, "messages"),
        ("/v1/chat-messages", {"query": "q"}, "user is required"),
        ("/v1/chat-messages", {"query": "", "user": "u"}, "query"),
        ("/v1/chat-messages", {"query": "q", "user": "u", "response_mode": "x"}, "response_mode"),
        ("/api/v1/services/aigc/text-generation/generation", {"input": {"prompt": "x"}}, "model"),
        ("/api/v1/services/aigc/text-generation/generation", {"model": "q", "input": {}}, "input"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x"}]}, "model"),
        ("/api/chat", {"model": "l", "options": {"num_predict": 0}}, "messages"),
        ("/generate_stream", {"parameters": {}}, "inputs"),
        ("/generate", {"inputs": "x", "parameters": {"max_new_tokens": -1}}, "max_new_tokens"),
    ],
)
def test_invalid_requests_are_refused(path: str, body: dict[str, Any], match: str) -> None:
    with pytest.raises(FormatError, match=match):
        routes(ALL)[path].parse(orjson.dumps(body), {}.get)


def test_every_family_is_served_at_its_own_paths() -> None:
    paths = [e.path for name in FORMATS for e in FORMATS[name](DEFAULT_VOCAB)]
    assert len(paths) == len(set(paths)) == len(routes(ALL))
    assert set(routes("dify")) == {"/v1/chat-messages"}
    assert {e.family for e in routes(ALL).values()} == set(FORMATS)


def test_vocab_from_text_keeps_the_spacing_and_cycles() -> None:
    vocab = Vocab.from_text("  <b>bold</b>  and\tmore ")
    assert vocab.words == ("  <b>bold</b>", "  and", "\tmore")
    assert vocab.text(4) == "  <b>bold</b>  and\tmore  <b>bold</b>"
    with pytest.raises(ValueError, match="at least one word"):
        Vocab.from_text("   ")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"text": " \t"}, "--text must contain"),
        ({"tls_key": "key.pem"}, "--tls-key needs --tls-cert"),
        ({"format": "grpc"}, "--format must be one of all, openai"),
    ],
)
def test_mock_options_refuse_bad_values(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(OptionsError, match=match):
        MockOptions(**kw)
