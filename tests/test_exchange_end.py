"""The end of a stream, for every provider (issue 12, items 5, 9 and 10).

- ``Exchange.ended`` turns True at the provider's *final* end signal (OpenAI's
  ``[DONE]``, not its ``finish_reason`` chunk, after which usage may still come) and
  the exchange reads nothing after it;
- nothing after the first end signal is timed or counted (content, chunks, chars,
  ITL, TTFT), while usage after OpenAI's ``finish_reason`` is still read;
- a stream that ends with no content is ``empty``, a failure, not a 0-token ``ok``.

Each provider gets the same table: a few content messages, the messages that end the
reply, and what junk a hostile server could add after them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.config import RunConfig
from llmbench.environment import local_sources
from llmbench.events import Content, End, StreamEvent
from llmbench.exchange import Exchange
from llmbench.providers.anthropic import Anthropic
from llmbench.providers.base import Provider
from llmbench.providers.dashscope import DashScope
from llmbench.providers.dify import Dify
from llmbench.providers.openai import OpenAIChat, OpenAICompletions, OpenAIOptions
from llmbench.providers.template import Template, TemplateOptions
from llmbench.providers.template_spec import read_spec
from llmbench.result import FAILED_STATUSES, RequestResult

T0 = 1_000_000_000
STEP = 1_000
MAX_LINE = 1 << 20
URL = "http://127.0.0.1:9000"
EXAMPLES = Path(__file__).parent.parent / "examples" / "providers"


def sse(obj: object, event: str | None = None, space: bool = True) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    sep = b"data: " if space else b"data:"
    return head + sep + orjson.dumps(obj) + b"\n\n"


def line(obj: object) -> bytes:
    return orjson.dumps(obj) + b"\n"


@dataclass(frozen=True)
class Wire:
    """One provider's wire: ``token(text)`` is one content message; ``end`` the
    messages that end a reply of two tokens, the first an end signal, the last the
    final one; ``begin`` what comes before the first token, ``closing`` what comes
    after the last but before the end (Anthropic's block stop and usage)."""

    provider: Provider
    token: Callable[[str], bytes]
    end: tuple[bytes, ...]
    begin: tuple[bytes, ...] = ()
    closing: tuple[bytes, ...] = ()


def _openai_chat(include_usage: bool = True) -> Wire:
    def token(text: str) -> bytes:
        return sse({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})

    finish = sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    end = (finish, usage, b"data: [DONE]\n\n") if include_usage else (finish, b"data: [DONE]\n\n")
    role = sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    options = OpenAIOptions(include_usage=include_usage)
    return Wire(OpenAIChat(RunConfig(url=URL), options), token, end, (role,))


def _openai_completions() -> Wire:
    def token(text: str) -> bytes:
        return sse({"choices": [{"index": 0, "text": text, "finish_reason": None}]})

    finish = sse({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]})
    usage = sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    return Wire(OpenAICompletions(RunConfig(url=URL)), token, (finish, usage, b"data: [DONE]\n\n"))


def _anthropic() -> Wire:
    def token(text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        obj = {"type": "content_block_delta", "index": 0, "delta": delta}
        return sse(obj, "content_block_delta")

    start = sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
        "message_start",
    )
    block = sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    delta = sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        "message_delta",
    )
    stop = sse({"type": "message_stop"}, "message_stop")
    block_stop = sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    return Wire(Anthropic(RunConfig(url=URL)), token, (stop,), (start, block), (block_stop, delta))


