"""Wire formats: which bytes each step of a mock response writes, per API family.

A format is a set of `Endpoint`s. An endpoint parses a request body into a `GenRequest`
and renders a reply as pre-encoded SSE events: what goes out with the head, just before
the first token, once per token, and after the last token. Rendering happens once per
request; the timing engine (`streams.py`) then only picks bytes by index, so no JSON
is encoded per token. HTTP framing (chunks, heads) is not a format's business.

The OpenAI family is written from vLLM's OpenAI-compatible server (its
`serving_chat.py` / `serving_completion.py` chunk shapes), not from llmbench's providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

__all__ = [
    "FORMATS",
    "WORDS",
    "Body",
    "Endpoint",
    "FormatError",
    "GenRequest",
    "Reply",
    "StreamEvents",
]

# Short, common English words: each is one token for the usual BPE tokenizers, so a
# client counting tokens by tokenizer agrees with `usage.completion_tokens`.
_PLAIN_WORDS = (
    "the of and to in is it that was for on are with as his they at be this from "
    "have or by one had not but what all were when we there can an your which their"
)
WORDS: tuple[str, ...] = tuple(" " + w for w in _PLAIN_WORDS.split(" "))
_WORDS_JSON: tuple[bytes, ...] = tuple(orjson.dumps(w) for w in WORDS)
_DEFAULT_MODEL = "llmbench-mock"


class FormatError(Exception):
    """The request body is well-framed HTTP but not a valid request for this endpoint."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class GenRequest:
    """What a generation request asks for, independent of its API family."""

    model: str
    max_tokens: int | None
    stream: bool
    include_usage: bool
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply to render: `n` output tokens, ending with `finish` ("length"/"stop")."""

    request: GenRequest
    n: int
    finish: str
    rid: str
    created: int


@dataclass(frozen=True, slots=True)
class StreamEvents:
    """A streamed reply as complete SSE events (each becomes one HTTP chunk).

    Token k is written as `tokens[k % len(tokens)]`, matching `WORDS[k % len(WORDS)]`.
    """

    content_type: bytes
    preamble: tuple[bytes, ...]
    first: tuple[bytes, ...]
    tokens: tuple[bytes, ...]
    tail: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Body:
    """A non-streamed reply."""

    content_type: bytes
    body: bytes


class Endpoint(Protocol):
    """One generation route of an API family."""

    path: str

    def parse(self, body: bytes) -> GenRequest:
        """Validate a request body; raise `FormatError` when it is not acceptable."""
        ...

    def stream(self, reply: Reply) -> StreamEvents:
        """Render a streamed reply."""
        ...

    def body(self, reply: Reply) -> Body:
        """Render a non-streamed reply."""
        ...


_SSE_TYPE = b"text/event-stream; charset=utf-8"
_JSON_TYPE = b"application/json"
_DONE = b"data: [DONE]\n\n"


def _sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def _text(n: int) -> str:
    return "".join(WORDS[k % len(WORDS)] for k in range(n))


def _count_words(value: object) -> int:
    """Prompt tokens, estimated cheaply as whitespace-separated words (documented)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 1  # a pre-tokenized prompt: one token id
    if isinstance(value, dict):
        return _count_words(value.get("content")) + _count_words(value.get("text"))
    return 0


def _load_object(body: bytes) -> dict[str, object]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError("request body must be a JSON object")
    return data


def _max_tokens(data: Mapping[str, object], *names: str) -> int | None:
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FormatError(f"{name} must be an integer >= 1, got {value!r}", name)
        return value
    return None


def _openai_request(data: Mapping[str, object], prompt: object) -> GenRequest:
    model = data.get("model", _DEFAULT_MODEL)
    if not isinstance(model, str):
        raise FormatError("model must be a string", "model")
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise FormatError("stream must be a boolean", "stream")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise FormatError("stream_options must be an object", "stream_options")
    return GenRequest(
        model=model,
        max_tokens=_max_tokens(data, "max_completion_tokens", "max_tokens"),
        stream=stream,
        include_usage=options.get("include_usage") is True,
        prompt_tokens=_count_words(prompt),
    )


