"""A :class:`~llmbench.measured.Measured` read back from a shard's summary.json: input
that may be damaged or hand-made, so every field is checked for its type and bounded in
size (a histogram's header before hdrh allocates anything, its zlib payload before it is
inflated). Anything wrong is one ValueError saying where. Pure: no I/O.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping
from typing import Any, TypeVar, get_args

from hdrh.histogram import HdrHistogram

from llmbench.breakdowns import (
    GROUPS_KEPT,
    TURNS_KEPT,
    Breakdowns,
    Dist,
    GroupFigures,
    SessionFigures,
    SizeDist,
    TimeDist,
    TurnFigures,
    bucket_floor,
)
from llmbench.measured import (
    COUNT_FIELDS,
    DIGITS,
    HIGHEST_US,
    HISTOGRAMS,
    LOWEST_US,
    SECOND_FIELDS,
    Buckets,
    ErrorCount,
    Measured,
    SecondCounts,
    new_histogram,
)
from llmbench.result import SessionEnd

__all__ = ["breakdowns_from_json", "measured_from_json"]

_MAX_SECONDS = 1_000_000  # eleven days of one-second rows
_NS = 1_000_000_000
_MAX_GAP_NS = 86_400 * _NS
_MAX_BUCKETS = 100_000
_MAX_ENCODED = 16 * 1024 * 1024
# A full histogram's counts as varints: ~25k counters of at most 9 bytes, plus a header.
_MAX_DECODED = 1024 * 1024


def measured_from_json(obj: Any) -> Measured:
    """The value :meth:`Measured.to_json` wrote; ValueError saying what is wrong with anything
    else (a shard file is input: it may be damaged or hand-made)."""
    d = _mapping(obj, "partial")
    hist = _mapping(d.get("histograms"), "partial.histograms")
    for key, encoded in hist.items():
        if key not in HISTOGRAMS:
            raise ValueError(f"partial.histograms: unknown metric {key!r}")
        _check_encoding(encoded, f"partial.histograms.{key}")
    counts = _mapping(d.get("counts"), "partial.counts")
    samples = d.get("samples")
    if not isinstance(samples, list) or len(samples) != 2:
        raise ValueError("partial.samples: expected [first, last]")
    first = _instant(d.get("first_t0_ns"), "partial.first_t0_ns")
    last = _instant(d.get("last_end_ns"), "partial.last_end_ns")
    origin = _instant(d.get("origin_ns"), "partial.origin_ns")
    _check_instants(first, last, origin)
    return Measured(
        histograms=dict(hist),
        **{name: _count(counts.get(name), f"partial.counts.{name}") for name in COUNT_FIELDS},
        status_counts=_int_map(d.get("status_counts"), "partial.status_counts"),
        token_sources=_int_map(d.get("token_sources"), "partial.token_sources"),
        errors=tuple(_error(e) for e in _list(d.get("errors"), "partial.errors")),
        first_t0_ns=first,
        last_end_ns=last,
        origin_ns=origin,
        seconds=tuple(_second(s) for s in _seconds(d.get("seconds"))),
        sample_first_frame=_text(samples[0], "partial.samples"),
        sample_last_frame=_text(samples[1], "partial.samples"),
        breakdowns=breakdowns_from_json(d.get("breakdowns")),
    )


def _check_instants(first: int | None, last: int | None, origin: int | None) -> None:
    """The measured window as a run has it: the last end after the first send, the
    first send near the measured start, the window no longer than the rows allow (a
    hand-edited 0 would make the wall time 56 years and the throughput 0)."""
    if first is not None and last is not None:
        if last < first:
            raise ValueError("partial: last_end_ns is before first_t0_ns")
        if last - first > _MAX_SECONDS * _NS:
            raise ValueError("partial: the measured window is longer than any run's")
    if first is not None and origin is not None and abs(first - origin) > _MAX_GAP_NS:
        raise ValueError("partial: first_t0_ns is a day away from origin_ns")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"{where}: expected a count, got {value!r:.40}")
    return value


def _instant(value: Any, where: str) -> int | None:
    return None if value is None else _count(value, where)


def _http_status(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value <= 999):  # fmt: skip
        raise ValueError(
            f"partial.errors[].http_status: expected an HTTP status, got {value!r:.20}"
        )
    return value


def _text(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: expected text")
    return value


def _int_map(value: Any, where: str) -> dict[str, int]:
    return {str(k): _count(v, f"{where}.{k}") for k, v in _mapping(value, where).items()}


def _check_encoding(encoded: Any, where: str) -> None:
    """ValueError unless ``encoded`` is a histogram of llmbench's range and precision
    that decodes within bounded memory: its zlib payload is inflated at most
    _MAX_DECODED bytes, and its header must match :func:`new_histogram` before hdrh
    allocates anything (a hand-made header could ask for gigabytes)."""
    if not isinstance(encoded, str) or len(encoded) > _MAX_ENCODED:
        raise ValueError(f"{where}: expected an HdrHistogram base64 encoding")
    try:
        raw = base64.b64decode(encoded, validate=True)
        inflater = zlib.decompressobj()
        body = inflater.decompress(raw[8:], _MAX_DECODED)
        if inflater.unconsumed_tail or len(raw) < 8:
            raise ValueError("too large, or no payload")
        _, _, _, digits, lowest, highest, _ = struct.unpack(">iiiiqqd", body[:40])
        if (digits, lowest, highest) != (DIGITS, LOWEST_US, HIGHEST_US):
            raise ValueError("not llmbench's range and precision")
        new_histogram().add(HdrHistogram.decode(encoded))
    except Exception as exc:  # hdrh, zlib and struct raise many kinds on bad bytes
        raise ValueError(
            f"{where}: not an HdrHistogram encoding of llmbench's range ({exc})"
        ) from None


def _error(value: Any) -> ErrorCount:
    row = _list(value, "partial.errors[]")
    if len(row) != 4 or not isinstance(row[0], str):
        raise ValueError("partial.errors[]: expected [kind, http_status, count, example]")
    return ErrorCount(
        row[0],
        _http_status(row[1]),
        _count(row[2], "partial.errors[].count"),
        _text(row[3], "partial.errors[].example"),
    )


def _buckets(value: Any, where: str) -> Buckets:
    pairs = _list(value, where)
    if len(pairs) > _MAX_BUCKETS:
        raise ValueError(f"{where}: too many buckets")
    out = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"{where}: expected [floor_us, count] pairs")
        out.append((_count(pair[0], where), _count(pair[1], where)))
    return tuple(sorted(out))


def _seconds(value: Any) -> list[Any]:
    rows = _list(value, "partial.seconds")
    if len(rows) > _MAX_SECONDS:
        raise ValueError("partial.seconds: more seconds than any run has")
    return rows


def _second(value: Any) -> SecondCounts:
    row = _list(value, "partial.seconds[]")
    n = len(SECOND_FIELDS)
    if len(row) != n + 2:
        raise ValueError("partial.seconds[]: expected six counts and two bucket lists")
    started, finished, ok, failed, tokens, in_flight = (
        _count(v, "partial.seconds[]") for v in row[:n]
    )
    return SecondCounts(
        started,
        finished,
        ok,
        failed,
        tokens,
        in_flight,
        _buckets(row[n], "partial.seconds[].ttft_us"),
        _buckets(row[n + 1], "partial.seconds[].tpot_us"),
    )


# -- the workload breakdowns (llmbench.breakdowns) ------------------------------------

_ENDS: tuple[str, ...] = get_args(SessionEnd)
_D = TypeVar("_D", bound=Dist)


def breakdowns_from_json(value: Any, where: str = "partial.breakdowns") -> Breakdowns:
    """The value :meth:`Breakdowns.to_json` wrote (absent: none); ValueError saying
    where anything else is wrong. Rows are bounded by the caps, each distribution by
    its bucket layout: a hand-made file cannot make the merge allocate more than a run."""
    if value is None:
        return Breakdowns()
    d = _mapping(value, where)
    turns = _keyed(d.get("turns"), f"{where}.turns", "turn", 1, TURNS_KEPT + 1)
    groups = _keyed(d.get("groups"), f"{where}.groups", "group", 0, GROUPS_KEPT)
    return Breakdowns(
        turns={key: _turn(row, f"{where}.turns[{key}]") for key, row in turns},
        groups={key: _group(row, f"{where}.groups[{key}]") for key, row in groups},
        first_use=_group(d.get("first_use"), f"{where}.first_use"),
        reuse=_group(d.get("reuse"), f"{where}.reuse"),
        sessions=_sessions(d.get("sessions"), f"{where}.sessions"),
        input_lengths=_dist(d.get("input_lengths"), f"{where}.input_lengths", SizeDist),
    )


def _keyed(value: Any, where: str, name: str, low: int, high: int) -> list[tuple[int, Any]]:
    """Rows keyed by ``name``, an integer in low..high, each once, in key order."""
    rows = _list(value, where)
    if len(rows) > high - low + 1:
        raise ValueError(f"{where}: more rows than the cap allows")
    keyed = {}
    for row in rows:
        key = _mapping(row, f"{where}[]").get(name)
        if isinstance(key, bool) or not isinstance(key, int) or not low <= key <= high:
            raise ValueError(f"{where}[].{name}: expected {low}..{high}, got {key!r:.20}")
        if key in keyed:
            raise ValueError(f"{where}: {name} {key} twice")
        keyed[key] = row
    return sorted(keyed.items())


def _group(value: Any, where: str) -> GroupFigures:
    d = _mapping(value, where)
    return GroupFigures(
        _count(d.get("requests"), f"{where}.requests"),
        _count(d.get("ok"), f"{where}.ok"),
        _dist(d.get("ttft_us"), f"{where}.ttft_us", TimeDist),
    )


def _pair(value: Any, where: str) -> tuple[int, int]:
    pair = _list(value, where)
    if len(pair) != 2:
        raise ValueError(f"{where}: expected [sum, count]")
    return _count(pair[0], where), _count(pair[1], where)


def _turn(value: Any, where: str) -> TurnFigures:
    group, d = _group(value, where), _mapping(value, where)
    server = _pair(d.get("server_input"), f"{where}.server_input")
    counted = _pair(d.get("input"), f"{where}.input")
    latency = _dist(d.get("latency_us"), f"{where}.latency_us", TimeDist)
    return TurnFigures(group.requests, group.ok, group.ttft, latency, *server, *counted)


def _sessions(value: Any, where: str) -> SessionFigures:
    d = _mapping(value, where)
    ended = _int_map(d.get("ended"), f"{where}.ended")
    if not set(ended) <= set(_ENDS):
        raise ValueError(f"{where}.ended: expected counts of {', '.join(_ENDS)}")
    turns = _list(d.get("turns"), f"{where}.turns")
    if len(turns) != 3:
        raise ValueError(f"{where}.turns: expected [planned, sent, ok]")
    planned, sent, ok = (_count(n, f"{where}.turns") for n in turns)
    if not ok <= sent <= planned:
        raise ValueError(f"{where}.turns: expected ok <= sent <= planned")
    return SessionFigures(
        {end: n for end, n in sorted(ended.items()) if n},  # as a Recorder holds them
        planned,
        sent,
        ok,
        _dist(d.get("turns_ok"), f"{where}.turns_ok", SizeDist),
        _dist(d.get("duration_us"), f"{where}.duration_us", TimeDist),
    )


def _dist(value: Any, where: str, kind: type[_D]) -> _D:
    """A distribution whose floors are its layout's, ascending, with counts >= 1, and
    whose exact min and max fall in its first and last bucket."""
    d = _mapping(value, where)
    pairs = _list(d.get("buckets"), f"{where}.buckets")
    bits = kind.BITS
    if len(pairs) > (1 << bits) + (1 << (bits - 1)) * (63 - bits):
        raise ValueError(f"{where}.buckets: more buckets than the layout has")
    buckets = _buckets(pairs, f"{where}.buckets")
    floors = [floor for floor, _ in buckets]
    if any(bucket_floor(f, bits) != f for f in floors) or len(set(floors)) != len(floors):
        raise ValueError(f"{where}.buckets: not the bucket floors of its layout")
    if any(count == 0 for _, count in buckets):
        raise ValueError(f"{where}.buckets: a bucket with no values")
    total = _count(d.get("sum"), f"{where}.sum")
    low, high = _instant(d.get("min"), f"{where}.min"), _instant(d.get("max"), f"{where}.max")
    if not buckets:
        if (total, low, high) != (0, None, None):
            raise ValueError(f"{where}: an empty distribution with a sum, min or max")
        return kind()
    n = sum(count for _, count in buckets)
    if (
        low is None
        or high is None
        or not (bucket_floor(low, bits) == floors[0] and bucket_floor(high, bits) == floors[-1])
    ):
        raise ValueError(f"{where}: min and max must fall in the first and last bucket")
    if not n * low <= total <= n * high:
        raise ValueError(f"{where}.sum: not between count x min and count x max")
    return kind(buckets, total, low, high)
