"""End to end: the real CLI in a subprocess against the real mock server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MockServer = Callable[..., str]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return summary, lines


def test_closed_loop_timings_match_the_mock(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "100", "--itl-ms", "10", "--tokens", "32")
    proc = run_cli(
        "run",
        "--url",
        url,
        "--model",
        "m",
        "--concurrency",
        "8",
        "--requests",
        "40",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    summary, lines = load(tmp_path)
    assert summary["requests"] == {
        "total": 40, "ok": 40, "failed": 0, "by_status": {"ok": 40}, "retried": 0, "attempts": 40,
    }  # fmt: skip
    assert 100 <= summary["ttft_ms"]["p50"] <= 110
    assert 100 + 31 * 10 <= summary["latency_ms"]["p50"] <= 100 + 31 * 10 + 25
    assert 9.5 <= summary["itl_ms"]["p50"] <= 11
    assert len(lines) == 40
    assert {line["output_tokens"] for line in lines} == {32}
    assert {line["token_source"] for line in lines} == {"usage"}
    assert summary["tokens"]["output"] == 40 * 32
    assert "Requests: 40 total, 40 ok, 0 failed" in proc.stdout
    assert "TTFT (ms)" in proc.stdout


def test_httpx_transport_gives_the_same_result(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "50", "--itl-ms", "5", "--tokens", "16")
    proc = run_cli(
        "run",
        "--url",
        url,
        "--concurrency",
        "4",
        "--requests",
        "12",
        "--transport",
        "httpx",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    summary, lines = load(tmp_path)
    assert summary["requests"]["ok"] == 12
    assert {line["output_tokens"] for line in lines} == {16}
    assert 50 <= summary["ttft_ms"]["p50"] <= 65


def test_completions_provider(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "20", "--itl-ms", "2", "--tokens", "8")
    proc = run_cli(
        "run",
        "--url",
        url + "/v1",
        "--provider",
        "openai-completions",
        "--requests",
        "3",
        "--max-tokens",
        "5",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    _, lines = load(tmp_path)
    assert [line["output_tokens"] for line in lines] == [5, 5, 5]


def test_open_loop_rate_and_warmup(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "20", "--itl-ms", "2", "--tokens", "8")
    proc = run_cli(
        "run",
        "--url",
        url,
        "--rps",
        "40",
        "--duration",
        "3",
        "--warmup",
        "5",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    summary, lines = load(tmp_path)
    warm = [line for line in lines if line["phase"] == "warmup"]
    measured = [line for line in lines if line["phase"] == "measure"]
    assert len(warm) == 5
    assert summary["requests"]["total"] == len(measured)
    assert 115 <= len(measured) <= 121  # 40/s for 3 s; sends stop at the deadline
    assert summary["queue_ms"]["p99"] < 20
    assert summary["late_starts"]["count"] <= 2
    assert all(line["queue_ms"] is not None for line in measured)
    assert summary["client"]["saturated"] is False, summary["client"]
    assert "Queue (open loop) (ms)" in proc.stdout
    assert "in-flight" not in proc.stdout  # --quiet: no live lines, only the summary
    assert summary["timeseries"][0]["started"] >= 35


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        "--url",
        "http://127.0.0.1:9",
        "--no-preflight",
        "--requests",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 3
    summary, lines = load(tmp_path)
    assert summary["requests"]["failed"] == 2
    assert {line["status"] for line in lines} == {"connect_error"}
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "--concurrency must be >= 1, got 0"),
        (["--rps", "0"], "--rps must be > 0"),
        (["--provider", "nope"], "unknown --provider 'nope'"),
        (["--requests", "-1"], "--requests must be >= 1"),
        (["--timeout", "abc"], "not a number: 'abc'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "run"
    proc = run_cli("run", "--url", "http://127.0.0.1:9", "--out", str(out), *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_url_scheme(tmp_path: Path) -> None:
    proc = run_cli("run", "--url", "ftp://127.0.0.1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "llmbench run: error: --url must start with http:// or https://, got 'ftp://127.0.0.1'"
    )


def _start_long_run(url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmbench",
            "run",
            "--url",
            url,
            "--concurrency",
            "4",
            "--duration",
            "60",
            "--out",
            str(out),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lines(out: Path, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    path = out / "results.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {count} results within {timeout} s")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly(
    mock_server: MockServer, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    # Requests take ~2 s each, so some are in flight when the signal lands.
    url = mock_server("--ttft-ms", "10", "--itl-ms", "20", "--tokens", "100")
    proc = _start_long_run(url, tmp_path, "--grace", "0.3")
    try:
        _wait_for_lines(tmp_path, 4)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    summary, lines = load(tmp_path)
    assert summary["run"]["interrupted"] is True
    assert summary["requests"]["total"] == len(lines)
    statuses = {line["status"] for line in lines}
    assert statuses <= {"ok", "canceled"}
    assert "canceled" in statuses  # the grace period (0.3 s) is shorter than a request


def test_second_sigint_skips_grace(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "10", "--itl-ms", "20", "--tokens", "100")
    proc = _start_long_run(url, tmp_path, "--grace", "30")
    try:
        _wait_for_lines(tmp_path, 4)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert took < 10  # far below the 30 s grace period
    summary, lines = load(tmp_path)
    assert summary["run"]["interrupted"] is True
    assert summary["requests"]["total"] == len(lines)
    assert summary["requests"]["by_status"].get("canceled", 0) >= 1


@pytest.mark.skipif(os.cpu_count() is None, reason="needs a CPU count")
def test_saturated_client_is_flagged(mock_server: MockServer, tmp_path: Path) -> None:
    # Tiny ITL at high concurrency: the client cannot keep up and must say so.
    url = mock_server("--ttft-ms", "1", "--itl-ms", "0", "--tokens", "400")
    proc = run_cli(
        "run",
        "--url",
        url,
        "--concurrency",
        "300",
        "--duration",
        "4",
        "--grace",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    summary, _ = load(tmp_path)
    assert summary["client"]["saturated"] is True, summary["client"]
    assert summary["client"]["saturation_reasons"]
    assert "WARNING: the client was saturated" in proc.stderr


def test_a_server_behind_schedule_is_queueing_not_a_saturated_client(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # 40 rps into a cap of 2 requests that each take ~200 ms: the server falls far behind
    # (10 req/s capacity). That is queue time; the client itself is idle and must not
    # call itself saturated.
    url = mock_server("--ttft-ms", "200", "--itl-ms", "1", "--tokens", "4")
    proc = run_cli(
        "run", "--url", url, "--rps", "40", "--concurrency", "2", "--duration", "2",
        "--grace", "10", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary, lines = load(tmp_path)
    assert summary["requests"]["total"] == len(lines) >= 12
    assert summary["queue_ms"]["p50"] > 200  # requests waited for the cap...
    assert summary["late_starts"]["count"] > len(lines) / 2
    # ~80 were due in 2 s, ~20 went out: the rest are counted, not silently dropped
    assert summary["late_starts"]["never_sent"] >= 30
    assert "Never sent:" in proc.stdout
    assert summary["client"]["saturated"] is False, summary["client"]  # ...not for the client
    assert summary["ttft_from_intended_ms"]["p50"] > summary["ttft_ms"]["p50"] + 200


def test_ctrl_c_at_a_low_rate_does_not_wait_for_the_next_send(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # One request every 30 s: after the first, the feeder sleeps; SIGINT must wake it.
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4")
    proc = _start_long_run(url, tmp_path, "--rps", "0.033")
    try:
        _wait_for_lines(tmp_path, 1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)  # the next send would be ~30 s away
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    summary, lines = load(tmp_path)
    assert summary["run"]["interrupted"] is True
    assert [line["status"] for line in lines] == ["ok"]


@pytest.mark.slow
def test_five_thousand_requests_at_concurrency_500(mock_server: MockServer, tmp_path: Path) -> None:
    # The core engine's acceptance run: c=500 against TTFT 100 ms, ITL 20 ms, 50 tokens.
    # Real time, ~12 s. Tolerance: TTFT p50 within 10 ms of the mock's 100 ms, the issue's
    # bound; p50 because a shared CI core can delay a few requests, not half of them.
    url = mock_server("--ttft-ms", "100", "--itl-ms", "20", "--tokens", "50")
    proc = run_cli(
        "run", "--url", url, "--model", "m", "--concurrency", "500", "--requests", "5000",
        "--out", str(tmp_path), "--quiet", timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary, lines = load(tmp_path)
    assert len(lines) == 5000
    assert summary["requests"] == {
        "total": 5000, "ok": 5000, "failed": 0, "by_status": {"ok": 5000},
        "retried": 0, "attempts": 5000,
    }  # fmt: skip
    assert {line["output_tokens"] for line in lines} == {50}
    assert 100 <= summary["ttft_ms"]["p50"] <= 110, summary["ttft_ms"]
