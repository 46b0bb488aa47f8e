"""Shared prefixes (issue 16): ``--prefix-tokens P --prefix-groups G --prefix-pick``.

Agents and RAG apps send many prompts that start with the same long system prompt; a
server's prefix cache (vLLM's automatic prefix caching, SGLang's radix cache) then
prefills it once. Here there are G distinct prefixes of P tokens (exactly P with
``--tokenizer``, else P words of about a token each: :mod:`llmbench.prompt_text`).
Prefix ``g`` comes from a generator seeded by (seed, "prefix", g), so every shard and
every process makes the same texts.

The request at global item position ``p`` takes group ``p mod G`` (round-robin) or one
drawn from a generator seeded by (seed, p) (random): a shard picks what the
single-process run picks for the same position. Its prompt is the prefix, a space, and
its own part (a synthetic prompt, a prompts-file prompt, the default prompt); the item
carries ``prefix_group`` and ``prefix_first`` (no earlier position picks its group).

Pure: the texts come from a :class:`~llmbench.prompt_text.PromptText`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from llmbench.config import MAX_INPUT_TOKENS, MAX_PREFIX_GROUPS, PREFIX_PICKS, RunConfig
from llmbench.prompt_text import PromptText, WordText, join
from llmbench.sharding import Positioned
from llmbench.workload import WorkloadItem

__all__ = ["PrefixedItems", "SharedPrefixes", "prefixed_messages", "shared_prefixes"]

# Prefix texts kept for reuse, by total characters (~6 a token): 32 MiB holds 64
# prefixes of 80,000 tokens, or 5 of a million; a miss only costs making it again.
_CACHE_CHARS = 32 * 1024 * 1024


class SharedPrefixes:
    """G shared prefixes of ``tokens`` tokens and which one each position takes."""

    def __init__(
        self,
        tokens: int,
        groups: int = 1,
        pick: str = "round-robin",
        seed: int = 0,
        text: PromptText | None = None,
    ) -> None:
        if not 1 <= tokens <= MAX_INPUT_TOKENS or not 1 <= groups <= MAX_PREFIX_GROUPS:
            raise ValueError(f"prefixes: {groups} groups of {tokens} tokens is out of bounds")
        if pick not in PREFIX_PICKS:
            raise ValueError(f"prefixes: unknown pick {pick!r}")
        self.tokens = tokens
        self.groups = groups
        self.pick = pick
        self._seed = seed
        self._text = text or WordText()
        self._texts: OrderedDict[int, str] = OrderedDict()
        self._chars = 0
        # random pick: each group's first position, from the positions scanned so far
        self._first_at: dict[int, int] = {}
        self._scanned = 0

    @property
    def note(self) -> str:
        """What the console says: "4 shared prefixes of 2,000 tokens (round-robin)"."""
        many = "a shared prefix" if self.groups == 1 else f"{self.groups:,} shared prefixes"
        about = "" if self._text.exact else "about "
        return f"{many} of {about}{self.tokens:,} tokens ({self.pick})"

    def group(self, position: int) -> int:
        """The group the item at ``position`` takes. A negative position (the
        pre-flight's, :meth:`PrefixedItems.unsent`) takes group G, which no request of
        the run sends: the pre-flight must not warm a prefix the run measures."""
        if position < 0:
            return self.groups
        if self.pick == "round-robin":
            return position % self.groups
        return random.Random(f"{self._seed}/prefix-pick/{position}").randrange(self.groups)

    def first(self, position: int) -> bool:
        """Whether no earlier position takes ``position``'s group.

        Round-robin: ``position < G``. Random: positions are scanned from 0 (the draws
        are pure, so any process gets the same answer) and each group's first
        position kept. The scan stops at ``position``, and needs no more once every
        group has been seen (about G·ln G positions), so its work over a run is at most
        the number of items asked for and its memory one entry per group."""
        if self.pick == "round-robin":
            return 0 <= position < self.groups
        if position < 0:
            return False
        group = self.group(position)
        while group not in self._first_at and self._scanned <= position:
            self._first_at.setdefault(self.group(self._scanned), self._scanned)
            self._scanned += 1
        return self._first_at.get(group) == position

    def text(self, group: int) -> str:
        """Group ``group``'s prefix (made once while it stays cached)."""
        text = self._texts.get(group)
        if text is not None:
            self._texts.move_to_end(group)
            return text
        text = self._text.make(self.tokens, random.Random(f"{self._seed}/prefix/{group}"))
        self._texts[group] = text
        self._chars += len(text)
        while self._chars > _CACHE_CHARS and len(self._texts) > 1:
            self._chars -= len(self._texts.popitem(last=False)[1])
        return text

    def apply(self, item: WorkloadItem, position: int) -> WorkloadItem:
        """``item`` with the prefix of ``position``'s group before its text, labelled.
        A session's first turn takes the one its session number picks."""
        group = self.group(position)
        prefix = self.text(group)
        messages = None if item.messages is None else prefixed_messages(item.messages, prefix)
        return replace(
            item,
            prompt=join(prefix, item.prompt),
            messages=messages,
            prefix_group=group,
            prefix_first=self.first(position),
        )


def shared_prefixes(cfg: RunConfig, text: PromptText) -> SharedPrefixes | None:
    """The run's shared prefixes (None without --prefix-tokens), their texts made by
    ``text`` (the run's: :func:`llmbench.tokens.prompt_text_for`)."""
    if cfg.prefix_tokens is None:
        return None
    return SharedPrefixes(cfg.prefix_tokens, cfg.prefix_groups, cfg.prefix_pick, cfg.seed, text)


def prefixed_messages(
    messages: Sequence[Mapping[str, Any]], prefix: str
) -> tuple[Mapping[str, Any], ...]:
    """The messages with ``prefix`` at the start of the first one's content, whatever
    its role: a system prompt (the usual place of a shared prefix), else the first user
    turn. The prefix must start the prompt the server renders for its prefix cache to
    share it, and no message is added (a second system message breaks some chat
    templates). A content list (OpenAI content parts) gets a text part in front."""
    if not messages:
        return ({"role": "user", "content": prefix},)
    first, *rest = messages
    content = first.get("content")
    if isinstance(content, list):
        new: Any = [{"type": "text", "text": prefix}, *content]
    else:
        new = join(prefix, content) if isinstance(content, str) and content else prefix
    return ({**first, "content": new}, *rest)


class PrefixedItems:
    """Any positioned item source with :class:`SharedPrefixes` applied: iterated in
    order (one process) or asked by rising position with :meth:`at` (shards, through
    :class:`llmbench.sharding.Positioned`). A source without ``at`` of its own (a
    prompts file's cycle) is read forward."""

    def __init__(self, base: Iterator[WorkloadItem], prefixes: SharedPrefixes) -> None:
        self._base = Positioned(base)
        self._prefixes = prefixes
        self._next = 0

    @property
    def prefixes(self) -> SharedPrefixes:
        return self._prefixes

    def __iter__(self) -> PrefixedItems:
        return self

    def __next__(self) -> WorkloadItem:
        item = self.at(self._next)
        self._next += 1
        return item

    def at(self, position: int) -> WorkloadItem:
        """The item at ``position`` (does not move the iteration)."""
        return self._prefixes.apply(self._base.at(position), position)

    def unsent(self) -> WorkloadItem:
        """The first item with a prefix no request of the run sends: the pre-flight's."""
        return self._prefixes.apply(self._base.at(0), -1)
