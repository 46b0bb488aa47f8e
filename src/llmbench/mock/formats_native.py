"""Inference servers' own APIs: Ollama's `POST /api/chat` and TGI's `POST /generate_stream`
(plus its non-streamed `POST /generate`).

Ollama, from https://github.com/ollama/ollama/blob/main/docs/api.md ("Generate a chat
completion"): streaming is the default (`"stream": false` turns it off); the body is
NDJSON, one object per line with `message.content`; the last line has `"done": true`,
`done_reason`, `prompt_eval_count` and `eval_count`. (The `*_duration` fields are left
out: a format has no clock.) `options.num_predict` limits the output.

TGI, from https://huggingface.github.io/text-generation-inference/ (the OpenAPI schema's
`StreamResponse`): SSE `data:{...}` events with `index`, `token {id, text, logprob,
special}`, and `generated_text`/`details` null until the last token's event, which
carries the whole text and, with `parameters.details`, `finish_reason`,
`generated_tokens`, `input_length` and `seed`. There is no `[DONE]`.
"""

from __future__ import annotations

import time

import orjson

from llmbench.mock.formats_base import (
    JSON_TYPE,
    NDJSON_TYPE,
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
)

__all__ = ["OllamaChat", "Tgi", "ollama_endpoints", "tgi_endpoints"]

_TGI_FINISH = {"length": "length", "stop": "eos_token"}


class OllamaChat:
    """`POST /api/chat`: NDJSON lines, the last one `done` with the counts."""

    family = "ollama"
    path = "/api/chat"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        model = get_str(data, "model", "")
        if not model:
            raise FormatError("model is required", "model")
        messages = get_messages(data)
        return GenRequest(
            model=model,
            max_tokens=max_tokens(get_object(data, "options"), "num_predict"),
            stream=get_bool(data, "stream", True),
            include_usage=True,
            prompt_tokens=count_words(messages),
            prompt=messages,
        )

    def stream(self, reply: Reply) -> StreamEvents:
        prefix = b'{"model":%s,"created_at":"%s","message":{"role":"assistant","content":' % (
            orjson.dumps(reply.request.model),
            _iso(reply.created),
        )
        return StreamEvents(
            content_type=NDJSON_TYPE,
            preamble=(),
            first=(),
            tokens=tuple(prefix + w + b'},"done":false}\n' for w in self.vocab.json),
            tail=(orjson.dumps(self._last(reply, "")) + b"\n",),
        )

    def body(self, reply: Reply) -> Body:
        return Body(JSON_TYPE, orjson.dumps(self._last(reply, self.vocab.text(reply.n))))

    @staticmethod
    def _last(reply: Reply, text: str) -> dict[str, object]:
        return {
            "model": reply.request.model,
            "created_at": _iso(reply.created).decode(),
            "message": {"role": "assistant", "content": text},
            "done_reason": reply.finish,
            "done": True,
            "prompt_eval_count": reply.request.prompt_tokens,
            "eval_count": reply.n,
        }


def _iso(created: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)).encode()


def _tgi_request(body: bytes, stream: bool) -> GenRequest:
    data = load_object(body)
    inputs = data.get("inputs")
    if not isinstance(inputs, str) or not inputs:
        raise FormatError("inputs must be a non-empty string", "inputs")
    params = get_object(data, "parameters")
    return GenRequest(
        model=get_str(data, "model", "tgi"),
        max_tokens=max_tokens(params, "max_new_tokens"),
        stream=stream,
        include_usage=get_bool(params, "details", False),
        prompt_tokens=count_words(inputs),
        prompt=inputs,
    )


def _details(reply: Reply) -> dict[str, object]:
    return {
        "finish_reason": _TGI_FINISH[reply.finish],
        "generated_tokens": reply.n,
        "input_length": reply.request.prompt_tokens,
        "seed": None,
    }


class Tgi:
    """`POST /generate_stream` (one SSE event per token, the last one ends the reply) or
    `POST /generate` (the whole text, and `details` when asked for, in one object)."""

    family = "tgi"

    def __init__(self, vocab: Vocab, path: str, *, streams: bool) -> None:
        self.vocab = vocab
        self.path = path
        self._streams = streams

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        return _tgi_request(body, stream=self._streams)

    def stream(self, reply: Reply) -> StreamEvents:
        vocab, n = self.vocab, reply.n
        running = b'"generated_text":null,"details":null,"top_tokens":null}\n\n'
        details = _details(reply) if reply.request.include_usage else None
        end = {"generated_text": vocab.text(n), "details": details, "top_tokens": None}
        last = orjson.dumps(end)[1:] + b"\n\n"  # the fields and the closing brace
        events = tuple(_tgi_token(vocab, k) + (last if k == n - 1 else running) for k in range(n))
        return StreamEvents(SSE_TYPE, (), (), events, ())

    def body(self, reply: Reply) -> Body:
        obj: dict[str, object] = {"generated_text": self.vocab.text(reply.n)}
        if reply.request.include_usage:
            obj["details"] = _details(reply)
        return Body(JSON_TYPE, orjson.dumps(obj))


def _tgi_token(vocab: Vocab, k: int) -> bytes:
    """Event k up to its `generated_text` field; TGI writes `data:` with no space."""
    word = k % len(vocab.words)
    return b'data:{"index":%d,"token":{"id":%d,"text":%s,"logprob":-0.25,"special":false},' % (
        k + 1,
        word,
        vocab.json[word],
    )


def ollama_endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """Ollama's route, rendering replies from `vocab`."""
    return (OllamaChat(vocab),)


def tgi_endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """TGI's routes, rendering replies from `vocab`."""
    return (Tgi(vocab, "/generate_stream", streams=True), Tgi(vocab, "/generate", streams=False))
