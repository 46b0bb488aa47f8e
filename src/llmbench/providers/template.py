"""``--provider template``: a private gateway described by a TOML file, no code.

The file (``--provider-config FILE``, checked by :mod:`llmbench.providers.template_spec`)
gives the request (path, method, headers with ``{api_key}``/``${ENV}``, a body with
``{prompt}``, ``{messages}``, ``{max_tokens}``, ``{model}``), the framing (``sse``,
``ndjson`` or ``json``) and dotted paths into each message for the text, the thinking
text, usage, the end signal and errors. Examples: ``examples/providers/*.toml``.

The file is read when the options are built (through the edge's
:class:`~llmbench.providers.base.OptionSources`), so the provider gets a checked
:class:`~llmbench.providers.template_spec.Spec` and reads nothing itself.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmbench.config import PRIVATE_OPTION, ConfigError, RunConfig
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
from llmbench.providers.template_spec import KeyPath, Slot, Spec, Text, read_spec
from llmbench.workload import WorkloadItem

__all__ = [
    "SPEC",
    "Getter",
    "Template",
    "TemplateOptions",
    "add_flags",
    "getter",
    "lookup",
    "options_from",
]

_API_KEY = "{api_key}"
_MISSING = object()  # a Slot with no value: its key is left out of the body
Getter = Callable[[Any], Any]


def lookup(obj: Any, path: KeyPath) -> Any:
    """The value at a compiled dotted path, or None where the path leads nowhere."""
    for key, index in path:
        if type(obj) is dict:
            obj = obj.get(key)
        elif type(obj) is list and index is not None and -len(obj) <= index < len(obj):
            obj = obj[index]
        else:
            return None
    return obj


def getter(path: KeyPath | None) -> Getter:
    """A compiled :func:`lookup` for one path: paths of one or two object keys (most
    paths) get a closure without the loop; no path gets a function returning None."""
    if path is None:
        return _nothing
    if len(path) == 1 and path[0][1] is None:
        key = path[0][0]
        return lambda obj: obj.get(key) if type(obj) is dict else None
    if len(path) == 2 and path[0][1] is None and path[1][1] is None:
        first, second = path[0][0], path[1][0]

        def two(obj: Any) -> Any:
            if type(obj) is dict:
                obj = obj.get(first)
                if type(obj) is dict:
                    return obj.get(second)
            return None

        return two
    return lambda obj: lookup(obj, path)


def _nothing(obj: Any) -> None:
    return None


def _render(node: Any, values: Mapping[str, Any]) -> Any:
    """The body tree with placeholders filled: a Slot takes the value with its JSON
    type; a Text gets the values as text; a Slot with no value drops its key."""
    if isinstance(node, dict):
        out = {k: _render(v, values) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _MISSING}
    if isinstance(node, list):
        return [None if v is _MISSING else v for v in (_render(v, values) for v in node)]
    if isinstance(node, Slot):
        value = values[node.name]
        return _MISSING if value is None else value
    if isinstance(node, Text):
        return "".join(_as_text(values[p]) if i % 2 else p for i, p in enumerate(node.parts))
    return node


def _uses(node: Any, name: str) -> bool:
    """Whether the body tree has the placeholder ``name`` anywhere."""
    if isinstance(node, dict):
        return any(_uses(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_uses(v, name) for v in node)
    if isinstance(node, Slot):
        return node.name == name
    if isinstance(node, Text):
        return name in node.parts[1::2]
    return False


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _count(value: Any) -> int | None:
    """A token count as the gateway wrote it (a number, maybe a numeric string). The
    error does not quote the value: Python cuts a quoted value at 200 characters, and
    a credential cut there would escape redaction."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"a token count is not a number ({type(value).__name__})") from None


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """``--provider-config FILE`` and the checked spec read from it. summary.json shows
    the path; the spec (with its ``${ENV}`` values resolved) stays out of it."""

    provider_config: Path | None = None
    spec: Spec | None = field(default=None, metadata=PRIVATE_OPTION)


