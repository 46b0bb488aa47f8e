"""The early-stop rules of a sweep step, fed hand-made seconds."""

from __future__ import annotations

from llmbench.overload import (
    MIN_REQUESTS,
    RISE_SECONDS,
    STUCK_SECONDS,
    OverloadWatch,
    Stop,
    Tick,
    watched_checks,
)
from llmbench.slo import parse_slo, parse_slos


def nothing(_key: str, _stat: str) -> float | None:
    return None


def feed(watch: OverloadWatch, ticks: list[Tick]) -> list[str | None]:
    """What the watch said at each tick: "kind: reason", or None."""
    said = [watch.observe(t, nothing) for t in ticks]
    return [None if s is None else f"{s.kind}: {s.reason}" for s in said]


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


def test_every_slot_busy_with_ttft_rising_is_the_servers_queue() -> None:
    watch = OverloadWatch([], cap=64)
    ticks = [Tick(s, 64, 10 * s, 50.0 * 2**s) for s in range(1, STUCK_SECONDS + 1)]
    said = feed(watch, ticks)
    assert said[:-1] == [None] * (STUCK_SECONDS - 1)
    assert (said[-1] or "").startswith("overloaded: all 64 request slots busy for 3 s while TTFT")


def test_every_slot_busy_with_ttft_flat_is_the_clients_cap() -> None:
    # 3 s requests at 10 req/s need 30 in flight; a cap of 20 holds them back while the
    # server answers as fast as ever: raise --concurrency, the server is fine.
    watch = OverloadWatch([], cap=20)
    said = feed(watch, [Tick(s, 20, 5 * s, 52.0) for s in range(1, STUCK_SECONDS + 1)])
    assert (said[-1] or "").startswith("client_limited: all 20 request slots busy")
    assert "raise --concurrency" in (said[-1] or "")


def test_every_slot_busy_and_nothing_succeeding_is_the_server() -> None:
    watch = OverloadWatch([], cap=8)
    said = feed(watch, [Tick(s, 8, 0, None) for s in range(1, STUCK_SECONDS + 1)])
    assert (said[-1] or "").startswith("overloaded: all 8 request slots busy")


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
    assert watch.observe(Tick(4.0, 10, 199, 60.0), read) is None  # a p95 needs 200 requests
    said = watch.observe(Tick(4.0, 10, 200, 60.0), read)
    assert isinstance(said, Stop)
    assert said.kind == "overloaded"
    assert "ttft_p95 already 1,200 ms" in said.reason
    assert "2.4x" in said.reason
    assert reads == [("ttft_ms", "p95")]


def test_a_tail_percentile_waits_for_ten_requests_beyond_it() -> None:
    # One slow request among the first 99 is the whole of a p99: not yet a verdict.
    reads: list[str] = []

    def read(_key: str, stat: str) -> float | None:
        reads.append(stat)
        return 900.0

    watch = OverloadWatch(parse_slos(["ttft_p99<=100ms", "ttft_max<=100ms"]), cap=None)
    assert watch.observe(Tick(5.0, 10, 999, 60.0), read) is not None  # the max: at once
    assert reads == ["max"]  # the p99 was not judged on 999 requests
    watch = OverloadWatch(parse_slos(["ttft_p99<=100ms"]), cap=None)
    assert watch.observe(Tick(5.0, 10, 999, 60.0), read) is None
    assert watch.observe(Tick(6.0, 10, 1000, 60.0), read) is not None
    assert watch.observe(Tick(6.0, 10, MIN_REQUESTS - 1, 60.0), read) is None


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
