"""The Recorder: HDR histograms, counters, the error taxonomy, a per-second time
series and the workload breakdowns (per turn, prefix group and session:
:mod:`llmbench.breakdown_tally`), in memory that does not grow with the number of
requests.

Which histograms exist and where each value comes from is the metric table
(:mod:`llmbench.metric_defs`); this module does the counting.

Pure: results carry their own perf_counter_ns instants; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from llmbench.breakdown_tally import BreakdownTally
from llmbench.measured import (
    EXACT_BITS,
    HIGHEST_US,
    HISTOGRAMS,
    LOWEST_US,
    Buckets,
    ErrorCount,
    Measured,
    SecondCounts,
    bucket_median_ms,
    new_histogram,
)
from llmbench.metric_defs import HISTOGRAM_METRICS, PERCENTILES, STATS
from llmbench.result import RequestResult, SessionResult

__all__ = [
    "HISTOGRAMS",
    "LATE_START_MS",
    "LiveStats",
    "Recorder",
    "Second",
    "histogram_stats",
    "new_histogram",
]

# An open-loop request sent more than this after its intended time is a late start.
LATE_START_MS = 10
_LATE_START_NS = LATE_START_MS * 1_000_000
# The live view ticks on whole seconds from the origin; an event loop may wake a timer up
# to its clock resolution early, so an elapsed time this close below a whole second
# counts as that second (the live view would otherwise show the second before).
_EARLY_WAKE_S = 0.005
# Request metrics of successful requests, and those recorded for failures too.
_OK_VALUES = tuple((m.key, m.value) for m in HISTOGRAM_METRICS if m.value and not m.failures_too)
_ALL_VALUES = tuple((m.key, m.value) for m in HISTOGRAM_METRICS if m.value and m.failures_too)


def _us(ns: float) -> int:
    """Nanoseconds to whole microseconds, clamped into the histogram's range."""
    return min(max(int(ns // 1000), LOWEST_US), HIGHEST_US)


def _bucket_floor(us: int) -> int:
    """The lowest value of the histogram bucket that ``us`` falls in."""
    shift = us.bit_length() - EXACT_BITS
    return us if shift <= 0 else us >> shift << shift


def _bucket_floors(values_ns: Iterable[float]) -> list[int]:
    """`_bucket_floor(_us(v))` for many values, inlined: this runs once per token gap."""
    out = []
    for ns in values_ns:
        us = min(max(int(ns // 1000), LOWEST_US), HIGHEST_US)
        shift = us.bit_length() - EXACT_BITS
        out.append(us if shift <= 0 else us >> shift << shift)
    return out


class _Tallies:
    """Per histogram, a count per bucket; folded into the HdrHistograms when they are read.

    hdrh's ``record_value`` is ~5 µs of pure Python. A request's ~100 gap values cost
    ~0.5 ms when it ends, and at c=500 a wave of requests ends together: the burst
    delays the replies the loop should be stamping. A Counter of bucket floors counts at
    C speed, holds at most one key per bucket, and folds into the same histogram.
    """

    def __init__(self) -> None:
        self._hist: dict[str, HdrHistogram] = {name: new_histogram() for name in HISTOGRAMS}
        self.counts: dict[str, Counter[int]] = {name: Counter() for name in HISTOGRAMS}

    def add(self, name: str, ns: float) -> None:
        self.counts[name][_bucket_floor(_us(ns))] += 1

    def histograms(self) -> dict[str, HdrHistogram]:
        for name, counts in self.counts.items():
            if counts:
                hist = self._hist[name]
                for value, count in counts.items():
                    hist.record_value(value, count)
                counts.clear()
        return self._hist


def histogram_stats(hist: HdrHistogram) -> dict[str, float] | None:
    """count, then min/mean/stddev/percentiles/max in milliseconds; None for an empty
    histogram.

    One pass over the non-empty buckets: hdrh's per-percentile queries each walk
    every bucket through Python iterators, which costs ~100x more at the end of a run.
    Percentiles are the bucket's highest equivalent value, as HdrHistogram reports them;
    the standard deviation (population) is over bucket midpoints, as its get_stddev.
    """
    total = hist.get_total_count()
    if total == 0:
        return None
    # round() first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point
    targets = [(p, max(1, math.ceil(round(p * total / 100, 9)))) for p in PERCENTILES]
    found: dict[float, int] = {}
    seen = 0
    weighted = 0
    twice_sum = twice_squares = 0  # of 2 x midpoint: exact integers, no cancellation
    for index, count in enumerate(hist.counts):
        if not count:
            continue
        seen += count
        low = hist.get_value_from_index(index)
        twice_mid = low + hist.get_highest_equivalent_value(low) + 1
        weighted += count * twice_mid // 2
        twice_sum += count * twice_mid
        twice_squares += count * twice_mid * twice_mid
        while len(found) < len(targets) and seen >= targets[len(found)][1]:
            found[targets[len(found)][0]] = hist.get_highest_equivalent_value(
                hist.get_value_from_index(index)
            )
    out: dict[str, float] = {"count": total}
    out["min"] = hist.get_min_value() / 1000
    out["mean"] = round(weighted / total / 1000, 3)
    variance_x4 = (twice_squares * total - twice_sum * twice_sum) / (total * total)
    out["stddev"] = round(math.sqrt(max(variance_x4, 0.0)) / 2 / 1000, 3)
    for p, stat in zip(PERCENTILES, STATS[2:-1], strict=True):
        out[stat] = found[p] / 1000
    out["max"] = hist.get_max_value() / 1000
    return out


@dataclass(slots=True)
class Second:
    """One second of the run, for the live view and the report's time series.

    TTFT and TPOT are counted per histogram bucket (as the main histograms, at their
    precision): counts merge across shards where medians cannot, and a sealed second
    keeps one pair per bucket, not one value per request."""

    started: int = 0
    finished: int = 0
    ok: int = 0
    failed: int = 0
    output_tokens: int = 0
    in_flight_max: int = 0
    ttft: Counter[int] = field(default_factory=Counter)  # bucket floor (µs) -> count
    tpot: Counter[int] = field(default_factory=Counter)
    sealed: tuple[Buckets, Buckets] | None = None

    def seal(self) -> None:
        """No more samples: keep the counts as compact sorted pairs."""
        if self.sealed is None:
            self.sealed = (tuple(sorted(self.ttft.items())), tuple(sorted(self.tpot.items())))
            self.ttft, self.tpot = Counter(), Counter()

    def buckets(self) -> tuple[Buckets, Buckets]:
        if self.sealed is not None:
            return self.sealed
        return tuple(sorted(self.ttft.items())), tuple(sorted(self.tpot.items()))

    @property
    def ttft_p50_ms(self) -> float | None:
        return bucket_median_ms(self.buckets()[0])

    @property
    def tpot_p50_ms(self) -> float | None:
        return bucket_median_ms(self.buckets()[1])

    def add_samples(self, ttft_floor_us: int | None, tpot_floor_us: int | None) -> None:
        """A late result for a sealed second still counts, but its samples are dropped."""
        if self.sealed is not None:
            return
        if ttft_floor_us is not None:
            self.ttft[ttft_floor_us] += 1
        if tpot_floor_us is not None:
            self.tpot[tpot_floor_us] += 1

    def freeze(self) -> SecondCounts:
        ttft, tpot = self.buckets()
        return SecondCounts(
            self.started,
            self.finished,
            self.ok,
            self.failed,
            self.output_tokens,
            self.in_flight_max,
            ttft,
            tpot,
        )


@dataclass(frozen=True, slots=True)
class LiveStats:
    """A snapshot of live state (the statistics() pattern): safe to keep and print."""

    started: int
    finished: int
    ok: int
    failed: int
    in_flight: int
    output_tokens: int
    input_tokens: int
    last_ttft_p50_ms: float | None = None  # of the last full second
    last_tpot_p50_ms: float | None = None
    # Completions in the last full second (a rate per second as they stand); None until
    # a second has passed, or when statistics() was not told the elapsed time.
    last_second_ok: int | None = None
    last_second_output_tokens: int | None = None


class Recorder:
    """Counts measured requests (warm-up results are ignored); ``is_good`` is the
    per-request goodput test, when goodput SLOs are set."""

    def __init__(self, is_good: Callable[[RequestResult], bool] | None = None) -> None:
        self._is_good = is_good
        self.good = 0
        self._tallies = _Tallies()
        self.status_counts: dict[str, int] = {}
        self.errors: dict[tuple[str, int | None], list[Any]] = {}
        self.started = 0
        self.finished = 0
        self.ok = 0
        self.attempts = 0  # HTTP attempts of measured requests (--retries adds some)
        self.retried = 0  # measured requests that took more than one attempt
        self.output_tokens = 0
        self.input_tokens = 0
        self.token_sources: dict[str, int] = {}
        self.late_starts = 0
        self.first_t0_ns: int | None = None
        self.last_end_ns: int | None = None
        self.origin_ns: int | None = None
        self.seconds: list[Second] = []
        self._sealed = 0  # seconds before this index hold medians only
        self.sample_first_frame: str | None = None
        self.sample_last_frame: str | None = None
        self._breakdowns = BreakdownTally()  # per turn, prefix group, session (issue 16)

    @property
    def hist(self) -> dict[str, HdrHistogram]:
        """The histograms, up to date with every recorded request."""
        return self._tallies.histograms()

    def set_origin(self, t_ns: int) -> None:
        """The instant measured time starts; time-series seconds count from here."""
        self.origin_ns = t_ns

    def _second(self, t_ns: int) -> Second:
        origin = self.origin_ns if self.origin_ns is not None else t_ns
        index = max(0, (t_ns - origin) // 1_000_000_000)
        seconds = self.seconds
        if len(seconds) <= index:
            # Results arrive in end order, give or take a loop turn: keep the previous
            # second open for stragglers and seal everything before it.
            for sec in seconds[max(0, self._sealed) : max(0, index - 1)]:
                sec.seal()
            self._sealed = max(self._sealed, index - 1)
            # A new second begins with what was in flight as the last one ended: the
            # count only rises at a start, so a second without starts still has a peak.
            carried = self.started - self.finished
            while len(seconds) <= index:
                seconds.append(Second(in_flight_max=carried))
        return seconds[index]

    def on_start(self, t_ns: int) -> None:
        sec = self._second(t_ns)  # before counting it: a new row carries the count before
        self.started += 1
        if self.first_t0_ns is None:
            self.first_t0_ns = t_ns
        sec.started += 1
        sec.in_flight_max = max(sec.in_flight_max, self.started - self.finished)

    def record(self, r: RequestResult) -> None:
        if r.phase != "measure":
            return
        sec = self._second(r.end_ns)  # before counting it, as on_start
        self.finished += 1
        self.status_counts[r.status] = self.status_counts.get(r.status, 0) + 1
        self.attempts += r.attempts
        if r.attempts > 1:
            self.retried += 1
        self.last_end_ns = r.end_ns if self.last_end_ns is None else max(self.last_end_ns, r.end_ns)
        sec.finished += 1
        for key, value in _ALL_VALUES:
            ns = value(r)
            if ns is not None:
                self._tallies.add(key, ns)
        queue = r.queue_ns
        if queue is not None and queue > _LATE_START_NS:
            self.late_starts += 1
        if self._is_good is not None and self._is_good(r):
            self.good += 1
        if r.server_input_tokens is not None or r.turn is not None or r.prefix_group is not None:
            self._breakdowns.add(r)
        if r.ok:
            self._record_ok(r, sec)
        else:
            sec.failed += 1
            self._record_error(r)

    def record_session(self, result: SessionResult) -> None:
        """A multi-turn session as it ended (its requests are recorded one by one); only
        measured sessions (the phase of their first turn) count."""
        if result.phase == "measure":
            self._breakdowns.add_session(result)

    def _record_ok(self, r: RequestResult, sec: Second) -> None:
        self.ok += 1
        sec.ok += 1
        tally = self._tallies
        tokens = r.output_tokens or 0
        self.output_tokens += tokens
        sec.output_tokens += tokens
        self.input_tokens += r.input_tokens or 0
        self.token_sources[r.token_source] = self.token_sources.get(r.token_source, 0) + 1
        counts = tally.counts
        floor_of: dict[str, int] = {}
        for key, value in _OK_VALUES:
            ns = value(r)
            if ns is not None:
                floor = floor_of[key] = _bucket_floor(_us(ns))
                counts[key][floor] += 1
        sec.add_samples(floor_of.get("ttft_ms"), floor_of.get("tpot_ms"))
        chunk_gaps = _bucket_floors(r.icl_ns)
        counts["icl_ms"].update(chunk_gaps)
        if r.chunk_tokens is None:  # one token per chunk: ITL is the chunk gap
            counts["itl_ms"].update(chunk_gaps)
        else:
            itl = counts["itl_ms"]
            for gap_ns, count in r.itl_ns:
                itl[_bucket_floor(_us(gap_ns))] += count
        if self.sample_first_frame is None:
            self.sample_first_frame = r.first_frame
            self.sample_last_frame = r.last_frame

    def _record_error(self, r: RequestResult) -> None:
        kind = f"{r.status}:{r.detail}" if r.detail else r.status
        key = (kind, r.http_status)
        entry = self.errors.get(key)
        if entry is None:
            self.errors[key] = [1, r.error]
        else:
            entry[0] += 1

    def statistics(self, elapsed_s: float | None = None) -> LiveStats:
        """A snapshot. ``elapsed_s`` (seconds since the origin) picks the last full second
        exactly; without it, the row before the newest one stands in for it."""
        seconds = self.seconds
        last: Second | None
        full: Second | None = None
        if elapsed_s is not None:
            index = int(elapsed_s + _EARLY_WAKE_S) - 1
            if index >= 0:
                full = seconds[index] if index < len(seconds) else Second()
            last = full
        else:
            last = seconds[-2] if len(seconds) >= 2 else (seconds[-1] if seconds else None)
        return LiveStats(
            last_ttft_p50_ms=None if last is None else last.ttft_p50_ms,
            last_tpot_p50_ms=None if last is None else last.tpot_p50_ms,
            last_second_ok=None if full is None else full.ok,
            last_second_output_tokens=None if full is None else full.output_tokens,
            started=self.started,
            finished=self.finished,
            ok=self.ok,
            failed=self.finished - self.ok,
            in_flight=self.started - self.finished,
            output_tokens=self.output_tokens,
            input_tokens=self.input_tokens,
        )

    def freeze(self, timeline_ns: int = 0) -> Measured:
        """What was measured, as a frozen value; ``timeline_ns`` is added to every
        instant (the process's wall clock minus its perf counter: instants on the
        common timeline, ns since the Unix epoch)."""

        def moved(t: int | None) -> int | None:
            return None if t is None else t + timeline_ns

        errors = tuple(
            ErrorCount(kind, code, entry[0], entry[1])
            for (kind, code), entry in sorted(self.errors.items(), key=lambda kv: -kv[1][0])
        )
        hist = self.hist
        return Measured(
            histograms={
                key: h.encode().decode("ascii") for key, h in hist.items() if h.get_total_count()
            },
            started=self.started,
            finished=self.finished,
            ok=self.ok,
            attempts=self.attempts,
            retried=self.retried,
            output_tokens=self.output_tokens,
            input_tokens=self.input_tokens,
            late_starts=self.late_starts,
            good=self.good,
            status_counts=dict(sorted(self.status_counts.items())),
            token_sources=dict(sorted(self.token_sources.items())),
            errors=errors,
            first_t0_ns=moved(self.first_t0_ns),
            last_end_ns=moved(self.last_end_ns),
            origin_ns=moved(self.origin_ns),
            seconds=tuple(sec.freeze() for sec in self.seconds),
            sample_first_frame=self.sample_first_frame,
            sample_last_frame=self.sample_last_frame,
            breakdowns=self._breakdowns.freeze(),
        )
