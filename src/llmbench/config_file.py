"""``--config FILE.toml`` and ``--print-config``: a command's flags from a TOML file.

Every key of the file is a long flag of the command without its ``--`` (``-`` or ``_``
alike: ``max-error-rate`` or ``max_error_rate``; an alias is a key too: ``model-name``,
``threads``). The file becomes command-line flags placed before the command line's own
(:func:`expand`), so the parser checks them as it checks any flag, every later check
sees them, and a ``--workers`` worker (on another node, without the file) gets them in
the run's argv. Everything is read from the parser's actions: a flag added later, a
plugin provider's flags or another command's, is a key with no change here.

Values, by the kind of flag:

* a flag with a value: a string, an integer or a float, converted by the flag's own
  type and choices (argparse's conversion: the messages a command line gets);
* a repeatable flag (``slo``, ``header``): that, or an array of them;
* an on/off flag (``quiet``, ``no-stream``): ``true`` gives the flag, ``false`` does not.
  A ``--no-X`` flag that stores into ``X`` can also be written ``X`` with the value it
  leaves there: ``stream = false`` is ``no-stream = true``.

Precedence: the command line, then the file, then the defaults. A flag given on the
command line replaces the file's value for its option, a repeatable one included (its
values are not added to the file's).

Pure apart from :func:`read_config`: TOML in, flags or one-line :class:`ConfigError`
out. ``--print-config`` (a configuration in, TOML text out) is
:mod:`llmbench.config_print`'s, on the helpers named here.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from llmbench.config import ConfigError

__all__ = [
    "CONFIG_FLAG",
    "MAX_CONFIG_BYTES",
    "MAX_KEY_PARTS",
    "PRINT_FLAG",
    "add_config_flags",
    "configurable",
    "expand",
    "file_flags",
    "is_switch",
    "long_flag",
    "norm_key",
    "parse_toml",
    "raw_values",
    "read_config",
    "subcommand",
]

CONFIG_FLAG = "--config"
PRINT_FLAG = "--print-config"
# A benchmark definition is a few dozen lines; prompts belong in --prompts-file. The cap
# bounds what a mistaken path (a log, /dev/zero) costs before it is refused.
MAX_CONFIG_BYTES = 1 << 20
# tomllib spends time and memory quadratic in a dotted key's parts (`a.a.a... = 1`, or a
# `[a.a...]` header): 10,000 parts take 400 MB. No key here has more than one part.
MAX_KEY_PARTS = 100
# Keys only the command line may give.
_RESERVED = ("config", "print-config", "help")
# A count flag (-v -v) from a number: more than this is a typo.
_MAX_COUNT = 100

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_LONG_KEY = re.compile(rf"(?:^|[{{,\[])[ \t]*(?:{_PART}[ \t]*\.[ \t]*){{{MAX_KEY_PARTS}}}", re.M)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--print-config``, in a group of their own."""
    g = parser.add_argument_group("config file (see the README's Config files)")
    g.add_argument(
        CONFIG_FLAG,
        metavar="FILE.toml",
        help="take flags from a TOML file (keys are long flag names: concurrency = 8, "
        "slo = ['ttft_p95<=500ms']); flags on the command line override it",
    )
    g.add_argument(
        PRINT_FLAG,
        action="store_true",
        help="print the resolved configuration as TOML (secrets redacted) and exit",
    )


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name`` in a parser with subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


# --- the file ----------------------------------------------------------------------


