"""``--print-config``: the resolved flags as TOML that ``--config`` reads back, secrets redacted."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from typing import Any

from llmbench.config import ConfigError
from llmbench.config_file import configurable, is_switch, long_flag, norm_key, raw_values
from llmbench.redaction import (
    REDACTED,
    SecretPattern,
    is_secret_name,
    redact_url,
    secret_values,
    url_secrets,
)

__all__ = ["render"]

# The flag name's last word that makes its value a credential (api-key; a plugin's
# --gateway-token) and the flags named so that hold a file's path instead.
_SECRET_WORDS = frozenset(
    {"key", "token", "secret", "password", "passwd", "cookie", "credential", "credentials"}
)
_PATH_FLAGS = frozenset({"client-key"})
# Flags whose values are URLs though their names do not end in "url" (user:password@).
_URL_FLAGS = frozenset({"server-metrics"})
_OWS = " \t"  # around a header's value (RFC 9110 §5.6.3)


def render(parser: argparse.ArgumentParser, argv: Sequence[str], title: str) -> str:
    """``--print-config``: the options ``argv`` gives (the file's and the command
    line's, in --help's order) as TOML that ``--config`` reads back to the same
    options, credentials as ``<redacted>``. Defaults are left out. ``argv`` has been
    parsed by ``parser`` already."""
    raw = raw_values(parser, argv)
    rows: list[tuple[str, Any]] = []
    done: set[str] = set()
    for action in configurable(parser):
        dest = action.dest
        if dest in raw and dest not in done and _fired(action, raw[dest]):
            done.add(dest)
            rows.append(_row(action, raw[dest], parser))
    hide = SecretPattern(s for s in _secrets(rows) if REDACTED not in s)
    lines = [
        f"# {title} --print-config: the flags the command line and --config gave;",
        "# everything else is its default. Credentials show as <redacted>.",
    ]
    lines += [f"{key} = {_toml(key, _redacted(key, value), hide)}" for key, value in rows]
    return "\n".join(lines) + "\n"


def _fired(action: argparse.Action, value: object) -> bool:
    """Whether ``action`` stored ``value`` (another with its dest may have)."""
    if isinstance(action, _ANY_VALUE):
        return True
    if is_switch(action) or (action.nargs == argparse.OPTIONAL and value == action.const):
        return bool(value == action.const)
    return isinstance(value, str | list)


# Actions whose stored value does not say which flag stored it: theirs, whatever it is.
_ANY_VALUE = (argparse.BooleanOptionalAction, argparse._CountAction, argparse._AppendConstAction)


def _row(action: argparse.Action, value: Any, parser: argparse.ArgumentParser) -> tuple[str, Any]:
    """(key, TOML value) for one option as given."""
    name = long_flag(action)[2:]
    if isinstance(action, argparse.BooleanOptionalAction | argparse._CountAction):
        return name, value
    if is_switch(action) or (action.nargs == argparse.OPTIONAL and value == action.const):
        return name, True
    if isinstance(value, list):
        return name, [_scalar(action, str(v), parser) for v in value]
    return name, _scalar(action, str(value), parser)


def _scalar(action: argparse.Action, text: str, parser: argparse.ArgumentParser) -> Any:
    """A value as written, as a TOML number when it is one that the flag reads as it
    reads the text (``16``, ``0.5``; not ``"10%"``, nor ``"007"`` for a text flag)."""
    if action.type is None or action.type is str:
        return text
    number: int | float
    if _INTEGER.fullmatch(text) and abs(int(text)) < 2**63:
        number = int(text)
    elif _FLOAT.fullmatch(text) and math.isfinite(float(text)):
        number = float(text)
    else:
        return text
    try:
        same = parser._get_value(action, text) == parser._get_value(action, repr(number))
    except argparse.ArgumentError:
        return text
    return number if same else text


_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _role(key: str) -> str | None:
    """What a key's value may hold: a credential, headers, a URL, or nothing secret."""
    last = norm_key(key).lower().split("-")[-1]
    if last in _SECRET_WORDS and key not in _PATH_FLAGS:
        return "credential"
    if last == "url" or norm_key(key) in _URL_FLAGS:
        return "url"
    return "header" if last in ("header", "headers") else None


def _redacted(key: str, value: Any) -> Any:
    """A value with the credentials its key says it holds replaced."""
    if isinstance(value, list):
        return [_redacted(key, v) for v in value]
    if not isinstance(value, str):
        return value
    match _role(key):
        case "credential":
            return REDACTED
        case "header":
            name, sep, _ = value.partition(":")
            if not sep:  # not a header: maybe a credential alone (run_options.parse_header)
                return REDACTED
            return f"{name.strip(_OWS)}: {REDACTED}" if is_secret_name(name) else value
        case "url":
            return redact_url(value)
    return value


def _secrets(rows: list[tuple[str, Any]]) -> list[str]:
    """Every credential the options hold, to scrub wherever else it shows."""
    out: list[str] = []
    for key, value in rows:
        texts = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
        match _role(key):
            case "credential":
                out += texts
            case "header":
                pairs = [t.partition(":") for t in texts]
                out += [name for name, sep, _ in pairs if not sep]
                out += secret_values(tuple((n.strip(_OWS), v.strip(_OWS)) for n, _, v in pairs))
            case "url":
                out += [secret for t in texts for secret in url_secrets(t)]
    return out


def _toml(key: str, value: Any, hide: SecretPattern) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(key, v, hide) for v in value) + "]"
    return _string(key, hide.redact(value))


# TOML's short escapes; any other control character is written \uXXXX.
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _string(key: str, text: str) -> str:
    """A TOML basic string (control characters escaped); ConfigError for text no file
    can hold (a command-line byte that is not UTF-8, as a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"--{key}: not valid UTF-8 text (a byte the locale cannot read)"
        ) from None
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
