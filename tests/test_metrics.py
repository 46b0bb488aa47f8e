"""Tests for llmbench.metrics.Recorder and llmbench.output.summary.build_summary.

RequestResults are made by hand with exact nanosecond figures. The runner hands the
Recorder measured results only (warm-up results never reach it), so these tests feed
measured results and call ``on_start``/``record`` in the order the runner would.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given
from hypothesis import strategies as st

from llmbench.metric_defs import PERCENTILES
from llmbench.metrics import LiveStats, Recorder, _bucket_floor, histogram_stats
from llmbench.output.summary import SCHEMA_VERSION, build_summary
from llmbench.result import RampFigures, RequestResult

MS = 1_000_000
S = 1_000_000_000
ORIGIN = 7 * S  # the instant measured time starts (an arbitrary perf_counter_ns value)
HDR = 1e-3  # 3 significant digits: 0.1% relative precision


def ok(t0: int, end: int, **kw: Any) -> RequestResult:
    base: dict[str, Any] = {
        "index": 0,
        "phase": "measure",
        "status": "ok",
        "t0_ns": t0,
        "end_ns": end,
        "token_source": "usage",
    }
    base.update(kw)
    return RequestResult(**base)


def failed(
    t0: int, end: int, status: str, error: str, http_status: int | None = None
) -> RequestResult:
    return RequestResult(
        index=0,
        phase="measure",
        status=status,
        t0_ns=t0,
        end_ns=end,
        http_status=http_status,
        error=error,
        ttfb_ns=5 * MS,
        ttft_ns=9 * MS,  # a failed request's timings never enter the histograms
        output_tokens=3,
        input_tokens=4,
    )


def feed(rec: Recorder, results: list[RequestResult]) -> Recorder:
    for r in results:
        rec.on_start(r.t0_ns)
        rec.record(r)
    return rec


def summary(rec: Recorder, open_loop: bool = False) -> dict[str, Any]:
    return build_summary(
        rec.freeze(),
        run={"started_at": "2025-01-01T00:00:00Z"},
        config={"url": "u"},
        open_loop=open_loop,
    )


# -- percentiles ----------------------------------------------------------------------


def test_percentiles_within_hdr_precision() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)
    results = [
        ok(
            ORIGIN + i * MS,
            ORIGIN + i * MS + 3 * S,
            ttfb_ns=i * MS // 2,
            ttft_ns=i * MS,
            latency_ns=2 * i * MS,
            output_tokens=11,
        )
        for i in range(1, 1001)  # TTFT 1 .. 1000 ms
    ]
    feed(rec, results)
    ttft = histogram_stats(rec.hist["ttft_ms"])
    assert ttft is not None
    assert ttft["count"] == 1000
    assert ttft["min"] == 1.0  # below 2048 µs the histogram is exact
    assert ttft["mean"] == pytest.approx(500.5, rel=HDR)
    assert ttft["p50"] == pytest.approx(500.0, rel=HDR)
    assert ttft["p75"] == pytest.approx(750.0, rel=HDR)
    assert ttft["p90"] == pytest.approx(900.0, rel=HDR)
    assert ttft["p95"] == pytest.approx(950.0, rel=HDR)
    assert ttft["p99"] == pytest.approx(990.0, rel=HDR)
    assert ttft["p99_9"] == pytest.approx(999.0, rel=HDR)
    assert ttft["max"] == pytest.approx(1000.0, rel=HDR)
    # issue 13, item 8: the standard deviation beside the mean (1..1000: sqrt((n²-1)/12))
    assert ttft["stddev"] == pytest.approx(288.675, rel=HDR)
    assert ttft["stddev"] == pytest.approx(rec.hist["ttft_ms"].get_stddev() / 1000, rel=1e-4)
    assert list(ttft) == [
        "count", "min", "mean", "stddev", "p50", "p75", "p90", "p95", "p99", "p99_9", "max"
    ]  # fmt: skip
    assert PERCENTILES == (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)

    lat = histogram_stats(rec.hist["latency_ms"])
    assert lat is not None
    assert (lat["min"], lat["p50"], lat["max"]) == pytest.approx((2.0, 1000.0, 2000.0), rel=HDR)
    ttfb = histogram_stats(rec.hist["ttfb_ms"])
    assert ttfb is not None
    assert (ttfb["min"], ttfb["p99"]) == pytest.approx((0.5, 495.0), rel=HDR)
    # TPOT = (latency - TTFT) / (11 - 1) = i / 10 ms
    tpot = histogram_stats(rec.hist["tpot_ms"])
    assert tpot is not None
    assert (tpot["count"], tpot["min"], tpot["p50"], tpot["max"]) == pytest.approx(
        (1000, 0.1, 50.0, 100.0), rel=HDR
    )


@pytest.mark.parametrize(
    ("n", "unit_ns", "rel"),
    [
        (1000, MS, HDR),
        (1000, 1_000, 1e-12),  # below 2048 µs the histogram is exact
        (2000, 1_000, 1e-12),
    ],
    ids=["1000-ms", "1000-us", "2000-us"],
)
def test_p99_9_is_the_nearest_rank_not_the_max(n: int, unit_ns: int, rel: float) -> None:
    # Values 1..n units: the nearest-rank p99.9 is the ceil(0.999 n)-th value.
    rec = feed(Recorder(), [ok(0, S, ttft_ns=i * unit_ns) for i in range(1, n + 1)])
    ttft = histogram_stats(rec.hist["ttft_ms"])
    assert ttft is not None
    assert ttft["p99_9"] == pytest.approx(0.999 * n * unit_ns / MS, rel=rel)
    assert ttft["p99_9"] < ttft["max"]


def test_percentiles_of_a_small_sample() -> None:
    # Nearest rank over 1, 2, ..., 10 ms: p50 is the 5th value, p75 the 8th, p90 the
    # 9th, p95/p99/p99.9 the 10th.
    rec = feed(Recorder(), [ok(0, S, ttft_ns=i * MS) for i in range(1, 11)])
    ttft = histogram_stats(rec.hist["ttft_ms"])
    assert ttft is not None
    got = [ttft[k] for k in ("p50", "p75", "p90", "p95", "p99", "p99_9")]
    assert got == pytest.approx([5.0, 8.0, 9.0, 10.0, 10.0, 10.0], rel=HDR)


def test_large_values_keep_relative_precision() -> None:
    rec = feed(Recorder(), [ok(0, S, latency_ns=v * S) for v in (30, 600, 3000)])
    lat = histogram_stats(rec.hist["latency_ms"])
    assert lat is not None
    assert (lat["min"], lat["p50"], lat["max"]) == pytest.approx(
        (30_000.0, 600_000.0, 3_000_000.0), rel=HDR
    )


def test_itl_is_a_distribution_over_all_gaps() -> None:
    rec = feed(
        Recorder(),
        [ok(0, S, icl_ns=(1 * MS, 3 * MS)), ok(0, S, icl_ns=(2 * MS,)), ok(0, S, icl_ns=())],
    )
    itl = histogram_stats(rec.hist["itl_ms"])
    assert itl is not None
    assert itl["count"] == 3
    assert (itl["min"], itl["mean"], itl["p50"], itl["max"]) == pytest.approx(
        (1.0, 2.0, 2.0, 3.0), rel=HDR
    )


@given(st.integers(min_value=1, max_value=3_600_000_000))
def test_bucket_floor_is_the_histograms_lowest_equivalent_value(us: int) -> None:
    assert _bucket_floor(us) == HdrHistogram(1, 3_600_000_000, 3).get_lowest_equivalent_value(us)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**13),  # ttft_ns
            st.lists(st.integers(min_value=0, max_value=10**12), max_size=20),  # gaps
            st.one_of(st.none(), st.lists(st.integers(0, 5), min_size=21, max_size=21)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_histograms_equal_recording_each_value(
    rows: list[tuple[int, list[int], list[int] | None]],
) -> None:
    # The Recorder counts bucket floors and folds them on read; the histograms it
    # gives must be the ones hdrh builds value by value (counts, min, max, encoding).
    results = [
        ok(
            0,
            S,
            ttft_ns=ttft,
            icl_ns=tuple(gaps),
            chunk_tokens=None if n is None else n[: len(gaps) + 1],
        )
        for ttft, gaps, n in rows
    ]
    rec = feed(Recorder(), results)
    hists = rec.hist
    expected = {name: HdrHistogram(1, 3_600_000_000, 3) for name in ("ttft_ms", "icl_ms", "itl_ms")}
    for r in results:
        expected["ttft_ms"].record_value(min(max(r.ttft_ns // 1000, 1), 3_600_000_000))
        for gap in r.icl_ns:
            expected["icl_ms"].record_value(min(max(gap // 1000, 1), 3_600_000_000))
        for gap, count in r.itl_ns:
            expected["itl_ms"].record_value(min(max(int(gap // 1000), 1), 3_600_000_000), count)
    for name, want in expected.items():
        got = hists[name]
        assert got.get_total_count() == want.get_total_count(), name
        assert histogram_stats(got) == histogram_stats(want), name
        assert got.encode() == want.encode(), name


def test_histograms_read_twice_count_each_value_once() -> None:
    rec = feed(Recorder(), [ok(0, S, ttft_ns=5 * MS)])
    assert rec.hist["ttft_ms"].get_total_count() == 1
    feed(rec, [ok(0, S, ttft_ns=7 * MS)])
    assert rec.hist["ttft_ms"].get_total_count() == 2
    assert rec.hist["ttft_ms"].get_total_count() == 2


def test_empty_histogram_gives_none() -> None:
    rec = Recorder()
    assert histogram_stats(rec.hist["ttft_ms"]) is None
    s = summary(rec)
    assert (s["ttft_ms"], s["latency_ms"], s["itl_ms"]) == (None, None, None)
    assert s["throughput"] == {
        "requests_per_s": 0.0,
        "output_tokens_per_s": 0.0,
        "total_tokens_per_s": 0.0,
    }
    assert s["requests"] == {
        "total": 0,
        "ok": 0,
        "failed": 0,
        "by_status": {},
        "retried": 0,
        "attempts": 0,
    }


def test_retried_requests_and_attempts_are_counted() -> None:
    first = failed(0, S, "http_error", "HTTP 503: busy", 503)
    rec = feed(
        Recorder(),
        [
            ok(0, S, attempts=3, retry_errors=("HTTP 503", "HTTP 503")),
            ok(0, S),
            replace(first, attempts=2, retry_errors=("connect_error",)),
            ok(0, S, phase="warmup", attempts=2, retry_errors=("HTTP 429",)),
        ],
    )
    assert (summary(rec)["requests"]["retried"], summary(rec)["requests"]["attempts"]) == (2, 6)


def test_sub_microsecond_values_are_clamped_not_lost() -> None:
    rec = feed(Recorder(), [ok(0, S, ttft_ns=0, latency_ns=400)])
    assert rec.hist["ttft_ms"].get_total_count() == 1
    assert rec.hist["latency_ms"].get_min_value() == 1  # 1 µs, the histogram's floor


# -- failures and the error table -----------------------------------------------------


def test_failures_count_in_totals_and_the_errors_table() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)
    feed(
        rec,
        [
            ok(ORIGIN, ORIGIN + S, ttft_ns=50 * MS, latency_ns=S, output_tokens=10, input_tokens=5),
            failed(ORIGIN, ORIGIN + S, "http_error", "HTTP 503: first", 503),
            failed(ORIGIN, ORIGIN + S, "timeout", "no complete response in 600 s"),
            failed(ORIGIN, ORIGIN + S, "http_error", "HTTP 503: second", 503),
            failed(ORIGIN, ORIGIN + S, "http_error", "HTTP 429: slow down", 429),
            failed(ORIGIN, ORIGIN + S, "http_error", "HTTP 503: third", 503),
        ],
    )
    s = summary(rec)
    assert s["requests"] == {
        "total": 6,
        "ok": 1,
        "failed": 5,
        "by_status": {"http_error": 4, "ok": 1, "timeout": 1},
        "retried": 0,
        "attempts": 6,
    }
    assert s["errors"] == [
        {"kind": "http_error", "http_status": 503, "count": 3, "example": "HTTP 503: first"},
        # equal counts: by kind, then status (merged shards list them alike)
        {"kind": "http_error", "http_status": 429, "count": 1, "example": "HTTP 429: slow down"},
        {
            "kind": "timeout",
            "http_status": None,
            "count": 1,
            "example": "no complete response in 600 s",
        },
    ]
    # Only the successful request's figures are in the histograms and the token totals.
    assert rec.hist["ttft_ms"].get_total_count() == 1
    assert rec.hist["ttfb_ms"].get_total_count() == 0
    assert s["ttft_ms"]["count"] == 1
    assert s["ttft_ms"]["max"] == pytest.approx(50.0, rel=HDR)
    assert s["tokens"]["output"] == 10
    assert s["tokens"]["input"] == 5
    assert s["tokens"]["sources"] == {"usage": 1}
    assert rec.statistics() == LiveStats(
        started=6, finished=6, ok=1, failed=5, in_flight=0, output_tokens=10, input_tokens=5
    )


def test_statistics_counts_in_flight() -> None:
    rec = Recorder()
    for t in (0, 1, 2):
        rec.on_start(t)
    rec.record(ok(0, 10, output_tokens=4))
    assert rec.statistics() == LiveStats(
        started=3, finished=1, ok=1, failed=0, in_flight=2, output_tokens=4, input_tokens=0
    )


def test_statistics_with_elapsed_time_reads_the_last_full_second() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)
    for end_ms, tokens in ((300, 10), (1_200, 7), (1_800, 5), (2_100, 1)):
        rec.on_start(ORIGIN)
        rec.record(ok(ORIGIN, ORIGIN + end_ms * MS, output_tokens=tokens))
    assert rec.statistics(0.5).last_second_ok is None  # no full second yet
    at_2 = rec.statistics(2.0)  # second 1: two requests, 12 tokens
    assert (at_2.last_second_ok, at_2.last_second_output_tokens) == (2, 12)
    early = rec.statistics(1.998)  # a timer that fired a hair early is still second 1
    assert (early.last_second_ok, early.last_second_output_tokens) == (2, 12)
    at_4 = rec.statistics(4.0)  # second 3: nothing finished in it
    assert (at_4.last_second_ok, at_4.last_second_output_tokens) == (0, 0)
    assert at_4.ok == 4
    assert at_4.output_tokens == 23


# -- the time series ------------------------------------------------------------------


def test_time_series_buckets_are_seconds_from_the_origin() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)
    rec.on_start(ORIGIN + 200 * MS)  # second 0
    rec.record(
        ok(
            ORIGIN + 200 * MS,
            ORIGIN + 1_100 * MS,
            ttft_ns=100 * MS,
            latency_ns=900 * MS,
            output_tokens=10,
        )
    )  # ends in second 1
    rec.on_start(ORIGIN + 1_500 * MS)  # second 1
    rec.on_start(ORIGIN + 1_999 * MS)  # second 1
    rec.record(
        ok(ORIGIN + 1_500 * MS, ORIGIN + 2 * S, ttft_ns=300 * MS, output_tokens=1)
    )  # second 2
    rec.record(failed(ORIGIN + 1_999 * MS, ORIGIN + 3_900 * MS, "timeout", "t"))  # second 3
    assert summary(rec)["timeseries"] == [
        {"t": 0, "started": 1, "finished": 0, "ok": 0, "failed": 0, "in_flight": 1,
         "output_tokens": 0, "ttft_p50_ms": None, "tpot_p50_ms": None},
        {"t": 1, "started": 2, "finished": 1, "ok": 1, "failed": 0, "in_flight": 2,
         "output_tokens": 10, "ttft_p50_ms": approx_ms(100.0), "tpot_p50_ms": approx_ms(88.888)},
        # no start in seconds 2 and 3, but requests in flight through them: each row
        # begins with the count carried over from the second before
        {"t": 2, "started": 0, "finished": 1, "ok": 1, "failed": 0, "in_flight": 2,
         "output_tokens": 1, "ttft_p50_ms": approx_ms(300.0), "tpot_p50_ms": None},
        {"t": 3, "started": 0, "finished": 1, "ok": 0, "failed": 1, "in_flight": 1,
         "output_tokens": 0, "ttft_p50_ms": None, "tpot_p50_ms": None},
    ]  # fmt: skip


def approx_ms(value: float) -> Any:
    """A per-second median as the series holds it: the middle of its histogram bucket,
    at the histograms' precision (0.1%)."""
    return pytest.approx(value, rel=1e-3)


