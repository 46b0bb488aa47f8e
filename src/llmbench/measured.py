"""What a run, or one shard of it, measured: a frozen, picklable value that shards merge
into one and that summary.json is built from.

The seam between measuring and reporting (issue 14). A :class:`~llmbench.metrics.Recorder`
counts while the run goes and :meth:`~llmbench.metrics.Recorder.freeze` turns it into a
:class:`Measured`; :func:`merge` adds several exactly (histograms bucket by bucket, counts,
errors, per-second rows, the workload breakdowns of :mod:`llmbench.breakdowns`);
:func:`~llmbench.output.summary.build_summary` reads one. A single-process run goes the
same way with one value.

Instants are on a common timeline, nanoseconds since the Unix epoch, so shards in other
processes (or on other machines, to the accuracy of their clocks) line up. Per-second rows
count from each value's own ``origin_ns``; a merge aligns them on the earliest origin, to
the nearest second. Their TTFT/TPOT are histogram bucket counts (not medians, which cannot
be merged), at the main histograms' precision.

Pure: no clocks, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hdrh.histogram import HdrHistogram

from llmbench.breakdowns import Breakdowns, merge_breakdowns
from llmbench.metric_defs import HISTOGRAM_METRICS

__all__ = [
    "COUNT_FIELDS",
    "DIGITS",
    "EXACT_BITS",
    "HIGHEST_US",
    "HISTOGRAMS",
    "LOWEST_US",
    "SECOND_FIELDS",
    "Buckets",
    "ErrorCount",
    "Measured",
    "SecondCounts",
    "bucket_median_ms",
    "merge",
    "new_histogram",
]

HISTOGRAMS = tuple(m.key for m in HISTOGRAM_METRICS)
# Histograms hold microseconds from 1 µs to 1 hour at 3 significant digits:
# 0.1% resolution at every scale, ~25k counters (~200 KB) per histogram.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
DIGITS = 3
# (bucket floor in µs, count), ascending by floor: a per-second distribution.
Buckets = tuple[tuple[int, int], ...]
_NS = 1_000_000_000
# What from_json accepts: a shard's own file, not a memory bomb.


def new_histogram() -> HdrHistogram:
    """A microsecond histogram with the range and precision every llmbench figure uses."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


# Values below 2**EXACT_BITS µs have a bucket each; above, a bucket spans 2**(bits - 11).
EXACT_BITS: int = int(new_histogram().sub_bucket_count).bit_length() - 1


def _bucket_mid(floor: int) -> float:
    """The middle of the histogram bucket whose lowest value is ``floor`` (µs):
    buckets below 2048 µs are 1 µs wide, wider ones hold 0.1% of their value."""
    width = 1 << max(0, floor.bit_length() - EXACT_BITS)
    return floor + (width - 1) / 2


def bucket_median_ms(buckets: Buckets) -> float | None:
    """The median (as ``statistics.median``: the mean of the two middle values for an
    even count) of bucketed µs values, in ms to 3 decimals; None when empty."""
    total = sum(count for _, count in buckets)
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # 0-based ranks of the middle value(s)
    found: list[float] = []
    seen = 0
    for floor, count in buckets:
        seen += count
        while wanted and wanted[0] < seen:
            found.append(_bucket_mid(floor))
            wanted.pop(0)
        if not wanted:
            break
    median_us: float = (found[0] + found[1]) / 2
    return round(median_us / 1000, 3)


def _add_buckets(parts: Iterable[Buckets]) -> Buckets:
    total: Counter[int] = Counter()
    for part in parts:
        for floor, count in part:
            total[floor] += count
    return tuple(sorted(total.items()))


