"""The Provider contract: a workload item in, an HTTP request out; wire messages in,
StreamEvents out. No I/O and no clocks: the runner owns everything timed.

Also the helpers every provider shares, so the rules are the same everywhere: where
``--url``/``--endpoint`` put the path (:func:`join_url`), how ``-H`` headers override
a provider's own (:func:`merge_headers`), how ``--extra-body`` and a prompt file's extra
fields enter the body (:func:`merge_body`), and how an error payload becomes one line.

A provider's own options are declared beside it: a frozen dataclass with defaults, a
function adding its flags and one building the options from the parsed flags, bound
together with its factory in a :class:`ProviderSpec`, the registry's record.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson

from llmbench.config import RunConfig
from llmbench.events import StreamEvent
from llmbench.http.request import HttpRequest
from llmbench.workload import WorkloadItem

__all__ = [
    "FRAMINGS",
    "FlagGroup",
    "Framing",
    "Header",
    "NoOptions",
    "OptionSources",
    "Provider",
    "ProviderFactory",
    "ProviderSpec",
    "accept_header",
    "bearer",
    "end_reason",
    "error_text",
    "join_url",
    "max_tokens_of",
    "merge_body",
    "merge_headers",
]

Framing = Literal["sse", "ndjson", "json"]
FRAMINGS: tuple[Framing, ...] = ("sse", "ndjson", "json")
Header = tuple[str, str]


class Provider(Protocol):
    """One API family. ``decode`` gets one message: an SSE event's name and data,
    one NDJSON line (event ``"message"``), or a whole JSON body (framing ``json``).
    It may raise ValueError/KeyError/TypeError on a malformed message; the runner
    records that request as ``parse_error``."""

    name: str
    framing: Framing

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest: ...

    def decode(self, event: str, data: str) -> list[StreamEvent]: ...


# A plugin's plain entry point: a provider with no options of its own.
ProviderFactory = Callable[[RunConfig], Provider]

OptionsT = TypeVar("OptionsT")


class FlagGroup(Protocol):
    """Where a provider adds its flags: an argparse parser or argument group."""

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> Any: ...


def _no_files(path: Path) -> str:
    raise OSError(f"no file reader was given (reading {path})")


@dataclass(frozen=True, slots=True)
class OptionSources:
    """What a provider's options may read besides the flags: environment variables and
    files. The edge hands it in (:func:`llmbench.environment.local_sources`), so a
    provider module reads nothing itself; the default reads no file and sees no
    variable. ``read_file`` raises OSError/UnicodeDecodeError as reading would."""

    environ: Mapping[str, str] = field(default_factory=dict)
    read_file: Callable[[Path], str] = _no_files


@dataclass(frozen=True, slots=True)
class NoOptions:
    """The options of a provider that has none of its own."""


def _no_flags(group: FlagGroup) -> None:
    pass


@dataclass(frozen=True, slots=True)
class ProviderSpec(Generic[OptionsT]):
    """A provider as the registry knows it: its name, its factory, and its own options.

    ``options_type`` is a frozen dataclass whose fields all have defaults (its no-flag
    value); ``add_flags`` adds the provider's flags to a parser group (each flag's
    ``dest`` unique across providers); ``options_from`` builds the options from the
    parsed flags and the :class:`OptionSources`, raising ConfigError with one line
    naming the flag. Without it, the options are ``options_type()``. ``lists_models``
    says the server answers ``GET /v1/models``."""

    name: str
    factory: Callable[[RunConfig, OptionsT], Provider]
    options_type: type[OptionsT]
    add_flags: Callable[[FlagGroup], None] = _no_flags
    options_from: Callable[[Namespace, OptionSources], OptionsT] | None = None
    # An OpenAI-compatible API: GET /v1/models names the served models, so a run
    # without --model can ask which one to send (llmbench.discovery).
    lists_models: bool = False

    def options(self, args: Namespace, sources: OptionSources) -> OptionsT:
        """This provider's options from parsed flags."""
        if self.options_from is None:
            return self.options_type()
        return self.options_from(args, sources)

    @staticmethod
    def plain(name: str, factory: ProviderFactory) -> ProviderSpec[NoOptions]:
        """A provider with no options of its own, from a ``factory(cfg)``."""
        return ProviderSpec(name, lambda cfg, _options: factory(cfg), NoOptions)


def join_url(base: str, standard_path: str, endpoint: str | None) -> str:
    """``--url`` is the server's base URL: append the API's path, without repeating the
    part of it the URL already ends with (``.../v1`` + ``/v1/chat/completions``);
    ``--endpoint`` replaces the URL's path outright."""
    base = base.rstrip("/")
    parts = urlsplit(base)
    if endpoint is not None:
        return urlunsplit((parts.scheme, parts.netloc, "/" + endpoint.lstrip("/"), "", ""))
    have = [s for s in parts.path.split("/") if s]
    want = [s for s in standard_path.split("/") if s]
    for n in range(min(len(have), len(want)), 0, -1):
        if have[-n:] == want[:n]:
            want = want[n:]
            break
    return base + "".join("/" + s for s in want)


def merge_headers(*layers: Iterable[Header]) -> tuple[Header, ...]:
    """Headers from ``layers`` in order; a later layer replaces an earlier header of
    the same name (case-insensitive), so ``merge_headers(defaults, auth, cfg.headers)``
    lets the user's ``-H`` win over everything the provider sets."""
    merged: dict[str, Header] = {}
    for layer in layers:
        for name, value in layer:
            key = name.lower()
            merged.pop(key, None)  # the replacement goes where the user's order puts it
            merged[key] = (name, value)
    return tuple(merged.values())


def merge_body(body: dict[str, Any], *extras: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extras`` into ``body`` in order (later wins): an object merges into an
    object key by key, anything else replaces. ``body`` is updated and returned; the
    extras are never modified."""
    for extra in extras:
        for key, value in extra.items():
            current = body.get(key)
            if isinstance(value, Mapping) and isinstance(current, dict):
                body[key] = merge_body(dict(current), value)
            else:
                body[key] = value
    return body


def bearer(api_key: str | None) -> tuple[Header, ...]:
    """``Authorization: Bearer <key>``; a key that already carries ``Bearer `` is sent
    as is; no key, no header."""
    if not api_key:
        return ()
    value = api_key if api_key.startswith("Bearer ") else f"Bearer {api_key}"
    return (("authorization", value),)


def accept_header(framing: Framing) -> Header:
    """What we ask the server to send for a framing."""
    kind = {"sse": "text/event-stream", "ndjson": "application/x-ndjson"}.get(framing)
    return ("accept", kind or "application/json")


def max_tokens_of(item: WorkloadItem, cfg: RunConfig) -> int | None:
    """The item's own max_tokens (prompt file, synthetic length), else ``--max-tokens``."""
    return item.max_tokens if item.max_tokens is not None else cfg.max_tokens


def error_text(error: Any, *fields: str) -> str:
    """One line from an error payload: ``code: message`` from a dict's ``fields``
    (default ``message``), the value itself otherwise. Not cut here: the exchange
    redacts credentials first and then caps it (a cut key would escape redaction)."""
    if isinstance(error, dict):
        found = [str(error[f]) for f in fields or ("message",) if error.get(f) not in (None, "")]
        return ": ".join(found) if found else str(error)
    return str(error)


def end_reason(value: Any) -> str:
    """An end reason as text: a string as it is, anything else a server put there (an
    object, a number) as compact JSON, so ``end_reason`` is always a string."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)
