"""Trace replay (issue 16): requests sent at a recorded trace's times, with synthetic
prompts of its lengths.

Two formats, told apart by the file's extension:

* ``.jsonl``, the public Mooncake traces: one request per line,
  ``{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}``
  (``hash_ids`` optional: ids of the prompt's blocks of :data:`BLOCK_TOKENS` tokens;
  equal ids are equal blocks, which is how the trace records prefix sharing).
* ``.csv``, the Azure LLM inference traces: a ``TIMESTAMP,ContextTokens,GeneratedTokens``
  header, then rows such as ``2023-11-16 18:17:03.9799600,4808,10``.

Either may start with a UTF-8 byte-order mark (one is skipped at the start of the file).
Times are taken relative to the first request replayed, so a replay starts at once.

A trace can be far larger than memory: :func:`scan_trace` checks every line in one
streaming pass before the run (a bad line stops it, naming the file, the line and the
field) and keeps only a byte offset every :data:`CHECKPOINT_EVERY` requests; the
feeder's times (:func:`trace_offsets`) and the items (:class:`TraceItems`, addressable
by position for shards) are read back from disk as they are needed, through the one
file descriptor the scan opened, kept for the whole run. A file replaced on disk
(a new file renamed over it) is therefore never seen: the run replays what was
checked. A file changed in place (truncated, rewritten) is noticed before each read
(its size or modification time differs from the scan's): the replay then stops,
with one line saying so (:attr:`TraceIndex.changed`), and the requests already sent
are measured as in any run. The line parsers (:mod:`llmbench.trace_parse`) and the
prompt assembly are pure; file reading is confined to the last section.
"""

from __future__ import annotations

import os
import random
import stat
import sys
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmbench.config import ConfigError
from llmbench.prompt_text import SEPARATOR, PromptLengthError, PromptText, WordText
from llmbench.trace_parse import (
    AZURE_COLUMNS,
    BLOCK_TOKENS,
    FORMATS,
    TraceParser,
    TraceRecord,
    trace_format,
)
from llmbench.workload import WorkloadItem

__all__ = [
    "AZURE_COLUMNS",
    "BLOCK_TOKENS",
    "CHECKPOINT_EVERY",
    "FORMATS",
    "MAX_TRACE_LINE_BYTES",
    "TraceChanged",
    "TraceIndex",
    "TraceItems",
    "TraceParser",
    "TraceRecord",
    "block_text",
    "scan_trace",
    "trace_format",
    "trace_offsets",
    "trace_prompt",
]

# A byte offset is kept every this many requests: reading item i re-reads at most this
# many lines, and a 10-million-request trace keeps ~40,000 offsets (320 KB).
CHECKPOINT_EVERY = 256
# Real trace lines are under a few KB (a million-token request has ~2,000 hash_ids, ~20
# KB); a longer line is not a trace line, and reading it whole would be unbounded.
MAX_TRACE_LINE_BYTES = 1024 * 1024
# Block texts kept for reuse (~2.5 KB each): shared prefixes are built once, not per request.
_BLOCK_CACHE = 512
# Blocks of CHECKPOINT_EVERY records kept, shared by the schedule and the items: the
# items lag the schedule by the requests in flight, and a block the schedule read
# stays readable even after the file changed. 16 blocks: 4,096 records, ~1 MB.
_WINDOW_BLOCKS = 16
# Bytes read at a time.
_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"


# -- prompts: equal hash ids, equal blocks (pure) -----------------------------------


def block_text(seed: int, block_id: int, text: PromptText) -> str:
    """Block ``block_id``'s text, :data:`BLOCK_TOKENS` tokens (exactly, with a
    tokenizer): the same for every request (and every shard) of a run with this seed."""
    return text.make(BLOCK_TOKENS, random.Random(f"{seed}/trace-block/{block_id}"))


