"""``llmbench run --config FILE.toml`` through the real CLI against the real mock: the
file's values reach the run (summary.json), the command line wins, ``--workers 2``
workers run the file's flags without the file, ``--print-config`` sends nothing and
shows no credential, and a bad file is one line, exit 2. Every run is small."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import http_server

MockServer = Callable[..., str]

RUN_TIMEOUT_S = 60.0
SECRET = "sk-live-config-0123456789"


def llmbench(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=cwd,
        input=stdin,
    )


def summary(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def fast_url(mock_server_module: MockServer) -> str:
    return mock_server_module("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")


def bench(url: str) -> str:
    """A benchmark definition as a team would keep it (aliases and `_` included)."""
    return f"""
url = "{url}"
model-name = "from-the-file"
threads = 2
requests = 12
max_tokens = 5
header = ["X-Team: infra"]
slo = ["error_rate<=1%", "ttft_p95<=10s"]
quiet = true
"""


def test_a_run_takes_its_flags_from_the_file(fast_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(bench(fast_url))
    out = tmp_path / "run"
    proc = llmbench("run", "--config", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    s = summary(out)
    config = s["config"]
    assert (config["model"], config["concurrency"], config["requests"]) == ("from-the-file", 2, 12)
    assert (config["max_tokens"], config["headers"]) == (5, [["X-Team", "infra"]])
    assert s["requests"]["total"] == 12
    assert [c["expr"] for c in s["slo"]["checks"]] == ["error_rate<=1%", "ttft_p95<=10s"]


def test_the_command_line_wins_and_replaces_the_files_slos(fast_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(bench(fast_url))
    out = tmp_path / "run"
    proc = llmbench("run", "--config", str(path), "--out", str(out), "--concurrency", "3",
                    "--slo", "ttft_p99<=10s")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = summary(out)
    assert (s["config"]["concurrency"], s["config"]["requests"]) == (3, 12)
    assert [c["expr"] for c in s["slo"]["checks"]] == ["ttft_p99<=10s"]


def test_workers_run_the_files_flags_without_the_file(fast_url: str, tmp_path: Path) -> None:
    """The file is only the coordinator's stdin (/dev/stdin): a worker, reading its own
    stdin, could not read it; each still runs the file's flags."""
    out = tmp_path / "run"
    proc = llmbench("run", "--config", "/dev/stdin", "--workers", "2", "--out", str(out),
                    stdin=bench(fast_url))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = summary(out)["config"]
    assert (config["model"], config["concurrency"], config["requests"]) == ("from-the-file", 2, 12)
    assert (config["max_tokens"], config["shards"]) == (5, 2)
    assert summary(out)["requests"]["total"] == 12
    for i in (0, 1):
        worker = summary(out / "workers" / str(i))["config"]
        assert (worker["model"], worker["max_tokens"], worker["shard"]) == ("from-the-file", 5, i)


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_error(500)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_print_config_sends_nothing_and_shows_no_credential(tmp_path: Path) -> None:
    with http_server(_Recorder) as url:
        host = url.removeprefix("http://")
        path = tmp_path / "bench.toml"
        path.write_text(
            f'url = "http://admin:{SECRET}@{host}/v1?api_key={SECRET}"\n'
            f'api-key = "{SECRET}"\n'
            f'header = ["Authorization: Bearer {SECRET}", "X-Api-Key: {SECRET}", "X-Team: a"]\n'
            f'prompt = "repeat {SECRET}"\n'
        )
        proc = llmbench("run", "--config", str(path), "--print-config", "--requests", "3",
                        cwd=tmp_path)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
    assert SECRET not in proc.stdout
    assert "0123456789" not in proc.stdout
    table = tomllib.loads(proc.stdout)
    assert table["api-key"] == "<redacted>"
    assert table["header"] == ["Authorization: <redacted>", "X-Api-Key: <redacted>", "X-Team: a"]
    assert table["url"].startswith(f"http://{host}/v1?api_key=")
    assert table["requests"] == 3
    assert _Recorder.seen == []  # no pre-flight, no model discovery, no run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.toml"]  # no runs/


def test_a_bad_file_is_one_line_and_exit_2(fast_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(f'url = "{fast_url}"\nconcurency = 4\n')
    proc = llmbench("run", "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"llmbench run: error: --config {path}: unknown key 'concurency' "
        "(did you mean 'concurrency'?)\n"
    )
    assert not (tmp_path / "runs").exists()
