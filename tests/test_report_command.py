"""`llmbench report`: a bare --csv, a crashed run's recovery, and summary.json's mode
(the report and CSV themselves: tests/test_report.py)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmbench import cli, report_command
from llmbench.output.summary import write_json_atomic
from llmbench.result import RequestResult

MS = 1_000_000


def result(index: int, start_ms: int, status: str = "ok", phase: str = "measure") -> RequestResult:
    t0 = start_ms * MS
    fields: dict[str, Any] = {"error": "refused"}
    if status == "ok":
        fields = {"ttft_ns": 30 * MS, "latency_ns": 200 * MS, "output_tokens": 8, "chunks": 8,
                  "token_source": "usage", "icl_ns": (20 * MS,) * 7}  # fmt: skip
    end = t0 + (200 * MS if status == "ok" else 0)
    return RequestResult(index, phase, status, t0, end, **fields)  # type: ignore[arg-type]


@pytest.fixture
def crashed(tmp_path: Path) -> Path:
    """A run killed mid-way: results.jsonl (warm-up, measured, a torn last line), no summary."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = [result(i, i * 10, phase="warmup") for i in range(3)]
    lines += [result(10 + i, 500 + i * 50) for i in range(30)]
    lines += [result(40 + i, 900 + i * 100, "connect_error") for i in range(4)]
    body = b"".join(orjson.dumps(r.to_json(0)) + b"\n" for r in lines)
    (run_dir / "results.jsonl").write_bytes(body + b'{"index": 99, "phase": "mea')
    return run_dir


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_crashed_run_gets_its_summary_and_report_back(
    crashed: Path, capsys: pytest.CaptureFixture[str], umask_022: None
) -> None:
    assert cli.main(["report", str(crashed)]) == 0
    summary_path = crashed / "summary.json"
    assert capsys.readouterr().out.splitlines() == [
        f"summary: {summary_path} (recovered from results.jsonl: 34 measured requests; "
        "the run's config is unknown)",
        f"report: {crashed / 'report.html'}",
    ]
    summary = json.loads(summary_path.read_text())
    assert summary["requests"]["total"] == 34
    assert (summary["requests"]["ok"], summary["requests"]["failed"]) == (30, 4)
    assert summary["run"]["recovered"] is True
    assert summary["run"]["stop_reason"] == "recovered from results.jsonl"
    assert summary["config"] == {}
    assert mode(summary_path) == mode(crashed / "results.jsonl") == 0o644
    html = (crashed / "report.html").read_text(encoding="utf-8")
    assert "recovered from results.jsonl" in html
    # Once recovered, the summary is the run's: a second report rebuilds from it as is.
    before = summary_path.read_bytes()
    assert cli.main(["report", str(crashed)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"report: {crashed / 'report.html'}"]
    assert summary_path.read_bytes() == before


def test_no_results_and_no_summary_is_still_not_a_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"llmbench report: error: {tmp_path / 'summary.json'} not found: "
        f"{tmp_path} is not a run directory\n"
    )
    assert not (tmp_path / "summary.json").exists()


def test_a_bare_csv_goes_into_the_run_dir(
    crashed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", str(crashed), "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"csv: {crashed / 'results.csv'} (37 rows)"  # every line but the torn
    assert (crashed / "results.csv").is_file()


def test_a_bare_csv_in_a_run_means_the_run_dir_too(tmp_path: Path) -> None:
    args = cli._build_parser().parse_args(["run", "--url", "http://127.0.0.1:1", "--csv"])
    assert args.csv == report_command.CSV_IN_RUN_DIR
    report_command.check_output_paths(None, args.csv)  # the run dir does not exist yet
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_bytes(orjson.dumps(result(0, 0).to_json(0)) + b"\n")
    lines = report_command.write_after_run(run_dir, None, args.csv)
    assert lines[-1] == f"csv: {run_dir / 'results.csv'} (1 rows)"
    explicit = cli._build_parser().parse_args(["run", "--url", "http://h", "--csv", "x.csv"])
    assert explicit.csv == "x.csv"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_summary_json_gets_the_mode_every_other_file_gets(tmp_path: Path, umask: int) -> None:
    """mkstemp makes 0600 files: summary.json was private while results.jsonl was not."""
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "summary.json", {"a": 1})
        (tmp_path / "plain").write_text("x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "summary.json") == mode(tmp_path / "plain") == 0o666 & ~umask
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert os.umask(old) == old  # the umask is as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "summary.json"]  # no temp
