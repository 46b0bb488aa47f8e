"""Dify chat apps: ``POST /v1/chat-messages``.

API: https://docs.dify.ai/guides/application-publishing/developing-with-apis (the
"Send Chat Message" reference each app shows under "API Access"). With
``response_mode: "streaming"`` the body is SSE whose ``data:`` is a JSON object naming
its own event (``{"event": "message", "answer": " I", ...}``); there is no SSE
``event:`` field except on keep-alive pings. ``message`` and ``agent_message`` carry the
answer text, ``message_end`` closes the message with ``metadata.usage``
(``prompt_tokens``/``completion_tokens``), ``error`` reports a failure (``status``,
``code``, ``message``) and ends the stream. Everything else (``ping``, ``workflow_*``,
``node_*``, ``message_file``, ``message_replace``, ``agent_thought``, ``tts_message*``)
is bookkeeping: counted, never timed. With ``response_mode: "blocking"`` the body is one
JSON object with the whole ``answer`` and ``metadata.usage``.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmbench.config import ConfigError, RunConfig, parse_json_object
from llmbench.events import Content, Conversation, End, Meta, StreamError, StreamEvent, Usage
from llmbench.http.request import HttpRequest
from llmbench.providers.base import (
    FlagGroup,
    Framing,
    OptionSources,
    ProviderSpec,
    accept_header,
    bearer,
    error_text,
    join_url,
    merge_body,
    merge_headers,
)
from llmbench.workload import WorkloadItem

__all__ = ["SPEC", "Dify", "DifyOptions", "add_flags", "options_from"]

_END = "message_end"
_TEXT_EVENTS = frozenset({"message", "agent_message"})


# Dify's ids are UUIDs; a longer "id" from a server is not one, and would be echoed
# into every later turn's body and the results.
MAX_CONVERSATION_ID = 256


def _conversation(obj: dict[str, Any]) -> list[StreamEvent]:
    """The reply's ``conversation_id`` (a session's later turns send it back), when it
    is a plausible id."""
    value = obj.get("conversation_id")
    if isinstance(value, str) and 0 < len(value) <= MAX_CONVERSATION_ID:
        return [Conversation(value)]
    return []


def _usage(obj: dict[str, Any]) -> list[StreamEvent]:
    usage = (obj.get("metadata") or {}).get("usage")
    if not usage:
        return []
    return [Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))]


@dataclass(frozen=True, slots=True)
class DifyOptions:
    """The request fields a Dify app takes besides the query."""

    user: str = "llmbench"  # --user
    conversation_id: str = ""  # --conversation-id: "" starts a new conversation
    inputs: Mapping[str, Any] = field(default_factory=dict)  # --inputs: the app's variables

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, Mapping):
            kind = type(self.inputs).__name__
            raise ConfigError(f"--inputs must be a JSON object, got {kind}")


def add_flags(group: FlagGroup) -> None:
    group.add_argument("--user", default="llmbench", help="the user field (default llmbench)")
    group.add_argument("--conversation-id", default="", help="conversation_id")
    group.add_argument("--inputs", help="the inputs object, as JSON")


def options_from(args: Namespace, sources: OptionSources) -> DifyOptions:
    inputs = parse_json_object(args.inputs, "--inputs")
    return DifyOptions(args.user, args.conversation_id, inputs)


class Dify:
    """``--provider dify``: the query is the prompt; ``--user``, ``--conversation-id``
    and ``--inputs`` fill the fields of the same names; the app picks the model. The
    app keeps a conversation's history: a session's turn sends its conversation_id."""

    name = "dify"
    framing: Framing = "sse"
    history = "server"  # a session's later turns send the conversation_id (llmbench.sessions)
    path = "/v1/chat-messages"

    def __init__(self, cfg: RunConfig, options: DifyOptions = DifyOptions()) -> None:
        self.cfg = cfg
        self.options = options
        self.url = join_url(cfg.url, self.path, cfg.endpoint)
        self._blocking = not cfg.stream
        self.framing = "json" if self._blocking else "sse"
        self._static_headers = (("content-type", "application/json"), accept_header(self.framing))

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        cfg, options = self.cfg, self.options
        body: dict[str, Any] = {
            "inputs": dict(options.inputs),
            "query": item.prompt,
            "response_mode": "blocking" if self._blocking else "streaming",
            # a session's turn names its own (llmbench.sessions; "" starts one)
            "conversation_id": (
                options.conversation_id if item.conversation_id is None else item.conversation_id
            ),
            "user": options.user,
            "files": [],
        }
        merge_body(body, cfg.extra_body, item.extra_body)
        headers = merge_headers(self._static_headers, bearer(api_key), cfg.headers)
        return HttpRequest("POST", self.url, headers, orjson.dumps(body))

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        if not data:  # an SSE `event: ping` block with no data
            return [Meta(event)]
        obj = orjson.loads(data)
        if self._blocking:
            return self._whole(obj)
        kind = obj.get("event") or event
        if kind in _TEXT_EVENTS:
            return [Content(obj.get("answer") or "")]
        if kind == _END:
            return [*_usage(obj), *_conversation(obj), End(_END)]
        if kind == "error":
            return [StreamError(error_text(obj, "code", "message"))]
        return [Meta(kind)]

    def _whole(self, obj: dict[str, Any]) -> list[StreamEvent]:
        """A blocking response: the whole answer, then its usage; the body is the end."""
        if obj.get("event") == "error" or ("code" in obj and "answer" not in obj):
            return [StreamError(error_text(obj, "code", "message"))]
        return [Content(obj["answer"] or ""), *_usage(obj), *_conversation(obj), End("blocking")]


SPEC = ProviderSpec(Dify.name, Dify, DifyOptions, add_flags, options_from)
