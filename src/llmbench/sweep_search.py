"""Which load a capacity sweep runs next: a bracket-and-bisect search for the highest
load that passes, then evenly spread loads below it to draw the curve.

Pure: the steps measured so far (load and verdict) in, the next load out, so the whole
search runs in tests against a simulated server. The search is on a log scale (the
answer may be a tenth of the probe's estimate or twice it), and it is conservative
about noise: a pass above the lowest failing load does not move the answer up.
A ``client_limited`` step is neither a pass nor a fail: it only says the sweep cannot
measure at or above that load without more client processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FAILING",
    "VERDICTS",
    "Bracket",
    "Point",
    "SearchSpace",
    "bracket",
    "curve_loads",
    "next_search_load",
    "round_load",
]

Verdict = Literal["ok", "slo_failed", "overloaded", "client_limited"]
VERDICTS: tuple[Verdict, ...] = ("ok", "slo_failed", "overloaded", "client_limited")
FAILING = frozenset({"slo_failed", "overloaded"})


@dataclass(frozen=True, slots=True)
class Point:
    """A measured step: its load and what it showed."""

    load: float
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """Where the search may go. ``integer`` loads are concurrencies; ``growth`` is the
    factor of the first step up from a pass with no fail above it yet, or down from a
    fail with no pass below it; ``accelerate``: each further step that way moves by it
    once more (1.25, then 1.25², ...), else by the same factor each time;
    ``tolerance`` is the relative width (0.05: 5%) at which the bracket is narrow enough."""

    low: float
    high: float
    guess: float
    tolerance: float
    integer: bool = False
    growth: float = 1.25
    accelerate: bool = True


@dataclass(frozen=True, slots=True)
class Bracket:
    """The answer so far: ``passed`` the highest passing load below every fail
    (None: none yet), ``failed`` the lowest failing load (None: none yet) and
    ``ceiling`` the lowest client-limited load (None: the client kept up)."""

    passed: float | None
    failed: float | None
    ceiling: float | None

    @property
    def top(self) -> float | None:
        """The lowest load known not to pass (a fail or the client's limit)."""
        tops = [x for x in (self.failed, self.ceiling) if x is not None]
        return min(tops) if tops else None


def bracket(points: Sequence[Point]) -> Bracket:
    """Where the answer lies. A client-limited step matters only between the highest
    pass and the lowest fail: below a valid pass it says nothing about the server."""
    fails = [p.load for p in points if p.verdict in FAILING]
    failed = min(fails) if fails else None
    below = math.inf if failed is None else failed
    passes = [p.load for p in points if p.verdict == "ok" and p.load < below]
    passed = max(passes) if passes else None
    above = -math.inf if passed is None else passed
    limited = [p.load for p in points if p.verdict == "client_limited" and above < p.load < below]
    return Bracket(passed, failed, min(limited) if limited else None)


def round_load(load: float, integer: bool) -> float:
    """A load as the sweep runs it: a whole concurrency, or a rate to 3 significant
    digits (a step's name and its table row read 45.3, not 45.28731)."""
    if integer:
        return float(max(1, round(load)))
    if load <= 0:
        return load
    return float(f"{load:.3g}")


def _narrow(lo: float, hi: float, space: SearchSpace) -> bool:
    if space.integer and hi - lo <= 1:
        return True
    return hi <= lo * (1 + space.tolerance)


def next_search_load(points: Sequence[Point], space: SearchSpace) -> float | None:
    """The next load to measure, or None when the search is done: the bracket is
    within the tolerance, or it is pinned at ``low`` (nothing passes) or ``high``
    (everything passes up to the limit)."""
    b = bracket(points)
    top = b.top
    if b.passed is None and top is None:
        return _fresh(
            round_load(min(max(space.guess, space.low), space.high), space.integer), points
        )
    if b.passed is None:
        assert top is not None
        if top <= round_load(space.low, space.integer):
            return None  # even the lowest load fails
        downs = sum(1 for p in points if p.verdict != "ok")
        load = max(space.low, top / _factor(space, downs))
        return _fresh(round_load(load, space.integer), points)
    if top is None:
        if b.passed >= space.high:
            return None  # it passes as high as the sweep may go
        ups = sum(1 for p in points if p.verdict == "ok")
        load = min(space.high, b.passed * _factor(space, ups))
        return _fresh(round_load(load, space.integer), points)
    if _narrow(b.passed, top, space):
        return None
    mid = round_load(math.sqrt(b.passed * top), space.integer)
    if mid <= b.passed or mid >= top:  # rounding met an end: the next whole number
        mid = b.passed + 1 if space.integer else (b.passed + top) / 2
        if mid >= top:
            return None
    return _fresh(mid, points)


def _factor(space: SearchSpace, moves: int) -> float:
    return float(space.growth**moves if space.accelerate else space.growth)


def _fresh(load: float, points: Sequence[Point]) -> float | None:
    """``load``, unless it was measured already (rounding can land on a measured
    load): then the search cannot learn more there, and it is done."""
    return None if any(p.load == load for p in points) else load


def curve_loads(
    answer: float | None, points: Sequence[Point], total: int, space: SearchSpace
) -> list[float]:
    """Evenly spread loads below the answer, so ``total`` steps draw the curve: as
    many as are missing, at ``answer * i / (n + 1)``, skipping any within the
    tolerance of a step already measured."""
    missing = total - len(points)
    if answer is None or missing <= 0:
        return []
    measured = [p.load for p in points]
    out: list[float] = []
    for i in range(1, missing + 1):
        load = round_load(answer * i / (missing + 1), space.integer)
        if load < space.low * 0.999 and not space.integer:
            continue
        near = any(abs(load - m) <= space.tolerance * max(load, m) for m in measured + out)
        if load > 0 and not near:
            out.append(load)
    return out
