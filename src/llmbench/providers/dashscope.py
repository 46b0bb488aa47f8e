"""Alibaba Cloud Model Studio (DashScope), native text generation:
``POST /api/v1/services/aigc/text-generation/generation``.

API: https://help.aliyun.com/zh/model-studio/developer-reference/use-qwen-by-calling-api
(HTTP, "DashScope" tab). The header ``X-DashScope-SSE: enable`` turns on SSE. Each event
is written without spaces after the colons::

    id:1
    event:result
    :HTTP_STATUS/200
    data:{"output":{"choices":[{"message":{"content":"Hi","role":"assistant"},
          "finish_reason":"null"}]},"usage":{"input_tokens":12,"output_tokens":1},...}

With ``result_format: "message"`` the text is ``output.choices[0].message.content``
(a list of ``{"text": ...}`` parts for multimodal models; ``output.text`` with the old
``result_format: "text"``), thinking models add ``reasoning_content``, and with
``incremental_output: true`` each event carries only the new text. ``finish_reason`` is
the string ``"null"`` (or null) until the last event, which says ``stop``/``length``.
There is no ``[DONE]``. ``usage.output_tokens`` is cumulative on every event, which tells
how many tokens each chunk carried. A failure is ``event:error`` with
``{"code": ..., "message": ..., "request_id": ...}``. Without SSE the body is one
object of the same shape.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmbench.config import RunConfig
from llmbench.events import Content, End, StreamError, StreamEvent, Usage
from llmbench.http.request import HttpRequest
from llmbench.providers.base import (
    Framing,
    NoOptions,
    ProviderSpec,
    accept_header,
    bearer,
    end_reason,
    error_text,
    join_url,
    max_tokens_of,
    merge_body,
    merge_headers,
)
from llmbench.workload import WorkloadItem

__all__ = ["SPEC", "DashScope"]

_NOT_FINISHED = (None, "", "null")
_NO_OPTIONS = NoOptions()
_EMPTY: dict[str, Any] = {}


def _text(content: Any) -> str:
    """Message content: a string, or (multimodal models) a list of ``{"text": ...}``."""
    if isinstance(content, str):
        return content
    if not content:
        return ""
    return "".join(part.get("text") or "" for part in content)


class DashScope:
    """``--provider dashscope``: messages in ``input.messages``, ``--max-tokens`` in
    ``parameters.max_tokens``; ``--extra-body '{"parameters": {...}}'`` adds parameters."""

    name = "dashscope"
    history = "messages"  # a session's turn sends the message list (llmbench.sessions)
    framing: Framing = "sse"
    path = "/api/v1/services/aigc/text-generation/generation"

    def __init__(self, cfg: RunConfig, options: NoOptions = _NO_OPTIONS) -> None:
        self.cfg = cfg
        self.url = join_url(cfg.url, self.path, cfg.endpoint)
        self.framing = "sse" if cfg.stream else "json"
        headers = [("content-type", "application/json"), accept_header(self.framing)]
        if cfg.stream:
            headers.append(("x-dashscope-sse", "enable"))
        self._static_headers = tuple(headers)

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        cfg = self.cfg
        parameters: dict[str, Any] = {"result_format": "message"}
        if cfg.stream:
            parameters["incremental_output"] = True
        max_tokens = max_tokens_of(item, cfg)
        if max_tokens is not None:
            parameters["max_tokens"] = max_tokens
        body: dict[str, Any] = {"input": {"messages": item.chat_messages()}}
        if cfg.model is not None:
            body["model"] = cfg.model
        body["parameters"] = parameters
        merge_body(body, cfg.extra_body, item.extra_body)
        headers = merge_headers(self._static_headers, bearer(api_key), cfg.headers)
        return HttpRequest("POST", self.url, headers, orjson.dumps(body))

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        obj = orjson.loads(data)
        output = obj.get("output")
        if event == "error" or output is None:
            return [StreamError(error_text(obj, "code", "message"))]
        choices = output.get("choices")
        if choices:
            choice = choices[0]
            message = choice.get("message") or _EMPTY
            content = Content(_text(message.get("content")), message.get("reasoning_content") or "")
            finish = choice.get("finish_reason")
        else:
            content = Content(output.get("text") or "")
            finish = output.get("finish_reason")
        out: list[StreamEvent] = [content]
        usage = obj.get("usage")
        if usage:
            out.append(Usage(usage.get("input_tokens"), usage.get("output_tokens")))
        if finish not in _NOT_FINISHED:
            out.append(End(end_reason(finish)))
        return out


SPEC = ProviderSpec(DashScope.name, DashScope, NoOptions)
