"""Tests for llmbench.sharding: how one run splits into N shards.

The promise is that the shards together are the single-process run, exactly: their
shares add up, their arrivals are the one global schedule (whatever the arrival
process), their request indices and workload positions partition the run's. Those are
Hypothesis properties against llmbench.schedule; the parsers get named good and bad
inputs and arbitrary text, which may give a value or a ValueError, nothing else.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.schedule import arrival_offsets, closed_loop_starts
from llmbench.sharding import (
    MAX_SHARDS,
    Positioned,
    Shard,
    item_position,
    parse_start_at,
    parse_workers,
)

shard_counts = st.integers(1, 16)


def shards(n: int) -> list[Shard]:
    return [Shard(i, n) for i in range(n)]


# -- shares and indices ---------------------------------------------------------------


@given(shard_counts, st.integers(0, 1000))
def test_shares_add_up_and_differ_by_at_most_one(n: int, total: int) -> None:
    shares = [s.share(total) for s in shards(n)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)  # the low indices take the remainder


@pytest.mark.parametrize(
    ("shard", "total", "share"),
    [(Shard(), 7, 7), (Shard(0, 3), 7, 3), (Shard(1, 3), 7, 2), (Shard(3, 4), 3, 0)],
)
def test_share(shard: Shard, total: int, share: int) -> None:
    assert shard.share(total) == share


@given(shard_counts, st.integers(0, 1000))
def test_global_indices_partition_the_run(n: int, total: int) -> None:
    owned = [s.global_index(local) for s in shards(n) for local in range(s.share(total))]
    assert sorted(owned) == list(range(total))


@given(shard_counts, st.integers(0, 500), st.integers(0, 100))
def test_item_positions_are_the_single_runs_after_the_phases_before(
    n: int, total: int, base: int
) -> None:
    positions = [
        item_position(s, base, local) for s in shards(n) for local in range(s.share(total))
    ]
    assert sorted(positions) == list(range(base, base + total))


def test_the_whole_run_is_shard_0_of_1() -> None:
    assert Shard().whole
    assert not Shard(0, 2).whole
    assert [Shard().global_index(k) for k in range(4)] == [0, 1, 2, 3]
    assert [Shard(2, 3).global_index(k) for k in range(3)] == [2, 5, 8]


# -- arrivals and closed-loop starts ----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    arrival=st.sampled_from(["constant", "poisson", "gamma"]),
    rate=st.floats(0.1, 1000),
    burst=st.integers(1, 5),
    burstiness=st.floats(0.1, 5),
    ramp_s=st.sampled_from([0.0]) | st.floats(0.01, 30),
    seed=st.integers(0, 2**32),
    k=st.integers(0, 200),
    n=shard_counts,
)
def test_shards_arrivals_are_the_one_global_schedule(
    arrival: str,
    rate: float,
    burst: int,
    burstiness: float,
    ramp_s: float,
    seed: int,
    k: int,
    n: int,
) -> None:
    def first_k() -> Iterator[int]:
        # each shard draws the schedule itself, as a shard process does
        offsets = arrival_offsets(
            rate, arrival, burst=burst, burstiness=burstiness, ramp_s=ramp_s, seed=seed
        )
        return itertools.islice(offsets, k)

    single = list(first_k())
    per_shard = [list(s.arrivals(first_k())) for s in shards(n)]
    assert Counter(itertools.chain(*per_shard)) == Counter(single)
    for i, mine in enumerate(per_shard):
        assert mine == single[i::n]


@given(st.integers(1, 300), st.sampled_from([0.0, 0.5, 7.0, 60.0]), shard_counts)
def test_worker_starts_partition_the_global_ramp(c: int, ramp_s: float, n: int) -> None:
    starts = closed_loop_starts(c, ramp_s)
    per_shard = [s.worker_starts(starts) for s in shards(n)]
    assert sorted(itertools.chain(*per_shard)) == sorted(starts)
    assert [len(mine) for mine in per_shard] == [s.share(c) for s in shards(n)]


def test_worker_starts_keep_their_global_times() -> None:
    # 5 workers over 4 s start at 0, 1, 2, 3, 4 s; shard 1 of 2 has the 2nd and 4th
    starts = closed_loop_starts(5, 4.0)
    assert Shard(1, 2).worker_starts(starts) == [1_000_000_000, 3_000_000_000]
    assert Shard(0, 2).worker_starts(starts) == [0, 2_000_000_000, 4_000_000_000]


# -- Shard and Shard.parse ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shard"),
    [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 1 / 2 ", Shard(1, 2)), ("007/8", Shard(7, 8))],
)
def test_parse_shard(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/2", r"^shard 3/2: expected I/N with 0 <= I < N <= 4096$"),
        ("2/2", r"^shard 2/2: expected I/N"),
        ("0/0", r"^shard 0/0: expected I/N"),
        ("0/5000", r"^shard 0/5000: expected I/N with 0 <= I < N <= 4096"),
        ("-1/2", r"^expected I/N, such as 0/4, got '-1/2'$"),
        ("a/b", r"^expected I/N, such as 0/4, got 'a/b'$"),
        ("1", r"^expected I/N, such as 0/4, got '1'$"),
        ("", r"^expected I/N, such as 0/4, got ''$"),
        ("1/2/3", r"^expected I/N, such as 0/4, got '1/2/3'$"),
        ("1/2\n3", r"^expected I/N"),
        ("1234567/9999999", r"^expected I/N"),
        ("9" * 5000 + "/2", r"^expected I/N, such as 0/4, got '9{30,40}$"),  # quoted, cut
    ],
)
def test_parse_shard_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Shard.parse(text)


@pytest.mark.parametrize(("index", "count"), [(0, 0), (1, 1), (-1, 2), (0, MAX_SHARDS + 1)])
def test_a_shard_outside_its_count_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match=rf"^shard {index}/{count}: expected I/N"):
        Shard(index, count)


@given(st.integers(0, MAX_SHARDS - 1), st.integers(1, MAX_SHARDS))
def test_parse_reads_what_a_shard_prints(i: int, n: int) -> None:
    if i < n:
        assert Shard.parse(f"{i}/{n}") == Shard(i, n)
    else:
        with pytest.raises(ValueError, match=f"^shard {i}/{n}:"):
            Shard.parse(f"{i}/{n}")


@given(st.text(max_size=20) | st.from_regex(r"\s*-?\d{1,8}\s*/\s*-?\d{1,8}\s*", fullmatch=True))
def test_parse_of_any_text_is_a_shard_or_a_value_error(text: str) -> None:
    try:
        shard = Shard.parse(text)
    except ValueError as exc:
        error = str(exc)
    else:
        assert 0 <= shard.index < shard.count <= MAX_SHARDS
        return
    assert error.startswith(("expected I/N, such as 0/4, got ", "shard "))  # says the rule


# -- Positioned -----------------------------------------------------------------------


class Counted:
    """An item stream that counts how many items were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.taken += 1
        return f"item {self.taken - 1}"


