"""OpenAI-compatible chat and completions APIs (vLLM, SGLang, TGI, llama.cpp, gateways).

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — each SSE
``data:`` is a ``chat.completion.chunk``; a chunk with ``finish_reason`` ends the
generation, an optional usage chunk (``choices: []``) may follow it, and ``data: [DONE]``
closes the stream. Some servers never send ``[DONE]``: the runner reads to EOF.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmbench.config import RunConfig
from llmbench.events import Content, End, StreamError, StreamEvent, Usage
from llmbench.http.request import HttpRequest
from llmbench.providers.base import Framing, join_url
from llmbench.workload import WorkloadItem

__all__ = ["OpenAIChat", "OpenAICompletions", "auth_headers"]

_DONE = "[DONE]"


def auth_headers(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """``Authorization: Bearer <key>``; a key that already carries ``Bearer `` is sent as is."""
    if not api_key:
        return ()
    value = api_key if api_key.startswith("Bearer ") else f"Bearer {api_key}"
    return (("authorization", value),)


def _usage(obj: dict[str, Any]) -> list[StreamEvent]:
    usage = obj.get("usage")
    if not usage:
        return []
    return [Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))]


def _error(obj: dict[str, Any]) -> StreamError:
    err = obj["error"]
    message = err.get("message", err) if isinstance(err, dict) else err
    return StreamError(str(message)[:1024])


class _OpenAIBase:
    name = ""
    framing: Framing = "sse"
    path = ""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.url = join_url(cfg.url, self.path, cfg.endpoint)
        self._static_headers = (
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
        )

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        raise NotImplementedError

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        body = self._body(item)
        if self.cfg.model is not None:
            body["model"] = self.cfg.model
        max_tokens = item.max_tokens if item.max_tokens is not None else self.cfg.max_tokens
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body["stream"] = True
        if self.cfg.include_usage:
            body["stream_options"] = {"include_usage": True}
        body.update(item.extra_body)
        headers = self._static_headers + auth_headers(api_key)
        return HttpRequest("POST", self.url, headers, orjson.dumps(body))

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        if data == _DONE:
            return [End(_DONE)]
        obj = orjson.loads(data)
        if "error" in obj:
            return [_error(obj)]
        choices = obj.get("choices")
        if not choices:
            return _usage(obj)
        choice = choices[0]
        out: list[StreamEvent] = [self._content(choice)]
        if choice.get("finish_reason"):
            out.append(End(choice["finish_reason"]))
        if obj.get("usage"):
            out.extend(_usage(obj))
        return out

    def _content(self, choice: dict[str, Any]) -> Content:
        raise NotImplementedError


class OpenAIChat(_OpenAIBase):
    """``/v1/chat/completions``: text in ``delta.content``, thinking in
    ``delta.reasoning_content`` (vLLM, DeepSeek) or ``delta.reasoning`` (newer vLLM)."""

    name = "openai-chat"
    path = "/v1/chat/completions"

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        return {"messages": item.chat_messages()}

    def _content(self, choice: dict[str, Any]) -> Content:
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        return Content(text, reasoning)


class OpenAICompletions(_OpenAIBase):
    """``/v1/completions``: text in ``choices[0].text``."""

    name = "openai-completions"
    path = "/v1/completions"

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        return {"prompt": item.prompt}

    def _content(self, choice: dict[str, Any]) -> Content:
        return Content(choice.get("text") or "")
