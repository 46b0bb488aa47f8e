"""A shard's summary.json read back for a merge (``read_part``), and what makes shards
one run (``check_parts``): a damaged or hand-made file is data to check, never a
traceback (issue 14; the independent review's hostile files)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from llmbench.measured import Measured
from llmbench.shard_merge import (
    MAX_START_GAP_S,
    MergeError,
    merge_parts,
    partial_block,
    read_part,
)

S = 1_000_000_000


def shard(index: int, origin_ns: int | None = 100 * S, **run: Any) -> dict[str, Any]:
    measured = Measured(started=2, finished=2, ok=2, origin_ns=origin_ns)
    return {
        "run": {"stop_reason": "done", "interrupted": False, "signal": None, **run},
        "config": {"url": "http://127.0.0.1:9", "seed": 1, "shard": index, "shards": 2},
        "client": {"cpu_pct": 40.0, "saturated": False, "saturation_reasons": []},
        "partial": partial_block(measured, 99 * S, 0),
    }


def test_two_shards_merge() -> None:
    merged = merge_parts([read_part(shard(0), "s0"), read_part(shard(1), "s1")])
    assert merged.measured.ok == 4
    assert (merged.interrupted, merged.stop_reason, merged.signal) == (False, "done", None)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("run", "started_at"), 5),
        (("run", "interrupted"), "no"),
        (("run", "signal"), 15),
        (("run", "error_rate_stop"), {"x": 1}),
        (("run", "error_rate_stop"), {"threshold": 0.5, "observed": "many", "window": 100}),
        (("client", "loop_lag_ms"), {"p99": "x"}),
        (("client", "saturation_reasons"), 5),
        (("client", "saturated"), "yes"),
        (("client",), [1, 2]),
    ],
)
def test_a_field_of_the_wrong_type_is_dropped_not_believed(
    where: tuple[str, ...], value: Any
) -> None:
    damaged = copy.deepcopy(shard(1))
    target = damaged
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    merged = merge_parts([read_part(shard(0), "s0"), read_part(damaged, "s1")])
    assert merged.interrupted is False  # "no" is not True
    assert merged.error_rate_stop is None
    assert merged.signal is None
    assert isinstance(merged.client.get("saturation_reasons", []), list)


@pytest.mark.parametrize(
    "summary",
    [
        [],
        {"run": {}, "config": {}},
        {**shard(0), "partial": None},
        {**shard(0), "config": {"shard": 2, "shards": 2}},
        {**shard(0), "config": {"shard": True, "shards": 2}},
        {**shard(0), "partial": {**shard(0)["partial"], "run_start_ns": -1}},
        {**shard(0), "ramp": {"duration_s": "long"}},
    ],
)
def test_what_is_not_a_shard_summary_is_a_merge_error(summary: Any) -> None:
    with pytest.raises(MergeError, match=r"^s0: "):
        read_part(summary, "s0")


def test_shards_that_began_measuring_far_apart_are_not_one_run() -> None:
    later = 100 * S + (MAX_START_GAP_S + 1) * S  # the same flags, re-run a day later
    with pytest.raises(MergeError, match=r"^shard 1 began measuring 3,601 s after shard 0"):
        merge_parts([read_part(shard(0), "s0"), read_part(shard(1, later), "s1")])


def test_shards_given_twice_say_so() -> None:
    with pytest.raises(MergeError, match=r"^shard\(s\) \[0\] given twice of 2$"):
        merge_parts([read_part(shard(0), "a"), read_part(shard(0), "b")])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"origin_ns": 200_000 * S, "first_t0_ns": S, "last_end_ns": 2 * S}, "a day away"),
        ({"first_t0_ns": 150 * S, "last_end_ns": 120 * S}, "last_end_ns is before first_t0_ns"),
    ],
)
def test_instants_that_no_run_has_are_refused(change: dict[str, int], says: str) -> None:
    damaged = shard(0)
    damaged["partial"]["measured"].update(change)
    with pytest.raises(MergeError, match=says):
        read_part(damaged, "s0")
