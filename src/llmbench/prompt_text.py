"""Prompt texts of a given number of tokens (issue 16), made from a seeded generator.

Two makers behind one protocol, :class:`PromptText`:

* :class:`WordText` (no ``--tokenizer``): N words of :data:`WORDS` joined by spaces.
  Each word is one token in the GPT, Llama and Qwen vocabularies, so the text is
  *about* N tokens: a server's tokenizer may count a few more or fewer.
* :class:`TokenizerText` (``--tokenizer``): texts of *exactly* N tokens of that
  tokenizer. Built from ``encode``/``decode`` callables rather than a tokenizer
  object, so it stays pure and any tokenizer (or a test's stand-in) can drive it;
  :func:`llmbench.tokens.load_codec` makes the pair from a tokenizer.json.

Counts are of the text itself: ``encode`` must count without special tokens
(``add_special_tokens=False``: no BOS/EOS a post-processor adds, no chat template).
A server adds those around every prompt alike, so they are no part of its length.

Fitting, in :class:`TokenizerText`: words are drawn and encoded, the ids cut at N and
decoded, and the cut text encoded again to verify, since a cut can change how its
last characters tokenize (a BPE merge across the cut; with no pre-tokenizer, even
across the spaces between words). When the count is off by d, the cut moves by d and
is verified again, at most :data:`FIT_STEPS` times; then fresh words are drawn, at
most :data:`FIT_DRAWS` times. A typical text costs two or three encodes of about N
tokens, never one per token. When no cut fits, a deterministic fallback repeats one
word (the first of :data:`WORDS` whose repetition fits), its count adjusted the same
way. A text is returned only once its verified count is N; if even the fallback
cannot reach N, :class:`PromptLengthError` says so (no real tokenizer gets there).
After a head (:meth:`PromptText.fill`) the whole is fitted the same way; there a
tokenizer that re-splits the head's end at the join can make one or two tokens
impossible to add, which is that error too (the callers fall back, see theirs).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = [
    "FIT_DRAWS",
    "FIT_STEPS",
    "SEPARATOR",
    "WORDS",
    "Decode",
    "Encode",
    "PromptLengthError",
    "PromptText",
    "TokenizerText",
    "WordText",
    "join",
]

# Common English words that are one token each in the GPT, Llama and Qwen
# vocabularies (with their leading space), so N words make about N tokens.
WORDS: tuple[str, ...] = tuple(
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their been has when who will "
    "more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made "
    "after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used take "
    "three".split()
)

# What joins a head (a shared prefix, a trace's earlier blocks) and the text after it.
SEPARATOR = " "
# Cut adjustments per draw of words: a miss is almost always off by one or two tokens
# at the cut, fixed by the first adjustment; more steps than this are a cycle.
FIT_STEPS = 8
# Draws of fresh words before the fallback (a cut that cannot fit is a property of
# the words around it: other words fit).
FIT_DRAWS = 3
# Rounds of drawing more words when those drawn encode to too few tokens (words that
# merge); each round at least doubles the words.
_GROW_ROUNDS = 6
# Words the fallback tries, in order, as the one it repeats.
_FALLBACK_WORDS = 16

Encode = Callable[[str], Sequence[int]]
Decode = Callable[[Sequence[int]], str]


class PromptLengthError(ValueError):
    """No text of the asked number of tokens could be made (see the module doc)."""


def join(head: str, tail: str) -> str:
    """``head``, :data:`SEPARATOR` and ``tail``: ``tail`` alone when there is no head,
    and no separator after a head that ends in whitespace (a cut can end in a space)."""
    if not head:
        return tail
    return f"{head}{tail}" if head[-1].isspace() else f"{head}{SEPARATOR}{tail}"


class PromptText(Protocol):
    """Makes prompt texts of a number of tokens from a seeded generator: the same
    generator state gives the same text, in every process."""

    @property
    def exact(self) -> bool:
        """Whether lengths are exact (a tokenizer's) or approximate (words)."""
        ...

    def count(self, text: str) -> int:
        """``text``'s length in this maker's unit (tokens, or words)."""
        ...

    def make(self, tokens: int, rng: random.Random) -> str:
        """A text of ``tokens`` tokens (>= 1)."""
        ...

    def fill(
        self,
        head: str,
        total: int,
        rng: random.Random,
        *,
        start: str = "",
        head_tokens: int | None = None,
    ) -> str:
        """``head``, :data:`SEPARATOR`, and a text so that the whole is ``total`` tokens
        (``head`` "" : the text alone, as :meth:`make`). The text begins as ``start``
        does (cut to fit, or continued with drawn words); ``head_tokens`` is ``head``'s
        count when the caller knows it. PromptLengthError when no text fits after
        ``head``: it leaves no token, or the tokenizer merges across the join so that
        the least that can follow it is more than asked (a token or two at most)."""
        ...


class WordText:
    """One word of :data:`WORDS` a token: about N tokens (without --tokenizer)."""

    @property
    def exact(self) -> bool:
        return False

    def count(self, text: str) -> int:
        return len(text.split())

    def make(self, tokens: int, rng: random.Random) -> str:
        return " ".join(rng.choices(WORDS, k=tokens))

    def fill(
        self,
        head: str,
        total: int,
        rng: random.Random,
        *,
        start: str = "",
        head_tokens: int | None = None,
    ) -> str:
        need = total - (self.count(head) if head_tokens is None else head_tokens)
        if need < 1:
            raise PromptLengthError(f"the head is {total - need} words; {total} asked")
        words = start.split()[:need]
        if len(words) < need:  # choices() draws in order: k words begin k + 1's
            words += rng.choices(WORDS, k=need - len(words))
        return join(head, " ".join(words))


class TokenizerText:
    """Texts of exactly N tokens of the tokenizer behind ``encode``/``decode`` (see the
    module doc: counted without special tokens, verified by encoding the result)."""

    def __init__(self, encode: Encode, decode: Decode) -> None:
        self._encode = encode
        self._decode = decode

    @property
    def exact(self) -> bool:
        return True

    def count(self, text: str) -> int:
        return len(self._encode(text)) if text else 0

    def make(self, tokens: int, rng: random.Random) -> str:
        return self.fill("", tokens, rng)

    def fill(
        self,
        head: str,
        total: int,
        rng: random.Random,
        *,
        start: str = "",
        head_tokens: int | None = None,
    ) -> str:
        want = total - (self.count(head) if head_tokens is None else head_tokens)
        if want < 1:
            raise PromptLengthError(f"the head is {total - want} tokens; {total} asked")
        for draw in range(FIT_DRAWS):
            ids = self._source(start if draw == 0 else "", want, rng)
            if ids is None:
                break
            piece = self._cut(head, ids, want, total)
            if piece is not None:
                return join(head, piece)
        return self._repeat(head, want, total)

    def _source(self, start: str, want: int, rng: random.Random) -> list[int] | None:
        """The ids of ``start`` continued with drawn words: at least ``want`` and a
        margin to move the cut up; None when words merge beyond reason."""
        enough = want + 8 + want // 32
        text = start
        ids = list(self._encode(text)) if text else []
        more = enough - len(ids)
        for _ in range(_GROW_ROUNDS):
            if len(ids) >= enough:
                return ids
            text = join(text, " ".join(rng.choices(WORDS, k=more)))
            ids = list(self._encode(text))
            more = max(2 * more, enough - len(ids))  # the words merged: twice as many
        return ids if len(ids) >= enough else None

    def _cut(self, head: str, ids: list[int], want: int, total: int) -> str | None:
        """The decoded first ``c`` ids, with ``c`` moved until head + text is ``total``
        tokens; None when the cut leaves the ids or comes back to one tried. After a
        head, ``c`` may be 0: the separator alone may be the one token asked for."""
        cut, low = min(want, len(ids)), 0 if head else 1
        tried: set[int] = set()
        for _ in range(FIT_STEPS):
            tried.add(cut)
            piece = self._decode(ids[:cut])
            got = self.count(join(head, piece))
            if got == total:
                return piece
            cut += total - got
            if not low <= cut <= len(ids) or cut in tried:
                return None
        return None

    def _repeat(self, head: str, want: int, total: int) -> str:
        """The fallback: one word repeated, the first of :data:`WORDS` that fits (the
        same one in every process: no state is kept between calls)."""
        for word in WORDS[:_FALLBACK_WORDS]:
            times, low = want, 0 if head else 1
            for _ in range(FIT_STEPS):
                text = join(head, " ".join([word] * times))
                got = self.count(text)
                if got == total:
                    return text
                times += total - got
                if times < low:
                    break
        raise PromptLengthError(
            f"no text of exactly {total} tokens found with this tokenizer "
            f"({FIT_DRAWS} draws of words, then {_FALLBACK_WORDS} repeated words)"
        )
