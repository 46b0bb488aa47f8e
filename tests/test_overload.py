"""The early-stop rules of a sweep step, fed hand-made seconds."""

from __future__ import annotations

from llmbench.overload import (
    MIN_REQUESTS,
    RISE_SECONDS,
    STUCK_SECONDS,
    OverloadWatch,
    Tick,
    watched_checks,
)
from llmbench.slo import parse_slo, parse_slos


def nothing(_key: str, _stat: str) -> float | None:
    return None


def feed(watch: OverloadWatch, ticks: list[Tick]) -> list[str | None]:
    return [watch.observe(t, nothing) for t in ticks]


def test_a_growing_server_queue_stops_an_open_loop_step() -> None:
    # TTFT doubling every second with more and more in flight: an unbounded queue.
    watch = OverloadWatch([], cap=1000)
    ticks = [Tick(s, 30 + 5 * s, 40 * s, 50.0 * 2**s) for s in range(1, 9)]
    said = feed(watch, ticks)
    first = next(i for i, r in enumerate(said) if r)
    assert ticks[first].elapsed_s == 2 + RISE_SECONDS  # settle, then RISE_SECONDS of rise
    assert "queue growing without bound" in (said[first] or "")


def test_a_steady_step_with_noise_is_never_stopped() -> None:
    watch = OverloadWatch([], cap=1000)
    ttfts = [51, 53, 50, 55, 52, 51, 54, 50, 53, 52]
    ticks = [Tick(s + 1, 33 + (s % 3), 47 * (s + 1), float(t)) for s, t in enumerate(ttfts)]
    assert feed(watch, ticks) == [None] * len(ticks)


def test_a_rise_without_more_in_flight_is_not_a_queue() -> None:
    watch = OverloadWatch([], cap=1000)
    ticks = [Tick(s, 30, 40 * s, 50.0 * 2**s) for s in range(1, 9)]
    assert feed(watch, ticks) == [None] * len(ticks)


def test_a_second_without_a_success_restarts_the_trend() -> None:
    watch = OverloadWatch([], cap=1000)
    rising = [Tick(s, 30 + s, 10 * s, 50.0 * 2**s) for s in range(2, 6)]
    gap = [Tick(6, 40, 60, None)]
    again = [Tick(s, 30 + s, 10 * s, 50.0 * 2**s) for s in range(7, 10)]
    assert feed(watch, rising + gap + again) == [None] * 8


def test_every_slot_busy_for_some_seconds_stops_an_open_loop_step() -> None:
    watch = OverloadWatch([], cap=64)
    said = feed(watch, [Tick(s, 64, 10 * s, 50.0) for s in range(1, STUCK_SECONDS + 1)])
    assert said[:-1] == [None] * (STUCK_SECONDS - 1)
    assert "all 64 request slots busy" in (said[-1] or "")


def test_a_slot_freed_resets_the_count() -> None:
    watch = OverloadWatch([], cap=64)
    ins = [64, 64, 63, 64, 64]
    assert feed(watch, [Tick(s + 1, n, 10, 50.0) for s, n in enumerate(ins)]) == [None] * 5


def test_closed_loop_has_no_backlog_rules() -> None:
    watch = OverloadWatch([], cap=None)
    ticks = [Tick(s, 30 + 5 * s, 40 * s, 50.0 * 2**s) for s in range(1, 9)]
    assert feed(watch, ticks) == [None] * len(ticks)


def test_an_slo_failed_by_twice_its_bound_on_enough_requests_stops_the_step() -> None:
    watch = OverloadWatch(parse_slos(["ttft_p95<=500ms"]), cap=None)
    reads: list[tuple[str, str]] = []

    def read(key: str, stat: str) -> float | None:
        reads.append((key, stat))
        return 1_200.0

    assert watch.observe(Tick(2.0, 10, 500, 60.0), read) is None  # too early
    assert watch.observe(Tick(4.0, 10, MIN_REQUESTS - 1, 60.0), read) is None  # too few
    said = watch.observe(Tick(4.0, 10, MIN_REQUESTS, 60.0), read)
    assert said is not None
    assert "ttft_p95 already 1,200 ms" in said
    assert "2.4x" in said
    assert reads == [("ttft_ms", "p95")]


def test_an_slo_missed_by_less_than_the_margin_goes_on() -> None:
    watch = OverloadWatch(parse_slos(["ttft_p95<=500ms"]), cap=None)
    assert watch.observe(Tick(5.0, 10, 200, 60.0), lambda _k, _s: 999.0) is None


def test_only_upper_bounds_on_latencies_are_watched() -> None:
    checks = parse_slos(
        [
            "ttft_p95<=500ms",
            "requests_per_s>=10",
            "error_rate<=1%",
            "tpot_mean<50ms",
            "latency_p99>=1ms",
        ]
    )
    assert [c.expr for c in watched_checks(checks)] == ["ttft_p95<=500ms", "tpot_mean<50ms"]


def test_a_zero_bound_never_stops_a_step() -> None:
    watch = OverloadWatch([parse_slo("ttft_p95<=0ms")], cap=None)
    assert watch.observe(Tick(5.0, 10, 200, 60.0), lambda _k, _s: 5.0) is None
