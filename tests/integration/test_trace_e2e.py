"""Trace replay end to end (issue 16): the real CLI replays a small Mooncake-shaped trace
against the real mock, fast (--trace-speed 10), alone and on two workers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MockServer = Callable[..., str]

# 12 requests over 1.1 s of trace time (0.11 s at --trace-speed 10); two share a prefix.
TIMES_MS = [0, 0, 100, 150, 300, 400, 500, 650, 700, 900, 1000, 1100]


def write_trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    rows = [
        {"timestamp": t, "input_length": 40 + i, "output_length": 2 + i % 5, "hash_ids": [0]}
        for i, t in enumerate(TIMES_MS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def replay(url: str, trace: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--trace", str(trace),
         "--trace-speed", "10", "--quiet", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["config"]["trace"], summary["config"]["trace_speed"]) == (str(trace), 10.0)
    assert summary["requests"]["total"] == len(TIMES_MS)
    assert summary["late_starts"]["never_sent"] == 0
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return sorted(lines, key=lambda line: line["index"])


def test_a_trace_is_replayed_at_its_times(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "64")
    lines = replay(url, write_trace(tmp_path), tmp_path / "run")
    assert len(lines) == len(TIMES_MS)
    assert all(line["status"] == "ok" for line in lines)
    # the mock stops at max_tokens: the trace's output_length
    assert [line["output_tokens"] for line in lines] == [2 + i % 5 for i in range(12)]
    assert [line["input_tokens"] for line in lines] == [40 + i for i in range(12)]  # a word a token
    # intended send times (start - queue) follow the trace at 10x: within 15 ms of
    # each other's spacing (the first request's intended time is the origin)
    intended = [line["start_s"] - line["queue_ms"] / 1000 for line in lines]
    for i, t_ms in enumerate(TIMES_MS):
        assert abs((intended[i] - intended[0]) - t_ms / 10_000) < 0.015, (i, intended)
    assert all(0 <= line["queue_ms"] < 100 for line in lines)


def test_two_workers_replay_the_same_requests(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "64")
    trace = write_trace(tmp_path)
    lines = replay(url, trace, tmp_path / "run", "--workers", "2")
    assert [line["index"] for line in lines] == list(range(12))
    assert [line["worker"] for line in lines] == [i % 2 for i in range(12)]
    assert [line["output_tokens"] for line in lines] == [2 + i % 5 for i in range(12)]
