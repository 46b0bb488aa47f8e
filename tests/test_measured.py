"""Tests for llmbench.measured: the frozen value a run (or a shard) measured.

The merge must be exact: two halves of a run recorded apart and merged give every
figure of the run recorded whole (a hand-written case and a Hypothesis property).
``from_json`` reads shard files a user may damage or write by hand, so it is fed broken
and arbitrary JSON and may answer only with a value or a ValueError.

The test marked ``xfail(strict=True)`` pins a source bug: it states the behaviour the
docstring promises and fails until the bug is fixed.
"""

from __future__ import annotations

import base64
import copy
import statistics
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.measured import (
    COUNT_FIELDS,
    HISTOGRAMS,
    Buckets,
    ErrorCount,
    Measured,
    SecondCounts,
    bucket_median_ms,
    merge,
    new_histogram,
)
from llmbench.metrics import Recorder, histogram_stats
from llmbench.output.summary import build_summary
from llmbench.result import STATUSES, RequestResult
from test_metrics import failed, ok

MS = 1_000_000
S = 1_000_000_000
ORIGIN = 7 * S  # the perf_counter_ns instant measured time starts
TIMELINE = 1_700_000_000 * S - ORIGIN  # wall clock minus perf counter: epoch instants
COUNTS = COUNT_FIELDS  # every count a Measured adds up
ROW_FIGURES = ("started", "finished", "ok", "failed", "output_tokens", "ttft_us", "tpot_us")


def is_good(r: RequestResult) -> bool:
    return r.ok and r.ttft_ns is not None and r.ttft_ns < 200 * MS


def record(results: list[RequestResult]) -> Recorder:
    """Starts and ends in time order (a start first at a tie), as the runner sees them:
    no result is a straggler for a sealed second, so no sample is dropped."""
    rec = Recorder(is_good)
    rec.set_origin(ORIGIN)
    events = [(r.t0_ns, 0, i) for i, r in enumerate(results)]
    events += [(r.end_ns, 1, i) for i, r in enumerate(results)]
    for _, kind, i in sorted(events):
        if kind == 0:
            rec.on_start(results[i].t0_ns)
        else:
            rec.record(results[i])
    return rec


def split_and_merge(results: list[RequestResult], k: int) -> tuple[Measured, Measured]:
    """(merge of the first k and the rest recorded apart, the whole recorded at once)."""
    results = sorted(results, key=lambda r: r.end_ns)  # in end order: see assert_same_figures
    halves = [record(results[:k]).freeze(TIMELINE), record(results[k:]).freeze(TIMELINE)]
    return merge(halves), record(results).freeze(TIMELINE)


def error_table(m: Measured) -> dict[tuple[str, int | None], tuple[int, str | None]]:
    return {(e.kind, e.http_status): (e.count, e.example) for e in m.errors}


def assert_same_figures(merged: Measured, whole: Measured) -> None:
    """Every figure but the per-second in-flight peaks (see the xfail test for those).
    Histograms are compared counter by counter (the summaries compare their stats).
    Error examples match too: the halves are split in end order, so the first half
    holds the first failure of every kind it has."""
    assert set(merged.histograms) == set(whole.histograms)
    merged_hdr, whole_hdr = merged.hdr(), whole.hdr()
    for key in HISTOGRAMS:
        assert merged_hdr[key].counts[:] == whole_hdr[key].counts[:], key
    assert {n: getattr(merged, n) for n in COUNTS} == {n: getattr(whole, n) for n in COUNTS}
    assert dict(merged.status_counts) == dict(whole.status_counts)
    assert dict(merged.token_sources) == dict(whole.token_sources)
    assert error_table(merged) == error_table(whole)
    instants = ("first_t0_ns", "last_end_ns", "origin_ns")
    assert [getattr(merged, n) for n in instants] == [getattr(whole, n) for n in instants]
    samples = ("sample_first_frame", "sample_last_frame")
    assert [getattr(merged, n) for n in samples] == [getattr(whole, n) for n in samples]
    assert len(merged.seconds) == len(whole.seconds)
    for t, (m, w) in enumerate(zip(merged.seconds, whole.seconds, strict=True)):
        assert [getattr(m, n) for n in ROW_FIGURES] == [getattr(w, n) for n in ROW_FIGURES], t


