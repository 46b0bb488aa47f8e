"""Token counting modes. Pure: text and counts in, counts out.

``auto``      the server's usage; per request, characters when the server sent none
``usage``     the server's usage only (a request without it has no token count)
``tokenizer`` a local tokenizer.json (HF ``tokenizers``, never downloaded)
``chars``     characters of the generated text (every label then says "chars")
``estimate``  CJK characters + other words: a fair stand-in for most BPE vocabularies
``disabled``  no token figures at all
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    "estimate_tokens",
    "load_tokenizer",
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


def load_tokenizer(path: Path) -> TokenCounter:
    """A counter from a local tokenizer.json. Raises ValueError with a clear message."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ValueError(
            "--token-mode tokenizer needs the 'tokenizers' package: "
            "pip install 'llmbench[tokenizer]'"
        ) from None
    if not path.is_file():
        raise ValueError(f"--tokenizer {path}: no such file")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises its own exception types
        raise ValueError(f"--tokenizer {path}: not a tokenizer.json ({exc})") from None

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


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
