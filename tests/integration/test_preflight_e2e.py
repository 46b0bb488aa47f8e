"""A dead server is not hammered and a failing run does not pass (issue 13, item 3):
the pre-flight request, the connect back-off and ``--max-error-rate``, through the real
CLI against a closed port and the real mock (killed mid-run)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import MockServers, http_server

# The first request of the real workload, sent before the clock starts.
PREFLIGHT_FAILED = "llmbench run: pre-flight request failed: "


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def closed_port() -> str:
    """A URL nothing listens on: a port bound, then released (only this test uses it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def results(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_closed_port_fails_the_pre_flight_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    url = closed_port()
    proc = run_cli("--url", url, "--concurrency", "4", "--duration", "3", "--out", str(out))
    assert proc.returncode == 3, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(PREFLIGHT_FAILED + "connect_error"), line
    assert "--no-preflight" in line
    assert results(out) == []  # nothing measured, nothing sent after the pre-flight
    assert not (out / "summary.json").exists()


def test_the_pre_flight_names_the_status_and_the_body(tmp_path: Path) -> None:
    servers = MockServers()
    try:
        url = servers.start("--ttft-ms", "1", "--itl-ms", "1", "--fault", "status:503")
        proc = run_cli("--url", url, "--requests", "50", "--out", str(tmp_path / "run"))
    finally:
        servers.stop_all()
    assert proc.returncode == 3, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(PREFLIGHT_FAILED + "http_error 503: "), line
    assert len(line) < 500
    assert results(tmp_path / "run") == []


def test_without_pre_flight_a_closed_port_stops_at_the_error_rate(tmp_path: Path) -> None:
    # 4 workers against a closed port for up to 30 s: the back-off spaces the attempts
    # and the error rate (100% of the first 20 > 50%) stops the run within a second or so.
    # Every request failed: exit 3 (nothing measured) comes before 5 (error rate).
    out = tmp_path / "run"
    began = time.monotonic()
    proc = run_cli(
        "--url", closed_port(), "--no-preflight", "--concurrency", "4", "--duration", "30",
        "--out", str(out),
    )  # fmt: skip
    elapsed = time.monotonic() - began
    assert proc.returncode == 3, proc.stderr  # nothing succeeded: 3 wins over 5
    assert 20 <= len(results(out)) <= 24  # the 20 that tripped it, and those in flight
    assert elapsed < 15
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stop_reason"] == "error rate"
    assert summary["run"]["error_rate_stop"] == {"threshold": 0.5, "observed": 1.0, "window": 20}


def test_a_mock_killed_mid_run_stops_the_run_with_exit_5(tmp_path: Path) -> None:
    # Healthy for about a second, then the server is gone: the run must stop within a
    # bounded number of failures (not tens of thousands) and must not exit 0.
    servers = MockServers()
    out = tmp_path / "run"
    try:
        url = servers.start("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4")
        cmd = [sys.executable, "-m", "llmbench", "run", "--quiet", "--url", url,
               "--concurrency", "4", "--duration", "30", "--out", str(out)]  # fmt: skip
        began = time.monotonic()
        with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as run:
            time.sleep(1.5)
            servers.stop_all()  # SIGTERM: the mock closes its sockets and exits
            _, stderr = run.communicate(timeout=60)
        elapsed = time.monotonic() - began
    finally:
        servers.stop_all()
    assert run.returncode == 5, stderr
    lines = results(out)
    failed = [r for r in lines if r["status"] != "ok"]
    assert any(r["status"] == "ok" for r in lines)
    assert 0 < len(failed) <= 200, len(failed)
    assert elapsed < 20
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["stop_reason"] == "error rate"
    assert summary["run"]["error_rate_stop"]["observed"] > 0.5


def test_a_token_slo_is_refused_when_the_pre_flight_reply_has_no_usage(tmp_path: Path) -> None:
    """Usage was asked for (auto mode) but the server sends none: the run would count
    characters and judge a TPOT target in them. The pre-flight reply shows it first."""
    from http.server import BaseHTTPRequestHandler

    events = [
        b'{"choices":[{"index":0,"delta":{"content":"hi there"}}]}',
        b'{"choices":[{"index":0,"delta":{"content":" you"}}]}',
        b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        b"[DONE]",
    ]
    body = b"".join(b"data: " + e + b"\n\n" for e in events)

    class NoUsage(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(NoUsage) as url:
        gate = ("--requests", "3", "--slo", "tpot_p50<=50ms")
        refused = run_cli("--url", url, *gate, "--out", str(tmp_path / "a"))
        allowed = run_cli("--url", url, *gate, "--allow-char-slo", "--out", str(tmp_path / "b"))
        unchecked = run_cli("--url", url, *gate, "--no-preflight", "--out", str(tmp_path / "c"))
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.splitlines()
    assert "the pre-flight reply was counted in chars" in line
    assert "--allow-char-slo" in line
    assert results(tmp_path / "a") == []
    assert allowed.returncode == 0, allowed.stderr  # judged, in chars, as asked
    assert len(results(tmp_path / "b")) == 3
    # Without the pre-flight the run goes ahead, and the unit decides at the end: a
    # TPOT of characters never passes a token target, whatever it measured.
    assert unchecked.returncode == 1, unchecked.stderr
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["run"]["token_unit"] == "chars"
    (check,) = summary["slo"]["checks"]
    assert check["measured"] is not None
    assert check["measured"] <= 50
    assert (check["passed"], check["reason"]) == (
        False,
        "counted in chars, not tokens (--allow-char-slo judges it anyway)",
    )
