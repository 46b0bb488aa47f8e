"""Trace replay (issue 16): requests sent at a recorded trace's times, with synthetic
prompts of its lengths.

Two formats, told apart by the file's extension:

* ``.jsonl``, the public Mooncake traces: one request per line,
  ``{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}``
  (``hash_ids`` optional: ids of the prompt's blocks of :data:`BLOCK_TOKENS` tokens;
  equal ids are equal blocks, which is how the trace records prefix sharing).
* ``.csv``, the Azure LLM inference traces: a ``TIMESTAMP,ContextTokens,GeneratedTokens``
  header, then rows such as ``2023-11-16 18:17:03.9799600,4808,10``.

Times are taken relative to the first request replayed, so a replay starts at once.
A trace can be far larger than memory: :func:`scan_trace` checks every line in one
streaming pass before the run (a bad line stops it, naming the file, the line and the
field) and keeps only a byte offset every :data:`CHECKPOINT_EVERY` requests; the
feeder's times (:func:`trace_offsets`) and the items (:class:`TraceItems`, addressable
by position for shards) are read back from disk as they are needed. The line parsers
and the prompt assembly are pure; file reading is confined to the last section.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import random
import stat
from array import array
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from llmbench.config import JSON_INT_MAX, MAX_DURATION_S, MAX_INPUT_TOKENS, MAX_TOKENS, ConfigError
from llmbench.workload import _WORDS as WORDS  # the synthetic prompts' one-token words
from llmbench.workload import WorkloadItem

__all__ = [
    "AZURE_COLUMNS",
    "BLOCK_TOKENS",
    "CHECKPOINT_EVERY",
    "FORMATS",
    "MAX_TRACE_LINE_BYTES",
    "TraceIndex",
    "TraceItems",
    "TraceParser",
    "TraceRecord",
    "block_words",
    "prompt_words",
    "scan_trace",
    "trace_format",
    "trace_offsets",
]

# Mooncake's hash_ids each name a block of 512 tokens (its trace's block size).
BLOCK_TOKENS = 512
# The format each extension means.
FORMATS = {".jsonl": "mooncake", ".csv": "azure"}
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
# A byte offset is kept every this many requests: reading item i re-reads at most this
# many lines, and a 10-million-request trace keeps ~40,000 offsets (320 KB).
CHECKPOINT_EVERY = 256
# Real trace lines are under a few KB (a million-token request has ~2,000 hash_ids, ~20
# KB); a longer line is not a trace line, and reading it whole would be unbounded.
MAX_TRACE_LINE_BYTES = 1024 * 1024
# Block texts kept for reuse (~2.5 KB each): shared prefixes are built once, not per request.
_BLOCK_CACHE = 512
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
        text = line.decode("utf-8-sig")
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


# -- prompts: equal hash ids, equal blocks (pure) -----------------------------------


def block_words(seed: int, block_id: int) -> list[str]:
    """The :data:`BLOCK_TOKENS` words of block ``block_id``: the same for every request
    (and every shard) of a run with this seed."""
    rng = random.Random(f"{seed}/trace-block/{block_id}")
    return rng.choices(WORDS, k=BLOCK_TOKENS)


def prompt_words(
    record: TraceRecord,
    position: int,
    seed: int,
    blocks: Callable[[int, int], list[str]] = block_words,
) -> list[str]:
    """The words of request ``position``'s prompt, one per token (approximately): its
    hash_ids blocks in order, the last one cut to the remaining length; words of its
    own when it has no hash_ids or they cover less than its length (so no two requests
    share more than the trace says). ``blocks(seed, id)`` gives a block's words."""
    words: list[str] = []
    left = record.input_length
    for block_id in record.hash_ids:
        if left <= 0:
            break
        take = min(BLOCK_TOKENS, left)
        words.extend(blocks(seed, block_id)[:take])
        left -= take
    if left > 0:
        rng = random.Random(f"{seed}/trace-request/{position}")
        words.extend(rng.choices(WORDS, k=left))
    return words


# -- reading the file (the thin I/O layer) ----------------------------------------


@dataclass(frozen=True, slots=True)
class TraceIndex:
    """A checked trace: its path and format, how many requests it holds, and the byte
    offset of every :data:`CHECKPOINT_EVERY`-th request's line (``checkpoints[k]`` is
    request ``k * CHECKPOINT_EVERY``'s), so any request is found without reading all."""

    path: Path
    fmt: str
    count: int
    checkpoints: array[int]
    header: bytes = b""  # the CSV header line (empty for .jsonl)