def test_time_series_median_per_second() -> None:
    rec = Recorder()
    rec.set_origin(0)
    feed(rec, [ok(0, 500 * MS, ttft_ns=v * MS) for v in (10, 30, 20, 40)])
    assert summary(rec)["timeseries"][0]["ttft_p50_ms"] == approx_ms(25.0)


def test_past_seconds_keep_medians_not_samples() -> None:
    # Memory must not grow with the request count: once the run is two seconds past
    # a second, its samples are reduced to medians.
    rec = Recorder()
    rec.set_origin(0)
    for t in range(6):
        feed(rec, [ok(t * S, t * S + 500 * MS, ttft_ns=v * MS) for v in (10, 30, 20, 40)])
    # sealed: one (bucket, count) pair per distinct TTFT, no counter left open
    assert all(sec.sealed is not None and not sec.ttft for sec in rec.seconds[:4])
    assert [len(sec.sealed[0]) for sec in rec.seconds[:4] if sec.sealed] == [4] * 4
    assert sum(rec.seconds[4].ttft.values()) == sum(rec.seconds[5].ttft.values()) == 4
    assert [row["ttft_p50_ms"] for row in summary(rec)["timeseries"]] == [approx_ms(25.0)] * 6


def test_a_straggler_for_a_sealed_second_counts_but_adds_no_sample() -> None:
    rec = Recorder()
    rec.set_origin(0)
    feed(rec, [ok(0, 100 * MS, ttft_ns=10 * MS), ok(2 * S, 3 * S, ttft_ns=50 * MS)])
    feed(rec, [ok(0, 200 * MS, ttft_ns=90 * MS)])  # recorded late, ended in second 0
    first = summary(rec)["timeseries"][0]
    # the median at the histograms' precision (0.1%): 10 ms's bucket is 8 µs wide
    assert (first["finished"], first["ttft_p50_ms"]) == (2, approx_ms(10.0))
    assert rec.hist["ttft_ms"].get_total_count() == 3


