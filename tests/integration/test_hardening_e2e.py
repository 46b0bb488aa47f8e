"""End to end, the real CLI against the real mock: proxies from the environment, a rerun
into the same run dir, and the summary's raw inter-chunk latency."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MockServer = Callable[..., str]
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def run_cli(
    url: str, out: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    return subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=base | env,
    )


def lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("var", ["ALL_PROXY", "HTTP_PROXY"])
def test_a_proxy_from_the_environment_is_used(
    mock_server: MockServer, tmp_path: Path, var: str
) -> None:
    url = mock_server("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "4")
    proc = run_cli(url, tmp_path / "run", {var: DEAD_PROXY}, "--requests", "2", "--no-preflight")
    assert "note: a proxy is set: using --transport httpx" in proc.stdout
    assert proc.returncode == 3, proc.stderr  # the proxy is down: nothing got through
    assert {r["status"] for r in lines(tmp_path / "run")} == {"connect_error"}


def test_no_proxy_sends_directly(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "4")
    env = {"ALL_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1"}
    proc = run_cli(url, tmp_path / "run", env, "--requests", "2")
    assert proc.returncode == 0, proc.stderr
    assert "note: a proxy is set" not in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="socksio installed")
def test_a_socks_proxy_without_socksio_is_a_config_error(tmp_path: Path) -> None:
    env = {"ALL_PROXY": "socks5://127.0.0.1:9"}
    proc = run_cli("http://127.0.0.1:9", tmp_path / "run", env, "--requests", "1")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "a SOCKS proxy is set in the environment" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_rerun_into_the_same_dir_holds_one_run(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "1", "--itl-ms", "1", "--tokens", "6")
    out = tmp_path / "run"
    for requests in ("5", "3"):
        proc = run_cli(url, out, {}, "--requests", requests, "--quiet")
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert len(lines(out)) == summary["requests"]["total"] == 3
    # Every chunk is one token here: the raw inter-chunk gaps are the ITL gaps.
    assert summary["icl_ms"]["count"] == summary["itl_ms"]["count"] == 3 * 5
    assert "icl_ms" in summary["definitions"]