def read_config(path: str) -> dict[str, Any]:
    """The TOML table in file ``path`` (at most :data:`MAX_CONFIG_BYTES`)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_toml(data)


def parse_toml(data: bytes) -> dict[str, Any]:
    """A config file's bytes as a TOML table; ConfigError saying what is wrong, and for
    text that is not TOML, where (tomllib's messages give the line and column)."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"larger than {MAX_CONFIG_BYTES} bytes; keep prompts in --prompts-file")
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is not an error
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None
    long_key = _LONG_KEY.search(text)
    if long_key is not None:
        line = text[: long_key.start()].count("\n") + 1
        raise ConfigError(f"a dotted key of more than {MAX_KEY_PARTS} parts on line {line}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError("arrays or inline tables nest too deeply") from None


# --- keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    """What a key stands for: its option, and for an on/off flag the flags a ``true``
    and a ``false`` give (None: none, the default)."""

    action: argparse.Action
    flag: str
    on_true: str | None = None
    on_false: str | None = None


def norm_key(name: str) -> str:
    """A key or flag name as keys are matched: ``max_error_rate`` is ``max-error-rate``."""
    return name.replace("_", "-")


def is_switch(action: argparse.Action) -> bool:
    """Whether ``action`` is an on/off flag (it takes no value)."""
    return action.nargs == 0


def long_flag(action: argparse.Action) -> str:
    """The first ``--`` name of ``action``: the one a key stands for."""
    return next(o for o in action.option_strings if o.startswith("--"))


def configurable(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The actions a key may set: named, shown in --help, and not the file's own flags."""
    return [
        a
        for a in parser._actions
        if a.help is not argparse.SUPPRESS
        and not isinstance(a, argparse._HelpAction | argparse._VersionAction)
        and not set(a.option_strings) & {CONFIG_FLAG, PRINT_FLAG}
        and any(o.startswith("--") for o in a.option_strings)
        and a.nargs not in (argparse.PARSER, argparse.REMAINDER)
        # several values a flag, the flag repeated: lists of lists, which no key holds
        and not (type(a) is argparse._AppendAction and a.nargs not in (None, argparse.OPTIONAL))
    ]


def _opposite(action: argparse.Action, flag: str) -> str | None:
    """The flag a ``false`` gives: --no-X for --X of a BooleanOptionalAction (and back)."""
    if not isinstance(action, argparse.BooleanOptionalAction):
        return None
    return next(o for o in action.option_strings if o != flag and o.startswith("--"))


def _keys(parser: argparse.ArgumentParser) -> dict[str, _Key]:
    """Every key the parser's flags allow, by normalized name."""
    keys: dict[str, _Key] = {}
    aliases: dict[str, _Key] = {}
    for action in configurable(parser):
        longs = [o for o in action.option_strings if o.startswith("--")]
        for flag in longs:
            if is_switch(action):  # --X or --no-X, as named
                keys[norm_key(flag[2:])] = _Key(action, flag, flag, _opposite(action, flag))
            else:  # an alias gives the flag's first name: --model-name=M is --model=M
                keys[norm_key(flag[2:])] = _Key(action, longs[0])
        const = getattr(action, "const", None)
        if longs and is_switch(action) and isinstance(const, bool):
            # `stream = false` for --no-stream (dest stream): the value the flag stores
            on_true, on_false = (longs[0], None) if const else (None, longs[0])
            aliases[norm_key(action.dest)] = _Key(action, longs[0], on_true, on_false)
    return aliases | keys  # a flag's own name wins over another's destination


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
)


def _kind(value: object) -> str:
    """A TOML value's type, for a message (never the value: it may be a credential)."""
    return next((name for t, name in _KINDS if isinstance(value, t)), "a date/time (quote it)")


def _unknown(name: str, keys: Iterable[str]) -> ConfigError:
    close = difflib.get_close_matches(norm_key(name), sorted(keys), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {name[:80]!r}{hint}")


def file_flags(
    table: dict[str, Any], parser: argparse.ArgumentParser, *, lenient: bool = False
) -> list[tuple[str, list[str]]]:
    """The flags ``table`` gives, as (option dest, flags) in the file's order, each
    value checked as the command line would check it. ``lenient``: keys the parser
    does not know are left out rather than refused (a flag in the file may add flags,
    a plugin provider's, that this parser does not have yet)."""
    keys = _keys(parser)
    seen: dict[str, str] = {}  # dest -> the key that set it
    out: list[tuple[str, list[str]]] = []
    for name, value in table.items():
        norm = norm_key(name)
        if norm in _RESERVED:
            raise ConfigError(f"key {name!r} is for the command line, not a config file")
        key = keys.get(norm)
        if key is None:
            if lenient:
                continue
            raise _unknown(name, keys)
        dest = key.action.dest
        if dest in seen:
            raise ConfigError(
                f"keys {seen[dest]!r} and {name!r} both set {long_flag(key.action)}; keep one"
            )
        seen[dest] = name
        out.append((dest, _flags(name, key, value, parser)))
    return out


def _flags(name: str, key: _Key, value: object, parser: argparse.ArgumentParser) -> list[str]:
    """The flags one key's value gives."""
    action = key.action
    if isinstance(value, dict):
        raise ConfigError(f"key {name!r} is a table: a config file has top-level keys only")
    if isinstance(action, argparse._CountAction):
        if isinstance(value, int) and 0 <= value <= _MAX_COUNT:
            return [key.flag] * int(value)
        raise ConfigError(f"key {name!r} takes a count from 0 to {_MAX_COUNT}, got {_kind(value)}")
    if is_switch(action):
        if not isinstance(value, bool):
            raise ConfigError(f"key {name!r} takes true or false, got {_kind(value)}")
        flag = key.on_true if value else key.on_false
        return [flag] if flag else []
    if action.nargs == argparse.OPTIONAL and isinstance(value, bool):
        return [key.flag] if value else []  # `csv = true`: the flag alone
    return _value_flags(name, key, value, parser)


def _value_flags(name: str, key: _Key, value: object, parser: argparse.ArgumentParser) -> list[str]:
    action = key.action
    single = action.nargs in (None, argparse.OPTIONAL)
    repeatable = isinstance(action, argparse._AppendAction)
    wanted = "a string or a number" + (", or an array of them" if repeatable or not single else "")
    if isinstance(value, list) and (repeatable or not single):
        texts = [_text(name, item, wanted) for item in value]
    else:
        texts = [_text(name, value, wanted)]
    if not single:
        _check_count(name, action, texts)
        _convert(name, action, texts, parser)
        return [key.flag, *texts]
    for text in texts:
        _convert(name, action, [text], parser)
    return [f"{key.flag}={text}" for text in texts]


def _text(name: str, value: object, wanted: str) -> str:
    """A value as the command-line text it stands for."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"key {name!r} takes {wanted}, got {_kind(value)}")
    text = str(value)
    if "\0" in text:
        raise ConfigError(f"key {name!r}: a NUL character cannot be a flag's value")
    if text == "--":  # argparse drops it: the end of the flags, never a value
        raise ConfigError(f"key {name!r}: '--' cannot be a flag's value")
    return text


def _check_count(name: str, action: argparse.Action, texts: list[str]) -> None:
    """A several-value flag (nargs '+', '*' or N): the count, and no value a flag."""
    n = action.nargs
    if (n == argparse.ONE_OR_MORE and not texts) or (isinstance(n, int) and len(texts) != n):
        raise ConfigError(f"key {name!r} takes {'one or more' if n == '+' else n} values")
    if any(t.startswith("-") for t in texts):
        raise ConfigError(f"key {name!r}: a value of a several-value flag cannot start with '-'")


def _convert(
    name: str, action: argparse.Action, texts: list[str], parser: argparse.ArgumentParser
) -> None:
    """The flag's own type and choices on ``texts``, through argparse (its messages)."""
    try:
        parser._get_values(action, list(texts))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"key {name!r}: {exc.message}") from None


# --- the command line ----------------------------------------------------------------


def _split_config(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The last ``--config FILE`` in ``argv``, and ``argv`` without any (a ``--config``
    with no value is left for the parser to report)."""
    path: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg.startswith(CONFIG_FLAG + "="):
            path = arg.partition("=")[2]
        elif arg == CONFIG_FLAG and i + 1 < len(argv):
            path = argv[i + 1]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return path, rest


def _shown(path: str) -> str:
    return path if path and path.isprintable() else repr(path)


def expand(
    argv: Sequence[str], parser_for: Callable[[list[str]], argparse.ArgumentParser]
) -> list[str]:
    """A command's flags with its ``--config FILE`` read: the file's flags, then the
    command line's (without ``--config``), less the file's for any option the command
    line gives. ``parser_for(flags)`` is the command's parser for those flags (a
    ``--provider`` plugin's flags join it when named). ``argv`` as is without --config."""
    path, rest = _split_config(argv)
    if path is None:
        return list(argv)
    where = f"{CONFIG_FLAG} {_shown(path)}"
    try:
        table = read_config(path)
        parser = parser_for(rest)
        known = _keys(parser)
        if any(norm_key(name) not in known for name in table):
            first = file_flags(table, parser, lenient=True)
            parser = parser_for([*(f for _, flags in first for f in flags), *rest])
        found = file_flags(table, parser)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    given = _given(parser, rest)
    return [*(f for dest, flags in found if dest not in given for f in flags), *rest]


class _RawParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise argparse.ArgumentError(None, message)


def raw_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, Any]:
    """The options ``argv`` gives, by dest, as written: no type, no default (the parser
    checked them already). Raises argparse.ArgumentError where the parser would fail.
    What the command line overrides (:func:`expand`) and what --print-config prints."""
    raw = _RawParser(
        add_help=False, allow_abbrev=False, prefix_chars=parser.prefix_chars, exit_on_error=False
    )
    for action in configurable(parser):
        clone = copy.copy(action)
        clone.type, clone.choices, clone.required = None, None, False
        clone.default = argparse.SUPPRESS
        raw._add_action(clone)
    namespace, _ = raw.parse_known_args(list(argv))
    return vars(namespace)


def _given(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The options (dests) ``argv`` gives; none if it does not parse (the real parse
    then says why)."""
    try:
        return set(raw_values(parser, argv))
    except argparse.ArgumentError:
        return set()