def test_positioned_skips_to_the_position_asked() -> None:
    stream = Counted()
    items = Positioned(stream)
    assert items.at(0) == "item 0"
    assert items.at(3) == "item 3"
    assert stream.taken == 4  # 1 and 2 skipped, nothing read ahead
    assert items.at(4) == "item 4"
    assert stream.taken == 5


def test_positioned_gives_the_same_item_for_the_same_position_twice() -> None:
    # the pre-flight request's item is the first measured request's too
    stream = Counted()
    items = Positioned(stream)
    assert items.at(2) == items.at(2) == "item 2"
    assert stream.taken == 3


@pytest.mark.parametrize("earlier", [0, 4])
def test_positioned_refuses_a_position_already_passed(earlier: int) -> None:
    items = Positioned(Counted())
    items.at(5)
    with pytest.raises(ValueError, match=rf"^position {earlier} was passed \(at 6\)$"):
        items.at(earlier)
    assert items.at(6) == "item 6"  # a refused position changes nothing


@given(st.lists(st.integers(0, 50), max_size=20).map(sorted))
def test_positioned_gives_the_item_at_each_rising_position(positions: list[int]) -> None:
    items = Positioned(iter(range(1000)))
    assert [items.at(p) for p in positions] == positions


# -- parse_workers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cores", "workers"),
    [
        ("auto", 1, 1),
        ("auto", 2, 2),
        ("auto", 3, 2),  # more than two cores: one is left for the coordinator
        ("auto", 8, 7),
        ("auto", 0, 1),  # an unknown core count still runs
        (" AUTO ", 8, 7),
        ("4", 8, 4),
        ("16", 2, 16),  # an explicit count is the user's to choose
        (str(MAX_SHARDS), 1, MAX_SHARDS),
    ],
)
def test_parse_workers(text: str, cores: int, workers: int) -> None:
    assert parse_workers(text, cores) == workers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", r"^expected 1 to 4096, got 0$"),
        ("-1", r"^expected 1 to 4096, got -1$"),
        ("99999", r"^expected 1 to 4096, got 99999$"),
        ("x", r"^expected a count or auto, got 'x'$"),
        ("", r"^expected a count or auto, got ''$"),
        ("2.5", r"^expected a count or auto, got '2.5'$"),
    ],
)
def test_parse_workers_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_workers(text, 8)


