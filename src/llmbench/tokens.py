"""Token counting modes. Pure (text and counts in, counts out), except the edge
calls that load ``--tokenizer``'s tokenizer.json from this machine
(:mod:`llmbench.tokenizer_lookup` decides where to look): :func:`load_codec` (its
encode/decode pair), :func:`load_tokenizer` (a counter) and :func:`prompt_text_for`
(exact prompt lengths, :mod:`llmbench.prompt_text`). A file is loaded once per process.

``auto``      the server's usage; per request, characters when the server sent none
``usage``     the server's usage only (a request without it has no token count)
``tokenizer`` a local tokenizer.json: a file, a directory, or a model id in the Hugging
              Face cache (HF ``tokenizers``, never downloaded)
``chars``     characters of the generated text (every label then says "chars")
``estimate``  CJK characters + other words: a fair stand-in for most BPE vocabularies
``disabled``  no token figures at all
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from llmbench.prompt_text import Decode, Encode, PromptText, TokenizerText, WordText

__all__ = [
    "TOKEN_MODES",
    "TokenCounter",
    "TokenMode",
    "TokenPolicy",
    "count_input",
    "count_output",
    "counts_true_tokens",
    "estimate_tokens",
    "load_codec",
    "load_tokenizer",
    "local_files",
    "prompt_text_for",
    "run_token_unit",
    "unit_label",
]

TokenMode = Literal["auto", "usage", "tokenizer", "chars", "estimate", "disabled"]
# The one list of modes (config validates --token-mode against it, the CLI offers it).
TOKEN_MODES: tuple[TokenMode, ...] = get_args(TokenMode)

# CJK ideographs, kana and hangul: roughly one token each in common vocabularies.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """How one run counts tokens; ``counter`` is set in tokenizer mode."""

    mode: str = "auto"
    counter: TokenCounter | None = None

    @property
    def keeps_text(self) -> bool:
        """Whether a request must keep its generated text to count it afterwards."""
        return self.mode in ("tokenizer", "estimate")

    @property
    def unit(self) -> str:
        return unit_label(self.mode)


def estimate_tokens(text: str) -> int:
    """CJK characters + runs of other non-space characters ("words")."""
    return len(_CJK.findall(text)) + len(_WORD.findall(text))


def unit_label(mode: str) -> str:
    """What the counts are: "chars" in chars mode, so no label calls them tokens."""
    return "chars" if mode == "chars" else "tokens"


# What each ``token_source`` counts: only the server's usage and a tokenizer count tokens.
_SOURCE_UNITS = {
    "usage": "tokens",
    "tokenizer": "tokens",
    "chars": "chars",
    "estimate": "estimated tokens",
}


def run_token_unit(sources: Mapping[str, int], mode: str) -> tuple[str, bool]:
    """The unit a run's token figures are in, from what its requests were actually
    counted by (``token_source`` counts), and whether it is mixed. "tokens" only when
    every counted request came from usage or a tokenizer; one source of another kind
    gives its unit ("chars", "estimated tokens"); several give "mixed". With nothing
    counted, the mode's own unit."""
    units = {_SOURCE_UNITS[s] for s, n in sources.items() if n and s in _SOURCE_UNITS}
    if not units:
        return unit_label(mode), False
    if len(units) == 1:
        return units.pop(), False
    return "mixed", True


def counts_true_tokens(mode: str, *, tokenizer: bool, usage_requested: bool) -> bool:
    """Whether a run in ``mode`` can only count real tokens, known before sending:
    ``usage`` (a request without usage has no count), ``tokenizer`` with a tokenizer,
    or ``auto`` when the request asks the server for usage. An ``auto`` run may still
    fall back to characters per request; the summary then says so."""
    if mode == "usage":
        return True
    if mode == "tokenizer":
        return tokenizer
    return mode == "auto" and usage_requested