def test_time_series_before_the_origin_goes_to_second_zero() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)
    rec.on_start(ORIGIN - 3 * S)
    assert len(rec.seconds) == 1
    assert rec.seconds[0].started == 1


# -- throughput -----------------------------------------------------------------------


def test_throughput_is_ok_over_wall_time_from_first_t0_to_last_end() -> None:
    rec = Recorder()
    rec.set_origin(ORIGIN)  # the origin is not where the wall time starts
    feed(
        rec,
        [
            ok(ORIGIN + 1 * S, ORIGIN + 2 * S, output_tokens=100, input_tokens=20),
            ok(ORIGIN + 1_500 * MS, ORIGIN + 3 * S, output_tokens=60, input_tokens=20),
            failed(ORIGIN + 2 * S, ORIGIN + 5 * S, "incomplete", "no end"),
        ],
    )
    assert rec.freeze().wall_ns == 4 * S
    s = summary(rec)
    assert s["run"] == {"started_at": "2025-01-01T00:00:00Z", "wall_time_s": 4.0}
    assert s["throughput"] == {
        "requests_per_s": 0.5,
        "output_tokens_per_s": 40.0,
        "total_tokens_per_s": 50.0,
    }


def test_throughput_rounding() -> None:
    rec = feed(Recorder(), [ok(0, 3 * S, output_tokens=10), ok(S, 3 * S, output_tokens=0)])
    assert summary(rec)["throughput"] == {
        "requests_per_s": 0.667,
        "output_tokens_per_s": 3.333,
        "total_tokens_per_s": 3.333,
    }


