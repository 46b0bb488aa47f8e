"""Nothing lost under faults: the real CLI against the mock with every `--fault` mode.

Whatever the server does, the run completes without a traceback, every measured request
is one line in results.jsonl and one count in summary.json, each failure has the status a
user would look for with a short message, and a 10 MB event does not grow the client's
memory past its line bound. Both HTTP transports are run: they classify through the same
`Exchange`, but each has its own way of noticing EOF, stalls and odd heads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmbench.caps import MAX_ERROR_BYTES

MockServer = Callable[..., str]
TRANSPORTS = ("fast", "httpx")
# The client holds at most one 1 MiB line per stream; 4 streams of a 10 MB event must
# not get anywhere near 10 MB each. Python plus the report libraries is ~60-100 MB.
MAX_CLIENT_RSS_KB = 200 * 1024
# Generous for a loaded, shared machine: the slowest mode (trickle) takes a few seconds.
RUN_TIMEOUT_S = 120.0
# Time limits tight enough that stall and hang end fast, loose enough for a slow machine.
TIMEOUTS = ("--timeout", "30", "--ttft-timeout", "3", "--stall-timeout", "1")
MOCK = ("--ttft-ms", "5", "--itl-ms", "5", "--tokens", "6", "--seed", "1")


@dataclass(frozen=True)
class Expect:
    """What one fault mode must look like in results.jsonl (status, detail, HTTP code)."""

    outcomes: frozenset[tuple[str, str | None, int | None]]
    mock: tuple[str, ...] = MOCK
    error: str = ""


def _one(status: str, detail: str | None = None, code: int | None = 200, error: str = "") -> Expect:
    return Expect(frozenset({(status, detail, code)}), error=error)


CASES: dict[str, Expect] = {
    "status:429": _one("http_error", code=429, error="HTTP 429: "),
    "status:500": _one("http_error", code=500, error="HTTP 500: "),
    "status:503": _one("http_error", code=503, error="HTTP 503: "),
    "html": _one("http_error", code=502, error="502 Bad Gateway"),
    "cut:3": _one("incomplete"),
    "stall": _one("timeout", "stall", error="timeout:stall"),
    "hang": _one("timeout", "ttft", None, error="timeout:ttft"),
    # Two tokens: a few hundred bytes at one byte a millisecond.
    "trickle": Expect(
        frozenset({("ok", None, 200)}), ("--ttft-ms", "5", "--itl-ms", "5", "--tokens", "2")
    ),
    "badjson": _one("parse_error", error="JSONDecodeError"),
    "huge": _one("parse_error", error="max_line_bytes"),
    "noend": _one("incomplete", error="without an end signal"),
    "error-event": _one("stream_error", error="mock fault: generation failed"),
    "content-type": _one("parse_error", error="text/plain"),
}


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    max_rss_kb: int
    summary: dict[str, Any]
    lines: list[dict[str, Any]]


# Runs the CLI as its only child and writes that child's peak RSS (KiB, Linux) to argv[1]:
# RUSAGE_CHILDREN in the test process would also count every other child it ever reaped.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_cli(out: Path, url: str, *args: str) -> Run:
    """Run `llmbench run` to the end; return its exit code, stderr, peak RSS and outputs."""
    rss = out.parent / f"{out.name}.rss"
    cli = [sys.executable, "-m", "llmbench", "run", "--url", url, "--out", str(out), "--quiet"]
    cli += ["--no-preflight", "--max-error-rate", "100%"]  # the failures are what is under test
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(rss), *cli, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return Run(proc.returncode, proc.stderr, int(rss.read_text()), summary, lines)


def check_invariants(run: Run) -> list[dict[str, Any]]:
    """The run ended by itself, lost nothing, and kept every message short."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in (0, 1, 3), (run.code, run.stderr)
    measured = [r for r in run.lines if r["phase"] == "measure"]
    req = run.summary["requests"]
    assert req["total"] == req["ok"] + req["failed"] == len(measured)
    assert sum(req["by_status"].values()) == req["total"]
    assert run.code == (3 if req["ok"] == 0 else 0), run.stderr
    for r in measured:
        assert r["status"] == "ok" or r["error"], r
        assert len(r["error"] or "") <= MAX_ERROR_BYTES
    return measured


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("fault", list(CASES))
def test_fault_is_classified(
    mock_server: MockServer, tmp_path: Path, fault: str, transport: str
) -> None:
    expect = CASES[fault]
    url = mock_server(*expect.mock, "--fault", fault)
    out = tmp_path / "out"
    run = run_cli(
        out, url, "--requests", "8", "--concurrency", "4", "--transport", transport, *TIMEOUTS
    )
    measured = check_invariants(run)
    assert len(measured) == 8
    got = {(r["status"], r["detail"], r["http_status"]) for r in measured}
    assert got == expect.outcomes
    assert all(expect.error in (r["error"] or "") for r in measured)
    if fault == "huge":
        assert run.max_rss_kb < MAX_CLIENT_RSS_KB


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_trickle_past_the_total_limit_is_timeout_total(
    mock_server: MockServer, tmp_path: Path, transport: str
) -> None:
    # 40 tokens at one byte a millisecond take several seconds; bytes keep coming, so
    # neither the stall limit nor (without --ttft-timeout) a first-token limit fires.
    url = mock_server("--ttft-ms", "5", "--itl-ms", "5", "--tokens", "40", "--fault", "trickle")
    run = run_cli(
        tmp_path / "out", url, "--requests", "4", "--concurrency", "4",
        "--transport", transport, "--timeout", "1", "--stall-timeout", "1",
    )  # fmt: skip
    measured = check_invariants(run)
    assert {(r["status"], r["detail"]) for r in measured} == {("timeout", "total")}
    assert all(r["error"].startswith("timeout:total: ") for r in measured)


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_mixed_faults_keep_the_good_requests(
    mock_server: MockServer, tmp_path: Path, transport: str
) -> None:
    url = mock_server(*MOCK, "--fault", "status:500", "--fault", "cut:2", "--fault-rate", "0.5")
    run = run_cli(
        tmp_path / "out", url, "--requests", "16", "--concurrency", "4", "--transport", transport
    )
    measured = check_invariants(run)
    counts = Counter(r["status"] for r in measured)
    assert set(counts) <= {"ok", "http_error", "incomplete"}
    # The mock's seeded draw at 0.5 over 16 requests: some of each, never all one kind.
    assert counts["ok"] > 0
    assert counts["http_error"] + counts["incomplete"] > 0
    assert run.summary["requests"]["ok"] == counts["ok"]