def _dify() -> Wire:
    def token(text: str) -> bytes:
        return sse({"event": "message", "answer": text})

    usage = {"usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    end = sse({"event": "message_end", "metadata": usage})
    begin = sse({"event": "workflow_started"})
    return Wire(Dify(RunConfig(url=URL, provider="dify")), token, (end,), (begin,))


def _dashscope() -> Wire:
    def result(text: str, finish: str, usage: dict[str, int] | None = None) -> bytes:
        message = {"content": text, "role": "assistant"}
        obj: dict[str, object] = {
            "output": {"choices": [{"message": message, "finish_reason": finish}]}
        }
        if usage:
            obj["usage"] = usage
        return b"id:1\nevent:result\n:HTTP_STATUS/200\n" + sse(obj, space=False)

    end = result("", "stop", {"input_tokens": 3, "output_tokens": 2})
    return Wire(DashScope(RunConfig(url=URL)), lambda text: result(text, "null"), (end,))


def _template(name: str) -> Template:
    path = EXAMPLES / name
    cfg = RunConfig(url=URL, provider="template")
    return Template(cfg, TemplateOptions(path, read_spec(path, local_sources({}))))


def _ollama() -> Wire:
    def token(text: str) -> bytes:
        return line({"message": {"role": "assistant", "content": text}, "done": False})

    end = line(
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 3,
            "eval_count": 2,
        }
    )
    return Wire(_template("ollama-chat.toml"), token, (end,))


def _tgi() -> Wire:
    def token(text: str) -> bytes:
        return sse({"token": {"text": text}, "generated_text": None, "details": None})

    details = {"finish_reason": "length", "generated_tokens": 2, "input_length": 3}
    end = sse({"token": {"text": ""}, "generated_text": "ab", "details": details})
    return Wire(_template("tgi-generate-stream.toml"), token, (end,))


WIRES: dict[str, Callable[[], Wire]] = {
    "openai-chat": _openai_chat,
    "openai-chat-no-usage": lambda: _openai_chat(include_usage=False),
    "openai-completions": _openai_completions,
    "anthropic": _anthropic,
    "dify": _dify,
    "dashscope": _dashscope,
    "template-ollama": _ollama,
    "template-tgi": _tgi,
}
NAMES = list(WIRES)


def exchange(wire: Wire) -> Exchange:
    ex = Exchange(wire.provider, index=0, phase="measure", t0_ns=T0, max_line_bytes=MAX_LINE)
    ex.on_head(200, T0 + 100)
    return ex


def feed(wire: Wire, parts: list[bytes], end_at: int | None = None) -> RequestResult:
    """Message i arrives at T0 + (i + 1) * STEP; EOF at ``end_at`` (default: a step later)."""
    ex = exchange(wire)
    for i, part in enumerate(parts):
        ex.on_data(part, T0 + (i + 1) * STEP)
    return ex.finish(T0 + (end_at if end_at is not None else (len(parts) + 1) * STEP))


def reply(wire: Wire, *texts: str) -> list[bytes]:
    return [*wire.begin, *(wire.token(t) for t in texts), *wire.closing, *wire.end]


def counted(r: RequestResult) -> tuple[object, ...]:
    """Everything a result counts or times (not when the connection closed)."""
    return (
        r.status,
        r.error,
        r.ttft_ns,
        r.latency_ns,
        r.chunks,
        r.chars,
        r.icl_ns,
        r.output_tokens,
        r.input_tokens,
        r.token_source,
        r.end_reason,
        r.chunk_tokens,
    )


# -- a plain reply, and when `ended` turns ---------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_reply_is_ok(name: str) -> None:
    wire = WIRES[name]()
    r = feed(wire, reply(wire, "a", "b"))
    assert (r.status, r.chunks, r.chars, r.output_tokens) == ("ok", 2, 2, 2)
    assert r.end_reason is not None


@pytest.mark.parametrize("name", NAMES)
def test_ended_turns_true_at_the_final_end_signal_only(name: str) -> None:
    wire = WIRES[name]()
    parts = reply(wire, "a", "b")
    ex = exchange(wire)
    seen = []
    for i, part in enumerate(parts):
        ex.on_data(part, T0 + (i + 1) * STEP)
        seen.append(ex.ended)
    assert seen == [False] * (len(parts) - 1) + [True]
    assert not ex.failed


def test_openai_finish_reason_stops_the_clock_but_not_the_reading() -> None:
    wire = _openai_chat()
    finish, usage, done = wire.end
    ex = exchange(wire)
    for i, part in enumerate([wire.token("a"), wire.token("b"), finish]):
        ex.on_data(part, T0 + (i + 1) * STEP)
    assert not ex.ended  # the usage chunk may still come
    ex.on_data(usage, T0 + 10 * STEP)
    ex.on_data(done, T0 + 11 * STEP)
    assert ex.ended
    r = ex.finish(T0 + 12 * STEP)
    assert (r.latency_ns, r.output_tokens, r.input_tokens) == (3 * STEP, 2, 3)  # usage was read