def test_open_loop_throughput_shows_the_offered_rate_next_to_the_achieved_one() -> None:
    rec = feed(Recorder(), [ok(0, 2 * S), ok(S, 2 * S)])
    s = build_summary(rec.freeze(), run={}, config={}, open_loop=True, offered_rps=40.0)
    assert s["throughput"]["offered_rps"] == 40.0
    assert s["throughput"]["requests_per_s"] == 1.0
    assert "offered_rps" not in summary(rec)["throughput"]  # closed loop: nothing offered


def test_the_ramp_block_is_kept_apart_from_the_headline_figures() -> None:
    rec = feed(Recorder(), [ok(0, S)])
    ramp = RampFigures(3.0, requests=60, ok=59)
    s = build_summary(rec.freeze(), run={}, config={}, open_loop=True, offered_rps=40.0, ramp=ramp)
    assert s["ramp"] == {"duration_s": 3.0, "requests": 60, "ok": 59, "requests_per_s": 19.667}
    assert s["requests"]["total"] == 1  # the ramp's requests are not the run's
    assert "ramp" not in summary(rec)  # no ramp ran: no block


def test_a_ramp_cut_short_at_once_has_no_rate() -> None:
    assert RampFigures(0.0, requests=0, ok=0).to_json()["requests_per_s"] == 0.0


