"""The mock's simulated prefix cache (`--prefix-cache`) without sockets or a clock.

The block-hash chain, the LRU bound, the TTFT formula and the prompt's words are pure;
the engine's shortened timelines get a fake sink and wheel and assert exact nanoseconds.
"""

from __future__ import annotations

import argparse
import tracemalloc

import pytest

from llmbench.mock import prefix_cache
from llmbench.mock.capacity import Slots
from llmbench.mock.engine import Engine, Job, Ticket
from llmbench.mock.options import MockOptions, OptionsError, add_arguments, options_from_args
from llmbench.mock.prefix_cache import (
    BLOCK_WORDS,
    DEFAULT_MAX_BLOCKS,
    Chain,
    PrefixCache,
    cached_ttft_ns,
    prompt_words,
)
from llmbench.mock.stats import MockStats
from llmbench.mock.streams import StreamPlan, Timing

MS = 1_000_000


def words(n: int, start: int = 0) -> list[str]:
    return [f"w{i}" for i in range(start, start + n)]


def chain_of(ws: list[str]) -> Chain:
    chain = Chain()
    chain.extend(ws)
    return chain


# Chain: one hash per full block, each naming the whole prefix.


def test_only_full_blocks_are_hashed() -> None:
    chain = chain_of(words(2 * BLOCK_WORDS + 5))
    assert len(chain.hashes) == 2
    assert chain.tail == tuple(words(5, 2 * BLOCK_WORDS))
    assert chain.words == 2 * BLOCK_WORDS + 5
    assert len(chain_of(words(BLOCK_WORDS - 1)).hashes) == 0


@pytest.mark.parametrize("step", [1, 3, BLOCK_WORDS, 100])
def test_any_split_gives_the_same_hashes(step: int) -> None:
    ws = words(100)
    whole = chain_of(ws)
    pieces = Chain()
    for i in range(0, len(ws), step):
        pieces.extend(ws[i : i + step])
    assert list(pieces.hashes) == list(whole.hashes)
    assert (pieces.tail, pieces.words) == (whole.tail, whole.words)


def test_a_block_hash_names_its_whole_prefix() -> None:
    a = chain_of(words(3 * BLOCK_WORDS))
    b = chain_of(["other", *words(BLOCK_WORDS - 1, 1), *words(2 * BLOCK_WORDS, BLOCK_WORDS)])
    # Same second and third blocks, different first: no hash in common.
    assert not set(a.hashes) & set(b.hashes)


def test_copy_is_independent() -> None:
    history = chain_of(words(20))
    turn = history.copy()
    turn.extend(words(40, 20))
    assert (len(history.hashes), history.words) == (1, 20)
    assert list(turn.hashes[:1]) == list(history.hashes)
    assert list(turn.hashes) == list(chain_of(words(60)).hashes)


# PrefixCache: longest cached prefix, LRU bound, statistics.


def test_a_repeated_prompt_hits_every_full_block() -> None:
    cache = PrefixCache()
    chain = chain_of(words(100))
    assert cache.match(chain.hashes) == 0
    cache.insert(chain.hashes)
    assert cache.match(chain.hashes) == 6
    snap = cache.statistics()
    assert (snap.queries, snap.prompt_blocks, snap.hit_blocks, snap.blocks) == (2, 12, 6, 6)
    assert snap.hit_rate == 0.5


def test_the_match_stops_at_the_first_difference() -> None:
    cache = PrefixCache()
    cache.insert(chain_of(words(64)).hashes)
    changed = words(64)
    changed[40] = "changed"  # in the third block
    assert cache.match(chain_of(changed).hashes) == 2
    assert cache.match(chain_of(["x", *words(63)]).hashes) == 0


def test_the_bound_forgets_least_recently_used_tail_first() -> None:
    cache = PrefixCache(max_blocks=4)
    old = chain_of(words(3 * BLOCK_WORDS))
    cache.insert(old.hashes)
    new = chain_of(words(2 * BLOCK_WORDS, 1000))
    cache.insert(new.hashes)
    snap = cache.statistics()
    assert (snap.blocks, snap.evicted) == (4, 1)
    # The old prompt lost its last block, not its first: its head still hits.
    assert cache.match(old.hashes) == 2
    assert cache.match(new.hashes) == 2


def test_a_hit_refreshes_its_blocks() -> None:
    cache = PrefixCache(max_blocks=2)
    a, b, c = (chain_of(words(BLOCK_WORDS, s)) for s in (0, 100, 200))
    cache.insert(a.hashes)
    cache.insert(b.hashes)
    cache.insert(a.hashes)  # a used again: b is now the oldest
    cache.insert(c.hashes)
    assert [cache.match(x.hashes) for x in (a, b, c)] == [1, 0, 1]


def test_memory_stays_within_the_bound() -> None:
    """Many distinct prompts through a small cache: it holds `max_blocks`, no more."""
    cache = PrefixCache(max_blocks=1000)
    tracemalloc.start()
    try:
        for i in range(2000):
            chain = chain_of(words(4 * BLOCK_WORDS, i * 1000))
            cache.match(chain.hashes)
            cache.insert(chain.hashes)
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    snap = cache.statistics()
    assert (snap.blocks, snap.evicted) == (1000, 7000)
    assert used < 1_000_000  # ~100 bytes a cached block, nothing per query


@pytest.mark.parametrize("bad", [0, -1, prefix_cache.MAX_BLOCKS + 1])
def test_the_bound_is_checked(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"^max_blocks must be in 1\.\.\d+, got {bad}$"):
        PrefixCache(bad)


