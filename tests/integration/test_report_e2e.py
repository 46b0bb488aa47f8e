"""End to end: `llmbench run` writes report.html (and --csv), `llmbench report`
rebuilds them; the real CLI in a subprocess against the real mock server."""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MockServer = Callable[..., str]
# How long a killed run may take to have written enough results: a loaded machine.
KILL_AFTER_LINES = 20
WAIT_FOR_LINES_S = 60.0


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
    proc = run_cli(
        "run", "--url", "http://127.0.0.1:1", "--no-preflight", "--requests", "3", "--out", str(out)
    )  # fmt: skip
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


def test_a_bare_csv_lands_in_the_run_dir_and_summary_json_is_not_private(
    url: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        proc = run_cli("run", "--url", url, "--requests", "3", "--out", str(out), "--csv")
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"csv: {out / 'results.csv'} (3 rows)"
    modes = {name: stat.S_IMODE((out / name).stat().st_mode) for name in os.listdir(out)}
    assert modes == dict.fromkeys(
        ["results.jsonl", "summary.json", "report.html", "results.csv"], 0o644
    )


def complete_lines(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a results.jsonl (a killed writer may leave half of one)."""
    out = []
    for raw in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def test_a_run_killed_with_sigkill_is_recovered_by_report(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "5", "--tokens", "20")  # ~0.1 s each
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "llmbench", "run", "--url", url, "--concurrency", "4",
           "--warmup", "4", "--duration", "120", "--out", str(out), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_FOR_LINES_S
        results = out / "results.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and len(complete_lines(results)) >= KILL_AFTER_LINES:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: no handler, no summary, no report
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "summary.json").exists()
    assert not (out / "report.html").exists()
    lines = complete_lines(out / "results.jsonl")
    measured = [line for line in lines if line["phase"] == "measure"]
    assert len(measured) >= KILL_AFTER_LINES - 4

    report = run_cli("report", str(out))
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines() == [
        f"summary: {out / 'summary.json'} (recovered from results.jsonl: {len(measured):,} "
        "measured requests; the run's config is unknown)",
        f"report: {out / 'report.html'}",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"]["total"] == len(measured)
    assert summary["requests"]["ok"] == sum(line["status"] == "ok" for line in measured)
    assert summary["run"]["recovered"] is True
    assert summary["run"]["interrupted"] is True
    assert summary["ttft_ms"]["count"] == summary["requests"]["ok"]
    assert summary["itl_ms"] is None
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