def summary_of(m: Measured) -> dict[str, Any]:
    out = build_summary(m, run={"started_at": "2025-01-01T00:00:00Z"}, config={}, open_loop=True)
    for row in out["timeseries"]:
        del row["in_flight"]  # a merge adds the shards' peaks
    return out


# -- merge: exact ---------------------------------------------------------------------


def hand_written_run() -> list[RequestResult]:
    frames = {"first_frame": "data: {}", "last_frame": "data: [DONE]"}
    return [
        ok(ORIGIN, ORIGIN + 400 * MS, ttfb_ns=20 * MS, ttft_ns=50 * MS, latency_ns=400 * MS,
           output_tokens=8, input_tokens=30, chunks=8, icl_ns=(40 * MS, 50 * MS),
           intended_ns=ORIGIN - 30 * MS, **frames),
        failed(ORIGIN + 100 * MS, ORIGIN + 900 * MS, "timeout", "read timed out"),
        ok(ORIGIN + 300 * MS, ORIGIN + 1_500 * MS, ttft_ns=300 * MS, latency_ns=1_200 * MS,
           output_tokens=20, input_tokens=31, chunks=5, icl_ns=(90 * MS,) * 4,
           chunk_tokens=(4, 4, 4, 4, 4), token_source="estimate", attempts=2),
        failed(ORIGIN + 1_200 * MS, ORIGIN + 1_700 * MS, "http_error", "overloaded", 429),
        failed(ORIGIN + 1_300 * MS, ORIGIN + 2_100 * MS, "timeout", "read timed out (2)"),
        ok(ORIGIN + 1_800 * MS, ORIGIN + 3_200 * MS, ttft_ns=2 * MS, latency_ns=1_400 * MS,
           output_tokens=1, input_tokens=29, chunks=1, intended_ns=ORIGIN + 1_700 * MS,
           first_frame="second", last_frame="second last"),
        replace(
            failed(ORIGIN + 2_500 * MS, ORIGIN + 3_300 * MS, "stream_error", "reset"),
            detail="eof",
        ),
        failed(ORIGIN + 3_000 * MS, ORIGIN + 3_400 * MS, "timeout", "read timed out (3)"),
    ]  # fmt: skip


def test_merge_of_two_halves_equals_the_whole_run() -> None:
    results = hand_written_run()
    merged, whole = split_and_merge(results, 4)
    # the case covers what it means to: failures of several kinds, several seconds
    assert (whole.finished, whole.ok) == (8, 3)
    assert error_table(whole)[("timeout", None)] == (3, "read timed out")
    assert len(whole.seconds) == 4
    assert whole.seconds[1].ttft_us
    assert_same_figures(merged, whole)
    merged_hdr, whole_hdr = merged.hdr(), whole.hdr()
    for key in HISTOGRAMS:
        assert histogram_stats(merged_hdr[key]) == histogram_stats(whole_hdr[key]), key
    assert histogram_stats(merged_hdr["itl_ms"]) is not None  # not only empty ones
    # the summaries agree in every figure but the in-flight peaks
    assert summary_of(merged) == summary_of(whole)


def test_merged_in_flight_peaks_bound_the_whole_when_every_shard_starts_each_second() -> None:
    # The first half starts two short requests at each whole second, the second half
    # one long request half a second later. The sum of the halves' peaks bounds the
    # run's; it exceeds it where the halves peak at other instants. Second 3 has no
    # start, yet the long requests are in flight through it: its peak is theirs.
    short = [ok(ORIGIN + t * S, ORIGIN + t * S + 200 * MS) for t in range(3) for _ in range(2)]
    long = [ok(ORIGIN + t * S + 500 * MS, ORIGIN + 3_500 * MS + t * MS) for t in range(3)]
    merged, whole = split_and_merge(short + long, len(short))
    assert [sec.in_flight_max for sec in whole.seconds] == [2, 3, 4, 3]
    assert [sec.in_flight_max for sec in merged.seconds] == [3, 4, 5, 3]


