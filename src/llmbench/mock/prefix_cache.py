"""A simulated prefix cache (`--prefix-cache`): seen prompt prefixes make TTFT shorter (sans-IO).

Serving engines keep the KV cache of prompts they have prefilled and reuse it for any
later prompt that starts the same way (vLLM's automatic prefix caching, SGLang's radix
cache), so a chat's later turns and requests sharing a long system prompt reach their
first token sooner. The mock models that with vLLM's scheme, on its own tokens
(whitespace-separated words, as its usage counts them):

- A prompt is cut into blocks of `BLOCK_WORDS` words. Block i's hash is
  `hash((hash of block i - 1, *its words))`, so equal hashes mean equal whole prefixes.
  Only full blocks are hashed; a prompt's last partial block is never cached.
- A request's hit is its number of leading blocks whose hashes are cached. Its TTFT is
  `ttft × (1 − cached_fraction)`, `cached_fraction = hit × BLOCK_WORDS / prompt words`.
- Then the blocks of its prompt followed by its reply (as the assistant's turn: the
  history a chat client sends next) are cached: at arrival, as if prefill were instant.
- At most `max_blocks` hashes are kept, least recently used forgotten first. A request
  touches its blocks last to first, so an old prompt's tail is forgotten before its head
  (vLLM frees a request's blocks in reverse order for the same reason).

A prompt's words are what a model would be fed: a chat request's messages in order, each
as `<role>` then its content's words; a completion prompt's words as they are. The
server builds a `Chain` per request; nothing here runs when the flag is off.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BLOCK_WORDS",
    "DEFAULT_MAX_BLOCKS",
    "MAX_BLOCKS",
    "OFF",
    "Chain",
    "PrefixCache",
    "PrefixCacheSnapshot",
    "cached_ttft_ns",
    "prompt_words",
]

# vLLM's default KV block size: small enough that short shared prefixes still hit.
BLOCK_WORDS = 16
# 1M blocks (16M words) hold any test's prompts; the LRU costs ~130 MB when full.
DEFAULT_MAX_BLOCKS = 1_000_000
# A bound on the flag, so a typo cannot ask for tens of gigabytes.
MAX_BLOCKS = 100_000_000
# The parent "hash" of a prompt's first block.
_ROOT = 0


class Chain:
    """A prompt's block hashes, built word by word: the full blocks' chained hashes, the
    words of the partial block after them, and the total word count."""

    __slots__ = ("hashes", "tail", "words")

    def __init__(self) -> None:
        self.hashes: array[int] = array("q")  # 8 bytes a block
        self.tail: tuple[str, ...] = ()
        self.words = 0

    def copy(self) -> Chain:
        """An independent copy (a conversation's history, extended by one turn)."""
        chain = Chain()
        chain.hashes = array("q", self.hashes)
        chain.tail, chain.words = self.tail, self.words
        return chain

    def extend(self, words: Sequence[str]) -> None:
        """Append `words`, hashing every block they complete."""
        buf = (*self.tail, *words)
        full = len(buf) - len(buf) % BLOCK_WORDS
        hashes = self.hashes
        prev = hashes[-1] if hashes else _ROOT
        for i in range(0, full, BLOCK_WORDS):
            prev = hash((prev, *buf[i : i + BLOCK_WORDS]))
            hashes.append(prev)
        self.tail = buf[full:]
        self.words += len(words)


@dataclass(frozen=True, slots=True)
class PrefixCacheSnapshot:
    """The `prefix_cache` group of `/stats`.

    `queries` counts requests looked up; `prompt_blocks` their full prompt blocks and
    `hit_blocks` those found cached (`hit_rate` = hit / prompt blocks); `blocks` is how
    many hashes are cached now (at most `max_blocks`), `evicted` how many were forgotten.
    """

    enabled: bool
    block_words: int
    max_blocks: int
    blocks: int
    evicted: int
    queries: int
    prompt_blocks: int
    hit_blocks: int

    @property
    def hit_rate(self) -> float:
        """Cached share of the prompt blocks looked up (0 before any)."""
        return self.hit_blocks / self.prompt_blocks if self.prompt_blocks else 0.0

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict, `hit_rate` included."""
        return {
            "enabled": self.enabled,
            "block_words": self.block_words,
            "max_blocks": self.max_blocks,
            "blocks": self.blocks,
            "evicted": self.evicted,
            "queries": self.queries,
            "prompt_blocks": self.prompt_blocks,
            "hit_blocks": self.hit_blocks,
            "hit_rate": self.hit_rate,
        }

    def line(self) -> str:
        """One human-readable line for `--stats`."""
        if not self.enabled:
            return "prefix cache: off"
        return (
            f"prefix cache: queries={self.queries} hit blocks={self.hit_blocks} of "
            f"{self.prompt_blocks} (rate {self.hit_rate:.3f}) cached={self.blocks} "
            f"(max {self.max_blocks}) evicted={self.evicted}"
        )


# What `/stats` shows without `--prefix-cache`.
OFF = PrefixCacheSnapshot(False, BLOCK_WORDS, 0, 0, 0, 0, 0, 0)


class PrefixCache:
    """An LRU set of block hashes, at most `max_blocks` of them."""

    __slots__ = ("_blocks", "_evicted", "_hit_blocks", "_max", "_prompt_blocks", "_queries")

    def __init__(self, max_blocks: int = DEFAULT_MAX_BLOCKS) -> None:
        if not 1 <= max_blocks <= MAX_BLOCKS:
            raise ValueError(f"max_blocks must be in 1..{MAX_BLOCKS}, got {max_blocks}")
        self._max = max_blocks
        self._blocks: OrderedDict[int, None] = OrderedDict()  # oldest first
        self._evicted = 0
        self._queries = 0
        self._prompt_blocks = 0
        self._hit_blocks = 0

    def match(self, hashes: Sequence[int]) -> int:
        """How many leading `hashes` are cached: a prompt's hit, counted in the stats."""
        blocks = self._blocks
        hit = 0
        for h in hashes:
            if h not in blocks:
                break
            hit += 1
        self._queries += 1
        self._prompt_blocks += len(hashes)
        self._hit_blocks += hit
        return hit

    def insert(self, hashes: Sequence[int]) -> None:
        """Cache `hashes` (a prompt's, in order) as the most recently used, the first
        most recent of all; forget the least recently used beyond the bound."""
        blocks = self._blocks
        for h in reversed(hashes):
            if h in blocks:
                blocks.move_to_end(h)
            else:
                blocks[h] = None
        over = len(blocks) - self._max
        if over > 0:
            for _ in range(over):
                blocks.popitem(last=False)
            self._evicted += over

    def statistics(self) -> PrefixCacheSnapshot:
        """Snapshot the counters."""
        return PrefixCacheSnapshot(
            enabled=True,
            block_words=BLOCK_WORDS,
            max_blocks=self._max,
            blocks=len(self._blocks),
            evicted=self._evicted,
            queries=self._queries,
            prompt_blocks=self._prompt_blocks,
            hit_blocks=self._hit_blocks,
        )


def cached_ttft_ns(ttft_ns: int, hit_blocks: int, prompt_words: int) -> int:
    """`ttft × (1 − cached_fraction)`, the fraction being the hit blocks' words over
    the prompt's; a prompt with no words has nothing cached. A full hit still leaves
    the last word to compute, as vLLM recomputes the last token: TTFT is never 0."""
    if prompt_words <= 0 or hit_blocks <= 0:
        return ttft_ns
    cached = min(hit_blocks * BLOCK_WORDS, prompt_words - 1)
    return ttft_ns - ttft_ns * cached // prompt_words


def prompt_words(prompt: object) -> tuple[list[str], bool]:
    """The words a model would be fed for `prompt` (as a format's `GenRequest.prompt`
    holds it), and whether it was a chat (its reply is then the `<assistant>` turn).

    A string gives its whitespace-separated words; a message (an object with `role`)
    gives `<role>` then its `content`'s words (a string, or parts with `text`); lists
    and tuples are read in order; an integer (a token id) is one word.
    """
    out: list[str] = []
    return out, _collect(prompt, out)


def _collect(value: object, out: list[str]) -> bool:
    if isinstance(value, str):
        out.extend(value.split())
        return False
    if isinstance(value, list | tuple):
        chat = False
        for item in value:
            chat = _collect(item, out) or chat
        return chat
    if isinstance(value, dict):
        role = value.get("role")
        if isinstance(role, str):
            out.append(f"<{role}>")
        _collect(value.get("content"), out)
        _collect(value.get("text"), out)
        return isinstance(role, str)
    if isinstance(value, int) and not isinstance(value, bool):
        out.append(str(value))
    return False
