"""OpenAI-compatible chat and completions APIs (vLLM, SGLang, TGI, llama.cpp, gateways).

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — each SSE
``data:`` is a ``chat.completion.chunk``; a chunk with ``finish_reason`` ends the
generation, an optional usage chunk (``choices: []``) may follow it, and ``data: [DONE]``
closes the stream. Some servers never send ``[DONE]``: the runner reads to EOF.

With ``--no-stream`` the body is one ``chat.completion`` / ``text_completion`` object
(https://platform.openai.com/docs/api-reference/chat/object): the same ``decode`` reads
it, with the text in ``choices[0].message`` instead of ``choices[0].delta``.

Options (both APIs): ``--no-usage`` drops ``stream_options`` for servers that reject it;
``--continuous-usage`` asks vLLM for usage in every chunk.
"""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from typing import Any

import orjson

from llmbench.config import RunConfig
from llmbench.events import Content, End, StreamError, StreamEvent, Usage
from llmbench.http.request import HttpRequest
from llmbench.providers.base import (
    FlagGroup,
    Framing,
    OptionSources,
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

__all__ = [
    "CHAT_SPEC",
    "COMPLETIONS_SPEC",
    "OpenAIChat",
    "OpenAICompletions",
    "OpenAIOptions",
    "add_flags",
    "options_from",
]

_DONE = "[DONE]"
_NO_DELTA: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    """What a streaming request's ``stream_options`` asks for."""

    include_usage: bool = True  # --no-usage: False
    continuous_usage: bool = False  # --continuous-usage (implies include_usage)


def add_flags(group: FlagGroup) -> None:
    group.add_argument(
        "--no-usage",
        dest="include_usage",
        action="store_false",
        help="do not ask for stream_options.include_usage (servers that reject it)",
    )
    group.add_argument(
        "--continuous-usage",
        action="store_true",
        help="ask vLLM for usage in every chunk (tokens per chunk, for ITL)",
    )


def options_from(args: Namespace, sources: OptionSources) -> OpenAIOptions:
    return OpenAIOptions(args.include_usage, args.continuous_usage)


def _usage(obj: dict[str, Any]) -> list[StreamEvent]:
    usage = obj.get("usage")
    if not usage:
        return []
    return [Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))]


class _OpenAIBase:
    name = ""
    path = ""
    framing: Framing = "sse"

    def __init__(self, cfg: RunConfig, options: OpenAIOptions = OpenAIOptions()) -> None:
        self.cfg = cfg
        self.options = options
        self.url = join_url(cfg.url, self.path, cfg.endpoint)
        self.framing = "sse" if cfg.stream else "json"
        self._static_headers = (("content-type", "application/json"), accept_header(self.framing))

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        raise NotImplementedError

    def _stream_fields(self) -> dict[str, Any]:
        if not self.cfg.stream:
            return {"stream": False}
        if self.options.continuous_usage:  # vLLM: usage in every chunk; needs include_usage too
            options = {"include_usage": True, "continuous_usage_stats": True}
            return {"stream": True, "stream_options": options}
        if self.options.include_usage:
            return {"stream": True, "stream_options": {"include_usage": True}}
        return {"stream": True}

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        cfg = self.cfg
        body = self._body(item)
        if cfg.model is not None:
            body["model"] = cfg.model
        max_tokens = max_tokens_of(item, cfg)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body.update(self._stream_fields())
        if cfg.ignore_eos:
            body["ignore_eos"] = True  # vLLM/SGLang sampling extra
        merge_body(body, cfg.extra_body, item.extra_body)
        headers = merge_headers(self._static_headers, bearer(api_key), cfg.headers)
        return HttpRequest("POST", self.url, headers, orjson.dumps(body))

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        if data == _DONE:
            return [End(_DONE)]
        obj = orjson.loads(data)
        error = obj.get("error")
        if error:  # some servers send "error": null (or false) in every chunk
            return [StreamError(error_text(error))]
        choices = obj.get("choices")
        if not choices:
            return _usage(obj)
        choice = choices[0]
        out: list[StreamEvent] = [self._content(choice)]
        if obj.get("usage"):  # before End: the runner counts this chunk's tokens from it
            out.extend(_usage(obj))
        reason = choice.get("finish_reason")
        if reason:  # usage may follow before [DONE]; without streaming the body is all
            out.append(End(end_reason(reason), final=self.framing == "json"))
        return out

    def _content(self, choice: dict[str, Any]) -> Content:
        raise NotImplementedError


class OpenAIChat(_OpenAIBase):
    """``/v1/chat/completions``: text in ``delta.content`` (``message.content`` when not
    streaming), thinking in ``reasoning_content`` (vLLM, DeepSeek) or ``reasoning``
    (newer vLLM, OpenRouter)."""

    name = "openai-chat"
    history = "messages"  # a session's turn sends the message list (llmbench.sessions)
    path = "/v1/chat/completions"

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        return {"messages": item.chat_messages()}

    def _content(self, choice: dict[str, Any]) -> Content:
        delta = choice.get("delta") or choice.get("message") or _NO_DELTA
        text = delta.get("content") or ""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        return Content(text, reasoning)


class OpenAICompletions(_OpenAIBase):
    """``/v1/completions``: text in ``choices[0].text``, streaming or not."""

    name = "openai-completions"
    history = "text"  # a session's turn extends the last prompt (llmbench.sessions)
    path = "/v1/completions"

    def _body(self, item: WorkloadItem) -> dict[str, Any]:
        return {"prompt": item.prompt}

    def _content(self, choice: dict[str, Any]) -> Content:
        return Content(choice.get("text") or "")


CHAT_SPEC = ProviderSpec(
    OpenAIChat.name, OpenAIChat, OpenAIOptions, add_flags, options_from, lists_models=True
)
COMPLETIONS_SPEC = ProviderSpec(
    OpenAICompletions.name,
    OpenAICompletions,
    OpenAIOptions,
    add_flags,
    options_from,
    lists_models=True,
)
