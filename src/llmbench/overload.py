"""When a sweep step is hopeless: the rules that end it early as ``overloaded``.

A capacity sweep runs steps past the server's knee on purpose; running each of them for
its full length only burns time on a load whose verdict is already certain. Once a second
the step's live figures go through :meth:`OverloadWatch.observe`, which names the first
rule that holds:

- **Client-side backlog** (open loop): every one of the ``--concurrency`` slots was busy
  at the last :data:`STUCK_SECONDS` ticks, so due requests wait unsent.
- **Server-side backlog** (open loop): TTFT's median rose in each of the last
  :data:`RISE_SECONDS` seconds to at least :data:`RISE_FACTOR` times where it started
  (and :data:`RISE_MIN_MS` more), while the requests in flight grew: a queue growing
  without bound, which is what an arrival rate above capacity makes.
- **An SLO failed by a margin** (both loops): after :data:`MIN_REQUESTS` measured
  requests and :data:`MIN_ELAPSED_S`, a latency ``--slo`` (``<=``/``<`` on a
  percentile, mean or max) already reads :data:`SLO_MARGIN` times its bound.

Pure: figures in, a reason out; the live histograms are read by the caller.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmbench.slo import METRICS, SloCheck

__all__ = [
    "MIN_ELAPSED_S",
    "MIN_REQUESTS",
    "RISE_FACTOR",
    "RISE_MIN_MS",
    "RISE_SECONDS",
    "SLO_MARGIN",
    "STUCK_SECONDS",
    "OverloadWatch",
    "Tick",
    "watched_checks",
]

STUCK_SECONDS = 3
RISE_SECONDS = 4
RISE_FACTOR = 2.0
RISE_MIN_MS = 50.0
SLO_MARGIN = 2.0
MIN_REQUESTS = 50
MIN_ELAPSED_S = 3.0
# The first seconds of a step hold its start-up (connections opening, a closed loop's
# first wave): a rise that begins there is not a backlog.
_SETTLE_S = 2.0


@dataclass(frozen=True, slots=True)
class Tick:
    """One second of a measured phase, as the live view sees it."""

    elapsed_s: float
    in_flight: int
    finished: int  # measured requests finished so far
    ttft_p50_ms: float | None  # of the last full second; None: no success in it


# A live figure: (histogram key, stat) -> its value in ms so far, None when empty.
Reader = Callable[[str, str], float | None]


def watched_checks(checks: Sequence[SloCheck]) -> list[SloCheck]:
    """The ``--slo`` checks an early stop may judge: upper bounds on a latency figure.
    A rate or a lower bound can still be met later in the step; a growing latency
    percentile over enough requests cannot come back under half its bound."""
    out = []
    for check in checks:
        metric = METRICS[check.metric]
        if check.op in ("<=", "<") and metric.kind == "ms" and len(metric.path) == 2:
            out.append(check)
    return out


class OverloadWatch:
    """Fed one :class:`Tick` a second; :meth:`observe` returns why the step is
    overloaded (one line), or None while it is not. ``cap`` is the concurrency cap of
    an open-loop step (None in closed loop: the backlog rules do not apply)."""

    def __init__(self, checks: Sequence[SloCheck], cap: int | None) -> None:
        self._checks = watched_checks(checks)
        self._cap = cap
        self._stuck = 0
        self._recent: deque[Tick] = deque(maxlen=RISE_SECONDS + 1)

    def observe(self, tick: Tick, read: Reader) -> str | None:
        if self._cap is not None:
            reason = self._backlog(tick)
            if reason:
                return reason
        return self._slo_margin(tick, read)

    def _backlog(self, tick: Tick) -> str | None:
        assert self._cap is not None
        self._stuck = self._stuck + 1 if tick.in_flight >= self._cap else 0
        if self._stuck >= STUCK_SECONDS:
            return (
                f"all {self._cap} request slots busy for {self._stuck} s: "
                "due requests wait unsent (the backlog grows)"
            )
        if tick.elapsed_s < _SETTLE_S or tick.ttft_p50_ms is None:
            self._recent.clear()  # a second without a success breaks the trend
            return None
        self._recent.append(tick)
        if len(self._recent) <= RISE_SECONDS:
            return None
        ttfts = [t.ttft_p50_ms or 0.0 for t in self._recent]
        rising = all(b > a for a, b in itertools.pairwise(ttfts))
        first, last = ttfts[0], ttfts[-1]
        grown = last >= RISE_FACTOR * first and last - first >= RISE_MIN_MS
        queue_grew = self._recent[-1].in_flight > self._recent[0].in_flight
        if rising and grown and queue_grew:
            return (
                f"TTFT p50 rose every second for {RISE_SECONDS} s, {first:,.0f} -> "
                f"{last:,.0f} ms, with requests in flight {self._recent[0].in_flight} -> "
                f"{self._recent[-1].in_flight}: a queue growing without bound"
            )
        return None

    def _slo_margin(self, tick: Tick, read: Reader) -> str | None:
        if tick.finished < MIN_REQUESTS or tick.elapsed_s < MIN_ELAPSED_S:
            return None
        for check in self._checks:
            key, stat = METRICS[check.metric].path
            value = read(key, stat)
            if value is not None and check.threshold > 0 and value >= SLO_MARGIN * check.threshold:
                return (
                    f"{check.metric} already {value:,.0f} ms after {tick.finished} requests, "
                    f"{value / check.threshold:.1f}x the bound of {check.expr}"
                )
        return None