def _retry_run(mock_server: MockServer, out: Path, *args: str) -> list[dict[str, Any]]:
    """Run against 503s on half the requests; the summary counts what the lines say."""
    url = mock_server(*MOCK, "--fault", "status:503", "--fault-rate", "0.5")
    run = run_cli(out, url, "--requests", "12", "--concurrency", "2", "--timeout", "30", *args)
    measured = check_invariants(run)
    req = run.summary["requests"]
    assert req["retried"] == sum(1 for r in measured if r["attempts"] > 1)
    assert req["attempts"] == sum(r["attempts"] for r in measured)
    return measured


@pytest.mark.slow
def test_retries_are_off_by_default(mock_server: MockServer, tmp_path: Path) -> None:
    measured = _retry_run(mock_server, tmp_path / "out")
    assert {r["attempts"] for r in measured} == {1}
    assert all(r["retry_errors"] == [] for r in measured)
    assert any(r["http_status"] == 503 for r in measured)


@pytest.mark.slow
def test_retries_record_each_attempt(mock_server: MockServer, tmp_path: Path) -> None:
    measured = _retry_run(mock_server, tmp_path / "out", "--retries", "2")
    assert len(measured) == 12
    retried = [r for r in measured if r["attempts"] > 1]
    assert retried, "at rate 0.5 some of 12 requests meet a 503 first"
    for r in measured:
        assert 1 <= r["attempts"] <= 3
        assert len(r["retry_errors"]) == r["attempts"] - 1
        assert all("503" in e for e in r["retry_errors"])
        # A request that still failed used up every attempt on a retryable error.
        if r["status"] != "ok":
            assert (r["status"], r["http_status"], r["attempts"]) == ("http_error", 503, 3)


def test_unknown_fault_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "mock", "--port", "0", "--fault", "explode"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("llmbench mock: --fault 'explode' is not a fault mode")
