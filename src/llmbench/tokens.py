"""Token counting modes. Pure (text and counts in, counts out), except
:func:`load_tokenizer`, the one edge call: it finds ``--tokenizer``'s tokenizer.json on
this machine (:mod:`llmbench.tokenizer_lookup` decides where to look) and loads it.

``auto``      the server's usage; per request, characters when the server sent none
``usage``     the server's usage only (a request without it has no token count)
``tokenizer`` a local tokenizer.json: a file, a directory, or a model id in the Hugging
              Face cache (HF ``tokenizers``, never downloaded)
``chars``     characters of the generated text (every label then says "chars")
``estimate``  CJK characters + other words: a fair stand-in for most BPE vocabularies
``disabled``  no token figures at all
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "TOKEN_MODES",
    "TokenCounter",
    "TokenMode",
    "TokenPolicy",
    "count_input",
    "count_output",
    "counts_true_tokens",
    "estimate_tokens",
    "load_tokenizer",
    "local_files",
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


def load_tokenizer(
    spec: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> TokenCounter:
    """A counter from ``--tokenizer spec``: a tokenizer.json file, a directory holding
    one, or a model id in the local Hugging Face cache (offline). ``environ`` and
    ``home`` default to this process's. Raises ConfigError with one line."""
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
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(
            "--token-mode tokenizer needs the 'tokenizers' package: "
            "pip install 'llmbench[tokenizer]'"
        ) from None
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises its own exception types
        where = given if str(path) == given else f"{given} ({path})"
        reason = " ".join(str(exc).split())  # one line, whatever the library wrote
        raise ConfigError(f"--tokenizer {where}: not a tokenizer.json ({reason})") from None

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


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
