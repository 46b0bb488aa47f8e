"""What one scrape target gave over a run, in bounded memory, and the arithmetic that
turns it into time series: counters into per-second rates (a reset counts from zero,
as Prometheus' ``rate()`` does), two counters into a hit rate, a histogram's sum and
count into a mean per event, and min/mean/max over a window. Sans-IO: the scraper
(:mod:`llmbench.server_scraper`) hands in each scrape's instant and readings.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from llmbench.server_families import BY_NAME

__all__ = [
    "FAILURE_KINDS",
    "MAX_POINTS",
    "MAX_SERIES",
    "FailureKind",
    "Interval",
    "Reading",
    "SeriesKey",
    "SeriesKind",
    "TargetLog",
    "increments",
    "interval_rates",
    "mean_of",
    "printable",
    "resets",
    "window_stats",
]

# How a series' points are read (see server_series): a gauge as is, a counter as a
# per-second rate, a histogram's or summary's _sum over its _count as the mean per
# event over each interval (``--server-metric vllm:time_to_first_token_seconds``).
SeriesKind = Literal["gauge", "counter", "mean"]
# Why a scrape gave nothing: no answer within its time limit; no connection; the
# connection broke or the reply was not HTTP (bad chunking, bad gzip); a status other
# than 200; a body over the cap; an HTML page; not Prometheus text.
FailureKind = Literal[
    "timeout", "connect_error", "http_error", "http_status", "too_large", "html", "parse_error"
]
FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)
# Series kept per target: every known family on an 8-GPU node is well under this. Known
# families come first: a --server-metric pattern that matches thousands of label sets
# keeps the first ones that fit, and gives up its own to a known series that appears
# later (the series left out are counted, once each, in ``dropped_series``).
MAX_SERIES = 256
# Points kept per target: 100,000 scrapes is 27.8 hours at 1 s. Past it, every other
# point is dropped and from then on every other scrape is kept (and so on): memory and
# summary.json stay bounded, and counter rates stay exact over the longer intervals.
MAX_POINTS = 100_000
_FIRST_ERROR_CHARS = 300
# Distinct dropped series remembered per target, so that each is counted once: past
# this many, ``dropped_series`` stops growing (it is then "at least"), and a pattern
# matching an unbounded label space cannot grow memory through the memo.
_DROPPED_MEMO = 4_096

# (family, how it is read, sorted labels, part): one stored column.
SeriesKey = tuple[str, SeriesKind, tuple[tuple[str, str], ...], str]


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample kept: its family (a counter without ``_total``), how its series is
    read, its labels (sorted, capped), which part of a ``mean`` series it is
    (``sum`` or ``count``; ``value`` otherwise) and the value."""

    family: str
    kind: SeriesKind
    labels: tuple[tuple[str, str], ...]
    part: Literal["value", "sum", "count"]
    value: float


class TargetLog:
    """One target's scrapes: the instant of each kept scrape (ns on the run's common
    timeline) and, per series, its value at each (NaN where it was absent); counts of
    scrapes and of failures by kind, with the first failure's message (made printable:
    a scraped page must not reach the console's escape sequences)."""

    def __init__(self, url: str) -> None:
        self.url = url  # as shown: credentials already removed
        self.times_ns: array[int] = array("q")
        self.columns: dict[SeriesKey, array[float]] = {}
        self.scrapes = 0
        self.ok = 0
        self.failures: dict[str, int] = {}
        self.first_error: str | None = None
        self.dropped_series = 0  # distinct series left out (see MAX_SERIES, _DROPPED_MEMO)
        self._dropped: set[SeriesKey] = set()
        self.took_ns_total = 0
        self.took_ns_max = 0
        self._stride = 1  # keep every stride-th successful scrape (see MAX_POINTS)

    def record(self, t_ns: int, took_ns: int, readings: Sequence[Reading]) -> None:
        """A successful scrape that began at ``t_ns`` and took ``took_ns``."""
        self._count(took_ns)
        self.ok += 1
        if (self.ok - 1) % self._stride:
            return
        if len(self.times_ns) >= MAX_POINTS:
            self._halve()
        index = len(self.times_ns)
        self.times_ns.append(t_ns)
        for r in sorted(readings, key=_extra):  # known families first (stable: page order)
            key: SeriesKey = (r.family, r.kind, r.labels, r.part)
            column = self.columns.get(key)
            if column is None:
                if key in self._dropped:
                    continue
                if len(self.columns) >= MAX_SERIES and (_extra(r) or not self._evict_extra()):
                    self._drop(key)
                    continue
                column = self.columns[key] = array("d", [math.nan]) * index
            if len(column) == index:  # a repeated series in one page: its first value
                column.append(r.value if math.isfinite(r.value) else math.nan)
        for column in self.columns.values():
            if len(column) == index:
                column.append(math.nan)

    def fail(self, kind: FailureKind, message: str, took_ns: int) -> None:
        """A failed scrape: counted by kind; the first message is kept."""
        self._count(took_ns)
        self.failures[kind] = self.failures.get(kind, 0) + 1
        if self.first_error is None:
            self.first_error = printable(f"{kind}: {message}", _FIRST_ERROR_CHARS)

    def _evict_extra(self) -> bool:
        """Make room for a known family's series: the latest series kept that is not
        one (False when every series kept is)."""
        for key in reversed(self.columns):
            if key[0] not in BY_NAME:
                del self.columns[key]
                self._drop(key)
                return True
        return False

    def _drop(self, key: SeriesKey) -> None:
        if len(self._dropped) < _DROPPED_MEMO:
            self._dropped.add(key)
            self.dropped_series += 1

    def _count(self, took_ns: int) -> None:
        self.scrapes += 1
        self.took_ns_total += took_ns
        self.took_ns_max = max(self.took_ns_max, took_ns)

    def _halve(self) -> None:
        self.times_ns = self.times_ns[::2]
        self.columns = {key: column[::2] for key, column in self.columns.items()}
        self._stride *= 2


