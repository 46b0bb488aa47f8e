"""Trace lines to records (issue 16): the two formats' line parsers, pure (bytes in,
:class:`TraceRecord` out, ConfigError naming the line and the field). The file's
reading and the replay are :mod:`llmbench.trace`'s.

* ``.jsonl``, the public Mooncake traces: one request per line,
  ``{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}``.
* ``.csv``, the Azure LLM inference traces: a ``TIMESTAMP,ContextTokens,GeneratedTokens``
  header, then rows such as ``2023-11-16 18:17:03.9799600,4808,10``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from llmbench.config import JSON_INT_MAX, MAX_DURATION_S, MAX_INPUT_TOKENS, MAX_TOKENS, ConfigError

__all__ = [
    "AZURE_COLUMNS",
    "BLOCK_TOKENS",
    "FORMATS",
    "TraceParser",
    "TraceRecord",
    "trace_format",
]

# Mooncake's hash_ids each name a block of 512 tokens (its trace's block size).
BLOCK_TOKENS = 512
# The format each extension means.
FORMATS = {".jsonl": "mooncake", ".csv": "azure"}
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
_US_PER_MS = 1000
# Timestamps count from the first request's, so epoch milliseconds (1.7e12 today) are
# fine; past 1e15 ms a float's microseconds are no longer exact.
_MAX_STAMP_MS = 1e15
_MAX_OFFSET_US = int(MAX_DURATION_S * 1_000_000)  # a trace longer than a year is no trace
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One request of a trace: when (µs on the trace's own clock) and how long."""

    time_us: int
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()


def trace_format(path: Path) -> str:
    """``mooncake`` or ``azure``, by the extension; ConfigError for any other."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"--trace {path}: the format is told by the extension: .jsonl (Mooncake: "
            "timestamp, input_length, output_length, hash_ids) or .csv (Azure: "
            f"{','.join(AZURE_COLUMNS)}), got {path.suffix or 'none'!r}"
        )
    return fmt


# -- parsing: one line in, one record out (pure) ----------------------------------


class TraceParser:
    """Parses a trace's lines in order; ``where`` names the file in every message.

    :meth:`feed` takes a line's bytes and its 1-based number and returns its record
    (None for a blank line or the CSV header); it raises ConfigError naming the line
    and the field, and checks that times never go back. ``check_order=False`` skips
    that (lines re-read from an offset after the whole file was checked)."""

    def __init__(self, fmt: str, where: str, *, check_order: bool = True) -> None:
        self._fmt = fmt
        self._where = where
        self._check_order = check_order
        self._columns: tuple[int, int, int] | None = None  # CSV: the header's positions
        self._first_us: int | None = None
        self._last: tuple[int, int] | None = None  # (time_us, line) of the previous record

    def feed(self, line: bytes, number: int) -> TraceRecord | None:
        where = f"{self._where}:{number}"
        if not line.strip():
            return None
        if self._fmt == "azure":
            if self._columns is None:
                self._columns = _azure_header(line, where)
                return None
            record = _azure_row(line, where, self._columns)
        else:
            record = _mooncake_line(line, where)
        self._check_time(record, where, number)
        return record

    def skip_header(self, line: bytes) -> None:
        """The CSV header, read again before lines re-read from an offset."""
        self._columns = _azure_header(line, self._where)

    def _check_time(self, record: TraceRecord, where: str, number: int) -> None:
        if self._first_us is None:
            self._first_us = record.time_us
        if record.time_us - self._first_us > _MAX_OFFSET_US:
            raise ConfigError(
                f"{where}: timestamp is more than {MAX_DURATION_S:.0f} s (one year) "
                "after the first request's"
            )
        if self._check_order and self._last is not None and record.time_us < self._last[0]:
            raise ConfigError(
                f"{where}: timestamp goes back in time (earlier than line {self._last[1]}'s); "
                "a trace must be sorted by time"
            )
        self._last = (record.time_us, number)


def _mooncake_line(line: bytes, where: str) -> TraceRecord:
    try:  # orjson: strict JSON (no NaN), UTF-8 checked, 64-bit integers, ~5x json's speed
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where}: invalid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    stamp = _field(obj, "timestamp", where)
    if type(stamp) not in (int, float) or not math.isfinite(stamp) or stamp < 0:
        raise ConfigError(f"{where}: timestamp must be a number of ms >= 0, got {stamp!r:.40}")
    if stamp > _MAX_STAMP_MS:  # epoch milliseconds are fine: the span is checked, not the start
        raise ConfigError(f"{where}: timestamp must be at most 1e15 ms, got {stamp!r:.40}")
    length = _length(_field(obj, "input_length", where), "input_length", MAX_INPUT_TOKENS, where)
    # only the blocks the prompt's length reaches: a hostile line's 100k ids are not kept
    blocks = -(-length // BLOCK_TOKENS)
    return TraceRecord(
        round(stamp * _US_PER_MS),
        length,
        _length(_field(obj, "output_length", where), "output_length", MAX_TOKENS, where),
        _hash_ids(obj.get("hash_ids"), where)[:blocks],
    )


def _field(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise ConfigError(f"{where}: {name} is missing")
    return obj[name]


def _length(value: Any, name: str, high: int, where: str) -> int:
    if type(value) is not int or not 1 <= value <= high:
        raise ConfigError(f"{where}: {name} must be an integer in 1..{high}, got {value!r:.40}")
    return value


def _hash_ids(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    ok = isinstance(value, list) and all(type(v) is int and 0 <= v <= JSON_INT_MAX for v in value)
    if not ok:
        raise ConfigError(f"{where}: hash_ids must be a list of integers >= 0")
    return tuple(value)


def _csv_cells(line: bytes, where: str) -> list[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    try:
        return next(csv.reader([text.rstrip("\r\n")]))
    except (csv.Error, StopIteration) as exc:
        raise ConfigError(f"{where}: not a CSV row ({exc})") from None


def _azure_header(line: bytes, where: str) -> tuple[int, int, int]:
    cells = [c.strip() for c in _csv_cells(line, where)]
    missing = [c for c in AZURE_COLUMNS if c not in cells]
    if missing:
        raise ConfigError(
            f"{where}: the header must name the columns {','.join(AZURE_COLUMNS)} "
            f"(Azure LLM inference trace); {', '.join(missing)} missing"
        )
    first, second, third = (cells.index(c) for c in AZURE_COLUMNS)
    return first, second, third


def _azure_row(line: bytes, where: str, columns: tuple[int, int, int]) -> TraceRecord:
    cells = _csv_cells(line, where)
    if len(cells) <= max(columns):
        raise ConfigError(f"{where}: a CSV row of {len(cells)} cells; the header has more")
    stamp, context, generated = (cells[i].strip() for i in columns)
    return TraceRecord(
        _azure_time_us(stamp, where),
        _csv_length(context, "ContextTokens", MAX_INPUT_TOKENS, where),
        _csv_length(generated, "GeneratedTokens", MAX_TOKENS, where),
    )


def _azure_time_us(text: str, where: str) -> int:
    """``2023-11-16 18:17:03.9799600`` (any ISO 8601 form; no zone: UTC) to µs since 1970."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{where}: TIMESTAMP must be a date and time such as 2023-11-16 18:17:03.9799600, "
            f"got {text!r:.40}"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _csv_length(text: str, name: str, high: int, where: str) -> int:
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not 1 <= value <= high:
        raise ConfigError(f"{where}: {name} must be an integer in 1..{high}, got {text!r:.40}")
    return value