def load_codec(
    spec: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> tuple[Encode, Decode]:
    """``--tokenizer spec``'s encode and decode: a tokenizer.json file, a directory
    holding one, or a model id in the local Hugging Face cache (offline). ``environ``
    and ``home`` default to this process's. Encoding adds no special tokens (a BOS a
    post-processor adds is no part of a text's length). Raises ConfigError with one
    line naming the file."""
    # Imported here: config imports this module (TOKEN_MODES), so these cannot be above.
    from llmbench.config import ConfigError
    from llmbench.tokenizer_lookup import resolve_tokenizer

    given = os.fspath(spec)
    path = resolve_tokenizer(
        given,
        os.environ if environ is None else environ,
        Path(os.path.expanduser("~")) if home is None else home,  # "~" itself if unknown
        local_files(),
    )
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--tokenizer needs the 'tokenizers' package: pip install 'llmbench[tokenizer]'"
        ) from None
    try:
        stat = path.stat()
        tok = _load_file(str(path), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:  # the library raises its own exception types
        where = given if str(path) == given else f"{given} ({path})"
        reason = " ".join(str(exc).split())  # one line, whatever the library wrote
        raise ConfigError(f"--tokenizer {where}: not a tokenizer.json ({reason})") from None

    def encode(text: str) -> list[int]:
        ids: list[int] = tok.encode(text, add_special_tokens=False).ids
        return ids

    def decode(ids: Sequence[int]) -> str:
        text: str = tok.decode(list(ids))
        return text

    return encode, decode


@functools.lru_cache(maxsize=4)
def _load_file(path: str, mtime_ns: int, size: int) -> Any:
    """The tokenizer in ``path``, loaded once per version of the file (the run's token
    counter and its prompts share it). Its own truncation and padding settings are
    turned off: a tokenizer.json saved with ``truncation`` would cap every count."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def load_tokenizer(
    spec: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> TokenCounter:
    """A counter from ``--tokenizer spec`` (see :func:`load_codec`): the number of
    tokens of a text, without special tokens. Raises ConfigError with one line."""
    encode, _ = load_codec(spec, environ, home)

    def count(text: str) -> int:
        return len(encode(text))

    return count


def prompt_text_for(spec: str | os.PathLike[str] | None) -> PromptText:
    """What makes the run's prompt texts: exact lengths in ``--tokenizer spec``'s
    tokens, or, without one, words of about a token each. ConfigError as
    :func:`load_codec`."""
    if spec is None:
        return WordText()
    return TokenizerText(*load_codec(spec))


class _LocalFiles:
    """:class:`~llmbench.tokenizer_lookup.FileProbe` on this machine's disk; an
    unreadable path is an absent one (the lookup then says what it looked for)."""

    # refs/main holds a 40-character commit hash; more is never needed.
    _SMALL = 256

    def has_file(self, path: Path) -> bool:
        try:
            return path.is_file() and os.access(path, os.R_OK)
        except OSError:
            return False

    def has_dir(self, path: Path) -> bool:
        try:
            return path.is_dir()
        except OSError:
            return False

    def small_text(self, path: Path) -> str | None:
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                return f.read(self._SMALL)
        except OSError:
            return None

    def subdirs(self, path: Path) -> list[tuple[str, float]]:
        try:
            with os.scandir(path) as entries:
                return [(e.name, e.stat().st_mtime) for e in entries if e.is_dir()]
        except OSError:
            return []


def local_files() -> _LocalFiles:
    """The probe :func:`load_tokenizer` looks through: this machine's files."""
    return _LocalFiles()


def count_output(
    mode: str,
    usage_tokens: int | None,
    text: str,
    chars: int,
    counter: TokenCounter | None,
) -> tuple[int | None, str]:
    """A request's output count and where it came from (``token_source``)."""
    if mode == "disabled":
        return None, "disabled"
    if mode in ("auto", "usage") and usage_tokens is not None:
        return usage_tokens, "usage"
    if mode == "usage":
        return None, "none"
    if mode == "tokenizer" and counter is not None:
        return counter(text), "tokenizer"
    if mode == "estimate":
        return estimate_tokens(text), "estimate"
    return chars, "chars"


def count_input(
    mode: str, usage_tokens: int | None, prompt: str, counter: TokenCounter | None
) -> int | None:
    """A request's input count: usage when the server gave one, else the mode's count."""
    if mode == "disabled":
        return None
    if mode in ("auto", "usage") and usage_tokens is not None:
        return usage_tokens
    if mode == "usage":
        return None
    if mode == "tokenizer" and counter is not None:
        return counter(prompt)
    if mode == "estimate":
        return estimate_tokens(prompt)
    return len(prompt)
