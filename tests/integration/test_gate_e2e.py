"""The CI gate end to end: SLO exit codes, goodput, compare on real runs, JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

MockServer = Callable[..., str]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args], capture_output=True, text=True, timeout=60
    )


def bench(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(
        "run", "--url", url, "--concurrency", "4", "--requests", "16", "--out", str(out),
        "--quiet", *extra,
    )  # fmt: skip


def test_loose_slo_passes_tight_slo_fails(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "50", "--itl-ms", "2", "--tokens", "8")
    loose = bench(url, tmp_path / "loose", "--slo", "ttft_p95<=2s,error_rate<=1%")
    assert loose.returncode == 0, loose.stderr
    assert "PASS" in loose.stdout
    tight = bench(
        url, tmp_path / "tight", "--slo", "ttft_p50<=5ms", "--slo", "requests_per_s>=1",
        "--junit", str(tmp_path / "junit.xml"),
    )  # fmt: skip
    assert tight.returncode == 1, tight.stderr
    fail_rows = [line for line in tight.stdout.splitlines() if "FAIL" in line]
    assert any(line.startswith("ttft_p50<=5ms") for line in fail_rows)
    summary = json.loads((tmp_path / "tight" / "summary.json").read_text())
    assert summary["slo"]["passed"] is False
    assert [c["passed"] for c in summary["slo"]["checks"]] == [False, True]
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.iter("testcase")
    assert [c.get("name") for c in cases] == ["ttft_p50<=5ms", "requests_per_s>=1"]
    assert len(list(suite.iter("failure"))) == 1


def test_goodput_block(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "30", "--itl-ms", "2", "--tokens", "8")
    proc = bench(url, tmp_path, "--goodput", "ttft:1s,latency:5s", "--slo", "goodput_ratio>=99%")
    assert proc.returncode == 0, proc.stderr
    goodput = json.loads((tmp_path / "summary.json").read_text())["goodput"]
    assert goodput["ratio"] == 1.0
    assert goodput["good"] == 16
    assert goodput["requests_per_s"] > 0


def test_compare_detects_a_ttft_regression(mock_server: MockServer, tmp_path: Path) -> None:
    fast = mock_server("--ttft-ms", "100", "--itl-ms", "2", "--tokens", "8")
    slow = mock_server("--ttft-ms", "150", "--itl-ms", "2", "--tokens", "8")
    assert bench(fast, tmp_path / "a").returncode == 0
    assert bench(fast, tmp_path / "b").returncode == 0
    assert bench(slow, tmp_path / "c").returncode == 0
    # Identical configs on a shared 2-core CI box: a 16-request p99 is one sample, and a
    # 2 ms inter-token gap can double from one scheduler hiccup, so the floor is 3 ms here.
    same = cli(
        "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--tolerance", "20%",
        "--tolerance", "ttft_p50=10%", "--min-delta", "3ms",
    )  # fmt: skip
    assert same.returncode == 0, same.stdout + same.stderr
    worse = cli(
        "compare", str(tmp_path / "a"), str(tmp_path / "c" / "summary.json"),
        "--tolerance", "20%", "--format", "markdown", "--junit", str(tmp_path / "cmp.xml"),
    )  # fmt: skip
    assert worse.returncode == 1, worse.stdout + worse.stderr
    row = next(line for line in worse.stdout.splitlines() if line.startswith("| ttft_p50"))
    assert "REGRESSION" in row
    failures = list(ET.parse(tmp_path / "cmp.xml").getroot().iter("failure"))
    assert failures


def test_compare_bad_input_exits_2(tmp_path: Path) -> None:
    proc = cli("compare", str(tmp_path / "missing"), str(tmp_path / "missing2"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
