"""No credential ever appears in any output: the real CLI against the real mock, then
every file the run left (and stdout, stderr, the JUnit file, the report and the CSV)
is searched for the secrets.

The mock echoes the request path in its 404 body, so the second run sends the secrets
in the path: the server "echoes" them the way a gateway echoing headers would, and
the error messages, error examples and config block must all come out scrubbed.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import http_server

from llmbench.output.csv_export import write_csv
from llmbench.output.report import build_report

MockServer = Callable[..., str]

KEY = "sk-test-SECRET123"
HEADER_SECRET = "hdr-SECRET456"
BEARER_SECRET = "tok-SECRET789"
SECRETS = (KEY, HEADER_SECRET, BEARER_SECRET, "SECRET")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # every run gets to send (and fail): what it writes is under test
        [sys.executable, "-m", "llmbench", "run", "--no-preflight", *args],
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


# -- a server that echoes the credentials back, encoded (issue 12, items 1-3) ------------

ECHO_KEY = "sk-echo-SECRET-0123456789abcdef"
URL_PASSWORD = "pw-echo-SECRET-000"


def encodings(value: str) -> list[str]:
    """``value`` as hostile servers echo it: JSON \\u escapes, URL encoding, \\x escapes
    (h11's error repr), HTML entities, base64 of it and of ``user:value``."""
    return [
        "".join(f"\\u{ord(c):04x}" for c in value),
        "".join(f"%{ord(c):02X}" for c in value),
        repr(value.encode() + b"\r")[2:-1].replace("-", "\\x2d"),
        "".join(f"&#{ord(c)};" for c in value),
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(f"user:{value}".encode()).decode(),
    ]


class _Echo(BaseHTTPRequestHandler):
    """401 with a JSON body that echoes the Authorization header in every encoding, or
    (path /stream) a 200 SSE stream whose frames carry the same echoes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme == "Basic":
            token = base64.b64decode(token).decode().partition(":")[2]
        echoes = [auth, *encodings(token), *encodings(auth)]
        if self.path.startswith("/stream"):
            frames = [{"choices": [{"delta": {"content": f"you sent {echo}"}}]} for echo in echoes]
            body = b"".join(b"data: " + json.dumps(f).encode() + b"\n\n" for f in frames)
            body += (
                b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
            )
            self._send(200, "text/event-stream", body)
        else:
            self._send(
                401,
                "application/json",
                json.dumps({"error": {"message": " ".join(echoes)}}).encode(),
            )

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    with http_server(_Echo) as url:
        yield url


def readings(text: str) -> list[str]:
    """Every way a reader could decode ``text`` to get a secret back."""
    out = [text, urllib.parse.unquote(text), html.unescape(text)]
    unescaped = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    out.append(re.sub(r"\\+x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), unescaped))
    for run in re.findall(r"[A-Za-z0-9+/]{8,}", text):
        for start in range(4):
            chunk = run[start:]
            out.append(base64.b64decode(chunk[: len(chunk) - len(chunk) % 4]).decode("latin-1"))
    return out


def encoded_leaks(proc: subprocess.CompletedProcess[str], out: Path, *secrets: str) -> list[str]:
    build_report(out)
    write_csv(out / "results.jsonl", out / "results.csv")
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    texts |= {p.name: p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir()}
    return [
        f"{secret!r} in {where}"
        for where, text in texts.items()
        for secret in secrets
        if any(secret[1:-1] in reading for reading in readings(text))
    ]


@pytest.mark.parametrize("transport", ["fast", "httpx"])
@pytest.mark.parametrize("path", ["/v1", "/stream"])
def test_an_echo_in_any_encoding_is_scrubbed(
    echo_server: str, tmp_path: Path, transport: str, path: str
) -> None:
    out = tmp_path / "echo"
    proc = run_cli(
        "--url", echo_server, "--endpoint", path, "--api-key", ECHO_KEY, "--transport", transport,
        "--requests", "4", "--concurrency", "2", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == (0 if path == "/stream" else 3), proc.stderr
    results = (out / "results.jsonl").read_text()
    assert results.count('"status":"ok"' if path == "/stream" else '"status":"http_error"') == 4
    assert "<redacted>" in (out / "summary.json").read_text()
    assert encoded_leaks(proc, out, ECHO_KEY) == []


@pytest.mark.parametrize("transport", ["fast", "httpx"])
def test_an_echoed_url_password_in_any_encoding_is_scrubbed(
    echo_server: str, tmp_path: Path, transport: str
) -> None:
    out = tmp_path / "basic"
    url = echo_server.replace("http://", f"http://user:{URL_PASSWORD}@", 1)
    proc = run_cli(
        "--url", url, "--transport", transport, "--requests", "2", "--out", str(out)
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "Basic <redacted>" in (out / "results.jsonl").read_text()  # it was sent, and echoed
    assert encoded_leaks(proc, out, URL_PASSWORD, f"user:{URL_PASSWORD}") == []


def test_a_key_from_a_crlf_env_file_works(echo_server: str, tmp_path: Path) -> None:
    # `set -a; . ./.env` with CRLF line ends leaves "KEY\r": the key h11 then echoed whole
    out = tmp_path / "env"
    env = {**os.environ, "LLMBENCH_API_KEY": ECHO_KEY + "\r"}
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--no-preflight", "--url", echo_server,
         "--transport", "httpx",
         "--requests", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr  # the echo server answers 401
    assert '"status":"http_error"' in (out / "results.jsonl").read_text()
    assert encoded_leaks(proc, out, ECHO_KEY) == []


@pytest.mark.parametrize("ch", ["\r", "\x0b", "\x00", "\x1b"])  # LF ends a line
@pytest.mark.parametrize("transport", ["fast", "httpx"])
def test_a_key_with_a_control_character_is_never_sent(
    echo_server: str, tmp_path: Path, transport: str, ch: str
) -> None:
    out = tmp_path / "ctl"
    keys = tmp_path / "keys.txt"
    keys.write_bytes(f"{ECHO_KEY[:10]}{ch}{ECHO_KEY[10:]}\n".encode())
    proc = run_cli(
        "--url", echo_server, "--api-key-file", str(keys), "--transport", transport,
        "--requests", "2", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert f"--api-key-file {keys} line 1: the key contains a control character" in proc.stderr
    assert ECHO_KEY[:10] not in proc.stderr + proc.stdout
    assert not out.exists()
