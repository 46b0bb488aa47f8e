"""Anthropic Messages API: ``POST /v1/messages``.

API: https://docs.anthropic.com/en/api/messages and, for the stream,
https://docs.anthropic.com/en/docs/build-with-claude/streaming. Auth is ``x-api-key``
plus ``anthropic-version``; ``max_tokens`` is required. The SSE events, each with a
matching ``type`` in its data, are ``message_start`` (``message.usage.input_tokens``),
``content_block_start``, ``content_block_delta`` (``text_delta`` text, ``thinking_delta``
thinking, ``input_json_delta``/``signature_delta`` bookkeeping), ``content_block_stop``,
``message_delta`` (``delta.stop_reason``, cumulative ``usage.output_tokens``),
``message_stop`` (the end), ``ping`` and ``error`` (``{"error": {"type", "message"}}``).
Without streaming the body is one ``message`` object with a ``content`` list.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from llmbench.config import RunConfig
from llmbench.events import Content, End, Meta, StreamError, StreamEvent, Usage
from llmbench.http.request import HttpRequest
from llmbench.providers.base import (
    FlagGroup,
    Framing,
    Header,
    OptionSources,
    ProviderSpec,
    accept_header,
    end_reason,
    error_text,
    join_url,
    max_tokens_of,
    merge_body,
    merge_headers,
)
from llmbench.workload import WorkloadItem

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_VERSION",
    "SPEC",
    "Anthropic",
    "AnthropicOptions",
    "add_flags",
    "options_from",
]

# The API rejects a request without max_tokens; this is sent when none is given.
DEFAULT_MAX_TOKENS = 1024
# The anthropic-version header: the API's dated version, required on every request.
DEFAULT_VERSION = "2023-06-01"

_Handler = Callable[[dict[str, Any]], list[StreamEvent]]


def _usage(usage: Mapping[str, Any] | None) -> list[StreamEvent]:
    if not usage:
        return []
    return [Usage(usage.get("input_tokens"), usage.get("output_tokens"))]


def _delta(obj: dict[str, Any]) -> list[StreamEvent]:
    delta = obj["delta"]
    kind = delta.get("type")
    if kind == "text_delta":
        return [Content(delta["text"])]
    if kind == "thinking_delta":
        return [Content("", delta["thinking"])]
    return [Meta(kind or "content_block_delta")]


def _block_start(obj: dict[str, Any]) -> list[StreamEvent]:
    # A text block starts empty in practice; if one ever starts with text, it counts.
    text = (obj.get("content_block") or {}).get("text")
    return [Content(text)] if text else [Meta("content_block_start")]


def _message(obj: dict[str, Any]) -> list[StreamEvent]:
    """A whole (non-streaming) message: every text and thinking block, usage, stop."""
    text = [b.get("text") or "" for b in obj["content"] if b.get("type") == "text"]
    thinking = [b.get("thinking") or "" for b in obj["content"] if b.get("type") == "thinking"]
    end = End(end_reason(obj.get("stop_reason") or "message"))
    return [Content("".join(text), "".join(thinking)), *_usage(obj.get("usage")), end]


_HANDLERS: dict[str, _Handler] = {
    "content_block_delta": _delta,
    "message_start": lambda obj: _usage(obj["message"].get("usage")),
    "message_delta": lambda obj: _usage(obj.get("usage")),
    "message_stop": lambda obj: [End("message_stop")],
    "content_block_start": _block_start,
    "error": lambda obj: [StreamError(error_text(obj["error"], "type", "message"))],
    "message": _message,
}


def _split_system(messages: list[Mapping[str, Any]]) -> tuple[str, list[Mapping[str, Any]]]:
    """The Messages API takes the system prompt as a top-level field, not a message."""
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    return "\n".join(system), rest


@dataclass(frozen=True, slots=True)
class AnthropicOptions:
    anthropic_version: str = DEFAULT_VERSION  # --anthropic-version


def add_flags(group: FlagGroup) -> None:
    group.add_argument(
        "--anthropic-version",
        default=DEFAULT_VERSION,
        help=f"the anthropic-version header (default {DEFAULT_VERSION})",
    )


def options_from(args: Namespace, sources: OptionSources) -> AnthropicOptions:
    return AnthropicOptions(args.anthropic_version)


class Anthropic:
    """``--provider anthropic``: ``--anthropic-version`` sets the version header;
    system messages from a prompt file become the top-level ``system`` field."""

    name = "anthropic"
    history = "messages"  # a session's turn sends the message list (llmbench.sessions)
    framing: Framing = "sse"
    path = "/v1/messages"

    def __init__(self, cfg: RunConfig, options: AnthropicOptions = AnthropicOptions()) -> None:
        self.cfg = cfg
        self.url = join_url(cfg.url, self.path, cfg.endpoint)
        self.framing = "sse" if cfg.stream else "json"
        self._static_headers: tuple[Header, ...] = (
            ("content-type", "application/json"),
            accept_header(self.framing),
            ("anthropic-version", options.anthropic_version),
        )

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        cfg = self.cfg
        system, messages = _split_system(item.chat_messages())
        body: dict[str, Any] = {}
        if cfg.model is not None:
            body["model"] = cfg.model
        body["max_tokens"] = max_tokens_of(item, cfg) or DEFAULT_MAX_TOKENS
        if system:
            body["system"] = system
        body["messages"] = messages
        if cfg.stream:
            body["stream"] = True
        merge_body(body, cfg.extra_body, item.extra_body)
        key: tuple[Header, ...] = (("x-api-key", api_key),) if api_key else ()
        headers = merge_headers(self._static_headers, key, cfg.headers)
        return HttpRequest("POST", self.url, headers, orjson.dumps(body))

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        obj = orjson.loads(data)
        kind = obj.get("type") or event
        handler = _HANDLERS.get(kind)
        return handler(obj) if handler is not None else [Meta(kind)]


SPEC = ProviderSpec(Anthropic.name, Anthropic, AnthropicOptions, add_flags, options_from)