def _extra(reading: Reading) -> bool:
    """Not a family llmbench knows by name (only a --server-metric pattern asked)."""
    return reading.family not in BY_NAME


def printable(text: str, limit: int) -> str:
    """``text`` safe to print on a terminal, at most ``limit`` characters: every
    character that is not printable (ESC, BEL, NUL, CR, LF, bidi controls, ...) as a
    Python-style escape (``\\x1b``), a cut marked by an ellipsis."""
    pieces = [c if c.isprintable() else _escape(c) for c in text[: limit + 1]]
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    out: list[str] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "\u2026"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@dataclass(frozen=True, slots=True)
class Interval:
    """Between two consecutive scrapes of a series (seconds on the summary's time
    axis): how much its counter grew (``inc``) and, for a ratio, how much its
    denominator did (``base``: the seconds between them for a plain rate)."""

    start: float
    end: float
    inc: float
    base: float

    @property
    def rate(self) -> float | None:
        return self.inc / self.base if self.base > 0 else None


def increments(values: Sequence[float]) -> list[float | None]:
    """Each point's growth since the series' previous point (None for the first and
    where either is missing); a value below the previous one is a counter reset, so the
    growth is the value itself (Prometheus' ``rate()`` reads a reset the same way)."""
    out: list[float | None] = []
    prev = math.nan
    for v in values:
        if math.isnan(v):
            out.append(None)
            continue
        out.append(None if math.isnan(prev) else (v - prev if v >= prev else v))
        prev = v
    return out


def resets(values: Sequence[float]) -> int:
    """How many times a counter went back (see :func:`increments`). More than one in a
    run hints at a URL that reaches several replicas in turn."""
    count = 0
    prev = math.nan
    for v in values:
        if not math.isnan(v):
            count += v < prev
            prev = v
    return count


def interval_rates(
    t_s: Sequence[float], num: Sequence[float], den: Sequence[float] | None = None
) -> list[Interval | None]:
    """Aligned with ``t_s``: the interval that ends at each point, over which ``num``
    grew ``inc``; its ``base`` is the seconds since the previous point of ``num``, or
    with ``den``, how much ``den`` grew over the same interval (a hit rate: hits over
    queries; a mean: sum over count)."""
    inc_num = increments(num)
    inc_den = increments(den) if den is not None else None
    out: list[Interval | None] = []
    last = None  # the previous point where num had a value
    for i, inc in enumerate(inc_num):
        base = None if last is None else t_s[i] - t_s[last]
        if inc_den is not None:
            base = inc_den[i]
        if inc is None or base is None or last is None:
            out.append(None)
        else:
            out.append(Interval(t_s[last], t_s[i], inc, base))
        if not math.isnan(num[i]):
            last = i
    return out


def window_stats(
    points: Sequence[tuple[float, float]],
    intervals: Sequence[Interval] | None,
    lo: float,
    hi: float,
) -> dict[str, float | int] | None:
    """min/mean/max of a series over the window [lo, hi] (the measured phase): of the
    gauge ``points`` (time, value) inside it, or of the ``intervals`` wholly inside it,
    whose mean is time- (or denominator-) weighted: total growth over total base, the
    rate the window as a whole had. None when nothing falls inside."""
    if intervals is not None:
        inside = [i for i in intervals if i.start >= lo and i.end <= hi and i.base > 0]
        if not inside:
            return None
        rates = [i.inc / i.base for i in inside]
        mean = mean_of([i.inc for i in inside]) / mean_of([i.base for i in inside])
        return _stats(min(rates), mean, max(rates), len(inside))
    values = [v for t, v in points if lo <= t <= hi]
    if not values:
        return None
    return _stats(min(values), mean_of(values), max(values), len(values))


def mean_of(values: Sequence[float]) -> float:
    """The mean of finite ``values``, which is finite even where their sum is not
    (two gauges of 1.7e308): past an overflow, each value is divided first."""
    n = len(values)
    try:
        return math.fsum(values) / n
    except OverflowError:
        return math.fsum(v / n for v in values)


def _stats(low: float, mean: float, high: float, n: int) -> dict[str, float | int]:
    return {"min": _round(low), "mean": _round(mean), "max": _round(high), "points": n}


def _round(value: float) -> float:
    """Six significant digits: a gauge of 0.42 or a power of 312.5 W, not float noise."""
    return float(f"{value:.6g}")