def _usage(reply: Reply) -> dict[str, int]:
    prompt = reply.request.prompt_tokens
    return {"prompt_tokens": prompt, "total_tokens": prompt + reply.n, "completion_tokens": reply.n}


def _chunk_prefix(reply: Reply, rid: str, kind: bytes) -> bytes:
    """The JSON text every chunk of one reply starts with, up to `"choices":`."""
    return b'{"id":%s,"object":"%s","created":%d,"model":%s,"choices":' % (
        orjson.dumps(rid),
        kind,
        reply.created,
        orjson.dumps(reply.request.model),
    )


def _stream_tail(reply: Reply, prefix: bytes, finish_choice: bytes) -> tuple[bytes, ...]:
    tail = [_sse(prefix + finish_choice)]
    if reply.request.include_usage:
        tail.append(_sse(prefix + b'[],"usage":' + orjson.dumps(_usage(reply)) + b"}"))
    tail.append(_DONE)
    return tuple(tail)


class ChatCompletions:
    """`POST /v1/chat/completions`, as vLLM streams it (role chunk, deltas, finish, usage)."""

    path = "/v1/chat/completions"

    def parse(self, body: bytes) -> GenRequest:
        data = _load_object(body)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise FormatError("messages must be a non-empty array", "messages")
        return _openai_request(data, messages)

    def stream(self, reply: Reply) -> StreamEvents:
        prefix = _chunk_prefix(reply, "chatcmpl-" + reply.rid, b"chat.completion.chunk")
        role = b'[{"index":0,"delta":{"role":"assistant","content":""},'
        after = b'},"logprobs":null,"finish_reason":null}]}'
        finish = (
            b'[{"index":0,"delta":{},"logprobs":null,"finish_reason":"%s","stop_reason":null}]}'
        )
        return StreamEvents(
            content_type=_SSE_TYPE,
            preamble=(),
            first=(_sse(prefix + role + b'"logprobs":null,"finish_reason":null}]}'),),
            tokens=tuple(
                _sse(prefix + b'[{"index":0,"delta":{"content":' + w + after) for w in _WORDS_JSON
            ),
            tail=_stream_tail(reply, prefix, finish % reply.finish.encode()),
        )

    def body(self, reply: Reply) -> Body:
        message = {"role": "assistant", "content": _text(reply.n)}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
        return Body(_JSON_TYPE, _completion_body(reply, "chatcmpl-", "chat.completion", choice))


class Completions:
    """`POST /v1/completions` (legacy text completions), as vLLM streams it."""

    path = "/v1/completions"

    def parse(self, body: bytes) -> GenRequest:
        data = _load_object(body)
        prompt = data.get("prompt")
        if not isinstance(prompt, str | list) or not prompt:
            raise FormatError("prompt must be a non-empty string or array", "prompt")
        return _openai_request(data, prompt)

    def stream(self, reply: Reply) -> StreamEvents:
        prefix = _chunk_prefix(reply, "cmpl-" + reply.rid, b"text_completion")
        after = b',"logprobs":null,"finish_reason":null,"stop_reason":null}]}'
        finish = b'[{"index":0,"text":"","logprobs":null,"finish_reason":"%s","stop_reason":null}]}'
        return StreamEvents(
            content_type=_SSE_TYPE,
            preamble=(),
            first=(),
            tokens=tuple(_sse(prefix + b'[{"index":0,"text":' + w + after) for w in _WORDS_JSON),
            tail=_stream_tail(reply, prefix, finish % reply.finish.encode()),
        )

    def body(self, reply: Reply) -> Body:
        choice = {
            "index": 0,
            "text": _text(reply.n),
            "logprobs": None,
            "finish_reason": reply.finish,
        }
        return Body(_JSON_TYPE, _completion_body(reply, "cmpl-", "text_completion", choice))


def _completion_body(reply: Reply, id_prefix: str, kind: str, choice: object) -> bytes:
    return orjson.dumps(
        {
            "id": id_prefix + reply.rid,
            "object": kind,
            "created": reply.created,
            "model": reply.request.model,
            "choices": [choice],
            "usage": _usage(reply),
        }
    )


# The registry behind `--format`: API family name -> its generation endpoints.
FORMATS: Mapping[str, tuple[Endpoint, ...]] = {
    "openai": (ChatCompletions(), Completions()),
}
