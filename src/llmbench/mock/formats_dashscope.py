"""Alibaba Cloud Model Studio (DashScope), native text generation:
`POST /api/v1/services/aigc/text-generation/generation`.

Written from the API reference (https://help.aliyun.com/zh/model-studio/developer-reference/
use-qwen-by-calling-api, HTTP tab). The header `X-DashScope-SSE: enable` turns the reply
into SSE; without it the reply is one JSON object. Each event is written without spaces
after the colons, with a running `id`, `event:result` and an `:HTTP_STATUS/200` comment::

    id:1
    event:result
    :HTTP_STATUS/200
    data:{"output":{"choices":[{"message":{"content":" the","role":"assistant"},
          "finish_reason":"null"}]},"usage":{...,"output_tokens":1},"request_id":"..."}

`finish_reason` is the string "null" until the last event, which says stop/length and,
with `parameters.incremental_output: true`, has empty content; without it (the default)
every event carries the whole text so far. Only `result_format: "message"` is served
(the old `"text"` shape is refused with 400). `usage.output_tokens` is cumulative.
There is no `[DONE]`.
"""

from __future__ import annotations

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
    get_object,
    get_str,
    load_object,
    max_tokens,
)

__all__ = ["Generation", "endpoints"]

_HEAD = b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:"


def _event(k: int, output: bytes, usage: bytes, rid: bytes) -> bytes:
    data = b'{"output":' + output + b',"usage":' + usage + b',"request_id":' + rid + b"}"
    return _HEAD % k + data + b"\n\n"


class Generation:
    """`POST /api/v1/services/aigc/text-generation/generation`, SSE or whole."""

    family = "dashscope"
    path = "/api/v1/services/aigc/text-generation/generation"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        model = get_str(data, "model", "")
        if not model:
            raise FormatError("model is required", "model")
        given = get_object(data, "input")
        messages, prompt = given.get("messages"), given.get("prompt")
        if not (isinstance(messages, list) and messages) and not isinstance(prompt, str):
            raise FormatError("input.messages or input.prompt is required", "input")
        params = get_object(data, "parameters")
        if get_str(params, "result_format", "message") != "message":
            raise FormatError("the mock answers parameters.result_format message only")
        sse = (header(b"x-dashscope-sse") or b"").lower() == b"enable"
        return GenRequest(
            model=model,
            max_tokens=max_tokens(params, "max_tokens"),
            stream=sse,
            include_usage=True,
            prompt_tokens=count_words(messages) + count_words(prompt),
            cumulative=not get_bool(params, "incremental_output", False),
            prompt=(messages, prompt),
        )

    def stream(self, reply: Reply) -> StreamEvents:
        rid = orjson.dumps(reply.rid)
        prompt = reply.request.prompt_tokens
        events: list[bytes] = []
        so_far = ""
        for k in range(reply.n):
            word = self.vocab.word(k)
            so_far += word
            text = so_far if reply.request.cumulative else word
            events.append(_event(k + 1, _output(text, "null"), _usage(prompt, k + 1), rid))
        last = so_far if reply.request.cumulative else ""
        end = _event(reply.n + 1, _output(last, reply.finish), _usage(prompt, reply.n), rid)
        return StreamEvents(SSE_TYPE, (), (), tuple(events), (end,))

    def body(self, reply: Reply) -> Body:
        obj = {
            "output": orjson.Fragment(_output(self.vocab.text(reply.n), reply.finish)),
            "usage": orjson.Fragment(_usage(reply.request.prompt_tokens, reply.n)),
            "request_id": reply.rid,
        }
        return Body(JSON_TYPE, orjson.dumps(obj))


def _output(text: str, finish: str) -> bytes:
    message = {"content": text, "role": "assistant"}
    return orjson.dumps({"choices": [{"message": message, "finish_reason": finish}]})


def _usage(prompt: int, output: int) -> bytes:
    return b'{"total_tokens":%d,"output_tokens":%d,"input_tokens":%d}' % (
        prompt + output,
        output,
        prompt,
    )


def endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """The family's routes, rendering replies from `vocab`."""
    return (Generation(vocab),)
