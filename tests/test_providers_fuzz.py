"""Fuzzing every provider the way a run drives it: whatever bytes a server sends, only
classified results come out.

Each provider (and each template framing) gets three kinds of input through its real
framing and a real Exchange, exactly as a transport feeds them: arbitrary bytes in
arbitrary chunks, valid fixture streams cut at arbitrary points (which must decode as
the whole stream does), and fixture streams with bytes flipped, dropped or inserted.
The invariants: no exception escapes, the status is one of the taxonomy's, a message
never exceeds 1 KB of UTF-8, and a result serialises as a results.jsonl line does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.providers.wire import read
from llmbench.caps import MAX_ERROR_BYTES
from llmbench.config import RunConfig
from llmbench.environment import local_sources
from llmbench.exchange import Exchange
from llmbench.providers import make_provider
from llmbench.providers.base import Provider
from llmbench.providers.template import Template, TemplateOptions
from llmbench.providers.template_spec import read_spec
from llmbench.result import STATUSES, RequestResult

EXAMPLES = Path(__file__).parent.parent / "examples" / "providers"
URL = "http://127.0.0.1:9"
MAX_LINE = 4096  # small, so the over-long-line path is reachable by the fuzzer
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A JSON-framed gateway: one Ollama /api/chat reply with "stream": false.
OLLAMA_JSON = """
path = "/api/chat"
framing = "json"
[response]
content = "message.content"
input_tokens = "prompt_eval_count"
output_tokens = "eval_count"
end = "done"
end_value = true
error = "error"
"""
OLLAMA_REPLY = (
    b'{"model":"llama3.2","message":{"role":"assistant","content":"Hi there"},"done":true,'
    b'"done_reason":"stop","prompt_eval_count":26,"eval_count":3}'
)
COMPLETIONS_STREAM = (
    b"".join(
        b"data: " + orjson.dumps(chunk) + b"\n\n"
        for chunk in (
            {"choices": [{"index": 0, "text": "Hel", "finish_reason": None}]},
            {"choices": [{"index": 0, "text": "lo", "finish_reason": "length"}]},
            {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
        )
    )
    + b"data: [DONE]\n\n"
)


def _options(path: Path) -> TemplateOptions:
    return TemplateOptions(path, read_spec(path, local_sources({})))


def _builtin(name: str, **kw: object) -> Callable[[Path], Provider]:
    return lambda tmp: make_provider(RunConfig(url=URL, provider=name, **kw))  # type: ignore[arg-type]


def _template(toml: str) -> Callable[[Path], Provider]:
    def make(tmp: Path) -> Provider:
        path = tmp / "gw.toml"
        path.write_text(toml, encoding="utf-8")
        return Template(RunConfig(url=URL, provider="template"), _options(path))

    return make


def _example(name: str) -> Callable[[Path], Provider]:
    return lambda tmp: Template(RunConfig(url=URL, provider="template"), _options(EXAMPLES / name))


# (provider factory, valid streams) for every provider and framing.
CASES: dict[str, tuple[Callable[[Path], Provider], list[bytes]]] = {
    "openai-chat": (_builtin("openai-chat"), [read("openai/continuous-usage.txt")]),
    "openai-chat-json": (
        _builtin("openai-chat", stream=False),
        [read("openai/chat-completion.json")],
    ),
    "openai-completions": (_builtin("openai-completions"), [COMPLETIONS_STREAM]),
    "openai-completions-json": (
        _builtin("openai-completions", stream=False),
        [read("openai/text-completion.json")],
    ),
    "dify": (
        _builtin("dify"),
        [read("dify/stream.txt"), read("dify/agent.txt"), read("dify/error.txt")],
    ),
    "dify-json": (_builtin("dify", stream=False), [read("dify/blocking.json")]),
    "dashscope": (
        _builtin("dashscope"),
        [read("dashscope/stream.txt"), read("dashscope/thinking.txt"), read("dashscope/error.txt")],
    ),
    "dashscope-json": (_builtin("dashscope", stream=False), [read("dashscope/whole.json")]),
    "anthropic": (
        _builtin("anthropic"),
        [read("anthropic/stream.txt"), read("anthropic/thinking.txt"), read("anthropic/error.txt")],
    ),
    "anthropic-json": (_builtin("anthropic", stream=False), [read("anthropic/message.json")]),
    "template-sse": (
        _example("tgi-generate-stream.toml"),
        [read("template/tgi-generate-stream.txt"), read("template/tgi-error.txt")],
    ),
    "template-ndjson": (
        _example("ollama-chat.toml"),
        [read("template/ollama-chat.ndjson"), read("template/ollama-error.ndjson")],
    ),
    "template-json": (_template(OLLAMA_JSON), [OLLAMA_REPLY]),
}
NAMES = sorted(CASES)


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Provider]:
    tmp = tmp_path_factory.mktemp("fuzz")
    return {name: CASES[name][0](tmp) for name in NAMES}


def drive(
    provider: Provider, chunks: list[bytes], status: int = 200, content_type: str | None = None
) -> RequestResult:
    """What a transport does: head, each chunk until the exchange gives up, then EOF."""
    ex = Exchange(provider, index=0, phase="measure", t0_ns=0, max_line_bytes=MAX_LINE)
    ex.on_head(status, 1, content_type)
    for i, chunk in enumerate(chunks):
        if ex.on_data(chunk, 2 + i):
            break
    return ex.finish(2 + len(chunks))


def check(result: RequestResult) -> None:
    assert result.status in STATUSES
    assert (result.status == "ok") == (result.error is None)
    if result.error is not None:
        assert len(result.error.encode("utf-8")) <= MAX_ERROR_BYTES
    orjson.dumps(result.to_json(0))  # a results.jsonl line can always be written


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def fingerprint(r: RequestResult) -> tuple[object, ...]:
    """What must not depend on where the chunks were cut (times do, by construction)."""
    return (
        r.status,
        r.error,
        r.output_tokens,
        r.input_tokens,
        r.chars,
        r.end_reason,
        r.meta_events,
    )


@FUZZ
@given(
    name=st.sampled_from(NAMES),
    chunks=st.lists(st.binary(max_size=600), max_size=8),
    status=st.sampled_from([200, 200, 200, 429, 500]),
    content_type=st.sampled_from(
        [None, "text/event-stream", "application/json", "application/x-ndjson", "text/html"]
    ),
)
def test_arbitrary_bytes_give_a_classified_result(
    providers: dict[str, Provider],
    name: str,
    chunks: list[bytes],
    status: int,
    content_type: str | None,
) -> None:
    check(drive(providers[name], chunks, status, content_type))


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_any_split_of_a_valid_stream_decodes_as_the_whole(
    providers: dict[str, Provider], name: str, data: st.DataObject
) -> None:
    stream = data.draw(st.sampled_from(CASES[name][1]))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=30))
    provider = providers[name]
    whole = drive(provider, [stream])
    pieces = drive(provider, split(stream, cuts))
    check(pieces)
    assert fingerprint(pieces) == fingerprint(whole)


_MUTATION = st.tuples(
    st.sampled_from(["flip", "drop", "insert"]),
    st.integers(min_value=0),
    st.binary(min_size=1, max_size=8),
)


def mutate(stream: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(stream)
    for kind, at, junk in edits:
        i = at % (len(out) + 1)
        if kind == "flip" and i < len(out):
            out[i] ^= junk[0] or 0xFF
        elif kind == "drop":
            del out[i : i + len(junk)]
        else:
            out[i:i] = junk
    return bytes(out)


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_mutated_valid_streams_give_a_classified_result(
    providers: dict[str, Provider], name: str, data: st.DataObject
) -> None:
    stream = data.draw(st.sampled_from(CASES[name][1]))
    edits = data.draw(st.lists(_MUTATION, min_size=1, max_size=6))
    cuts = data.draw(st.lists(st.integers(min_value=0), max_size=10))
    check(drive(providers[name], split(mutate(stream, edits), cuts)))


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_stream_is_valid(providers: dict[str, Provider], name: str) -> None:
    """The fuzzer starts from streams that decode: each is ok or a reported error."""
    for stream in CASES[name][1]:
        result = drive(providers[name], [stream])
        assert result.status in ("ok", "stream_error"), (name, result.error)


@pytest.mark.parametrize(
    "line",
    [
        b'{"message":{"content":"x"},"done":true,"eval_count":1e26}',  # int(1e26): 27 digits
        b'{"message":{"content":"x"},"done":true,"eval_count":"12"}',
        b'{"message":{"content":"x"},"done":true,"eval_count":-3}',
        b'{"message":{"content":"x"},"done":true,"eval_count":[1]}',
    ],
)
def test_a_token_count_that_is_not_one_is_ignored(
    providers: dict[str, Provider], line: bytes
) -> None:
    result = drive(providers["template-ndjson"], [line + b"\n"])
    check(result)
    assert result.status in ("ok", "parse_error")
    assert result.output_tokens is None or result.output_tokens < 2**32
