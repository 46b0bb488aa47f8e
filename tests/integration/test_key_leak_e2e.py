"""No credential ever appears in any output: the real CLI against the real mock, then
every file the run left (and stdout, stderr, the JUnit file, the report and the CSV)
is searched for the secrets.

The mock echoes the request path in its 404 body, so the second run sends the secrets
in the path: the server "echoes" them the way a gateway echoing headers would, and
the error messages, error examples and config block must all come out scrubbed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from llmbench.output.csv_export import write_csv
from llmbench.output.report import build_report

MockServer = Callable[..., str]

KEY = "sk-test-SECRET123"
HEADER_SECRET = "hdr-SECRET456"
BEARER_SECRET = "tok-SECRET789"
SECRETS = (KEY, HEADER_SECRET, BEARER_SECRET, "SECRET")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_with_secrets(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--url", url, "--api-key", KEY,
        "-H", f"X-Api-Key: {HEADER_SECRET}",
        "-H", f"X-Upstream-Auth: Bearer {BEARER_SECRET}",
        "-H", "X-Tenant: team-a",
        "--requests", "6", "--concurrency", "2",
        "--slo", "ttft_p95<=60s", "--junit", str(out.parent / f"{out.name}.xml"),
        "--out", str(out), *extra,
    )  # fmt: skip


def leaks(proc: subprocess.CompletedProcess[str], out: Path) -> list[str]:
    """Every place a secret shows up: stdout, stderr, and every file the run made."""
    build_report(out)
    write_csv(out / "results.jsonl", out / "results.csv")
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    files = [*out.iterdir(), out.parent / f"{out.name}.xml"]
    texts |= {path.name: path.read_text(encoding="utf-8", errors="replace") for path in files}
    return [
        f"{secret} in {where}"
        for where, text in texts.items()
        for secret in SECRETS
        if secret in text
    ]


def test_a_successful_run_writes_no_secret(mock_server: MockServer, tmp_path: Path) -> None:
    out = tmp_path / "ok"
    proc = run_with_secrets(mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8"), out)
    assert proc.returncode == 0, proc.stderr
    assert leaks(proc, out) == []
    searched = {p.name for p in out.iterdir()}
    assert searched >= {"results.jsonl", "summary.json", "report.html", "results.csv"}
    summary = (out / "summary.json").read_text()
    # Non-secret headers stay readable; secret ones are named but not shown.
    assert '"X-Tenant",\n        "team-a"' in summary
    assert '"X-Api-Key",\n        "<redacted>"' in summary


@pytest.mark.parametrize("where", ["--endpoint", "--url"])
def test_an_error_body_that_echoes_the_secrets_is_scrubbed(
    mock_server: MockServer, tmp_path: Path, where: str
) -> None:
    out = tmp_path / "echo"
    path = f"/v1/{KEY}/{HEADER_SECRET}/{BEARER_SECRET}"
    url = mock_server()
    if where == "--url":  # the secrets in the base URL's path, the provider's path after it
        proc = run_with_secrets(url + path, out)
    else:
        proc = run_with_secrets(url, out, "--endpoint", path)
    assert proc.returncode == 3, proc.stderr  # every request failed: nothing measured
    results = (out / "results.jsonl").read_text()
    assert results.count('"status":"http_error"') == 6
    assert "no route for /v1/<redacted>/<redacted>/<redacted>" in results
    assert leaks(proc, out) == []


def free_port() -> int:
    """A port nothing listens on: bound, then released (only this test uses it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_writes_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "down"
    proc = run_with_secrets(f"http://127.0.0.1:{free_port()}", out, "--connect-timeout", "5")
    assert proc.returncode == 3, proc.stderr
    results = (out / "results.jsonl").read_text()
    assert results.count('"status":"connect_error"') == 6
    assert leaks(proc, out) == []


def test_a_password_in_the_url_is_never_written(mock_server: MockServer, tmp_path: Path) -> None:
    out = tmp_path / "userinfo"
    base = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4")
    url = base.replace("http://", "http://user:pw-SECRET000@", 1)
    proc = run_with_secrets(url, out)
    assert proc.returncode == 0, proc.stderr
    assert leaks(proc, out) == []
    assert f'"url": "{base}"' in (out / "summary.json").read_text()
