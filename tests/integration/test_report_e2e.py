"""End to end: `llmbench run` writes report.html (and --csv), `llmbench report`
rebuilds them; the real CLI in a subprocess against the real mock server."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MockServer = Callable[..., str]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args], capture_output=True, text=True, timeout=100
    )


@pytest.fixture
def url(mock_server: MockServer) -> str:
    return mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")


def test_every_run_writes_its_report_and_says_where(url: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("run", "--url", url, "--requests", "5", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = out / "report.html"
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert proc.stdout.splitlines()[-3:] == [
        f"results: {out / 'results.jsonl'}",
        f"summary: {out / 'summary.json'}",
        f"report: {report}",
    ]


def test_html_report_and_csv_flags(url: str, tmp_path: Path) -> None:
    out, html, table = tmp_path / "run", tmp_path / "a" / "r.html", tmp_path / "b" / "r.csv"
    proc = run_cli(
        "run", "--url", url, "--requests", "7", "--out", str(out), "--quiet",
        "--html-report", str(html), "--csv", str(table),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert html.is_file()
    assert not (out / "report.html").exists()
    assert proc.stdout.splitlines()[-2:] == [f"report: {html}", f"csv: {table} (7 rows)"]
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    with table.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(lines) == 7
    assert list(rows[0]) == list(lines[0])
    assert [row["index"] for row in rows] == [str(line["index"]) for line in lines]


def test_a_run_where_every_request_failed_still_has_a_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Port 1 on loopback: nothing listens, every request is a connect_error.
    proc = run_cli("run", "--url", "http://127.0.0.1:1", "--requests", "3", "--out", str(out))
    assert proc.returncode == 3, proc.stderr
    assert (out / "report.html").is_file()
    assert f"report: {out / 'report.html'}" in proc.stdout


def test_llmbench_report_rebuilds_the_run(url: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", "--url", url, "--requests", "4", "--out", str(out)).returncode == 0
    first = (out / "report.html").read_text(encoding="utf-8")
    (out / "report.html").unlink()
    proc = run_cli("report", str(out), "--csv", str(tmp_path / "r.csv"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"report: {out / 'report.html'}",
        f"csv: {tmp_path / 'r.csv'} (4 rows)",
    ]
    assert (out / "report.html").read_text(encoding="utf-8") == first  # a pure function


@pytest.mark.parametrize("flag", ["--html-report", "--csv"])
def test_bad_output_paths_stop_the_run_before_it_starts(
    url: str, tmp_path: Path, flag: str
) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "run"
    for bad in (tmp_path, tmp_path / "afile" / "x"):
        proc = run_cli("run", "--url", url, "--requests", "2", "--out", str(out), flag, str(bad))
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"llmbench run: error: {flag} ")
        assert proc.stderr.count("\n") == 1
        assert not out.exists()  # nothing was sent, nothing written


def test_llmbench_report_on_a_bad_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_cli("report", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr == f"llmbench report: error: {tmp_path / 'nope'} is not a directory\n"