@pytest.mark.parametrize("name", NAMES)
def test_a_failure_ends_the_exchange_too(name: str) -> None:
    wire = WIRES[name]()
    ex = exchange(wire)
    ex.on_data(wire.token("a"), T0 + STEP)
    assert not ex.ended
    assert ex.on_data(b"data: {not json\n\n" if wire.provider.framing == "sse" else b"{x\n", T0)
    assert ex.ended
    assert ex.failed


def test_an_error_body_is_read_to_its_end() -> None:
    ex = exchange(_openai_chat())
    ex.on_head(500, T0 + 100)
    assert not ex.on_data(b"data: [DONE]\n\n", T0 + STEP)
    assert not ex.ended  # not a stream: its end is the body's end
    assert ex.finish(T0 + 2 * STEP).status == "http_error"


def test_bytes_after_the_final_end_are_not_read() -> None:
    wire = _openai_chat()
    ex = exchange(wire)
    for part in reply(wire, "a", "b"):
        ex.on_data(part, T0 + STEP)
    assert ex.ended
    # Not even parsed: an over-long line or garbage after [DONE] changes nothing.
    assert not ex.on_data(b"x" * (MAX_LINE + 10), T0 + 2 * STEP)
    assert not ex.on_data(b"data: {broken\n\n", T0 + 2 * STEP)
    assert ex.finish(T0 + 3 * STEP).status == "ok"


# -- item 9: nothing after the end signal is timed or counted -------------------------


@pytest.mark.parametrize("name", NAMES)
def test_content_after_each_end_message_is_not_counted(name: str) -> None:
    """1000 tokens after every end message (OpenAI: after finish_reason, after the
    usage chunk and after [DONE]) change no count and no time."""
    wire = WIRES[name]()
    clean = feed(wire, reply(wire, "a", "b"), end_at=100 * STEP)
    junk = b"".join(wire.token("junk") for _ in range(1000))
    hostile = [*wire.begin, wire.token("a"), wire.token("b"), *wire.closing]
    for message in wire.end:
        hostile += [message, junk]
    r = feed(wire, hostile, end_at=100 * STEP)
    assert counted(r) == counted(clean)
    assert (r.chunks, r.chars, r.output_tokens) == (2, 2, 2)


def test_openai_content_between_finish_and_done_is_not_counted_without_usage() -> None:
    """The issue's case: tokens counted from the text (no usage) grew with content
    sent after finish_reason, and TPOT fell towards 0."""
    wire = _openai_chat(include_usage=False)
    finish, done = wire.end
    parts = [
        wire.token("a"),
        wire.token("b"),
        finish,
        *(wire.token("zz") for _ in range(1000)),
        done,
    ]
    r = feed(wire, parts)
    assert (r.status, r.chunks, r.chars, r.latency_ns) == ("ok", 2, 2, 3 * STEP)
    assert len(r.icl_ns) == 1
    assert r.tpot_ns is not None
    assert r.tpot_ns > 0


def test_usage_in_the_same_message_after_finish_reason_is_read() -> None:
    """vLLM with continuous usage puts the last usage on the finish_reason chunk."""
    wire = _openai_chat()
    last = sse(
        {
            "choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 7},
        }
    )
    r = feed(wire, [wire.token("a"), last, b"data: [DONE]\n\n"])
    assert (r.status, r.chunks, r.output_tokens) == ("ok", 2, 7)