# -- open loop ------------------------------------------------------------------------


def test_open_loop_adds_queue_and_from_intended_figures() -> None:
    rec = Recorder()
    rec.set_origin(0)
    feed(
        rec,
        [
            ok(S, 3 * S, intended_ns=S - 5 * MS, ttft_ns=100 * MS, latency_ns=S),
            ok(S, 3 * S, intended_ns=S - 10 * MS, ttft_ns=100 * MS, latency_ns=S),  # not late
            ok(S, 3 * S, intended_ns=S - 10 * MS - 1_000, ttft_ns=100 * MS, latency_ns=S),
            ok(S, 3 * S, intended_ns=S - 40 * MS, ttft_ns=200 * MS, latency_ns=2 * S),
        ],
    )
    assert rec.late_starts == 2
    s = summary(rec, open_loop=True)
    assert s["late_starts"] == {"threshold_ms": 10, "count": 2}
    queue = s["queue_ms"]
    assert queue["count"] == 4
    assert (queue["min"], queue["max"]) == pytest.approx((5.0, 40.0), rel=HDR)
    ttft = s["ttft_from_intended_ms"]
    assert (ttft["min"], ttft["max"]) == pytest.approx((105.0, 240.0), rel=HDR)
    lat = s["latency_from_intended_ms"]
    assert (lat["min"], lat["max"]) == pytest.approx((1005.0, 2040.0), rel=HDR)
    # The figures from t0 are unchanged by the queue.
    assert (s["ttft_ms"]["min"], s["ttft_ms"]["max"]) == pytest.approx((100.0, 200.0), rel=HDR)