def trace_prompt(
    record: TraceRecord, position: int, seed: int, text: PromptText, blocks: Callable[[int], str]
) -> str:
    """Request ``position``'s prompt: its hash_ids blocks in order (``blocks(id)`` gives
    a block's text, :func:`block_text`), then words of its own when the ids cover less
    than its length (so no two requests share more than the trace says).

    With a tokenizer (``text.exact``) what is guaranteed: the whole prompt is exactly
    ``input_length`` tokens; every block but the last the request uses is exactly
    :data:`BLOCK_TOKENS` tokens on its own; the last is that block's text cut (or
    continued with its own words) so the whole comes out exact, hence a prefix of the
    same text in every request that has it. Tokens may merge where two blocks meet, so
    the blocks' counts in place can differ by a token from their counts alone. In the
    rare cases that no cut of the last block fits, or the earlier blocks alone reach the
    length, the rest (or the whole prompt) is words of its own: exact all the same, the
    trace's sharing kept as far as it goes. Without a tokenizer: a word a token, so
    lengths are approximate."""
    length = record.input_length
    rng = random.Random(f"{seed}/trace-request/{position}")
    ids = record.hash_ids[: -(-length // BLOCK_TOKENS)]
    if not ids:
        return text.make(length, rng)
    head = SEPARATOR.join(blocks(block_id) for block_id in ids[:-1])
    try:
        return text.fill(head, length, rng, start=blocks(ids[-1]))
    except PromptLengthError:
        return text.make(length, random.Random(f"{seed}/trace-request/{position}"))


# -- reading the file (the thin I/O layer) ----------------------------------------


class TraceChanged(ConfigError):
    """The trace file changed on disk after it was checked (or can no longer be read)."""


class _TraceFile:
    """The trace's one open file, kept for the run, read at offsets (seek and read with
    no yield between: the schedule's and the items' readers never disturb each other),
    with the size and modification time the scan saw checked around every read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed: str | None = None
        self._window: OrderedDict[int, list[TraceRecord]] = OrderedDict()
        # O_NONBLOCK: opening a FIFO would wait for a writer; it is refused below
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise ConfigError(f"--trace {path}: cannot read it ({exc.strerror or exc})") from None
        self._file = os.fdopen(fd, "rb", buffering=0)
        weakref.finalize(self, self._file.close)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            self._file.close()
            raise ConfigError(f"--trace {path}: not a regular file")
        self._seen = (info.st_size, info.st_mtime_ns)

    def check(self) -> None:
        """TraceChanged when the file is no longer the one the scan checked."""
        if self.changed is None:
            info = os.fstat(self._file.fileno())
            if (info.st_size, info.st_mtime_ns) == self._seen:
                return
            how = (
                f"its size went from {self._seen[0]:,} to {info.st_size:,} bytes"
                if info.st_size != self._seen[0]
                else "it was rewritten"
            )
            self.changed = f"--trace {self.path} changed on disk during the run ({how})"
        raise TraceChanged(self.changed)

    def read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(size) or b""

    def lines(self, offset: int, where: str, first: int = 1) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte offset, bytes) of each line from ``offset`` (its number
        ``first``), each read with a bound; a byte-order mark at the file's start is
        skipped, whatever the format."""
        number, buf, start, pos, eof = first, b"", 0, offset, False  # buf[start] is at pos
        while True:
            end = buf.find(b"\n", start)
            while end < 0 and not eof and len(buf) - start <= MAX_TRACE_LINE_BYTES:
                chunk = self.read(pos + len(buf) - start, _CHUNK)
                eof = not chunk
                searched = len(buf)
                buf = buf[start:] + chunk
                start, end = 0, buf.find(b"\n", max(0, searched - start))
            stop = end + 1 if end >= 0 else len(buf)
            if stop - start > MAX_TRACE_LINE_BYTES:
                raise ConfigError(
                    f"{where}:{number}: the line is longer than {MAX_TRACE_LINE_BYTES:,} bytes"
                )
            if stop == start:
                return
            line = buf[start:stop]
            yield number, pos, line[len(_BOM) :] if pos == 0 and line.startswith(_BOM) else line
            number, pos, start = number + 1, pos + len(line), stop

    def block(self, number: int, read: Callable[[], list[TraceRecord]]) -> list[TraceRecord]:
        """Block ``number``'s records: from the window, else ``read()`` (checked
        before and after, so a block read while the file changed is never kept)."""
        records = self._window.get(number)
        if records is not None:
            self._window.move_to_end(number)
            return records
        self.check()
        try:
            records = read()
        except ConfigError:
            self.check()  # a line that no longer parses: the file changed under us
            raise
        except OSError as exc:  # the disk, not the data: the replay cannot go on either
            self.changed = f"--trace {self.path}: cannot read it any more ({exc.strerror or exc})"
            raise TraceChanged(self.changed) from None
        self.check()
        self._window[number] = records
        if len(self._window) > _WINDOW_BLOCKS:
            self._window.popitem(last=False)
        return records


@dataclass(frozen=True, slots=True)
class TraceIndex:
    """A checked trace: its path and format, how many requests it holds, and the byte
    offset of every :data:`CHECKPOINT_EVERY`-th request's line (``checkpoints[k]`` is
    request ``k * CHECKPOINT_EVERY``'s), so any request is found without reading all;
    and the file itself, open for the run."""

    path: Path
    fmt: str
    count: int
    checkpoints: array[int]
    header: bytes = b""  # the CSV header line (empty for .jsonl)
    file: _TraceFile | None = field(default=None, compare=False, repr=False)

    @property
    def changed(self) -> str | None:
        """Why the replay stopped early: the file changed on disk (None: it did not)."""
        return None if self.file is None else self.file.changed


def scan_trace(path: Path) -> TraceIndex:
    """Check every line of the trace in one streaming pass (memory stays bounded
    whatever its size) and index it; ConfigError naming the line and the field."""
    fmt = trace_format(path)
    where = f"--trace {path}"
    file = _TraceFile(path)
    parser = TraceParser(fmt, where)
    checkpoints: array[int] = array("q")
    count, header = 0, b""
    try:
        for number, offset, line in file.lines(0, where):
            record = parser.feed(line, number)
            if record is None:  # a blank line, or the CSV header
                header = header or (line if fmt == "azure" and line.strip() else b"")
                continue
            if count % CHECKPOINT_EVERY == 0:
                checkpoints.append(offset)
            count += 1
        file.check()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except TraceChanged:
        raise ConfigError(f"{where}: it changed while it was read; try again") from None
    if count == 0:
        raise ConfigError(f"{where}: no requests in it")
    return TraceIndex(path, fmt, count, checkpoints, header, file)


def _read_block(trace: TraceIndex, number: int) -> list[TraceRecord]:
    """The records of block ``number`` (requests ``number * CHECKPOINT_EVERY`` on)."""
    assert trace.file is not None
    where = f"--trace {trace.path}"
    parser = TraceParser(trace.fmt, where, check_order=False)
    if trace.header:
        parser.skip_header(trace.header)
    want = min(CHECKPOINT_EVERY, trace.count - number * CHECKPOINT_EVERY)
    records: list[TraceRecord] = []
    for line_number, _, line in trace.file.lines(trace.checkpoints[number], where):
        record = parser.feed(line, line_number)  # counted from the block's first line
        if record is not None:
            records.append(record)
            if len(records) == want:
                return records
    raise ConfigError(f"{where}: ends before request {number * CHECKPOINT_EVERY + want:,}")


def _block(trace: TraceIndex, number: int) -> list[TraceRecord]:
    assert trace.file is not None
    return trace.file.block(number, lambda: _read_block(trace, number))


def trace_offsets(trace: TraceIndex, speed: float, start: int = 0) -> Iterator[int]:
    """Intended send offsets in ns of requests ``start``, ``start + 1``, ..., from the
    first of them (sent at 0); ``speed`` 2 replays twice as fast. When the file has
    changed on disk, the offsets end there, with one line on stderr saying so."""
    first: int | None = None
    for number in range(start // CHECKPOINT_EVERY, len(trace.checkpoints)):
        try:
            records = _block(trace, number)
        except TraceChanged as exc:
            at = max(start, number * CHECKPOINT_EVERY)
            print(
                f"llmbench run: {exc}: the replay stops at request {at:,} of {trace.count:,}",
                file=sys.stderr,
            )
            return
        for record in records[max(0, start - number * CHECKPOINT_EVERY) :]:
            if first is None:
                first = record.time_us
            yield round((record.time_us - first) * 1000 / speed)


class TraceItems:
    """The trace's requests as workload items: iterated in order, or by position
    (:meth:`at`, as :class:`llmbench.synthetic.SyntheticItems` has, so a shard makes
    only its own). ``text`` makes the prompts (:func:`trace_prompt`; default: a word a
    token). A few blocks of :data:`CHECKPOINT_EVERY` records are kept in memory, and
    the most recently used block texts. The item of a position the schedule has given
    is always there; one asked for after the file changed, and not read before, is
    TraceChanged."""

    def __init__(self, trace: TraceIndex, seed: int, text: PromptText | None = None) -> None:
        self._trace = trace
        self._seed = seed
        self._text = text or WordText()
        self._next = 0
        self._texts: OrderedDict[int, str] = OrderedDict()

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
        prompt = trace_prompt(record, position, self._seed, self._text, self._block_text)
        return WorkloadItem(prompt, max_tokens=record.output_length, prompt_id=position)

    def _record(self, position: int) -> TraceRecord:
        number, index = divmod(position, CHECKPOINT_EVERY)
        return _block(self._trace, number)[index]

    def _block_text(self, block_id: int) -> str:
        text = self._texts.get(block_id)
        if text is None:
            text = self._texts[block_id] = block_text(self._seed, block_id, self._text)
            if len(self._texts) > _BLOCK_CACHE:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(block_id)
        return text