def _junk_messages(wire: Wire) -> st.SearchStrategy[bytes]:
    """What a hostile server may send after the end: more content, more ends, usage,
    errors, garbage, a half message."""
    return st.one_of(
        st.text(min_size=1, max_size=8).map(wire.token),
        st.sampled_from(wire.end),
        st.sampled_from(
            [
                b"data: {broken\n\n",
                b'data: {"error": {"message": "late"}}\n\n',
                b'{"error": "late"}\n',
                b"event: error\ndata: {}\n\n",
                b"data: [DONE]\n\n",
                b"\xff\xfe garbage",
                b"data: " + b"x" * 100,
            ]
        ),
    )


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_anything_after_the_final_end_changes_nothing(name: str, data: st.DataObject) -> None:
    """Property: junk after the final end signal, cut anywhere (also inside the
    chunk that carries the end), never changes the result."""
    wire = WIRES[name]()
    texts = data.draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4))
    parts = reply(wire, *texts)
    clean = feed(wire, parts, end_at=99 * STEP)
    junk = data.draw(st.lists(_junk_messages(wire), max_size=6))
    body = b"".join(parts[-1:] + junk)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=4)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    r = feed(wire, parts[:-1] + [p for p in pieces if p], end_at=99 * STEP)
    # The final message's instant is its last byte's: compare what cannot move.
    assert dataclasses.replace(r, latency_ns=None) == dataclasses.replace(clean, latency_ns=None)


@settings(max_examples=60, deadline=None)
@given(junk=st.lists(st.text(min_size=1, max_size=6), max_size=8))
def test_content_after_openai_finish_reason_changes_no_count(junk: list[str]) -> None:
    wire = _openai_chat()
    finish, usage, done = wire.end
    clean = feed(wire, [wire.token("a"), wire.token("b"), finish, usage, done], end_at=99 * STEP)
    parts = [wire.token("a"), wire.token("b"), finish, *map(wire.token, junk), usage, done]
    assert counted(feed(wire, parts, end_at=99 * STEP)) == counted(clean)


# -- item 10: an end with no content is `empty` -------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_an_end_with_no_content_is_empty(name: str) -> None:
    wire = WIRES[name]()
    r = feed(wire, [*wire.begin, *wire.closing, *wire.end])
    assert r.status == "empty"
    assert r.status in FAILED_STATUSES
    assert not r.ok
    assert r.ttft_ns is None
    assert r.tpot_ns is None
    assert r.chunks == 0
    assert r.error is not None
    assert r.error.startswith("stream ended (")
    assert r.error.endswith(") with no content")
    assert r.latency_ns is not None  # the end signal was seen: it is not `incomplete`


@pytest.mark.parametrize("name", NAMES)
def test_content_only_after_the_end_is_still_empty(name: str) -> None:
    wire = WIRES[name]()
    first = wire.end[0]
    r = feed(wire, [*wire.begin, *wire.closing, first, wire.token("late"), *wire.end[1:]])
    assert r.status == "empty"


@pytest.mark.parametrize(
    "parts",
    [
        [b"data: [DONE]\n\n"],
        [b'data: {"choices":[]}\n\n', b'data: {"choices":[]}\n\n', b"data: [DONE]\n\n"],
        [
            b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
            b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
            b"data: [DONE]\n\n",
        ],
        [b'data: {"choices":[{"delta":{"content":null},"finish_reason":"length"}]}\n\n'],
    ],
    ids=["done-first", "empty-choices", "role-finish-done", "finish-eof"],
)
def test_openai_empty_streams(parts: list[bytes]) -> None:
    r = feed(_openai_chat(), parts)
    assert (r.status, r.output_tokens, r.ttft_ns) == ("empty", 0, None)


def test_no_end_and_no_content_is_still_incomplete() -> None:
    wire = _openai_chat()
    assert feed(wire, [b'data: {"choices":[]}\n\n']).status == "incomplete"
    assert feed(wire, []).status == "incomplete"


def test_an_empty_non_streamed_reply_is_empty() -> None:
    p = OpenAIChat(RunConfig(url=URL, stream=False))
    body = orjson.dumps(
        {"choices": [{"message": {"role": "assistant", "content": ""}, "finish_reason": "length"}]}
    )
    ex = Exchange(p, index=0, phase="measure", t0_ns=T0, max_line_bytes=MAX_LINE)
    ex.on_head(200, T0 + 1, "application/json")
    ex.on_data(body, T0 + 2)
    r = ex.finish(T0 + 3)
    assert (r.status, r.error) == ("empty", "stream ended (length) with no content")


