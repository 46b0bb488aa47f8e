"""Arrival processes as pure generators of intended send offsets (nanoseconds).

Every open-loop schedule is built in two steps: a unit-rate sequence in
"operational time" (evenly spaced, Poisson or gamma gaps, with an optional burst
at the start), then a time warp by the inverse of the cumulative target rate,
which is how a linear ramp-up from 0 to R is applied to any arrival process.
No clocks here: the runner adds these offsets to the instant the phase started.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

__all__ = ["arrival_offsets", "closed_loop_starts", "unit_arrivals", "warp"]

_NS = 1_000_000_000


def unit_arrivals(
    arrival: str, *, burst: int = 1, burstiness: float = 1.0, seed: int = 0
) -> Iterator[float]:
    """Arrival instants of a rate-1 process.

    ``constant`` is a token bucket of capacity ``burst`` refilled at rate 1: the
    first ``burst`` requests go at once, then one per unit. ``poisson`` has
    exponential gaps; ``gamma`` has gamma gaps of shape ``burstiness`` (1 is
    Poisson, smaller is burstier: the gaps' coefficient of variation is
    1/sqrt(burstiness)).
    """
    if arrival == "constant":
        k = 0
        while True:
            yield float(max(0, k - burst + 1))
            k += 1
    rng = random.Random(seed)
    t = 0.0
    shape = 1.0 if arrival == "poisson" else burstiness
    if arrival not in ("poisson", "gamma"):
        raise ValueError(f"unknown arrival process {arrival!r}")
    while True:
        yield t
        t += rng.gammavariate(shape, 1.0 / shape)


def warp(u: float, rate: float, ramp_s: float) -> float:
    """Seconds at which cumulative arrivals reach ``u`` when the rate rises
    linearly from 0 to ``rate`` over ``ramp_s`` seconds, then stays there."""
    if ramp_s <= 0:
        return u / rate
    ramp_area = rate * ramp_s / 2
    if u < ramp_area:
        return math.sqrt(2 * ramp_s * u / rate)
    return ramp_s + (u - ramp_area) / rate


def arrival_offsets(
    rate: float,
    arrival: str = "constant",
    *,
    burst: int = 1,
    burstiness: float = 1.0,
    ramp_s: float = 0.0,
    seed: int = 0,
) -> Iterator[int]:
    """Intended send offsets in ns from the phase's start, for ``rate`` requests/s."""
    for u in unit_arrivals(arrival, burst=burst, burstiness=burstiness, seed=seed):
        yield round(warp(u, rate, ramp_s) * _NS)


def closed_loop_starts(workers: int, ramp_s: float) -> list[int]:
    """When each closed-loop worker starts (ns): concurrency rises linearly from
    1 to ``workers`` over ``ramp_s`` seconds."""
    if ramp_s <= 0 or workers == 1:
        return [0] * workers
    step = ramp_s / (workers - 1)
    return [round(i * step * _NS) for i in range(workers)]
