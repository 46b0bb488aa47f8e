"""HTTPS end to end: the mock served with a self-signed certificate made in the test.

The certificate is for 127.0.0.1 (an IP SAN, as verifiers require); the run trusts it
only through `--ca-cert`, or skips verification with `--insecure`. Without either, every
request is a classified failure, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MockServer = Callable[..., str]
REQUESTS = 4

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def url(mock_server_module: MockServer, cert: tuple[Path, Path]) -> str:
    flags = ("--ttft-ms", "10", "--itl-ms", "1", "--tokens", "4")
    served = mock_server_module(*flags, "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]))
    assert served.startswith("https://127.0.0.1:")
    return served


def run(url: str, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "llmbench", "run", "--url", url),
            *("--requests", str(REQUESTS), "--out", str(out), "--quiet", *flags),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def statuses(out: Path) -> list[str]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return [json.loads(line)["status"] for line in lines]


@pytest.mark.parametrize("transport", ["fast", "httpx"])
def test_ca_cert_verifies_the_server(
    url: str, cert: tuple[Path, Path], tmp_path: Path, transport: str
) -> None:
    proc = run(url, tmp_path, "--ca-cert", str(cert[0]), "--transport", transport)
    assert proc.returncode == 0, proc.stderr
    assert statuses(tmp_path) == ["ok"] * REQUESTS


@pytest.mark.parametrize("transport", ["fast", "httpx"])
def test_an_unknown_certificate_fails_every_request_cleanly(
    url: str, tmp_path: Path, transport: str
) -> None:
    proc = run(url, tmp_path, "--transport", transport, "--no-preflight")
    assert proc.returncode == 3, proc.stderr  # nothing measured
    assert "Traceback" not in proc.stderr
    found = statuses(tmp_path)
    assert len(found) == REQUESTS
    assert "ok" not in found
    assert set(found) <= {"connect_error", "http_error", "stream_error"}


def test_insecure_skips_verification(url: str, tmp_path: Path) -> None:
    proc = run(url, tmp_path, "--insecure")
    assert proc.returncode == 0, proc.stderr
    assert statuses(tmp_path) == ["ok"] * REQUESTS


def test_a_missing_ca_file_is_a_usage_error(url: str, tmp_path: Path) -> None:
    proc = run(url, tmp_path, "--ca-cert", str(tmp_path / "nope.pem"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "nope.pem" in proc.stderr


def test_the_mock_refuses_a_bad_certificate_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    for args in (["--tls-cert", str(bad)], ["--tls-cert", str(tmp_path / "missing.pem")]):
        proc = subprocess.run(
            [sys.executable, "-m", "llmbench", "mock", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("llmbench mock: --tls-cert")
