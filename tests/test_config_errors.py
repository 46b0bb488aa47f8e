"""Bad input stops the run before it starts: one line naming the flag and the rule,
exit code 2, no traceback, and no run directory left behind."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

URL = "http://127.0.0.1:9"
FILE_TEXT = "not a run dir\n"
NO_H2 = pytest.mark.skipif(importlib.util.find_spec("h2") is not None, reason="h2 is installed")


def files(tmp: Path) -> dict[str, Path]:
    (tmp / "empty.txt").write_text("\n\n")
    (tmp / "bad.toml").write_text("path = [unclosed\n")
    (tmp / "keys").mkdir()  # a directory: unreadable as a key file
    (tmp / "file").write_text(FILE_TEXT)
    return {
        "empty": tmp / "empty.txt",
        "toml": tmp / "bad.toml",
        "keys": tmp / "keys",
        "file": tmp / "file",
    }


CASES = [
    (["--url", URL, "--concurrency", "0"], "--concurrency must be >= 1, got 0"),
    (["--url", URL, "--concurrency", "-5"], "--concurrency must be >= 1, got -5"),
    (["--url", URL, "--rps", "0"], "--rps must be > 0, got 0.0"),
    (
        ["--url", URL, "--prompts-file", "{tmp}/missing.txt"],
        "--prompts-file {tmp}/missing.txt: cannot read it",
    ),
    (["--url", URL, "--prompts-file", "{empty}"], "no prompts in it"),
    (["--url", URL, "--api-key-file", "{keys}"], "--api-key-file {keys}: cannot read it"),
    (["--url", "127.0.0.1:8000"], "--url must start with http:// or https://"),
    (["--url", "ftp://127.0.0.1"], "--url must start with http:// or https://"),
    (["--url", URL, "--provider", "nope"], "unknown --provider 'nope'"),
    (
        ["--url", URL, "--provider", "template", "--provider-config", "{toml}"],
        "--provider-config {toml}: invalid TOML",
    ),
    (["--url", URL, "--extra-body", "{not json"], "--extra-body is not valid JSON"),
    (["--url", URL, "--slo", "ttft_p95<=fast"], "--slo: malformed SLO 'ttft_p95<=fast'"),
    (["--url", URL, "--requests", "0", "--duration", "0"], "--requests must be >= 1"),
    (["--url", URL, "--duration", "0"], "--duration must be > 0 seconds"),
    (["--url", URL, "--timeout", "nan"], "--timeout must be > 0 seconds"),
    (["--url", URL, "--ttft-timeout", "-1"], "--ttft-timeout must be > 0 seconds"),
    (
        ["--url", URL, "--api-key-file", "{tmp}/missing"],
        "--api-key-file {tmp}/missing: cannot read",
    ),
    (["--url", URL, "--out", "{file}/run"], "--out {file}/run: {file} is a file"),
    (["--url", URL, "--out", "{file}"], "--out {file}: exists and is not a directory"),
    (["--url", URL, "--junit", "{tmp}"], "--junit {tmp}: is a directory"),
    (["--url", URL, "--junit", "{file}/j.xml"], "--junit {file}/j.xml: {file} is a file"),
    (
        ["--url", URL, "--slo", "queue_p95<=10ms"],
        "--slo: 'queue_p95<=10ms': queue_p95 is measured only in open loop (--rps)",
    ),
    # issue 12: each of these crashed with a traceback, hung, or sent before failing
    (["--url", "http://127.0.0.1:99999"], "--url has a port that is not a number in 1..65535"),
    (["--url", "http://[::1"], "--url is not a valid URL"),
    (["--host", "127.0.0.1", "--port", "99999"], "--port must be <= 65535, got 99999"),
    (["--url", URL, "--rps", "1e-300"], "--rps must be >= 1e-06"),
    (["--url", URL, "--timeout", "1e300"], "--timeout must be <= 31536000 seconds (one year)"),
    (["--url", URL, "--input-tokens", "1000000000"], "--input-tokens must be at most 1000000"),
    (["--url", URL, "--requests", str(2**64 + 1)], "--requests must be <= 1000000000"),
    (["--url", URL, "--api-key", "sk-SECRET\r\nX: 1"], "--api-key: the key contains a control"),
    pytest.param(
        ["--url", URL, "--transport", "httpx", "--http2"],
        "--http2 needs the h2 package",
        marks=NO_H2,
        id="http2-without-h2",
    ),
]


def _fill(text: str, paths: dict[str, str]) -> str:
    for name, path in paths.items():
        text = text.replace("{" + name + "}", path)
    return text


@pytest.mark.parametrize(("argv", "message"), CASES)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    paths = {k: str(v) for k, v in files(tmp_path).items()} | {"tmp": str(tmp_path)}
    out = tmp_path / "run-dir"
    args = [_fill(a, paths) for a in argv]
    if "--out" not in args:
        args += ["--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("llmbench run: error: ")
    assert _fill(message, paths) in lines[0]
    assert not out.exists()
    assert (tmp_path / "file").read_text() == FILE_TEXT  # an --out that is a file: untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "empty.txt", "file", "keys"]
    assert proc.stdout == ""
    assert "SECRET" not in proc.stderr
