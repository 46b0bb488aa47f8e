"""server_series: one target's scrapes in bounded memory, counters into rates (resets
counted from zero), ratios, and min/mean/max over a window."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmbench import server_series
from llmbench.server_series import (
    MAX_SERIES,
    Interval,
    Reading,
    TargetLog,
    increments,
    interval_rates,
    mean_of,
    printable,
    resets,
    window_stats,
)

NAN = math.nan
S = 1_000_000_000


def gauge(value: float, family: str = "vllm:num_requests_running", gpu: str = "0") -> Reading:
    return Reading(family, "gauge", (("gpu", gpu),), "value", value)


def test_a_scrape_is_a_column_per_series_aligned_with_the_times() -> None:
    log = TargetLog("http://h/metrics")
    log.record(1 * S, 2_000_000, [gauge(3), gauge(4, gpu="1")])
    log.record(2 * S, 1_000_000, [gauge(5, gpu="1")])  # gpu 0 absent this time
    log.record(3 * S, 1_000_000, [gauge(6), gauge(7, gpu="1"), gauge(8, gpu="2")])  # a new one
    assert list(log.times_ns) == [1 * S, 2 * S, 3 * S]
    columns = {key[2][0][1]: list(col) for key, col in log.columns.items()}
    assert columns["1"] == [4, 5, 7]
    assert columns["0"][0] == 3
    assert math.isnan(columns["0"][1])
    assert columns["0"][2] == 6
    assert math.isnan(columns["2"][0])
    assert math.isnan(columns["2"][1])
    assert columns["2"][2] == 8
    assert (log.scrapes, log.ok, log.took_ns_max, log.took_ns_total) == (3, 3, 2_000_000, 4_000_000)


def test_failures_are_counted_by_kind_with_the_first_message() -> None:
    log = TargetLog("http://h/metrics")
    log.fail("timeout", "no complete reply within 1 s", 1_000_000_000)
    log.record(1, 1, [gauge(1)])
    log.fail("html", "an HTML page (text/html), not Prometheus text", 5)
    log.fail("timeout", "again", 5)
    assert log.failures == {"timeout": 2, "html": 1}
    assert log.first_error == "timeout: no complete reply within 1 s"
    assert (log.scrapes, log.ok) == (4, 1)


def test_a_repeated_series_keeps_its_first_value_and_nan_is_missing() -> None:
    log = TargetLog("u")
    log.record(1, 1, [gauge(1), gauge(2), gauge(math.inf, family="x"), gauge(NAN, family="y")])
    values = {key[0]: list(col) for key, col in log.columns.items()}
    assert values["vllm:num_requests_running"] == [1]
    assert math.isnan(values["x"][0])
    assert math.isnan(values["y"][0])


def test_series_beyond_the_cap_are_counted_not_kept() -> None:
    log = TargetLog("u")
    log.record(1, 1, [gauge(1, gpu=str(i)) for i in range(MAX_SERIES + 5)])
    assert len(log.columns) == MAX_SERIES
    assert log.dropped_series == 5


def test_dropped_series_are_counted_once_each_not_per_scrape() -> None:
    log = TargetLog("u")
    for t in range(10):
        log.record(t, 1, [gauge(1, family="x", gpu=str(i)) for i in range(MAX_SERIES + 5)])
    assert log.dropped_series == 5
    assert len(log.columns) == MAX_SERIES


def test_the_dropped_series_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_series, "_DROPPED_MEMO", 3)
    log = TargetLog("u")
    for t in range(4):  # a fresh label set every scrape: the memo saturates
        log.record(t, 1, [gauge(1, family="x", gpu=f"{t}-{i}") for i in range(MAX_SERIES + 2)])
    assert log.dropped_series == 3
    assert len(log._dropped) == 3


def dcgm_page(extra: int) -> list[Reading]:
    """An 8-GPU DCGM page under ``--server-metric 'DCGM_.*'``: ``extra`` series of
    families llmbench does not know, listed before the known ones."""
    extras = [gauge(1, family=f"DCGM_FI_PROF_X{i % 40}", gpu=str(i)) for i in range(extra)]
    known = [gauge(2, family=f, gpu=str(g)) for f in ("DCGM_FI_DEV_FB_USED",
             "DCGM_FI_DEV_GPU_UTIL") for g in range(8)]  # fmt: skip
    return extras + known


def test_known_families_keep_their_series_under_a_broad_pattern() -> None:
    log = TargetLog("u")
    for t in range(3):
        log.record(t, 1, dcgm_page(MAX_SERIES))
    kept = {key[0] for key in log.columns}
    assert sum(key[0] == "DCGM_FI_DEV_FB_USED" for key in log.columns) == 8
    assert sum(key[0] == "DCGM_FI_DEV_GPU_UTIL" for key in log.columns) == 8
    assert len(log.columns) == MAX_SERIES
    assert log.dropped_series == 16  # the extras that did not fit, once each
    assert any(f.startswith("DCGM_FI_PROF_X") for f in kept)


def test_a_known_series_that_appears_later_takes_an_extras_place() -> None:
    log = TargetLog("u")
    log.record(1, 1, dcgm_page(MAX_SERIES)[:MAX_SERIES])  # extras only: the cap is full
    assert all(key[0].startswith("DCGM_FI_PROF_X") for key in log.columns)
    log.record(2, 1, dcgm_page(MAX_SERIES))
    log.record(3, 1, dcgm_page(MAX_SERIES))
    assert sum(key[0] == "DCGM_FI_DEV_FB_USED" for key in log.columns) == 8
    assert len(log.columns) == MAX_SERIES
    assert log.dropped_series == 16  # the evicted extras are not taken back
    assert all(len(col) == 3 for col in log.columns.values())


def test_a_failure_message_is_made_printable_and_capped() -> None:
    log = TargetLog("u")
    log.fail("parse_error", "line 1: \x1b]0;PWNED\x07\x1b[2J\x00\r\n\u202e" + "y" * 1000, 1)
    assert log.first_error is not None
    assert log.first_error.startswith(
        "parse_error: line 1: \\x1b]0;PWNED\\x07\\x1b[2J\\x00\\x0d\\x0a\\u202e"
    )
    assert log.first_error.isprintable()
    assert len(log.first_error) == 300
    assert log.first_error.endswith("y\u2026")


@pytest.mark.parametrize(
    ("text", "limit", "out"),
    [
        ("plain text", 20, "plain text"),
        ("a\x1bb", 20, "a\\x1bb"),
        ("\U0010ffff", 20, "\\U0010ffff"),
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde\u2026"),
        ("ab\x1b", 5, "ab\u2026"),  # an escape is never cut in half
    ],
)
def test_printable(text: str, limit: int, out: str) -> None:
    assert printable(text, limit) == out


@given(st.text(max_size=400), st.integers(1, 300))
def test_printable_is_always_printable_and_within_its_limit(text: str, limit: int) -> None:
    out = printable(text, limit)
    assert out.isprintable()
    assert len(out) <= limit


def test_memory_stays_bounded_halving_the_points_and_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_series, "MAX_POINTS", 8)
    log = TargetLog("u")
    for i in range(40):
        log.record(i * S, 1, [Reading("c", "counter", (), "value", 10.0 * i)])
    assert len(log.times_ns) <= 8
    assert log.ok == 40
    t = [x / S for x in log.times_ns]
    assert t == sorted(t)
    assert t[0] == 0
    steps = [s for s in interval_rates(t, list(next(iter(log.columns.values())))) if s]
    assert all(s.rate == pytest.approx(10.0) for s in steps)  # the counter's rate survives


def test_increments_count_a_reset_from_zero() -> None:
    assert increments([5, 7, 7, 2, 4, NAN, 10]) == [None, 2, 0, 2, 2, None, 6]
    assert increments([NAN, 1, NAN]) == [None, None, None]


def test_resets_count_each_time_a_counter_went_back() -> None:
    assert resets([5, 7, 7, 2, 4, NAN, 10]) == 1
    assert resets([5000, 100, 6000, 200, NAN, 7000]) == 2
    assert resets([NAN, 1, NAN]) == 0


def test_a_huge_gauge_has_a_finite_mean() -> None:
    points = [(0.0, 1.7e308), (1.0, 1.7e308), (2.0, 1.6e308)]
    stats = window_stats(points, None, 0.0, 3.0)
    assert stats == {"min": 1.6e308, "mean": pytest.approx(1.66667e308), "max": 1.7e308,
                     "points": 3}  # fmt: skip
    assert mean_of([1.7e308, -1.7e308, 1.7e308]) == pytest.approx(1.7e308 / 3)
    assert mean_of([1.0, 2.0]) == 1.5


def test_interval_rates_are_per_second_and_span_missing_points() -> None:
    t = [0.0, 1.0, 2.0, 4.0]
    steps = interval_rates(t, [100, 150, NAN, 350])
    assert steps[0] is None
    assert steps[2] is None
    assert steps[1] == Interval(0.0, 1.0, 50, 1.0)
    assert steps[3] == Interval(1.0, 4.0, 200, 3.0)  # from the last point it had
    assert steps[3] is not None
    assert steps[3].rate == pytest.approx(200 / 3)


def test_a_ratio_divides_the_growth_of_two_counters() -> None:
    t = [0.0, 1.0, 2.0, 3.0]
    hits, queries = [0, 30, 30, 90], [0, 100, 100, 120]
    steps = interval_rates(t, hits, queries)
    assert [s.rate if s else None for s in steps] == [None, 0.3, None, 3.0]  # 0/0: no rate


def test_window_stats_of_gauges_and_of_intervals() -> None:
    points = [(-1.0, 100.0), (0.0, 1.0), (1.0, 2.0), (2.0, 6.0), (3.5, 100.0)]
    assert window_stats(points, None, 0.0, 3.0) == {
        "min": 1.0,
        "mean": 3.0,
        "max": 6.0,
        "points": 3,
    }
    assert window_stats(points, None, 10.0, 20.0) is None
    steps = [Interval(-1, 0, 99, 1), Interval(0, 1, 10, 1), Interval(1, 3, 60, 2),
             Interval(3, 4, 999, 1)]  # fmt: skip
    # the mean is time-weighted: 70 tokens over 3 s, not the mean of 10/s and 30/s
    assert window_stats([], steps, 0.0, 3.0) == {
        "min": 10.0, "mean": pytest.approx(70 / 3, rel=1e-5), "max": 30.0, "points": 2,
    }  # fmt: skip


@given(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=2, max_size=40))
def test_a_counter_that_only_grows_has_rates_summing_to_its_growth(raw: list[float]) -> None:
    counter = sorted(raw)
    t = [float(i) for i in range(len(counter))]
    steps = [s for s in interval_rates(t, counter) if s is not None]
    assert sum(s.inc for s in steps) == pytest.approx(counter[-1] - counter[0], rel=1e-9, abs=1e-6)
    assert all(s.rate is not None and s.rate >= 0 for s in steps)
