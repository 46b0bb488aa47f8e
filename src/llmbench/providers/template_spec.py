"""Reading and checking a ``--provider template`` TOML file.

Everything that can be wrong with the file is found here, before the run, and raised
as one :class:`~llmbench.config.ConfigError` line naming the file and the key. What
comes out is precompiled for the hot path: dotted paths become tuples of keys, the
body becomes a tree of :class:`Slot`/:class:`Text` placeholders, ``${ENV}`` values are
resolved once. See ``examples/providers/*.toml`` and the README for the format.

The file and the environment come in through
:class:`~llmbench.providers.base.OptionSources`: this module reads neither itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmbench.config import ConfigError, check_header, check_json
from llmbench.providers.base import FRAMINGS, Framing, Header, OptionSources

__all__ = [
    "PLACEHOLDERS",
    "KeyPath",
    "Slot",
    "Spec",
    "Text",
    "compile_path",
    "parse_spec",
    "read_spec",
]

PLACEHOLDERS = ("prompt", "messages", "max_tokens", "model")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = re.compile(r"[^.\s]+")
_METHOD = re.compile(r"[A-Z]+")

# A dotted path, compiled: each key with its list index (None if not an integer).
KeyPath = tuple[tuple[str, int | None], ...]

_TOP_KEYS = {"name", "description", "path", "method", "framing", "headers", "body", "response"}
_RESPONSE_KEYS = {
    "content": "path",
    "reasoning": "path",
    "input_tokens": "path",
    "output_tokens": "path",
    "end": "path",
    "end_reason": "path",
    "error": "path",
    "end_value": "value",
    "done_sentinel": "str",
}


@dataclass(frozen=True, slots=True)
class Slot:
    """A body string that is exactly one placeholder: replaced by the JSON value."""

    name: str


@dataclass(frozen=True, slots=True)
class Text:
    """A body string with placeholders inside other text: ``parts`` alternate literal
    text and placeholder names (odd indexes), joined as text."""

    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Spec:
    """A checked template: everything the provider needs, nothing left to parse."""

    source: str
    path: str
    method: str
    framing: Framing
    headers: tuple[Header, ...]
    body: Any
    content: KeyPath
    reasoning: KeyPath | None = None
    input_tokens: KeyPath | None = None
    output_tokens: KeyPath | None = None
    end: KeyPath | None = None
    end_value: Any = None
    end_reason: KeyPath | None = None
    error: KeyPath | None = None
    done_sentinel: str | None = None


def _fail(source: str, key: str, rule: str) -> ConfigError:
    return ConfigError(f"--provider-config {source}: {key}: {rule}")


def compile_path(text: object, source: str, key: str) -> KeyPath:
    """``"choices.0.delta.content"`` to ``(("choices", None), ("0", 0), ...)``."""
    if not isinstance(text, str) or not text:
        raise _fail(
            source, key, f"must be a dotted path like choices.0.delta.content, got {text!r}"
        )
    segments = text.split(".")
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise _fail(source, key, f"{text!r} is not a dotted path (empty part or whitespace)")
    return tuple((s, int(s) if s.lstrip("-").isdigit() else None) for s in segments)


def _expand_env(value: str, env: Mapping[str, str], source: str, key: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise _fail(source, key, f"environment variable {name} is not set")
        return env[name]

    return _ENV.sub(one, value)


def _compile_value(value: Any, env: Mapping[str, str], source: str, key: str) -> Any:
    """A body value with its placeholders made into Slot/Text and ``${ENV}`` resolved."""
    if isinstance(value, dict):
        return {k: _compile_value(v, env, source, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_compile_value(v, env, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    value = _expand_env(value, env, source, key)
    parts = tuple(_PLACEHOLDER.split(value))
    if len(parts) == 1:
        return value
    if parts[0] == "" and parts[2] == "" and len(parts) == 3:
        return Slot(parts[1])
    return Text(parts)


def _quote_bare_placeholders(template: str) -> str:
    """In a JSON text, quote every ``{name}`` that stands outside a string literal, so
    ``{"n": {max_tokens}}`` parses and ``{max_tokens}`` becomes a Slot like
    ``"{max_tokens}"``. A small scanner: strings and their escapes are skipped whole."""
    out: list[str] = []
    i, in_string = 0, False
    while i < len(template):
        ch = template[i]
        if in_string:
            out.append(template[i : i + 2] if ch == "\\" else ch)
            i += 2 if ch == "\\" else 1
            in_string = ch != '"'
            continue
        match = _PLACEHOLDER.match(template, i)
        if match:
            out.append(f'"{match.group(0)}"')
            i = match.end()
            continue
        out.append(ch)
        in_string = ch == '"'
        i += 1
    return "".join(out)


def _body(raw: Any, env: Mapping[str, str], source: str) -> Any:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(_quote_bare_placeholders(raw))
        except ValueError as exc:
            raise _fail(source, "body", f"not a JSON template ({exc})") from None
    if not isinstance(raw, dict | list):
        raise _fail(source, "body", "must be a table or a JSON string template")
    check_json(raw, f"--provider-config {source}: body")  # 64-bit integers, finite numbers
    return _compile_value(raw, env, source, "body")


def _headers(raw: Any, env: Mapping[str, str], source: str) -> tuple[Header, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _fail(source, "headers", "must be a table of name = value strings")
    out = []
    for name, value in raw.items():
        if not isinstance(value, str):
            raise _fail(source, f"headers.{name}", f"must be a string, got {value!r}")
        value = _expand_env(value, _HeaderEnv(env), source, f"headers.{name}")
        # as -H: a token name, a printable-ASCII value (a CR/LF would inject headers)
        check_header(name, value, f"--provider-config {source}: headers")
        out.append((name, value))
    return tuple(out)


class _HeaderEnv(Mapping[str, str]):
    """The environment as a header value reads it: each variable without one trailing
    line ending (\\n, \\r\\n or the CR a sourced CRLF .env file leaves), like API keys."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        return self._env[name].removesuffix("\n").removesuffix("\r")

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def _response(raw: Any, source: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(source, "response", "a [response] table with at least content is required")
    unknown = sorted(set(raw) - set(_RESPONSE_KEYS))
    if unknown:
        known = ", ".join(_RESPONSE_KEYS)
        raise _fail(source, f"response.{unknown[0]}", f"unknown key (known: {known})")
    if "content" not in raw:
        raise _fail(source, "response.content", "required: the dotted path of the text")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _RESPONSE_KEYS[key]
        if kind == "path":
            out[key] = compile_path(value, source, f"response.{key}")
        elif kind == "str" and not isinstance(value, str):
            raise _fail(source, f"response.{key}", f"must be a string, got {value!r}")
        else:
            out[key] = value
    if "end_value" in out and "end" not in out:
        raise _fail(source, "response.end_value", "needs response.end (the path it compares)")
    return out


def _top(data: dict[str, Any], source: str) -> tuple[str, str, Framing]:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(source, unknown[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _fail(source, "path", f"required, a URL path starting with /, got {path!r}")
    method = data.get("method", "POST")
    if not isinstance(method, str) or not _METHOD.fullmatch(method.upper()):
        raise _fail(source, "method", f"must be an HTTP method like POST, got {method!r}")
    framing = data.get("framing")
    if framing not in FRAMINGS:
        raise _fail(source, "framing", f"must be one of {', '.join(FRAMINGS)}, got {framing!r}")
    return path, method.upper(), framing


def parse_spec(data: dict[str, Any], source: str, env: Mapping[str, str]) -> Spec:
    """A Spec from parsed TOML ``data``; ``source`` names the file in messages."""
    path, method, framing = _top(data, source)
    return Spec(
        source=source,
        path=path,
        method=method,
        framing=framing,
        headers=_headers(data.get("headers"), env, source),
        body=_body(data.get("body"), env, source),
        **_response(data.get("response"), source),
    )


def read_spec(path: Path, sources: OptionSources) -> Spec:
    """Read the TOML file at ``path`` through ``sources`` and check it, with
    ``${ENV}`` from ``sources.environ``; ConfigError on any problem."""
    try:
        data = tomllib.loads(sources.read_file(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--provider-config {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--provider-config {path}: invalid TOML ({exc})") from None
    return parse_spec(data, str(path), sources.environ)