# -- item 10: one content event has no TPOT ---------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_reply_in_one_content_event_has_no_tpot(name: str) -> None:
    wire = WIRES[name]()
    r = feed(wire, reply(wire, "ab"))
    assert (r.status, r.chunks, r.output_tokens) == ("ok", 1, 2)
    assert r.tpot_ns is None
    assert r.to_json(T0)["tpot_ms"] is None  # n/a, not 0.0
    two = feed(wire, reply(wire, "a", "b"))
    assert two.tpot_ns is not None


# -- item 10: end reasons are strings, `"error": false` is no error ---------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [({"type": "stop"}, '{"type":"stop"}'), (1, "1"), (["length"], '["length"]'), ("stop", "stop")],
)
def test_a_finish_reason_that_is_not_a_string_is_stored_as_one(
    reason: object, expected: str
) -> None:
    wire = _openai_chat()
    finish = sse({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
    r = feed(wire, [wire.token("a"), wire.token("b"), finish, b"data: [DONE]\n\n"])
    assert (r.status, r.end_reason) == ("ok", expected)
    assert orjson.loads(orjson.dumps(r.to_json(T0)))["end_reason"] == expected


def test_dashscope_and_anthropic_reasons_that_are_not_strings() -> None:
    ds = _dashscope()
    obj = {"output": {"choices": [{"message": {"content": "x"}, "finish_reason": {"why": 1}}]}}
    assert feed(ds, [sse(obj, "result", space=False)]).end_reason == '{"why":1}'
    an = Anthropic(RunConfig(url=URL, stream=False))
    events = an.decode("message", '{"type":"message","content":[],"stop_reason":42}')
    assert events[-1] == End("42")


class _OddProvider:
    """A plugin that passes on whatever the server sent as its End reason."""

    name = "odd"
    framing = "sse"

    def build_request(self, item: object, api_key: str | None) -> object:
        raise NotImplementedError

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        obj = orjson.loads(data)
        if "end" in obj:
            return [End(obj["end"])]
        return [Content(obj["t"])]


def test_the_exchange_stores_a_string_reason_whatever_a_plugin_passes() -> None:
    ex = Exchange(_OddProvider(), index=0, phase="measure", t0_ns=T0, max_line_bytes=MAX_LINE)  # type: ignore[arg-type]
    ex.on_head(200, T0)
    ex.on_data(b'data: {"t": "a"}\n\ndata: {"end": {"k": [1, 2]}}\n\n', T0 + 1)
    assert ex.finish(T0 + 2).end_reason == '{"k":[1,2]}'
    ex = Exchange(_OddProvider(), index=0, phase="measure", t0_ns=T0, max_line_bytes=MAX_LINE)  # type: ignore[arg-type]
    ex.on_head(200, T0)
    ex.on_data(b'data: {"t": "a"}\n\ndata: {"end": "' + b"r" * 5000 + b'"}\n\n', T0 + 1)
    assert ex.finish(T0 + 2).end_reason == "r" * 200  # cut, like any server text


@pytest.mark.parametrize("error", [False, None, 0, "", {}, []])
def test_an_error_field_that_says_no_error_is_none(error: object) -> None:
    wire = _openai_chat()
    chunk = orjson.loads(wire.token("a")[6:])
    chunk["error"] = error
    r = feed(wire, [sse(chunk), wire.token("b"), *wire.end])
    assert (r.status, r.chunks) == ("ok", 2)


@pytest.mark.parametrize(
    ("error", "message"),
    [({"message": "boom"}, "boom"), ("boom", "boom"), (True, "True"), ({"code": 5}, "{'code': 5}")],
)
def test_an_error_field_with_an_error_is_a_stream_error(error: object, message: str) -> None:
    wire = _openai_chat()
    r = feed(wire, [wire.token("a"), sse({"error": error}), *wire.end])
    assert (r.status, r.error) == ("stream_error", message)


@pytest.mark.parametrize("error", [False, None, 0, "", {}])
def test_a_template_error_path_that_says_no_error_is_none(error: object) -> None:
    wire = _ollama()
    chunk = {"message": {"content": "a"}, "done": False, "error": error}
    assert feed(wire, [line(chunk), wire.token("b"), *wire.end]).status == "ok"
    failed = feed(wire, [line({"error": "model not found"})])
    assert (failed.status, failed.error) == ("stream_error", "model not found")
