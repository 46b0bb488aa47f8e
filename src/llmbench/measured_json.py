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
from typing import Any

from hdrh.histogram import HdrHistogram

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

__all__ = ["measured_from_json"]

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
