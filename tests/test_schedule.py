"""Tests for llmbench.schedule: arrival processes as pure generators of offsets.

Random processes run with fixed seeds, so every run draws the same numbers and the
tests cannot flake; the tolerances are still set at >= 4 standard errors of the
estimate for the sample size used (stated next to each), so a correct process with
any seed passes and a process with the wrong rate or shape does not.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator, Sequence
from typing import TypeVar

import pytest

from llmbench.schedule import arrival_offsets, closed_loop_starts, unit_arrivals, warp

NS = 1_000_000_000
N = 20_000  # gaps per statistical test
T = TypeVar("T", int, float)


def take(it: Iterator[T], n: int) -> list[T]:
    return list(itertools.islice(it, n))


def gaps(xs: list[T]) -> list[T]:
    return [b - a for a, b in itertools.pairwise(xs)]


def cv(xs: Sequence[float]) -> float:
    return statistics.pstdev(xs) / statistics.fmean(xs)


# -- constant rate and the token bucket -----------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (4.0, [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000, 1_250_000_000]),
        (0.5, [0, 2 * NS, 4 * NS, 6 * NS, 8 * NS, 10 * NS]),
        (1000.0, [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]),
        (3.0, [0, 333_333_333, 666_666_667, NS, 1_333_333_333, 1_666_666_667]),
    ],
)
def test_constant_rate_is_exact(rate: float, expected: list[int]) -> None:
    assert take(arrival_offsets(rate), 6) == expected


def test_constant_mean_rate_over_many_arrivals() -> None:
    offsets = take(arrival_offsets(250.0), 10_001)
    assert offsets[-1] == 40 * NS  # 10 000 gaps of 4 ms
    assert set(gaps(offsets)) == {4_000_000}


@pytest.mark.parametrize("burst", [1, 2, 5])
def test_token_bucket_burst(burst: int) -> None:
    offsets = take(arrival_offsets(10.0, burst=burst), burst + 4)
    assert offsets == [0] * burst + [100_000_000, 200_000_000, 300_000_000, 400_000_000]


def test_unit_constant_ignores_the_seed() -> None:
    assert take(unit_arrivals("constant", seed=1), 5) == take(unit_arrivals("constant", seed=2), 5)
    assert take(unit_arrivals("constant", burst=3), 6) == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


def test_unknown_arrival_process() -> None:
    with pytest.raises(ValueError, match="unknown arrival process 'uniform'"):
        next(unit_arrivals("uniform"))


# -- Poisson and gamma ----------------------------------------------------------------


def test_random_processes_start_at_zero() -> None:
    assert next(arrival_offsets(5.0, "poisson", seed=9)) == 0
    assert next(arrival_offsets(5.0, "gamma", burstiness=0.3, seed=9)) == 0


def test_poisson_mean_rate_and_dispersion() -> None:
    rate = 50.0
    offsets = take(arrival_offsets(rate, "poisson", seed=42), N + 1)
    measured = N / (offsets[-1] / NS)
    # Mean gap SE = 1/sqrt(N) = 0.7%; allow 3%.
    assert measured == pytest.approx(rate, rel=0.03)
    # Exponential gaps have CV 1; the SE of a sample CV at N=20k is ~1%; allow 5%.
    assert cv(gaps(offsets)) == pytest.approx(1.0, rel=0.05)
    assert all(g > 0 for g in gaps(offsets))


@pytest.mark.parametrize(
    ("shape", "rel"),
    [
        # SE of the CV estimate ~ sqrt((kurtosis - 1) / 4N): 1.8% for k=0.25 (kurtosis
        # 27), 0.7% for k=4 (kurtosis 4.5). Allow 10% and 4%.
        (0.25, 0.10),
        (4.0, 0.04),
    ],
)
def test_gamma_cv_is_one_over_sqrt_shape(shape: float, rel: float) -> None:
    xs = take(unit_arrivals("gamma", burstiness=shape, seed=7), N + 1)
    g = gaps(xs)
    assert cv(g) == pytest.approx(1 / math.sqrt(shape), rel=rel)
    # The rate stays 1 whatever the shape; mean SE = CV/sqrt(N) <= 1.4%; allow 6%.
    assert statistics.fmean(g) == pytest.approx(1.0, rel=0.06)


def test_gamma_of_shape_one_is_poisson() -> None:
    assert take(unit_arrivals("gamma", burstiness=1.0, seed=5), 50) == take(
        unit_arrivals("poisson", seed=5), 50
    )


@pytest.mark.parametrize(("arrival", "shape"), [("poisson", 1.0), ("gamma", 0.5)])
def test_same_seed_same_sequence_different_seed_different(arrival: str, shape: float) -> None:
    def offsets(seed: int) -> list[int]:
        return take(arrival_offsets(20.0, arrival, burstiness=shape, seed=seed), 200)

    assert offsets(1) == offsets(1)
    assert offsets(1) != offsets(2)
    assert offsets(1)[1:10] != offsets(2)[1:10]  # they differ from the start, not by chance late


# -- ramp-up --------------------------------------------------------------------------


def test_constant_ramp_shape_is_exact() -> None:
    rate, ramp = 100.0, 10.0  # the ramp holds rate * ramp / 2 = 500 arrivals
    offsets = take(arrival_offsets(rate, ramp_s=ramp), 1_000)
    in_ramp = [o for o in offsets if o < ramp * NS]
    first_half = [o for o in offsets if o < ramp / 2 * NS]
    assert len(in_ramp) == 500
    assert len(first_half) == 125  # cumulative R t^2 / 2T: a quarter at T/2
    after = offsets[500:]
    assert after[0] == 10 * NS
    assert set(gaps(after)) == {10_000_000}  # exactly R after the ramp
    ramp_gaps = gaps(in_ramp)
    assert all(a > b for a, b in itertools.pairwise(ramp_gaps))  # the rate only rises


def test_ramp_offsets_follow_the_square_root() -> None:
    # u arrivals are reached at t = sqrt(2 T u / R) while ramping.
    offsets = take(arrival_offsets(2.0, ramp_s=8.0), 12)
    expected = [round(math.sqrt(2 * 8.0 * u / 2.0) * NS) for u in range(8)]
    assert offsets[:8] == expected
    assert offsets[8:] == [8 * NS, 8_500_000_000, 9 * NS, 9_500_000_000]


def test_poisson_ramp_shape() -> None:
    rate, ramp = 200.0, 50.0  # 5000 arrivals expected during the ramp
    offsets = take(arrival_offsets(rate, "poisson", ramp_s=ramp, seed=11), 9_000)
    in_ramp = [o for o in offsets if o < ramp * NS]
    first_half = [o for o in offsets if o < ramp / 2 * NS]
    # Poisson counts: 5000 +- 71 in the ramp, 1250 +- 35 in its first half.
    assert len(in_ramp) == pytest.approx(5_000, abs=300)
    assert len(first_half) / len(in_ramp) == pytest.approx(0.25, abs=0.03)
    after = [o for o in offsets if o >= ramp * NS]
    measured = (len(after) - 1) / ((after[-1] - after[0]) / NS)
    assert measured == pytest.approx(rate, rel=0.07)  # ~4000 gaps: SE 1.6%


def test_warp_without_ramp() -> None:
    assert warp(0.0, 4.0, 0.0) == 0.0
    assert warp(10.0, 4.0, 0.0) == 2.5
    assert warp(10.0, 4.0, -1.0) == 2.5


def test_warp_is_continuous_at_the_ramp_end() -> None:
    rate, ramp = 8.0, 3.0
    area = rate * ramp / 2  # 12 arrivals during the ramp
    assert warp(area, rate, ramp) == ramp
    eps = 1e-9
    left, right = warp(area - eps, rate, ramp), warp(area + eps, rate, ramp)
    assert left == pytest.approx(ramp, abs=1e-8)
    assert right == pytest.approx(ramp, abs=1e-8)
    # The slope dt/du is 1/R on both sides: the rate reaches R at the end of the ramp.
    h = 1e-4
    assert (ramp - warp(area - h, rate, ramp)) / h == pytest.approx(1 / rate, rel=1e-3)
    assert (warp(area + h, rate, ramp) - ramp) / h == pytest.approx(1 / rate, rel=1e-9)


def test_warp_values() -> None:
    assert warp(0.0, 8.0, 3.0) == 0.0
    assert warp(3.0, 8.0, 3.0) == 1.5  # sqrt(2 * 3 * 3 / 8) = 1.5: a quarter of the area at T/2
    assert warp(20.0, 8.0, 3.0) == 4.0  # 3 + (20 - 12) / 8


# -- closed loop ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workers", "ramp", "expected"),
    [
        (5, 2.0, [0, 500_000_000, NS, 1_500_000_000, 2 * NS]),
        (3, 1.0, [0, 500_000_000, NS]),
        (4, 0.3, [0, 100_000_000, 200_000_000, 300_000_000]),
        (2, 7.0, [0, 7 * NS]),
        (1, 5.0, [0]),
        (4, 0.0, [0, 0, 0, 0]),
    ],
)
def test_closed_loop_starts(workers: int, ramp: float, expected: list[int]) -> None:
    assert closed_loop_starts(workers, ramp) == expected


def test_closed_loop_starts_are_linear() -> None:
    starts = closed_loop_starts(101, 10.0)
    assert (starts[0], starts[-1]) == (0, 10 * NS)
    assert set(gaps(starts)) == {100_000_000}