@given(st.text(max_size=12), st.integers(0, 512))
def test_parse_workers_of_any_text_is_a_count_or_a_value_error(text: str, cores: int) -> None:
    try:
        workers = parse_workers(text, cores)
    except ValueError:
        return
    assert 1 <= workers <= MAX_SHARDS


# -- parse_start_at -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1700000000", 1_700_000_000.0),
        (" 1700000000.25 ", 1_700_000_000.25),
        ("2024-01-01T00:00:00Z", 1_704_067_200.0),
        ("2024-01-01T02:00:00+02:00", 1_704_067_200.0),  # the same instant
        ("2024-01-01T00:00:00.5+00:00", 1_704_067_200.5),
    ],
)
def test_parse_start_at(text: str, seconds: float) -> None:
    assert parse_start_at(text) == seconds


def test_iso_instants_in_different_zones_are_equal() -> None:
    assert parse_start_at("2030-06-01T12:00:00Z") == parse_start_at("2030-06-01T14:00:00+02:00")
    assert parse_start_at("2030-06-01T12:00:00Z") != parse_start_at("2030-06-01T12:00:00+02:00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-01-01T00:00:00", r"^'2024-01-01T00:00:00' has no time zone; add Z or \+HH:MM$"),
        ("2024-01-01", r"has no time zone"),
        ("nan", r"^not an instant llmbench can wait for: 'nan'$"),
        ("inf", r"^not an instant llmbench can wait for: 'inf'$"),
        ("-inf", r"^not an instant llmbench can wait for: '-inf'$"),
        ("-5", r"^not an instant llmbench can wait for: '-5'$"),
        ("0", r"^not an instant llmbench can wait for: '0'$"),
        ("1700000000000", r"^not an instant llmbench"),  # milliseconds, not seconds
        # the same range for ISO instants as for Unix seconds
        ("1969-12-31T00:00:00Z", r"^not an instant llmbench can wait for"),
        ("tomorrow", r"^expected ISO 8601 or Unix seconds, got 'tomorrow'$"),
        ("", r"^expected ISO 8601 or Unix seconds, got ''$"),
        ("2024-13-01T00:00:00Z", r"^expected ISO 8601 or Unix seconds"),
    ],
)
def test_parse_start_at_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_start_at(text)


@given(
    st.text(max_size=30)
    | st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
)
def test_parse_start_at_of_any_text_is_an_instant_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_start_at(text)
    except ValueError:
        return
    assert math.isfinite(seconds)


def test_shard_digits_are_ascii() -> None:
    # int() reads full-width and other Unicode digits; a shard spec is typed, not pasted
    with pytest.raises(ValueError, match="expected I/N"):
        Shard.parse("３/４")
