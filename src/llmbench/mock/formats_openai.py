"""The OpenAI family: `POST /v1/chat/completions` and `POST /v1/completions`.

Written from vLLM's OpenAI-compatible server (its `serving_chat.py` /
`serving_completion.py` chunk shapes), not from llmbench's providers: a role chunk, one
chunk per token, a finish chunk, a usage chunk when `stream_options.include_usage`, then
`data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from llmbench.mock.formats_base import (
    JSON_TYPE,
    SSE_TYPE,
    Body,
    Endpoint,
    FormatError,
    GenRequest,
    HeaderLookup,
    Reply,
    StreamEvents,
    Vocab,
    count_words,
    get_bool,
    get_messages,
    get_object,
    get_str,
    load_object,
    max_tokens,
    sse,
)

__all__ = ["ChatCompletions", "Completions", "endpoints"]

_DONE = b"data: [DONE]\n\n"


def _openai_request(data: Mapping[str, object], prompt: object) -> GenRequest:
    # vLLM's `model` is optional: "" here, and the server answers as its served model.
    return GenRequest(
        model=get_str(data, "model", ""),
        max_tokens=max_tokens(data, "max_completion_tokens", "max_tokens"),
        stream=get_bool(data, "stream", False),
        include_usage=get_object(data, "stream_options").get("include_usage") is True,
        prompt_tokens=count_words(prompt),
        prompt=prompt,
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
    tail = [sse(prefix + finish_choice)]
    if reply.request.include_usage:
        tail.append(sse(prefix + b'[],"usage":' + orjson.dumps(_usage(reply)) + b"}"))
    tail.append(_DONE)
    return tuple(tail)


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


class ChatCompletions:
    """`POST /v1/chat/completions`, as vLLM streams it (role chunk, deltas, finish, usage)."""

    family = "openai"
    path = "/v1/chat/completions"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        messages = get_messages(data)
        return _openai_request(data, messages)

    def stream(self, reply: Reply) -> StreamEvents:
        prefix = _chunk_prefix(reply, "chatcmpl-" + reply.rid, b"chat.completion.chunk")
        role = b'[{"index":0,"delta":{"role":"assistant","content":""},'
        after = b'},"logprobs":null,"finish_reason":null}]}'
        finish = (
            b'[{"index":0,"delta":{},"logprobs":null,"finish_reason":"%s","stop_reason":null}]}'
        )
        return StreamEvents(
            content_type=SSE_TYPE,
            preamble=(),
            first=(sse(prefix + role + b'"logprobs":null,"finish_reason":null}]}'),),
            tokens=tuple(
                sse(prefix + b'[{"index":0,"delta":{"content":' + w + after)
                for w in self.vocab.json
            ),
            tail=_stream_tail(reply, prefix, finish % reply.finish.encode()),
        )

    def body(self, reply: Reply) -> Body:
        message = {"role": "assistant", "content": self.vocab.text(reply.n)}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
        return Body(JSON_TYPE, _completion_body(reply, "chatcmpl-", "chat.completion", choice))


class Completions:
    """`POST /v1/completions` (legacy text completions), as vLLM streams it."""

    family = "openai"
    path = "/v1/completions"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        prompt = data.get("prompt")
        if not isinstance(prompt, str | list) or not prompt:
            raise FormatError("prompt must be a non-empty string or array", "prompt")
        return _openai_request(data, prompt)

    def stream(self, reply: Reply) -> StreamEvents:
        prefix = _chunk_prefix(reply, "cmpl-" + reply.rid, b"text_completion")
        after = b',"logprobs":null,"finish_reason":null,"stop_reason":null}]}'
        finish = b'[{"index":0,"text":"","logprobs":null,"finish_reason":"%s","stop_reason":null}]}'
        return StreamEvents(
            content_type=SSE_TYPE,
            preamble=(),
            first=(),
            tokens=tuple(sse(prefix + b'[{"index":0,"text":' + w + after) for w in self.vocab.json),
            tail=_stream_tail(reply, prefix, finish % reply.finish.encode()),
        )

    def body(self, reply: Reply) -> Body:
        choice = {
            "index": 0,
            "text": self.vocab.text(reply.n),
            "logprobs": None,
            "finish_reason": reply.finish,
        }
        return Body(JSON_TYPE, _completion_body(reply, "cmpl-", "text_completion", choice))


def endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """The family's routes, rendering replies from `vocab`."""
    return (ChatCompletions(vocab), Completions(vocab))