def test_off_snapshot() -> None:
    off = prefix_cache.OFF
    assert off.to_json()["enabled"] is False
    assert off.line() == "prefix cache: off"
    assert MockStats().statistics().to_json()["prefix_cache"] == off.to_json()


def test_stats_carry_the_prefix_cache_group() -> None:
    cache = PrefixCache(10)
    cache.match(chain_of(words(32)).hashes)
    snap = MockStats(prefix_cache=cache.statistics).statistics()
    body = snap.to_json()["prefix_cache"]
    assert body == {
        "enabled": True,
        "block_words": BLOCK_WORDS,
        "max_blocks": 10,
        "blocks": 0,
        "evicted": 0,
        "queries": 1,
        "prompt_blocks": 2,
        "hit_blocks": 0,
        "hit_rate": 0.0,
    }
    assert "prefix cache: queries=1 hit blocks=0 of 2" in "\n".join(snap.lines())


# TTFT: ttft × (1 − cached words / prompt words).


@pytest.mark.parametrize(
    ("hit", "prompt", "expected"),
    [
        (0, 100, 100 * MS),
        (1, 32, 50 * MS),  # 16 of 32 words
        (6, 100, 4 * MS),  # 96 of 100 words
        (2, 32, 100 * MS // 32),  # all of it cached: the last word is still computed
        (3, 32, 100 * MS // 32),  # more hits than words: the same
        (3, 0, 100 * MS),  # no words: nothing cached
    ],
)
def test_ttft_shrinks_with_the_cached_fraction(hit: int, prompt: int, expected: int) -> None:
    assert cached_ttft_ns(100 * MS, hit, prompt) == expected


# What a model would be fed.


def test_chat_messages_are_role_tagged_in_order() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
    ]
    assert prompt_words(messages) == (["<system>", "be", "brief", "<user>", "hi", "there"], True)


def test_plain_prompts_are_their_words() -> None:
    assert prompt_words("a  b\nc") == (["a", "b", "c"], False)
    assert prompt_words([1, 2, True]) == (["1", "2"], False)
    assert prompt_words((None, "x y")) == (["x", "y"], False)
    assert prompt_words(None) == ([], False)


# The engine: a cached prompt's timeline starts `saved_ns` earlier.


class Sink:
    def __init__(self) -> None:
        self.job: Job | None = None
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def done(self) -> None:
        pass

    def close(self) -> None:
        pass


class Wheel:
    def __init__(self) -> None:
        self.added: list[tuple[Job, int]] = []

    def add(self, job: Job, due: int) -> None:
        self.added.append((job, due))

    def close(self) -> None:
        pass


def _engine(per_active_ns: int = 0) -> tuple[Engine, Wheel]:
    timing = Timing(ttft_ns=100 * MS, itl_ns=10 * MS, jitter_ns=0, rand=lambda: 0.0)
    wheel = Wheel()
    slots: Slots[Ticket] = Slots(0)
    engine = Engine(timing, per_active_ns, wheel, MockStats(), slots, clock=lambda: 0)  # type: ignore[arg-type]
    return engine, wheel


@pytest.mark.parametrize("per_active_ns", [0, 1 * MS])
def test_a_cached_stream_starts_earlier_with_or_without_load(per_active_ns: int) -> None:
    engine, wheel = _engine(per_active_ns)
    plan = StreamPlan(first=b"", tokens=(b"t",), tail=b"", n=3)
    sink = Sink()
    engine.submit(sink, engine.stream(sink, plan, saved_ns=60 * MS), 1000 * MS)
    assert wheel.added[0][1] == 1040 * MS  # 100 ms TTFT less 60 ms


@pytest.mark.parametrize("per_active_ns", [0, 1 * MS])
def test_a_cached_body_is_due_earlier(per_active_ns: int) -> None:
    engine, wheel = _engine(per_active_ns)
    sink = Sink()
    engine.submit(sink, engine.body(sink, b"body", 1, saved_ns=30 * MS), 0)
    assert wheel.added[0][1] == 70 * MS


# Flags.


def _options(*argv: str) -> MockOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_prefix_cache_is_off_by_default() -> None:
    options = _options()
    assert (options.prefix_cache, options.prefix_cache_blocks) == (False, DEFAULT_MAX_BLOCKS)
    on = _options("--prefix-cache", "--prefix-cache-blocks", "50")
    assert (on.prefix_cache, on.prefix_cache_blocks) == (True, 50)


@pytest.mark.parametrize("bad", ["0", "-3", "100000001"])
def test_prefix_cache_blocks_is_checked(bad: str) -> None:
    match = rf"^--prefix-cache-blocks must be in 1\.\.100000000, got {bad}$"
    with pytest.raises(OptionsError, match=match):
        _options("--prefix-cache", "--prefix-cache-blocks", bad)


def test_a_queued_cached_stream_saves_from_its_admission() -> None:
    timing = Timing(ttft_ns=100 * MS, itl_ns=10 * MS, jitter_ns=0, rand=lambda: 0.0)
    wheel, clock = Wheel(), [0]
    slots: Slots[Ticket] = Slots(1)
    engine = Engine(timing, 0, wheel, MockStats(), slots, clock=lambda: clock[0])  # type: ignore[arg-type]
    plan = StreamPlan(first=b"", tokens=(b"t",), tail=b"", n=3)
    first, second = Sink(), Sink()
    a = engine.submit(first, engine.stream(first, plan), 0)
    engine.submit(second, engine.stream(second, plan, saved_ns=75 * MS), 0)
    clock[0] = 500 * MS
    engine.release(a)
    assert [due for _, due in wheel.added] == [100 * MS, 525 * MS]