def mostly(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    """A value three times in four, else None: most ok results then have a TPOT."""
    return st.one_of(values, values, values, st.none())


@st.composite
def request_results(draw: st.DrawFn) -> RequestResult:
    t0 = ORIGIN + draw(st.integers(0, 4 * S))
    duration = draw(st.integers(0, 5 * S // 2))
    status = draw(st.just("ok") | st.sampled_from(STATUSES))  # half of them ok
    intended = draw(st.none() | st.integers(t0 - 50 * MS, t0 + MS))
    if status != "ok":
        r = failed(t0, t0 + duration, status, draw(st.sampled_from(["a", "b"])),
                   draw(st.sampled_from([None, 429, 500])))  # fmt: skip
        return replace(r, intended_ns=intended, detail=draw(st.sampled_from([None, "eof"])))
    gaps = draw(st.lists(st.integers(0, S), max_size=4))
    frame = draw(st.sampled_from([None, "x", "y"]))
    return ok(
        t0,
        t0 + duration,
        intended_ns=intended,
        ttfb_ns=draw(st.none() | st.integers(0, duration)),
        ttft_ns=draw(mostly(st.integers(0, duration))),
        latency_ns=duration,
        output_tokens=draw(mostly(st.integers(0, 40))),
        input_tokens=draw(st.none() | st.integers(0, 40)),
        chunks=draw(st.integers(0, 6)),
        icl_ns=tuple(gaps),
        chunk_tokens=draw(
            st.none() | st.lists(st.integers(0, 4), min_size=len(gaps) + 1, max_size=len(gaps) + 1)
        ),
        token_source=draw(st.sampled_from(["usage", "estimate", "chars"])),
        attempts=draw(st.integers(1, 3)),
        first_frame=frame,
        last_frame=None if frame is None else frame + " last",
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(request_results(), max_size=12), st.data())
def test_merge_is_exact_for_any_split(results: list[RequestResult], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(results)), label="split")
    merged, whole = split_and_merge(results, k)
    assert_same_figures(merged, whole)
    assert summary_of(merged) == summary_of(whole)


def test_merged_summary_lists_tied_errors_in_the_whole_runs_order() -> None:
    # Whole run: timeout first, then http_error, 2 each. The first half counts the
    # http_error twice and the timeout once, so its value lists the http_error first;
    # the summary must not let that order through.
    results = [
        failed(ORIGIN + 1 * MS, ORIGIN + 2 * MS, "timeout", "x"),
        failed(ORIGIN + 3 * MS, ORIGIN + 4 * MS, "http_error", "y", 500),
        failed(ORIGIN + 5 * MS, ORIGIN + 6 * MS, "http_error", "y", 500),
        failed(ORIGIN + 7 * MS, ORIGIN + 8 * MS, "timeout", "x"),
    ]
    merged, whole = split_and_merge(results, 3)
    assert summary_of(merged)["errors"] == summary_of(whole)["errors"]


def test_merged_in_flight_peak_is_an_upper_bound() -> None:
    # SecondCounts documents a merged in_flight_max as an upper bound (the sum of the
    # shards' peaks). The second half's long request is in flight all through second 1
    # but starts in second 0: a second's row begins with what was in flight, so the
    # shard's peak for second 1 counts it (it once did not, and the sum fell short).
    results = [
        ok(ORIGIN + 1_500 * MS, ORIGIN + 2 * S),  # first half (ends first)
        ok(ORIGIN + 500 * MS, ORIGIN + 3_500 * MS),  # second half
    ]
    merged, whole = split_and_merge(results, 1)
    assert whole.seconds[1].in_flight_max == 2
    assert merged.seconds[1].in_flight_max >= 2


# -- merge: alignment and the trivial cases ------------------------------------------


def rows(*started: int) -> tuple[SecondCounts, ...]:
    return tuple(SecondCounts(started=n) for n in started)


@pytest.mark.parametrize(
    ("later_by_ns", "expected"),
    [
        (2 * S, (1, 0, 2)),
        (2 * S + 400 * MS, (1, 0, 2)),  # rounded to the nearest second
        (2 * S + 600 * MS, (1, 0, 0, 2)),
        (400 * MS, (3,)),
        (0, (3,)),
    ],
)
def test_merge_aligns_rows_on_the_earliest_origin(
    later_by_ns: int, expected: tuple[int, ...]
) -> None:
    early = Measured(origin_ns=10 * S, seconds=rows(1))
    late = Measured(origin_ns=10 * S + later_by_ns, seconds=rows(2))
    for order in ([early, late], [late, early]):
        merged = merge(order)
        assert merged.origin_ns == 10 * S
        assert tuple(sec.started for sec in merged.seconds) == expected


def test_merge_adds_the_bucket_counts_of_a_shared_second() -> None:
    a = Measured(origin_ns=0, seconds=(SecondCounts(ok=1, ttft_us=((10, 1), (30, 2))),))
    b = Measured(origin_ns=0, seconds=(SecondCounts(ok=2, ttft_us=((10, 2), (20, 1))),))
    (sec,) = merge([a, b]).seconds
    assert (sec.ok, sec.ttft_us, sec.tpot_us) == (3, ((10, 3), (20, 1), (30, 2)), ())


def test_a_value_without_an_origin_counts_from_the_merged_origin() -> None:
    merged = merge([Measured(origin_ns=5 * S, seconds=rows(0, 1)), Measured(seconds=rows(4))])
    assert merged.origin_ns == 5 * S
    assert tuple(sec.started for sec in merged.seconds) == (4, 1)


def test_merge_of_nothing_is_the_empty_value() -> None:
    assert merge([]) == Measured()
    assert merge([Measured(), Measured()]) == Measured()
    assert merge([]).wall_ns == 0


def test_merge_of_one_value_is_that_value() -> None:
    one = record(hand_written_run()).freeze(TIMELINE)
    assert merge([one]) is one
    # and an empty shard changes no figure
    assert merge([one, Measured()]) == one


# -- bucket_median_ms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ((), None),
        (((10, 0), (20, 0)), None),
        (((1000, 1),), 1.0),
        (((10, 1), (20, 1), (30, 1)), 0.02),  # odd: the middle value
        (((10, 1), (20, 1), (30, 1), (41, 1)), 0.025),  # even: the mean of the middle two
        (((10, 3), (20, 1)), 0.01),  # both middle values in one bucket
        (((10, 1), (20, 0), (30, 1)), 0.02),  # an empty bucket is no value
        (((4096, 1),), round(4097.5 / 1000, 3)),  # 4 µs wide: the middle is 4097.5
    ],
)
def test_bucket_median(buckets: Buckets, expected: float | None) -> None:
    assert bucket_median_ms(buckets) == expected


