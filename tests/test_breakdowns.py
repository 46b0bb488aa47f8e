"""The workload breakdowns (issue 16): per turn, per prefix group, first use against
reuse, sessions and the server's prompt counts, from the Recorder to summary.json.

Results are made by hand with exact figures. The merge must be exact: the breakdowns of
two shards recorded apart and merged equal those of one Recorder fed both (a hand-written
case and a Hypothesis property), and they survive a shard's summary.json unchanged;
``from_json`` reads files a user may damage, so it answers with a value or a ValueError.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench import breakdown_tally
from llmbench.breakdowns import (
    GROUPS_KEPT,
    TURNS_KEPT,
    Breakdowns,
    SizeDist,
    TimeDist,
    bucket_floor,
    merge_breakdowns,
)
from llmbench.console import summary_table
from llmbench.measured import Measured, merge
from llmbench.measured_json import breakdowns_from_json
from llmbench.metrics import Recorder
from llmbench.output.summary import build_summary
from llmbench.output.workload_summary import WORKLOAD_BLOCKS
from llmbench.result import Phase, RequestResult, SessionEnd, SessionResult
from llmbench.shard_merge import merge_parts, partial_block, read_part

MS = 1_000_000
S = 1_000_000_000


def req(
    turn: int | None = None, ttft_ms: float = 100, status: str = "ok", **kw: Any
) -> RequestResult:
    """A measured request ``ttft_ms`` to its first token, twice that to its end."""
    ttft = int(ttft_ms * MS)
    fields: dict[str, Any] = {
        "index": 0, "phase": "measure", "status": status, "t0_ns": 0, "end_ns": 2 * ttft,
        "ttft_ns": ttft, "latency_ns": 2 * ttft, "output_tokens": 10, "turn": turn,
        "session": None if turn is None else 0,
    }  # fmt: skip
    fields.update(kw)
    return RequestResult(**fields)


def session(
    number: int = 0, end: SessionEnd = "completed", turns: int = 3, sent: int = 3, ok: int = 3,
    seconds: float = 2.0, phase: Phase = "measure",
) -> SessionResult:  # fmt: skip
    return SessionResult(number, phase, turns, sent, ok, S, S + int(seconds * S), end)


def recorded(results: Sequence[RequestResult], sessions: Sequence[SessionResult] = ()) -> Recorder:
    rec = Recorder()
    rec.set_origin(0)
    for r in results:
        rec.on_start(r.t0_ns)
        rec.record(r)
    for s in sessions:
        rec.record_session(s)
    return rec


def summary(rec: Recorder, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_summary(
        rec.freeze(), run={"started_at": "x", "token_unit": "tokens"}, config=config or {},
        open_loop=False,
    )  # fmt: skip


# -- plain runs: nothing new ---------------------------------------------------------------


def test_a_plain_run_has_no_workload_block_and_no_partial_key() -> None:
    rec = recorded([req(), req(status="timeout")])
    m = rec.freeze()
    assert m.breakdowns.empty
    assert "breakdowns" not in m.to_json()
    out = summary(rec)
    assert not set(WORKLOAD_BLOCKS) & set(out)


def test_a_plain_request_never_reaches_the_tally(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cost of a request without labels: the Recorder's attribute checks, nothing more.
    def boom(self: Any, r: RequestResult) -> None:
        raise AssertionError("called")

    monkeypatch.setattr(breakdown_tally.BreakdownTally, "add", boom)
    recorded([req(), req(status="timeout")])
    with pytest.raises(AssertionError, match="called"):
        recorded([req(server_input_tokens=5)])


def test_warmup_requests_and_sessions_are_left_out() -> None:
    rec = recorded(
        [req(1, phase="warmup", server_input_tokens=9), req(2, phase="ramp")],
        [session(phase="warmup")],
    )
    assert rec.freeze().breakdowns.empty


# -- per turn -----------------------------------------------------------------------------


def test_per_turn_rows_and_the_later_turns_row() -> None:
    results = [req(1, 400, server_input_tokens=100, input_tokens=90) for _ in range(3)]
    results += [req(2, 50, server_input_tokens=300), req(2, 60, status="timeout")]
    results += [req(3, 40, input_tokens=500), req(3, 70)]  # no server count: the run's
    out = summary(recorded(results))["turns"]
    assert out["kept"] == TURNS_KEPT
    first, second, third = out["rows"]
    assert (first["turn"], first["requests"], first["ok"]) == (1, 3, 3)
    assert first["ttft_ms"] == {
        "count": 3, "min": 400.0, "mean": 400.0, "p50": 400.0, "p90": 400.0, "p99": 400.0,
        "max": 400.0,
    }  # fmt: skip
    assert first["latency_ms"]["p50"] == 800.0
    assert (first["input_tokens_mean"], first["input_tokens_from"]) == (100.0, "server usage")
    assert (second["requests"], second["ok"], second["ttft_ms"]["count"]) == (2, 1, 1)
    assert second["ttft_ms"]["max"] == 50.0  # the failure's TTFT is not counted
    assert second["input_tokens_mean"] == 300.0
    assert (third["input_tokens_mean"], third["input_tokens_from"]) == (500.0, "token count")
    later = out["later"]
    assert (later["turn"], later["requests"], later["ok"]) == ("2+", 4, 3)
    assert (later["ttft_ms"]["min"], later["ttft_ms"]["max"]) == (40.0, 70.0)
    assert later["ttft_ms"]["mean"] == pytest.approx((50 + 40 + 70) / 3, abs=1e-3)


def test_a_single_turn_run_has_no_later_row() -> None:
    out = summary(recorded([req(1), req(1)]))["turns"]
    assert [r["turn"] for r in out["rows"]] == [1]
    assert "later" not in out


def test_turns_past_the_cap_share_one_row() -> None:
    results = [req(turn, 10 + turn) for turn in range(1, TURNS_KEPT + 9)]
    rows = summary(recorded(results))["turns"]["rows"]
    assert [r["turn"] for r in rows] == [*range(1, TURNS_KEPT + 1), f"{TURNS_KEPT + 1}+"]
    last = rows[-1]
    assert (last["requests"], last["ttft_ms"]["min"], last["ttft_ms"]["max"]) == (
        8, 10.0 + TURNS_KEPT + 1, 10.0 + TURNS_KEPT + 8,
    )  # fmt: skip


# -- per prefix group ---------------------------------------------------------------------


def test_prefix_groups_first_use_and_reuse() -> None:
    results = [
        req(ttft_ms=300, prefix_group=0, prefix_first=True),
        req(ttft_ms=310, prefix_group=1, prefix_first=True),
        req(ttft_ms=30, prefix_group=0, prefix_first=False),
        req(ttft_ms=32, prefix_group=0, prefix_first=False),
        req(ttft_ms=34, prefix_group=1, prefix_first=False, status="http_error"),
    ]
    out = summary(recorded(results))["prefixes"]
    assert out["kept"] == GROUPS_KEPT
    assert [(g["group"], g["requests"], g["ok"]) for g in out["groups"]] == [(0, 3, 3), (1, 2, 1)]
    assert out["groups"][1]["ttft_ms"]["max"] == 310.0
    first, reuse = out["first_use"], out["reuse"]
    assert (first["requests"], first["ok"], first["ttft_ms"]["mean"]) == (2, 2, 305.0)
    assert (reuse["requests"], reuse["ok"], reuse["ttft_ms"]["mean"]) == (3, 2, 31.0)


def test_groups_past_the_cap_are_other() -> None:
    results = [req(prefix_group=g, prefix_first=True) for g in range(GROUPS_KEPT + 500)]
    results.append(req(prefix_group=-1, prefix_first=False))  # not a group number: other
    b = recorded(results).freeze().breakdowns
    assert len(b.groups) == GROUPS_KEPT + 1
    assert b.groups[GROUPS_KEPT].requests == 501
    groups = summary(recorded(results))["prefixes"]["groups"]
    assert [g["group"] for g in groups[-2:]] == [GROUPS_KEPT - 1, "other"]


# -- sessions -----------------------------------------------------------------------------


def test_session_figures() -> None:
    sessions = [
        session(0, "completed", 3, 3, 3, seconds=2.0),
        session(1, "completed", 3, 3, 3, seconds=4.0),
        session(2, "failed", 4, 2, 1, seconds=0.5),
        session(3, "stopped", 5, 1, 1, seconds=0.1),
    ]
    out = summary(recorded([], sessions))["sessions"]
    assert out["total"] == 4
    assert out["ended"] == {"completed": 2, "failed": 1, "stopped": 1}
    assert out["turns"] == {"planned": 15, "sent": 9, "unsent": 6, "ok": 8}
    per = out["turns_ok_per_session"]
    assert (per["mean"], per["p50"], per["max"], per["min"]) == (2.0, 1, 3, 1)
    duration = out["duration_s"]  # completed sessions only
    assert (duration["count"], duration["min"], duration["mean"], duration["max"]) == (
        2, 2.0, 3.0, 4.0,
    )  # fmt: skip


def test_sessions_that_all_stopped_have_no_duration() -> None:
    out = summary(recorded([], [session(end="stopped", sent=1, ok=0)]))["sessions"]
    assert out["duration_s"] is None
    assert out["ended"] == {"completed": 0, "failed": 0, "stopped": 1}


# -- input lengths ------------------------------------------------------------------------


def test_input_lengths_from_the_server_beside_what_was_asked() -> None:
    results = [req(server_input_tokens=n) for n in (500, 510, 512, 520, 4000)]
    results += [req(), req(status="timeout")]  # no usage: counted as without
    config = {"input_tokens": "512:16", "prefix_tokens": None}
    out = summary(recorded(results), config)["input_lengths"]
    assert out == {
        "source": "server usage", "requests": 5, "requests_without": 2,
        "min": 500, "mean": 1208.4, "p50": 512, "p90": 4000, "p99": 4000, "max": 4000,
        "asked": {"input_tokens": "512:16"},  # the config's, as given; None left out
    }  # fmt: skip


def test_input_lengths_without_an_asked_length() -> None:
    out = summary(recorded([req(server_input_tokens=7)]))["input_lengths"]
    assert out["asked"] is None


# -- distributions ------------------------------------------------------------------------


def nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(p * len(values) / 100, 9))) - 1]


@given(st.lists(st.integers(0, 3_600_000_000), min_size=1, max_size=60))
def test_time_percentiles_are_within_the_bucket_precision(values: list[int]) -> None:
    d = TimeDist()
    for v in values:
        d = d + TimeDist(((bucket_floor(v, TimeDist.BITS), 1),), v, v, v)
    stats = d.stats()
    assert stats is not None
    assert (stats["count"], stats["min"], stats["max"]) == (len(values), min(values), max(values))
    assert stats["mean"] == round(sum(values) / len(values), 3)
    for p in (50, 90, 99):
        true = nearest_rank(values, p)
        assert true <= stats[f"p{p}"] <= true + max(0, true >> (TimeDist.BITS - 1))  # < 0.8 %
        assert min(values) <= stats[f"p{p}"] <= max(values)


@given(st.lists(st.integers(0, 2047), min_size=1, max_size=60))
def test_small_sizes_are_exact(values: list[int]) -> None:
    d = SizeDist()
    for v in values:
        d = d + SizeDist(((v, 1),), v, v, v)
    stats = d.stats()
    assert stats is not None
    for p in (50, 90, 99):
        assert stats[f"p{p}"] == nearest_rank(values, p)


def test_a_time_distribution_has_a_bounded_number_of_buckets() -> None:
    floors = {bucket_floor(v, TimeDist.BITS) for v in range(0, 3_600_000_000, 997)}
    assert len(floors) < 3_400


# -- merge: exact -------------------------------------------------------------------------


@st.composite
def labelled(draw: st.DrawFn) -> RequestResult:
    group = draw(st.none() | st.integers(-2, GROUPS_KEPT + 3))
    return req(
        turn=draw(st.none() | st.integers(1, TURNS_KEPT + 4)),
        ttft_ms=draw(st.integers(1, 5_000_000)) / 1000,
        status=draw(st.sampled_from(["ok", "ok", "timeout"])),
        prefix_group=group,
        prefix_first=None if group is None else draw(st.booleans()),
        server_input_tokens=draw(st.none() | st.integers(0, 300_000)),
        input_tokens=draw(st.none() | st.integers(0, 5000)),
    )


@st.composite
def sessions_drawn(draw: st.DrawFn) -> SessionResult:
    turns = draw(st.integers(1, 40))
    sent = draw(st.integers(0, turns))
    return session(
        draw(st.integers(0, 100)),
        draw(st.sampled_from(["completed", "failed", "stopped"])),
        turns, sent, draw(st.integers(0, sent)), draw(st.integers(0, 10**6)) / 1000,
    )  # fmt: skip


def blocks(m: Measured) -> dict[str, Any]:
    out = build_summary(m, run={}, config={"input_tokens": "8"}, open_loop=False)
    return {k: out.get(k) for k in WORKLOAD_BLOCKS}


@settings(max_examples=60, deadline=None)
@given(st.lists(labelled(), max_size=25), st.lists(sessions_drawn(), max_size=6), st.data())
def test_two_shards_merged_equal_one_recorder_fed_both(
    results: list[RequestResult], sessions: list[SessionResult], data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, len(results)), label="split")
    j = data.draw(st.integers(0, len(sessions)), label="session split")
    halves = [
        recorded(results[:k], sessions[:j]).freeze(),
        recorded(results[k:], sessions[j:]).freeze(),
    ]
    whole = recorded(results, sessions).freeze()
    merged = merge(halves)
    assert merged.breakdowns == whole.breakdowns
    assert blocks(merged) == blocks(whole)
    # through the shards' files too
    back = [Measured.from_json(orjson.loads(orjson.dumps(h.to_json()))) for h in halves]
    assert merge(back).breakdowns == whole.breakdowns


def hand_written() -> tuple[list[RequestResult], list[SessionResult]]:
    results = [
        req(1, 300, prefix_group=0, prefix_first=True, server_input_tokens=600, input_tokens=590),
        req(2, 40, prefix_group=0, prefix_first=False, server_input_tokens=1200),
        req(1, 310, prefix_group=1, prefix_first=True, server_input_tokens=610),
        req(2, 44, status="timeout", prefix_group=1, prefix_first=False),
        req(TURNS_KEPT + 3, 41, prefix_group=GROUPS_KEPT + 7, prefix_first=False),
        req(server_input_tokens=50),
    ]
    sessions = [session(0, "completed", 2, 2, 2), session(1, "failed", 3, 2, 1, 0.3)]
    return results, sessions


def test_merge_of_a_hand_written_split_and_of_nothing() -> None:
    results, sessions = hand_written()
    whole = recorded(results, sessions).freeze().breakdowns
    parts = [recorded(results[:3], sessions[:1]), recorded(results[3:], sessions[1:])]
    assert merge_breakdowns(p.freeze().breakdowns for p in parts) == whole
    assert merge_breakdowns([]) == Breakdowns()
    assert whole + Breakdowns() == whole == Breakdowns() + whole
    assert not whole.empty


def test_breakdowns_survive_a_shards_summary_and_the_merge() -> None:
    results, sessions = hand_written()

    def shard(index: int, rs: list[RequestResult], ss: list[SessionResult]) -> dict[str, Any]:
        m = recorded(rs, ss).freeze(100 * S)
        return dict(orjson.loads(orjson.dumps({
            "run": {"stop_reason": "done"},
            "config": {"url": "http://h", "shard": index, "shards": 2},
            "partial": partial_block(m, 100 * S, 0),
        })))  # fmt: skip

    parts = [read_part(shard(0, results[:2], sessions[:1]), "a"),
             read_part(shard(1, results[2:], sessions[1:]), "b")]  # fmt: skip
    merged = merge_parts(parts).measured
    assert merged.breakdowns == recorded(results, sessions).freeze().breakdowns


# -- from_json ----------------------------------------------------------------------------


def valid_doc() -> dict[str, Any]:
    results, sessions = hand_written()
    doc = recorded(results, sessions).freeze().breakdowns.to_json()
    return dict(orjson.loads(orjson.dumps(doc)))


def test_to_json_and_back_is_exact() -> None:
    b = recorded(*hand_written()).freeze().breakdowns
    assert breakdowns_from_json(valid_doc()) == b
    assert breakdowns_from_json(None) == Breakdowns()
    assert breakdowns_from_json(Breakdowns().to_json()) == Breakdowns()


def setter(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        del doc[key]

    return change


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no turns": (drop("turns"), r"turns: expected a list"),
    "turn zero": (setter("turns", 0, "turn", value=0), r"turns\[\]\.turn: expected 1\.\.33"),
    "turn past the cap": (setter("turns", 0, "turn", value=34), r"expected 1\.\.33, got 34"),
    "turn as text": (setter("turns", 0, "turn", value="1"), r"turns\[\]\.turn: expected"),
    "turn twice": (setter("turns", 1, "turn", value=1), r"turns: turn 1 twice"),
    "too many turns": (setter("turns", value=[{"turn": 1}] * 40), r"more rows than the cap"),
    "group past other": (
        setter("groups", 0, "group", value=GROUPS_KEPT + 1),
        r"expected 0\.\.1000",
    ),
    "negative requests": (setter("groups", 0, "requests", value=-1), r"groups\[0\]\.requests"),
    "bucket not a floor": (
        setter("groups", 0, "ttft_us", "buckets", 0, 0, value=300_001),
        r"not the bucket floors of its layout",
    ),
    "empty bucket": (setter("groups", 0, "ttft_us", "buckets", 0, 1, value=0), r"no values"),
    "min outside": (setter("groups", 0, "ttft_us", "min", value=1), r"min and max must fall"),
    "sum too big": (setter("groups", 0, "ttft_us", "sum", value=10**15), r"sum: not between"),
    "sum of nothing": (
        setter("reuse", "ttft_us", value={"buckets": [], "sum": 3, "min": None, "max": None}),
        r"empty distribution",
    ),
    "too many buckets": (
        setter("input_lengths", "buckets", value=[[1, 1]] * 60_000),
        r"more buckets than the layout has",
    ),
    "server input pair": (setter("turns", 0, "server_input", value=[1]), r"expected \[sum, count"),
    "unknown end": (setter("sessions", "ended", "lost", value=1), r"ended: expected counts of"),
    "sent past planned": (setter("sessions", "turns", value=[1, 2, 0]), r"ok <= sent <= planned"),
    "turns not three": (setter("sessions", "turns", value=[1, 1]), r"expected \[planned, sent"),
    "no sessions": (drop("sessions"), r"sessions: expected an object"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_from_json_rejects_a_damaged_block(name: str) -> None:
    change, message = HOSTILE[name]
    doc = valid_doc()
    change(doc)
    with pytest.raises(ValueError, match=message):
        breakdowns_from_json(doc)


def test_a_damaged_block_in_a_shard_file_is_a_value_error_naming_it() -> None:
    m = recorded(*hand_written()).freeze()
    doc = orjson.loads(orjson.dumps(m.to_json()))
    doc["breakdowns"]["turns"][0]["ok"] = "many"
    with pytest.raises(ValueError, match=r"^partial\.breakdowns\.turns\[1\]\.ok: expected a count"):
        Measured.from_json(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
PATHS = [
    ("turns",), ("turns", 0), ("turns", 0, "ttft_us"), ("turns", 0, "ttft_us", "buckets"),
    ("turns", 0, "ttft_us", "buckets", 0), ("turns", 0, "latency_us", "max"),
    ("turns", 0, "input"), ("groups",), ("groups", 0, "group"), ("first_use",),
    ("reuse", "ttft_us", "sum"), ("sessions",), ("sessions", "ended"), ("sessions", "turns"),
    ("sessions", "duration_us"), ("input_lengths",), ("input_lengths", "min"),
]  # fmt: skip
VALID = valid_doc()


@settings(max_examples=300)
@given(st.sampled_from(PATHS), json_values)
def test_a_block_damaged_anywhere_is_a_value_or_a_value_error(
    path: tuple[Any, ...], value: Any
) -> None:
    doc = copy.deepcopy(VALID)
    setter(*path, value=value)(doc)
    try:
        b = breakdowns_from_json(doc)
    except ValueError:
        return
    assert isinstance(b, Breakdowns)
    build_summary(Measured(breakdowns=b), run={}, config={}, open_loop=False)  # no crash


# -- console ------------------------------------------------------------------------------


def test_console_says_sessions_and_the_cache_effect_in_two_lines() -> None:
    results, sessions = hand_written()
    text = summary_table(summary(recorded(results, sessions)))
    lines = text.splitlines()
    assert "Sessions: 2 (1 completed, 1 failed, 0 stopped), 4 of 5 turns sent" in lines
    # 300 and 310 ms: the p50 is the lower one's bucket top (0.8 %), as HdrHistogram's
    assert (
        "TTFT p50: turn 1 301 ms, later turns 40.2 ms; prefix first use 301 ms, reuse 40.2 ms"
    ) in lines


def test_console_is_unchanged_for_a_plain_run() -> None:
    text = summary_table(summary(recorded([req(), req(server_input_tokens=3)])))
    assert "Sessions" not in text
    assert "TTFT p50:" not in text


# -- sans-IO (STYLE.md rule 1; tests/test_sans_io.py's walker, for these new cores) ----------

NEW_CORES = ("breakdowns.py", "breakdown_tally.py", "output/workload_summary.py")


@pytest.mark.parametrize("rel", NEW_CORES)
def test_the_breakdown_modules_are_sans_io(rel: str) -> None:
    from test_sans_io import PACKAGE, forbidden_import, io_reads, reachable

    path = PACKAGE / rel
    assert io_reads(path) == set()
    offenders = {n for names in reachable(path).values() for n in names if forbidden_import(n)}
    assert offenders == set()
