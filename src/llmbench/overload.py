"""When a sweep step is hopeless: the rules that end it early as ``overloaded``.

A capacity sweep runs steps past the server's knee on purpose; running each of them for
its full length only burns time on a load whose verdict is already certain. Once a second
the step's live figures go through :meth:`OverloadWatch.observe`, which names the first
rule that holds:

- **Every request slot busy** (open loop): all ``--concurrency`` slots were busy at the
  last :data:`STUCK_SECONDS` ticks, so due requests wait unsent. Whose limit that is
  depends on TTFT: risen to :data:`RISE_FACTOR` times its lowest (and
  :data:`RISE_MIN_MS` more), the server is queueing (``overloaded``); flat, the cap is
  what limits the load (``client_limited``: raise --concurrency).
- **Server-side backlog** (open loop): TTFT's median rose in each of the last
  :data:`RISE_SECONDS` seconds to at least :data:`RISE_FACTOR` times where it started
  (and :data:`RISE_MIN_MS` more), while the requests in flight grew: a queue growing
  without bound, which is what an arrival rate above capacity makes.
- **An SLO failed by a margin** (both loops): after :data:`MIN_ELAPSED_S` and enough
  measured requests (:data:`MIN_REQUESTS`, and for a percentile q at least
  10 / (1 − q) of them, so that ten requests lie beyond it: a p99 needs 1,000; below
  that one slow request is the whole tail), a latency ``--slo`` (``<=``/``<`` on a
  percentile, mean or max) already reads :data:`SLO_MARGIN` times its bound.

Pure: figures in, a reason out; the live histograms are read by the caller.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

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
    "Stop",
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


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a step ends early: the server could not keep up (``overloaded``), or the
    client's own --concurrency cap limited the load (``client_limited``)."""

    kind: Literal["overloaded", "client_limited"]
    reason: str


def _enough(stat: str, finished: int) -> bool:
    """Whether ``finished`` requests can show the percentile ``stat`` (``p99_9``...):
    ten of them beyond it; a mean or a max needs only :data:`MIN_REQUESTS`."""
    if finished < MIN_REQUESTS:
        return False
    if not stat.startswith("p"):
        return True
    share_beyond = 1 - float(stat[1:].replace("_", ".")) / 100
    return share_beyond > 0 and finished >= math.ceil(10 / share_beyond - 1e-9)


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
        self._lowest_ttft: float | None = None
        self._last_ttft: float | None = None
        self._recent: deque[Tick] = deque(maxlen=RISE_SECONDS + 1)

    def observe(self, tick: Tick, read: Reader) -> Stop | None:
        if tick.ttft_p50_ms is not None:
            self._last_ttft = tick.ttft_p50_ms
            low = self._lowest_ttft
            self._lowest_ttft = tick.ttft_p50_ms if low is None else min(low, tick.ttft_p50_ms)
        if self._cap is not None:
            stop = self._full(tick) or self._backlog(tick)
            if stop:
                return stop
        reason = self._slo_margin(tick, read)
        return Stop("overloaded", reason) if reason else None

    def _full(self, tick: Tick) -> Stop | None:
        """Every slot busy for a while: the server's queue if TTFT rose with it, the
        client's cap if it did not."""
        assert self._cap is not None
        self._stuck = self._stuck + 1 if tick.in_flight >= self._cap else 0
        if self._stuck < STUCK_SECONDS:
            return None
        busy = f"all {self._cap} request slots busy for {self._stuck} s"
        low, last = self._lowest_ttft, self._last_ttft
        if low is None or last is None:
            return Stop("overloaded", f"{busy} and no request succeeded: the server is stuck")
        if last >= RISE_FACTOR * low and last - low >= RISE_MIN_MS:
            return Stop(
                "overloaded",
                f"{busy} while TTFT p50 rose from {low:,.0f} to {last:,.0f} ms: the server queues",
            )
        return Stop(
            "client_limited",
            f"{busy} while TTFT p50 stayed near {last:,.0f} ms: the --concurrency cap, not "
            "the server, limits this load (raise --concurrency)",
        )

    def _backlog(self, tick: Tick) -> Stop | None:
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
            return Stop(
                "overloaded",
                f"TTFT p50 rose every second for {RISE_SECONDS} s, {first:,.0f} -> "
                f"{last:,.0f} ms, with requests in flight {self._recent[0].in_flight} -> "
                f"{self._recent[-1].in_flight}: a queue growing without bound",
            )
        return None

    def _slo_margin(self, tick: Tick, read: Reader) -> str | None:
        if tick.finished < MIN_REQUESTS or tick.elapsed_s < MIN_ELAPSED_S:
            return None
        for check in self._checks:
            key, stat = METRICS[check.metric].path
            if not _enough(stat, tick.finished):
                continue
            value = read(key, stat)
            if value is not None and check.threshold > 0 and value >= SLO_MARGIN * check.threshold:
                return (
                    f"{check.metric} already {value:,.0f} ms after {tick.finished} requests, "
                    f"{value / check.threshold:.1f}x the bound of {check.expr}"
                )
        return None
