"""Anthropic's Messages API: `POST /v1/messages`.

Written from https://docs.anthropic.com/en/api/messages and the streaming guide
(https://docs.anthropic.com/en/docs/build-with-claude/streaming): every event has an SSE
`event:` name and the same `type` in its data. The flow is `message_start` (a message
with empty content and the input usage), `content_block_start`, `ping`, one
`content_block_delta` (`text_delta`) per token, `content_block_stop`, `message_delta`
(`stop_reason`, cumulative `usage.output_tokens`) and `message_stop`; no `[DONE]`.
`max_tokens` is required. Without `"stream": true` the body is one `message` object.
"""

from __future__ import annotations

import orjson

from llmbench.mock.formats_base import (
    DEFAULT_MODEL,
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
    get_str,
    load_object,
    max_tokens,
    sse_event,
)

__all__ = ["Messages", "endpoints"]

# The API's stop reasons for our two endings.
_STOP_REASONS = {"length": "max_tokens", "stop": "end_turn"}


def _message(
    reply: Reply, content: list[object], usage: dict[str, int], stop: str | None
) -> dict[str, object]:
    return {
        "id": "msg_" + reply.rid,
        "type": "message",
        "role": "assistant",
        "model": reply.request.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


class Messages:
    """`POST /v1/messages`, streamed as the streaming guide's example shows."""

    family = "anthropic"
    path = "/v1/messages"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        messages = get_messages(data)
        system = data.get("system")
        limit = max_tokens(data, "max_tokens")
        if limit is None:
            raise FormatError("max_tokens: Field required", "max_tokens")
        return GenRequest(
            model=get_str(data, "model", DEFAULT_MODEL),
            max_tokens=limit,
            stream=get_bool(data, "stream", False),
            include_usage=True,
            prompt_tokens=count_words(messages) + count_words(system),
            prompt=messages
            if system is None
            else ({"role": "system", "content": system}, messages),
        )

    def stream(self, reply: Reply) -> StreamEvents:
        start = {
            "type": "message_start",
            "message": _message(
                reply, [], {"input_tokens": reply.request.prompt_tokens, "output_tokens": 1}, None
            ),
        }
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP_REASONS[reply.finish], "stop_sequence": None},
            "usage": {"output_tokens": reply.n},
        }
        token = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%s}}'
        return StreamEvents(
            content_type=SSE_TYPE,
            preamble=(
                sse_event(b"message_start", orjson.dumps(start)),
                sse_event(
                    b"content_block_start",
                    b'{"type":"content_block_start","index":0,'
                    b'"content_block":{"type":"text","text":""}}',
                ),
                sse_event(b"ping", b'{"type": "ping"}'),
            ),
            first=(),
            tokens=tuple(sse_event(b"content_block_delta", token % w) for w in self.vocab.json),
            tail=(
                sse_event(b"content_block_stop", b'{"type":"content_block_stop","index":0}'),
                sse_event(b"message_delta", orjson.dumps(delta)),
                sse_event(b"message_stop", b'{"type":"message_stop"}'),
            ),
        )

    def body(self, reply: Reply) -> Body:
        usage = {"input_tokens": reply.request.prompt_tokens, "output_tokens": reply.n}
        content: list[object] = [{"type": "text", "text": self.vocab.text(reply.n)}]
        return Body(
            JSON_TYPE, orjson.dumps(_message(reply, content, usage, _STOP_REASONS[reply.finish]))
        )


def endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """The family's routes, rendering replies from `vocab`."""
    return (Messages(vocab),)
