"""Synthetic prompts: ``--input-tokens N`` (or MEAN:STDDEV) and ``--output-tokens``.

Each prompt is different (so no prefix cache serves them) and, with ``--tokenizer``,
exactly its drawn length in that tokenizer's tokens; without, that many words of about
a token each (:mod:`llmbench.prompt_text`). With shared prefixes
(:mod:`llmbench.prefixes`) a prompt is its group's prefix and then its own part.
"""

from __future__ import annotations

import random

from llmbench.config import MAX_INPUT_TOKENS, ConfigError
from llmbench.prefixes import SharedPrefixes
from llmbench.prompt_text import PromptLengthError, PromptText, WordText, join
from llmbench.workload import WorkloadItem

__all__ = ["SyntheticItems", "parse_length", "synthetic_items"]


def parse_length(text: str, flag: str) -> tuple[int, int]:
    """``512`` or ``512:64`` (mean:stddev) to (mean, stddev)."""
    mean_text, _, sd_text = text.partition(":")
    try:
        mean, sd = int(mean_text), int(sd_text or 0)
    except ValueError:
        raise ConfigError(f"{flag} must be N or MEAN:STDDEV, got {text!r}") from None
    if mean < 1 or sd < 0:
        raise ConfigError(f"{flag} needs a mean >= 1 and a stddev >= 0, got {text!r}")
    if mean > MAX_INPUT_TOKENS or sd > MAX_INPUT_TOKENS:
        raise ConfigError(
            f"{flag} must be at most {MAX_INPUT_TOKENS} tokens (mean and stddev), got {text!r}"
        )
    return mean, sd


class SyntheticItems:
    """Synthetic prompts, lengths drawn from a normal distribution when stddev > 0.

    Item ``i`` comes from its own generator seeded by (seed, i): the same prompts
    whatever reads them, and :meth:`at` makes the item of any position (a shard makes
    only its own, llmbench.sharding; sessions take their turns' texts from it). ``text``
    makes the texts (default :class:`~llmbench.prompt_text.WordText`); with
    ``prefixes``, a prompt is its position's shared prefix, a space and its own part,
    the whole exactly prefix + drawn length tokens with a tokenizer. (When no own part
    makes the whole exact, as when a tokenizer re-splits the prefix's end at the join
    and a length of 1 or 2 cannot follow it, the own part is exactly its length on
    its own: the prefix stays whole.)"""

    def __init__(
        self,
        input_tokens: tuple[int, int],
        output_tokens: int | None,
        seed: int,
        text: PromptText | None = None,
        prefixes: SharedPrefixes | None = None,
    ) -> None:
        self._length = input_tokens
        self._output_tokens = output_tokens
        self._seed = seed
        self._text = text or WordText()
        self._prefixes = prefixes
        self._next = 0

    def __iter__(self) -> SyntheticItems:
        return self

    def __next__(self) -> WorkloadItem:
        item = self.at(self._next)
        self._next += 1
        return item

    def unsent(self) -> WorkloadItem:
        """An item of the same shape that no request of the run sends (position -1,
        and a prefix no request takes): the pre-flight's, so it warms no cache the run
        measures."""
        return self.at(-1)

    def at(self, position: int) -> WorkloadItem:
        """The item at ``position`` (does not move the iteration)."""
        rng = random.Random(f"{self._seed}/{position}")
        mean, sd = self._length
        n = min(MAX_INPUT_TOKENS, max(1, round(rng.gauss(mean, sd)))) if sd else mean
        prefixes = self._prefixes
        if prefixes is None:
            prompt = self._text.make(n, rng)
            return WorkloadItem(prompt, max_tokens=self._output_tokens, prompt_id=position)
        group = prefixes.group(position)
        head = prefixes.text(group)
        try:
            prompt = self._text.fill(head, prefixes.tokens + n, rng, head_tokens=prefixes.tokens)
        except PromptLengthError:
            own = self._text.make(n, random.Random(f"{self._seed}/{position}/own"))
            prompt = join(head, own)
        return WorkloadItem(
            prompt,
            max_tokens=self._output_tokens,
            prompt_id=position,
            prefix_group=group,
            prefix_first=prefixes.first(position),
        )


def synthetic_items(
    input_tokens: tuple[int, int],
    output_tokens: int | None,
    seed: int,
    text: PromptText | None = None,
    prefixes: SharedPrefixes | None = None,
) -> SyntheticItems:
    """The synthetic workload (see :class:`SyntheticItems`)."""
    return SyntheticItems(input_tokens, output_tokens, seed, text, prefixes)
