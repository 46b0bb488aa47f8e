"""The sweep's search against simulated servers: a step function from load to verdict,
no sockets, no clocks."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.sweep_search import (
    Point,
    SearchSpace,
    Verdict,
    bracket,
    curve_loads,
    next_search_load,
    round_load,
)

Server = Callable[[float], Verdict]


def capacity(c: float) -> Server:
    """A server that sustains up to ``c`` and fails above it."""
    return lambda load: "ok" if load <= c else "slo_failed"


def search(server: Server, space: SearchSpace, limit: int = 30) -> list[Point]:
    points: list[Point] = []
    for _ in range(limit):
        load = next_search_load(points, space)
        if load is None:
            return points
        points.append(Point(load, server(load)))
    raise AssertionError(f"no convergence in {limit} steps: {points}")


def test_a_server_of_47_req_s_is_found_within_the_tolerance_in_few_steps() -> None:
    space = SearchSpace(low=2.3, high=94, guess=46.8, tolerance=0.05)
    points = search(capacity(47.06), space)
    b = bracket(points)
    assert b.passed is not None
    assert b.failed is not None
    assert b.passed <= 47.06 < b.failed <= b.passed * 1.05
    assert len(points) <= 6, points


def test_the_first_steps_go_up_from_a_passing_guess_then_bisect() -> None:
    space = SearchSpace(low=1, high=1000, guess=40, tolerance=0.05)
    points = search(capacity(100), space)
    loads = [p.load for p in points]
    assert loads[:3] == [40, 50, 78.1]  # x1.25, then x1.25**2 (rounded to 3 digits)
    assert all(b > a for a, b in itertools.pairwise(loads[:4]))


def test_a_failing_guess_steps_down_faster_and_faster_until_a_pass() -> None:
    space = SearchSpace(low=1, high=1000, guess=100, tolerance=0.05)
    points = search(capacity(20), space)
    assert [p.load for p in points[:4]] == [100, 80, 51.2, 26.2]  # /1.25, /1.25², /1.25³
    b = bracket(points)
    assert b.passed is not None
    assert b.passed <= 20 < (b.failed or 0) <= b.passed * 1.05


def test_nothing_passes_ends_at_the_lowest_load_with_no_answer() -> None:
    space = SearchSpace(low=2, high=100, guess=50, tolerance=0.05)
    points = search(capacity(1), space)
    assert min(p.load for p in points) == 2
    assert bracket(points).passed is None


def test_everything_passes_ends_at_the_highest_load() -> None:
    space = SearchSpace(low=2, high=100, guess=50, tolerance=0.05)
    points = search(capacity(1e9), space)
    assert max(p.load for p in points) == 100
    b = bracket(points)
    assert (b.passed, b.failed) == (100, None)


def test_concurrency_is_searched_in_whole_numbers_to_the_exact_one() -> None:
    space = SearchSpace(
        low=1, high=256, guess=8, tolerance=0.05, integer=True, growth=2.0, accelerate=False
    )
    points = search(capacity(37), space)
    assert [p.load for p in points[:4]] == [8, 16, 32, 64]  # doubling, not compounding
    assert all(p.load == int(p.load) for p in points)
    b = bracket(points)
    assert (b.passed, b.failed) == (37, 38) or (b.failed or 0) <= (b.passed or 0) * 1.05


def test_a_noisy_pass_above_a_fail_does_not_raise_the_answer() -> None:
    points = [Point(40, "ok"), Point(50, "slo_failed"), Point(60, "ok")]
    assert bracket(points).passed == 40
    assert bracket(points).failed == 50


def test_overloaded_counts_as_a_fail() -> None:
    assert bracket([Point(30, "ok"), Point(45, "overloaded")]).failed == 45


def test_a_client_limited_step_caps_the_search_but_is_not_a_server_fail() -> None:
    points = [Point(40, "ok"), Point(50, "client_limited")]
    b = bracket(points)
    assert (b.passed, b.failed, b.ceiling, b.top) == (40, None, 50, 50)
    space = SearchSpace(low=1, high=1000, guess=40, tolerance=0.05)
    nxt = next_search_load(points, space)
    assert nxt is not None
    assert 40 < nxt < 50


def test_a_client_limited_step_below_a_valid_pass_says_nothing() -> None:
    points = [Point(20, "client_limited"), Point(40, "ok"), Point(50, "slo_failed")]
    assert bracket(points) == bracket([Point(40, "ok"), Point(50, "slo_failed")])


@settings(max_examples=300, deadline=None)
@given(
    c=st.floats(min_value=0.5, max_value=50_000),
    guess_ratio=st.floats(min_value=0.05, max_value=20),
    tolerance=st.sampled_from([0.01, 0.05, 0.1, 0.25]),
)
def test_the_search_always_converges_and_brackets_the_capacity(
    c: float, guess_ratio: float, tolerance: float
) -> None:
    guess = c * guess_ratio
    space = SearchSpace(low=max(0.1, guess / 20), high=guess * 2, guess=guess, tolerance=tolerance)
    points = search(capacity(c), space, limit=40)
    b = bracket(points)
    if c < round_load(space.low, integer=False):  # a rate runs at 3 significant digits
        assert b.passed is None
    elif b.failed is None:
        assert b.passed is not None
        assert b.passed >= space.high * 0.99
    else:
        assert b.passed is not None
        assert b.passed <= c < b.failed
        # within the tolerance, give or take the 3-digit rounding of a load
        assert b.failed <= b.passed * (1 + tolerance) * 1.01
    assert len({p.load for p in points}) == len(points)  # no load measured twice


@settings(max_examples=200, deadline=None)
@given(c=st.integers(min_value=1, max_value=3000), guess=st.integers(min_value=1, max_value=64))
def test_integer_search_converges_on_every_capacity(c: int, guess: int) -> None:
    space = SearchSpace(
        low=1, high=4096, guess=guess, tolerance=0.05, integer=True, growth=2.0, accelerate=False
    )
    b = bracket(search(capacity(c), space, limit=40))
    assert b.passed is not None
    assert b.passed <= c
    assert b.failed is None or (c < b.failed and b.failed <= max(b.passed + 1, b.passed * 1.05))


def test_curve_loads_fill_evenly_below_the_answer() -> None:
    space = SearchSpace(low=1, high=100, guess=40, tolerance=0.05)
    points = [Point(40, "ok"), Point(50, "slo_failed"), Point(45, "ok"), Point(47, "slo_failed")]
    assert curve_loads(45, points, 8, space) == [9.0, 18.0, 27.0, 36.0]


def test_curve_loads_skip_a_measured_load_and_stop_at_the_total() -> None:
    space = SearchSpace(low=1, high=100, guess=40, tolerance=0.05)
    points = [Point(40, "ok"), Point(20, "ok")]
    assert curve_loads(40, points, 4, space) == [13.3, 26.7]
    assert curve_loads(40, points, 2, space) == []
    assert curve_loads(None, points, 8, space) == []


@pytest.mark.parametrize(
    ("load", "integer", "shown"),
    [(45.28731, False, 45.3), (0.123456, False, 0.123), (3.6, True, 4.0), (0.2, True, 1.0)],
)
def test_round_load(load: float, integer: bool, shown: float) -> None:
    assert round_load(load, integer) == shown