@dataclass(frozen=True, slots=True)
class SecondCounts:
    """One second of measured time: what started, finished and streamed in it, the most
    requests in flight (a merge adds the shards' peaks: an upper bound of the whole
    run's), and the TTFT and TPOT of the requests that ended in it."""

    started: int = 0
    finished: int = 0
    ok: int = 0
    failed: int = 0
    output_tokens: int = 0
    in_flight_max: int = 0
    ttft_us: Buckets = ()
    tpot_us: Buckets = ()

    @property
    def ttft_p50_ms(self) -> float | None:
        return bucket_median_ms(self.ttft_us)

    @property
    def tpot_p50_ms(self) -> float | None:
        return bucket_median_ms(self.tpot_us)

    def __add__(self, other: SecondCounts) -> SecondCounts:
        return SecondCounts(
            self.started + other.started,
            self.finished + other.finished,
            self.ok + other.ok,
            self.failed + other.failed,
            self.output_tokens + other.output_tokens,
            self.in_flight_max + other.in_flight_max,
            _add_buckets((self.ttft_us, other.ttft_us)),
            _add_buckets((self.tpot_us, other.tpot_us)),
        )


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """Failed requests of one kind (``status`` or ``status:detail``) and HTTP status,
    with the first one's error message as the example."""

    kind: str
    http_status: int | None
    count: int
    example: str | None


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything the summary's figures come from. ``histograms`` holds the non-empty
    ones in HdrHistogram's compressed base64 encoding (µs), keyed as the metric table;
    instants are ns since the Unix epoch (None before anything was measured)."""

    histograms: Mapping[str, str] = field(default_factory=dict)
    started: int = 0
    finished: int = 0
    ok: int = 0
    attempts: int = 0
    retried: int = 0
    output_tokens: int = 0
    input_tokens: int = 0
    late_starts: int = 0
    good: int = 0
    status_counts: Mapping[str, int] = field(default_factory=dict)
    token_sources: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[ErrorCount, ...] = ()
    first_t0_ns: int | None = None
    last_end_ns: int | None = None
    origin_ns: int | None = None
    seconds: tuple[SecondCounts, ...] = ()
    sample_first_frame: str | None = None
    sample_last_frame: str | None = None
    # Per turn, per prefix group, sessions, the server's prompt counts (issue 16).
    breakdowns: Breakdowns = field(default_factory=Breakdowns)

    @property
    def wall_ns(self) -> int:
        """Measured wall time: first measured send to last measured completion."""
        if self.first_t0_ns is None or self.last_end_ns is None:
            return 0
        return max(0, self.last_end_ns - self.first_t0_ns)

    def hdr(self) -> dict[str, HdrHistogram]:
        """Every histogram of the metric table, decoded (empty where nothing was recorded)."""
        out = {}
        for key in HISTOGRAMS:
            hist = new_histogram()
            encoded = self.histograms.get(key)
            if encoded:
                hist.add(HdrHistogram.decode(encoded))
            out[key] = hist
        return out

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON form for a shard's summary.json (``partial``); :meth:`from_json`
        reads it back exactly. ``breakdowns`` is there only when it holds something."""
        out = {
            "histograms": dict(self.histograms),
            "counts": {name: getattr(self, name) for name in COUNT_FIELDS},
            "status_counts": dict(self.status_counts),
            "token_sources": dict(self.token_sources),
            "errors": [[e.kind, e.http_status, e.count, e.example] for e in self.errors],
            "first_t0_ns": self.first_t0_ns,
            "last_end_ns": self.last_end_ns,
            "origin_ns": self.origin_ns,
            "seconds": [
                [
                    *(getattr(sec, name) for name in SECOND_FIELDS),
                    [list(pair) for pair in sec.ttft_us],
                    [list(pair) for pair in sec.tpot_us],
                ]
                for sec in self.seconds
            ],
            "samples": [self.sample_first_frame, self.sample_last_frame],
        }
        if not self.breakdowns.empty:
            out["breakdowns"] = self.breakdowns.to_json()
        return out

    @staticmethod
    def from_json(obj: Any) -> Measured:
        """The value :meth:`to_json` wrote; ValueError saying what is wrong with anything
        else (a shard file is input: it may be damaged or hand-made)."""
        from llmbench.measured_json import measured_from_json  # it builds on this module

        return measured_from_json(obj)


COUNT_FIELDS = (
    "started",
    "finished",
    "ok",
    "attempts",
    "retried",
    "output_tokens",
    "input_tokens",
    "late_starts",
    "good",
)
SECOND_FIELDS = ("started", "finished", "ok", "failed", "output_tokens", "in_flight_max")


def merge(values: Sequence[Measured]) -> Measured:
    """One value for several shards, exact: histograms added bucket by bucket, counts
    and errors summed, instants the earliest and latest, per-second rows aligned on the
    earliest origin (to the nearest second) and added."""
    if not values:
        return Measured()
    if len(values) == 1:
        return values[0]
    hists = {}
    for key in HISTOGRAMS:
        encoded = [v.histograms[key] for v in values if v.histograms.get(key)]
        if encoded:
            total = HdrHistogram.decode(encoded[0])
            for more in encoded[1:]:
                total.add(HdrHistogram.decode(more))
            hists[key] = total.encode().decode("ascii")
    origins = [v.origin_ns for v in values if v.origin_ns is not None]
    origin = min(origins) if origins else None
    return Measured(
        histograms=hists,
        **{name: sum(getattr(v, name) for v in values) for name in COUNT_FIELDS},
        status_counts=_sum_maps(v.status_counts for v in values),
        token_sources=_sum_maps(v.token_sources for v in values),
        errors=_merge_errors(values),
        first_t0_ns=_extreme(min, (v.first_t0_ns for v in values)),
        last_end_ns=_extreme(max, (v.last_end_ns for v in values)),
        origin_ns=origin,
        seconds=_merge_seconds(values, origin),
        sample_first_frame=next(
            (v.sample_first_frame for v in values if v.sample_first_frame), None
        ),
        sample_last_frame=next((v.sample_last_frame for v in values if v.sample_last_frame), None),
        breakdowns=merge_breakdowns(v.breakdowns for v in values),
    )


def _sum_maps(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for m in maps:
        total.update(m)
    return dict(sorted(total.items()))


def _extreme(pick: Callable[[list[int]], int], instants: Iterable[int | None]) -> int | None:
    known = [t for t in instants if t is not None]
    return pick(known) if known else None


def _merge_errors(values: Sequence[Measured]) -> tuple[ErrorCount, ...]:
    merged: dict[tuple[str, int | None], ErrorCount] = {}
    for value in values:
        for e in value.errors:
            key = (e.kind, e.http_status)
            have = merged.get(key)
            merged[key] = e if have is None else replace(have, count=have.count + e.count)
    return tuple(merged.values())


def _merge_seconds(values: Sequence[Measured], origin: int | None) -> tuple[SecondCounts, ...]:
    rows: list[SecondCounts] = []
    for value in values:
        shift = 0
        if origin is not None and value.origin_ns is not None:
            shift = round((value.origin_ns - origin) / _NS)
        for t, sec in enumerate(value.seconds):
            at = t + shift
            while len(rows) <= at:
                rows.append(SecondCounts())
            rows[at] = rows[at] + sec
    return tuple(rows)
