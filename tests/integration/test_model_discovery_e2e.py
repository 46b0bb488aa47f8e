"""A run without --model asks an OpenAI-compatible server which model it serves (issue
13, item 7), through the real CLI against the real mock: its one model is sent (the
mock, like vLLM, refuses any other name with 404), several stop the run before a
request is sent (exit 2, the names on one line), and a server with no model list is
sent requests that name no model, with a note saying why."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

FAST = ("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "4")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--requests", "3", "--concurrency", "1", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_one_served_model_is_sent(mock_server: Callable[..., str], tmp_path: Path) -> None:
    url = mock_server(*FAST, "--model", "Org/Only-1")
    proc = run_cli("--url", url, "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "note: --model Org/Only-1: the one model the server lists" in proc.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["model"] == "Org/Only-1"
    assert summary["requests"]["ok"] == 3  # any other name would be a 404


def test_several_served_models_stop_the_run(
    mock_server: Callable[..., str], tmp_path: Path
) -> None:
    url = mock_server(*FAST, "--model", "a", "--model", "b")
    proc = run_cli("--url", url, "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "llmbench run: error: --model is required: the server lists 2 models: a, b"
    ]
    assert not (tmp_path / "run").exists()


def test_no_model_list_sends_no_model_and_says_why(
    mock_server: Callable[..., str], tmp_path: Path
) -> None:
    # /nope/v1/models is not a route; --endpoint sends the requests to the real one.
    base = mock_server(*FAST) + "/nope"
    out = tmp_path / "run"
    proc = run_cli("--url", base, "--endpoint", "/v1/chat/completions", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (
        f"note: no --model, and GET {base}/v1/models failed: HTTP 404: no route for "
        "/nope/v1/models: requests name no model"
    ) in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["model"] is None
    assert summary["requests"]["ok"] == 3


def test_a_given_model_is_never_looked_up(mock_server: Callable[..., str], tmp_path: Path) -> None:
    url = mock_server(*FAST, "--model", "a", "--model", "b")  # a lookup would stop the run
    proc = run_cli("--url", url, "--model", "b", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "note:" not in proc.stdout