def _lines(stream: BinaryIO, where: str, first: int = 1) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, bytes) of each line, each read with a bound."""
    number, offset = first, stream.tell()
    while line := stream.readline(MAX_TRACE_LINE_BYTES + 1):
        if len(line) > MAX_TRACE_LINE_BYTES:
            raise ConfigError(
                f"{where}:{number}: the line is longer than {MAX_TRACE_LINE_BYTES:,} bytes"
            )
        yield number, offset, line
        number, offset = number + 1, offset + len(line)


def _open(path: Path) -> BinaryIO:
    """The trace, opened; a FIFO or a device is refused (opening one would wait for a
    writer, and the trace is read more than once)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"--trace {path}: not a regular file")
        return path.open("rb")
    except OSError as exc:
        raise ConfigError(f"--trace {path}: cannot read it ({exc.strerror or exc})") from None


def scan_trace(path: Path) -> TraceIndex:
    """Check every line of the trace in one streaming pass (memory stays bounded
    whatever its size) and index it; ConfigError naming the line and the field."""
    fmt = trace_format(path)
    where = f"--trace {path}"
    parser = TraceParser(fmt, where)
    checkpoints: array[int] = array("q")
    count, header = 0, b""
    with _open(path) as stream:
        try:
            for number, offset, line in _lines(stream, where):
                record = parser.feed(line, number)
                if record is None:  # a blank line, or the CSV header
                    header = header or (line if fmt == "azure" and line.strip() else b"")
                    continue
                if count % CHECKPOINT_EVERY == 0:
                    checkpoints.append(offset)
                count += 1
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if count == 0:
        raise ConfigError(f"{where}: no requests in it")
    return TraceIndex(path, fmt, count, checkpoints, header)


def _records(trace: TraceIndex, start: int) -> Generator[TraceRecord, None, None]:
    """The trace's records from request ``start`` on, read from disk as they are asked for."""
    if start >= trace.count:
        return
    parser = TraceParser(trace.fmt, f"--trace {trace.path}", check_order=False)
    if trace.header:
        parser.skip_header(trace.header)
    skip = start % CHECKPOINT_EVERY
    with _open(trace.path) as stream:
        stream.seek(trace.checkpoints[start // CHECKPOINT_EVERY])
        for number, _, line in _lines(stream, f"--trace {trace.path}"):
            record = parser.feed(line, number)
            if record is None:
                continue
            if skip:
                skip -= 1
                continue
            yield record


def trace_offsets(trace: TraceIndex, speed: float, start: int = 0) -> Iterator[int]:
    """Intended send offsets in ns of requests ``start``, ``start + 1``, ..., from the
    first of them (sent at 0); ``speed`` 2 replays twice as fast."""
    first: int | None = None
    for record in _records(trace, start):
        if first is None:
            first = record.time_us
        yield round((record.time_us - first) * 1000 / speed)


class TraceItems:
    """The trace's requests as workload items: iterated in order, or by position
    (:meth:`at`, as :class:`llmbench.workload.SyntheticItems` has, so a shard makes
    only its own). One block of :data:`CHECKPOINT_EVERY` records is kept in memory,
    and the most recently used block texts."""

    def __init__(self, trace: TraceIndex, seed: int) -> None:
        self._trace = trace
        self._seed = seed
        self._next = 0
        self._block: tuple[int, list[TraceRecord]] = (-1, [])
        self._texts: OrderedDict[int, list[str]] = OrderedDict()

    @property
    def trace(self) -> TraceIndex:
        """The trace these items come from (its times: :func:`trace_offsets`)."""
        return self._trace

    def __len__(self) -> int:
        return self._trace.count

    def __iter__(self) -> TraceItems:
        return self

    def __next__(self) -> WorkloadItem:
        if self._next >= self._trace.count:
            raise StopIteration
        item = self.at(self._next)
        self._next += 1
        return item

    def at(self, position: int) -> WorkloadItem:
        """The item at ``position`` (does not move the iteration); IndexError past the end."""
        if not 0 <= position < self._trace.count:
            raise IndexError(f"trace position {position} of {self._trace.count}")
        record = self._record(position)
        words = prompt_words(record, position, self._seed, self._block_words)
        return WorkloadItem(" ".join(words), max_tokens=record.output_length, prompt_id=position)

    def _record(self, position: int) -> TraceRecord:
        block, offset = divmod(position, CHECKPOINT_EVERY)
        if self._block[0] != block:
            start = block * CHECKPOINT_EVERY
            records = _records(self._trace, start)
            self._block = (block, list(itertools.islice(records, CHECKPOINT_EVERY)))
            records.close()
        return self._block[1][offset]

    def _block_words(self, seed: int, block_id: int) -> list[str]:
        words = self._texts.get(block_id)
        if words is None:
            words = self._texts[block_id] = block_words(seed, block_id)
            if len(self._texts) > _BLOCK_CACHE:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(block_id)
        return words
