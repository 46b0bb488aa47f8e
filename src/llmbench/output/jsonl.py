"""results.jsonl: one line per request, appended as requests finish.

A run dir holds one run: the file is truncated when the writer opens it, so a rerun
into the same ``--out`` never mixes two runs' results under one summary.

Lines go to a buffer that is flushed at least once a second (by the runner's
reporter) and at the end, so a crash or Ctrl-C loses at most the last second
and the hot path never waits on the disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from llmbench.result import RequestResult

__all__ = ["ResultsWriter", "iter_results"]


class ResultsWriter:
    """``worker``: a shard's index, written in each line as ``"worker"`` (a shard of a
    run split over several processes; None: the whole run, no such field)."""

    def __init__(self, path: Path, run_start_ns: int, worker: int | None = None) -> None:
        self.path = path
        self._run_start_ns = run_start_ns
        self._worker = worker
        self._file: BinaryIO = path.open("wb")
        self._pending: list[bytes] = []

    def write(self, result: RequestResult) -> None:
        line = result.to_json(self._run_start_ns)
        if self._worker is not None:
            line["worker"] = self._worker
        self._pending.append(orjson.dumps(line))

    def flush(self) -> None:
        if self._pending:
            self._pending.append(b"")
            self._file.write(b"\n".join(self._pending))
            self._pending.clear()
        self._file.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()


def iter_results(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a results.jsonl one at a time (memory does not grow with the run);
    a torn line (a crash mid-write) is skipped, and a missing file has no lines."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict):
                yield row