def test_closed_loop_summary_has_no_open_loop_figures() -> None:
    rec = feed(Recorder(), [ok(0, S, ttft_ns=MS)])
    s = summary(rec, open_loop=False)
    for key in ("queue_ms", "ttft_from_intended_ms", "latency_from_intended_ms", "late_starts"):
        assert key not in s


# -- the summary schema (DESIGN.md, "Outputs") ----------------------------------------

STATS_KEYS = {"min", "mean", "p50", "p90", "p95", "p99", "max"}


def full_recorder() -> Recorder:
    rec = Recorder()
    rec.set_origin(0)
    return feed(
        rec,
        [
            ok(0, S, ttfb_ns=MS, ttft_ns=2 * MS, latency_ns=S, output_tokens=5, input_tokens=3,
               icl_ns=(MS,), first_frame='{"a":1}', last_frame="[DONE]"),
            ok(0, S, ttfb_ns=MS, ttft_ns=2 * MS, latency_ns=S, output_tokens=5,
               icl_ns=(MS,), first_frame="second", last_frame="second"),
            failed(0, S, "parse_error", "JSONDecodeError: x"),
        ],
    )  # fmt: skip


def test_summary_top_level_keys() -> None:
    s = summary(full_recorder())
    required = {
        "schema", "run", "config", "requests", "ttft_ms", "latency_ms", "ttfb_ms", "tpot_ms",
        "itl_ms", "throughput", "tokens", "errors", "slo", "samples",
    }  # fmt: skip
    assert required - set(s) == set()
    assert s["schema"] == SCHEMA_VERSION == 1
    assert s["config"] == {"url": "u"}


def test_summary_sections_have_the_design_keys() -> None:
    s = summary(full_recorder())
    assert {"total", "ok", "failed"} <= set(s["requests"])
    for name in ("ttft_ms", "latency_ms", "ttfb_ms", "tpot_ms", "itl_ms"):
        assert set(s[name]) >= STATS_KEYS, name
    assert set(s["throughput"]) == {"requests_per_s", "output_tokens_per_s", "total_tokens_per_s"}
    assert s["errors"] == [
        {"kind": "parse_error", "http_status": None, "count": 1, "example": "JSONDecodeError: x"}
    ]
    assert s["samples"] == {"first_frame": '{"a":1}', "last_frame": "[DONE]"}


def test_summary_tokens_keys() -> None:
    assert {"mode", "input", "output"} <= set(summary(full_recorder())["tokens"])


def test_summary_states_the_metric_definitions() -> None:
    definitions = summary(full_recorder())["definitions"]
    for name in ("ttft_ms", "latency_ms", "ttfb_ms", "tpot_ms", "itl_ms", "queue_ms", "wall_time"):
        assert definitions[name]
    assert re.search(r"first end signal", definitions["latency_ms"])


def test_summary_is_json_serializable() -> None:
    s = summary(full_recorder(), open_loop=True)
    assert orjson.loads(orjson.dumps(s)) == s


def test_samples_are_capped() -> None:
    rec = feed(Recorder(), [ok(0, S, first_frame="x" * 100_000, last_frame="y")])
    assert summary(rec)["samples"] == {"first_frame": "x" * 65_536, "last_frame": "y"}


def test_stddev_of_one_value_is_zero() -> None:
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for _ in range(5):
        hist.record_value(40_000)  # 40 ms in µs
    stats = histogram_stats(hist)
    assert stats is not None
    assert (stats["mean"], stats["stddev"]) == (pytest.approx(40.0, rel=HDR), 0.0)