SHAPE = new_histogram()  # for its bucket arithmetic only


def midpoint(floor_us: int) -> float:
    """The middle of the bucket, by hdrh's own bucket arithmetic."""
    highest: int = SHAPE.get_highest_equivalent_value(floor_us)
    return (floor_us + highest) / 2


floors = st.integers(1, 3_600_000_000).map(SHAPE.get_lowest_equivalent_value)


@given(st.dictionaries(floors, st.integers(0, 4), max_size=8))
def test_bucket_median_is_statistics_median_of_the_bucket_midpoints(
    counts: dict[int, int],
) -> None:
    buckets = tuple(sorted(counts.items()))
    values = [midpoint(floor) for floor, n in buckets for _ in range(n)]
    expected = round(statistics.median(values) / 1000, 3) if values else None
    assert bucket_median_ms(buckets) == expected


@given(st.lists(st.integers(1, 3_600_000_000), min_size=1, max_size=30))
def test_bucket_median_is_within_the_histograms_precision_of_the_true_median(
    ttfts_us: list[int],
) -> None:
    rec = record([ok(ORIGIN, ORIGIN + S // 2, ttft_ns=us * 1000) for us in ttfts_us])
    (sec,) = rec.freeze().seconds
    # 0.1%: a bucket's middle is within half its width (<= 2**-11 of the value) of it;
    # 0.0005 ms (and float error): the median is rounded to whole µs, 3 decimals of a ms
    true_median_ms = statistics.median(ttfts_us) / 1000
    assert sec.ttft_p50_ms == pytest.approx(true_median_ms, rel=1e-3, abs=0.000501)


# -- to_json / from_json --------------------------------------------------------------


def encoded(values_us: list[int]) -> str:
    hist = new_histogram()
    for v in values_us:
        hist.record_value(v)
    return str(hist.encode().decode("ascii"))


counts = st.integers(0, 2**63 - 1)
bucket_lists = st.lists(
    st.tuples(st.integers(0, 3_600_000_000), st.integers(0, 10**9)),
    max_size=4,
    unique_by=lambda pair: pair[0],
).map(lambda pairs: tuple(sorted(pairs)))
second_counts = st.builds(
    SecondCounts, counts, counts, counts, counts, counts, counts, bucket_lists, bucket_lists
)
error_counts = st.builds(
    ErrorCount, st.text(max_size=10), st.none() | st.integers(0, 999), counts,
    st.none() | st.text(max_size=10),
)  # fmt: skip


def with_a_window(m: Measured) -> st.SearchStrategy[Measured]:
    """``m`` with instants a run can have (from_json refuses others): a measured start,
    the first send within a day of it, the last end after the first send."""
    window = st.tuples(
        st.integers(0, 2**62),  # the measured start
        st.integers(0, 3_600 * S),  # the first send, after it
        st.integers(0, 3_600 * S),  # the measured wall time
    )

    def placed(w: tuple[int, int, int]) -> Measured:
        origin, first, wall = w
        return replace(
            m, origin_ns=origin, first_t0_ns=origin + first, last_end_ns=origin + first + wall
        )

    return st.just(m) | window.map(placed)


measured_values = st.builds(
    Measured,
    histograms=st.dictionaries(
        st.sampled_from(HISTOGRAMS),
        st.lists(st.integers(1, 3_600_000_000), min_size=1, max_size=4).map(encoded),
        max_size=3,
    ),
    **{name: counts for name in COUNTS},
    status_counts=st.dictionaries(st.text(max_size=8), counts, max_size=3),
    token_sources=st.dictionaries(st.text(max_size=8), counts, max_size=3),
    errors=st.lists(error_counts, max_size=3).map(tuple),
    seconds=st.lists(second_counts, max_size=3).map(tuple),
    sample_first_frame=st.none() | st.text(max_size=10),
    sample_last_frame=st.none() | st.text(max_size=10),
).flatmap(with_a_window)


def through_json(m: Measured) -> Measured:
    return Measured.from_json(orjson.loads(orjson.dumps(m.to_json())))


@given(measured_values)
def test_to_json_and_back_is_exact(m: Measured) -> None:
    assert through_json(m) == m


def test_a_recorded_run_survives_the_shard_file() -> None:
    m = record(hand_written_run()).freeze(TIMELINE)
    back = through_json(m)
    assert back == m
    assert summary_of(back) == summary_of(m)
    assert orjson.dumps(back.to_json()) == orjson.dumps(m.to_json())


def valid_doc() -> dict[str, Any]:
    doc = record(hand_written_run()).freeze(TIMELINE).to_json()
    # the mutations below need each of these to exist
    assert doc["errors"]
    assert doc["seconds"][1][6]
    assert doc["histograms"]["ttft_ms"]
    return dict(orjson.loads(orjson.dumps(doc)))


def setter(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def deleter(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


HOSTILE = {
    # missing keys
    "no histograms": (deleter("histograms"), r"^partial\.histograms: expected an object"),
    "no counts": (deleter("counts"), r"^partial\.counts: expected an object"),
    "no count": (deleter("counts", "ok"), r"^partial\.counts\.ok: expected a count, got None"),
    "no samples": (deleter("samples"), r"^partial\.samples: expected \[first, last\]"),
    "no status counts": (deleter("status_counts"), r"^partial\.status_counts: expected an obj"),
    "no errors": (deleter("errors"), r"^partial\.errors: expected a list"),
    "no seconds": (deleter("seconds"), r"^partial\.seconds: expected a list"),
    # counts that are not counts
    "negative count": (setter("counts", "ok", value=-1), r"partial\.counts\.ok: .*got -1"),
    "bool count": (setter("counts", "ok", value=True), r"partial\.counts\.ok: .*got True"),
    "float count": (setter("counts", "ok", value=3.0), r"partial\.counts\.ok: .*got 3\.0"),
    "text count": (setter("counts", "ok", value="3"), r"partial\.counts\.ok: expected a count"),
    "huge count": (setter("counts", "ok", value=2**63), r"partial\.counts\.ok: expected a count"),
    "huge instant": (setter("last_end_ns", value=2**64), r"partial\.last_end_ns: expected"),
    "negative instant": (setter("origin_ns", value=-1), r"partial\.origin_ns: expected"),
    "bad status count": (
        setter("status_counts", "ok", value=-2),
        r"partial\.status_counts\.ok: expected a count",
    ),
    "bad token source": (setter("token_sources", value=[]), r"partial\.token_sources: expected"),
    # histograms
    "not base64": (
        setter("histograms", "ttft_ms", value="not base64!"),
        r"partial\.histograms\.ttft_ms: not an HdrHistogram encoding",
    ),
    "base64 of text": (
        setter("histograms", "ttft_ms", value=base64.b64encode(b"hello world").decode()),
        r"partial\.histograms\.ttft_ms: not an HdrHistogram encoding",
    ),
    "a cut encoding": (
        setter("histograms", "ttft_ms", value=encoded([5, 50_000])[:-8]),
        r"partial\.histograms\.ttft_ms: not an HdrHistogram",
    ),
    "number histogram": (
        setter("histograms", "ttft_ms", value=7),
        r"partial\.histograms\.ttft_ms: expected an HdrHistogram base64 encoding",
    ),
    "oversized histogram": (
        setter("histograms", "ttft_ms", value="A" * (16 * 1024 * 1024 + 4)),
        r"partial\.histograms\.ttft_ms: expected an HdrHistogram base64 encoding",
    ),
    "unknown histogram": (
        setter("histograms", "foo_ms", value=encoded([5])),
        r"partial\.histograms: unknown metric 'foo_ms'",
    ),
    # per-second rows
    "short row": (setter("seconds", 0, value=[0] * 7), r"expected six counts and two bucket"),
    "long row": (setter("seconds", 0, value=[0] * 6 + [[], [], []]), r"expected six counts"),
    "row not a list": (setter("seconds", 0, value={"started": 1}), r"seconds\[\]: expected a list"),
    "negative row count": (setter("seconds", 0, 1, value=-1), r"seconds\[\]: expected a count"),
    "buckets not a list": (setter("seconds", 1, 6, value="x"), r"ttft_us: expected a list"),
    "one-item pair": (setter("seconds", 1, 6, value=[[1]]), r"ttft_us: expected \[floor_us, c"),
    "three-item pair": (setter("seconds", 1, 7, value=[[1, 2, 3]]), r"tpot_us: expected \[floo"),
    "text pair": (setter("seconds", 1, 6, value=["ab"]), r"ttft_us: expected \[floor_us, count"),
    "object pair": (setter("seconds", 1, 6, value=[{"a": 1}]), r"ttft_us: expected \[floor_us"),
    "negative bucket": (setter("seconds", 1, 6, value=[[1, -2]]), r"ttft_us: expected a count"),
    "float floor": (setter("seconds", 1, 6, value=[[1.5, 2]]), r"ttft_us: expected a count"),
    "too many buckets": (
        setter("seconds", 1, 6, value=[[1, 1]] * 100_001),
        r"ttft_us: too many buckets",
    ),
    "too many seconds": (setter("seconds", value=[None] * 10_000_001), r"more seconds than"),
    # errors
    "error not a list": (setter("errors", 0, value="x"), r"partial\.errors\[\]: expected a list"),
    "short error": (setter("errors", 0, value=["timeout", None, 1]), r"expected \[kind, http_s"),
    "kind not text": (setter("errors", 0, 0, value=1), r"expected \[kind, http_status, count"),
    "bad error count": (setter("errors", 0, 2, value=-1), r"errors\[\]\.count: expected a coun"),
    "bad http status": (setter("errors", 0, 1, value="500"), r"errors\[\]\.http_status: expec"),
    "bad example": (setter("errors", 0, 3, value=[]), r"errors\[\]\.example: expected text"),
    # samples
    "samples null": (setter("samples", value=None), r"^partial\.samples: expected \[first, last"),
    "samples empty": (setter("samples", value=[]), r"^partial\.samples: expected \[first, last"),
    "one sample": (setter("samples", value=["a"]), r"^partial\.samples: expected \[first, last"),
    "three samples": (setter("samples", value=["a", "b", "c"]), r"^partial\.samples: expected"),
    "samples text": (setter("samples", value="ab"), r"^partial\.samples: expected \[first, la"),
    "sample a number": (setter("samples", 0, value=1), r"^partial\.samples: expected text"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_from_json_rejects_a_damaged_shard_file(name: str) -> None:
    change, message = HOSTILE[name]
    doc = valid_doc()
    change(doc)
    with pytest.raises(ValueError, match=message):
        Measured.from_json(doc)


@pytest.mark.parametrize("doc", [None, [], "partial", 3, 1.5, True, [{}]])
def test_from_json_rejects_what_is_not_an_object(doc: Any) -> None:
    with pytest.raises(ValueError, match=r"^partial: expected an object$"):
        Measured.from_json(doc)


def test_from_json_takes_the_empty_value_and_ignores_unknown_keys() -> None:
    doc = Measured().to_json() | {"partial_version": 9}
    assert Measured.from_json(doc) == Measured()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
VALID = valid_doc()
# Where a damaged file may differ from a good one: every level of every block.
PATHS = [
    ("histograms",), ("histograms", "ttft_ms"), ("counts",), ("counts", "ok"),
    ("status_counts",), ("status_counts", "ok"), ("token_sources",), ("errors",),
    ("errors", 0), ("errors", 0, 0), ("errors", 0, 1), ("errors", 0, 2), ("errors", 0, 3),
    ("first_t0_ns",), ("last_end_ns",), ("origin_ns",), ("seconds",), ("seconds", 1),
    ("seconds", 1, 0), ("seconds", 1, 6), ("seconds", 1, 6, 0), ("seconds", 1, 6, 0, 1),
    ("seconds", 1, 7), ("samples",), ("samples", 0),
]  # fmt: skip


def value_or_value_error(doc: Any) -> None:
    try:
        m = Measured.from_json(doc)
    except ValueError:
        return
    assert isinstance(m, Measured)


@given(json_values)
def test_from_json_of_arbitrary_json_is_a_value_or_a_value_error(doc: Any) -> None:
    value_or_value_error(doc)
    value_or_value_error({"histograms": {}, "counts": {}, "samples": [None, None], "x": doc})


@settings(max_examples=300)
@given(st.sampled_from(PATHS), json_values)
def test_from_json_of_a_file_damaged_anywhere_is_a_value_or_a_value_error(
    path: tuple[Any, ...], value: Any
) -> None:
    doc = copy.deepcopy(VALID)
    setter(*path, value=value)(doc)
    value_or_value_error(doc)


# -- from_json refuses what would break later -----------------------------------------


@pytest.mark.parametrize(
    ("lowest", "highest", "digits", "value"),
    [(1, 10**12, 3, 10**11), (1, 3_600_000_000, 2, 123_456), (1000, 3_600_000_000, 3, 5000)],
    ids=["past-an-hour", "less-precise", "other-lowest"],
)
def test_from_json_refuses_a_histogram_of_another_shape(
    lowest: int, highest: int, digits: int, value: int
) -> None:
    # A valid HdrHistogram, but not llmbench's: hdr() and merge() could not add the
    # first exactly (it raised IndexError there), nor the others at full precision.
    hist = HdrHistogram(lowest, highest, digits)
    hist.record_value(value)
    doc = valid_doc()
    doc["histograms"]["ttft_ms"] = hist.encode().decode("ascii")
    with pytest.raises(ValueError, match=r"^partial\.histograms\.ttft_ms: not an HdrHistogram"):
        Measured.from_json(doc)


def test_from_json_of_a_small_encoding_allocates_little() -> None:
    # _MAX_ENCODED bounds the base64 text, not what it inflates to: here ~55 KB of
    # text inflating to 40 MiB; at the 16 MiB cap that would be ~12 GB.
    head = base64.b64decode(encoded([5]))[:4]  # the compression cookie
    payload = zlib.compress(bytes(40 * 2**20), 9)
    bomb = base64.b64encode(head + len(payload).to_bytes(4, "big") + payload).decode()
    doc = valid_doc()
    doc["histograms"]["ttft_ms"] = bomb
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not an HdrHistogram encoding"):
            Measured.from_json(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * len(bomb), f"{len(bomb)} characters took {peak} bytes"
