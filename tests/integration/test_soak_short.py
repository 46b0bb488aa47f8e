"""A 20 s soak in the suite: benchmarks/soak.py at concurrency 100 with 2% faults.

The ten-minute version is a benchmark; this one catches what leaks fast: connections
that are never closed (file descriptors), requests lost from the outputs, a run that does
not end. RSS growth is printed but not judged: 20 s is too short to tell warm-up from a
leak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
# 20 s of load, up to 5 s of grace, start-up and report writing on a loaded machine.
_TIMEOUT_S = 110


@pytest.mark.slow
@pytest.mark.timeout(_TIMEOUT_S + 10)
def test_short_soak(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["--duration", "20", "--concurrency", "100", "--interval", "5", "--warm", "5"]
    proc = subprocess.run(
        [sys.executable, str(_SOAK), *argv, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
    )
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert any(v.startswith("PASS run completed") for v in verdicts), proc.stdout
    assert any(v.startswith("PASS total ") for v in verdicts), proc.stdout
    assert any(v.startswith("PASS fds returned to baseline") for v in verdicts), proc.stdout
    assert proc.stdout.count(" load ") >= 3  # a sample every 5 s of the 20
    # The soak's own invariant, checked again from the files it left.
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "results.jsonl").read_text().splitlines()
    req = summary["requests"]
    assert req["total"] == req["ok"] + req["failed"] == len(lines) > 0
    assert req["failed"] > 0  # the faults were injected and counted
    assert "faults=" in proc.stdout