def add_flags(group: FlagGroup) -> None:
    group.add_argument("--provider-config", help="the TOML file describing the gateway")


def options_from(args: Namespace, sources: OptionSources) -> TemplateOptions:
    if not args.provider_config:
        return TemplateOptions()
    path = Path(args.provider_config)
    return TemplateOptions(path, read_spec(path, sources))


class Template:
    """A provider whose request and decoding come from a checked :class:`Spec`."""

    name = "template"
    framing: Framing = "sse"

    def __init__(self, cfg: RunConfig, options: TemplateOptions = TemplateOptions()) -> None:
        if options.spec is None:
            raise ConfigError("--provider template needs --provider-config FILE (a TOML file)")
        self.cfg = cfg
        self.spec = options.spec
        self.framing = self.spec.framing
        self.url = join_url(cfg.url, self.spec.path, cfg.endpoint)
        self._static = (("content-type", "application/json"), accept_header(self.framing))
        self._keyed = tuple(h for h in self.spec.headers if _API_KEY in h[1])
        self._plain = tuple(h for h in self.spec.headers if _API_KEY not in h[1])
        self._done = self.spec.done_sentinel
        spec = self.spec
        self._text = getter(spec.content)
        self._reasoning = getter(spec.reasoning)
        self._input = getter(spec.input_tokens)
        self._output = getter(spec.output_tokens)
        self._error = getter(spec.error)
        self._end = getter(spec.end)
        self._end_reason = getter(spec.end_reason)
        # A session's turn sends the message list if the body asks for one, else the
        # prompt grows turn by turn (llmbench.sessions).
        self.history = "messages" if _uses(spec.body, "messages") else "text"

    def _headers(self, api_key: str | None) -> tuple[Header, ...]:
        # Headers that need the key are left out when there is none: no key, no auth.
        keyed = [(n, v.replace(_API_KEY, api_key)) for n, v in self._keyed] if api_key else []
        return merge_headers(self._static, self._plain, keyed, self.cfg.headers)

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        cfg = self.cfg
        body = b""
        if self.spec.body is not None:
            values = {
                "prompt": item.prompt,
                "messages": item.chat_messages(),
                "max_tokens": max_tokens_of(item, cfg),
                "model": cfg.model,
            }
            tree = _render(self.spec.body, values)
            if isinstance(tree, dict):
                merge_body(tree, cfg.extra_body, item.extra_body)
            body = orjson.dumps(tree)
        return HttpRequest(self.spec.method, self.url, self._headers(api_key), body)

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        if data == self._done:
            return [End(data)]
        obj = orjson.loads(data)
        error = self._error(obj)
        if error:  # null, false, 0, "" and {} say "no error"
            return [StreamError(error_text(error))]
        if event == "error":
            return [StreamError(error_text(data))]
        out: list[StreamEvent] = []
        text, reasoning = self._text(obj), self._reasoning(obj)
        if text is not None or reasoning is not None:
            out.append(self._content(text, reasoning))
        prompt, completion = self._input(obj), self._output(obj)
        if prompt is not None or completion is not None:
            out.append(Usage(_count(prompt), _count(completion)))
        end = self._end(obj)
        if end is not None and self._ended(end):
            reason = self._end_reason(obj) if self.spec.end_reason is not None else end
            reason = "end" if reason is None or isinstance(reason, bool) else end_reason(reason)
            # With a done sentinel the stream goes on to it (usage may come first).
            out.append(End(reason, final=self._done is None))
        return out or [Meta(event)]

    def _content(self, text: Any, reasoning: Any) -> Content:
        if not isinstance(text or "", str) or not isinstance(reasoning or "", str):
            raise TypeError(f"{self.spec.source}: response.content/reasoning is not a string")
        return Content(text or "", reasoning or "")

    def _ended(self, value: Any) -> bool:
        """``end_value`` if the file gives one, else any value but null and false."""
        if self.spec.end_value is not None:
            return bool(value == self.spec.end_value)
        return value is not False


SPEC = ProviderSpec(Template.name, Template, TemplateOptions, add_flags, options_from)
