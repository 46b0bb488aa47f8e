"""Tests for llmbench.output.jsonl: a run dir's results.jsonl holds exactly one run."""

from __future__ import annotations

from pathlib import Path

from llmbench.output.jsonl import ResultsWriter, iter_results
from llmbench.result import RequestResult


def result(index: int) -> RequestResult:
    return RequestResult(index=index, phase="measure", status="ok", t0_ns=10, end_ns=20)


def write(path: Path, indexes: range) -> None:
    writer = ResultsWriter(path, run_start_ns=0)
    for i in indexes:
        writer.write(result(i))
    writer.close()


def test_a_rerun_replaces_the_old_results(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write(path, range(5))
    write(path, range(100, 102))
    assert [line["index"] for line in iter_results(path)] == [100, 101]


def test_lines_are_written_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path, run_start_ns=0)
    writer.write(result(1))
    assert path.read_bytes() == b""  # buffered until the reporter flushes
    writer.flush()
    assert [line["index"] for line in iter_results(path)] == [1]
    writer.close()


def test_reading_skips_a_torn_last_line_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write(path, range(2))
    with path.open("ab") as fh:
        fh.write(b'{"index": 2, "pha')  # a crash mid-write
    assert [line["index"] for line in iter_results(path)] == [0, 1]
    assert list(iter_results(tmp_path / "missing.jsonl")) == []
