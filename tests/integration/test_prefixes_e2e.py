"""Shared prefixes end to end (issue 16): the real CLI against the real mock, whose
simulated prefix cache (``--prefix-cache``) makes a request that reuses a prefix reach
its first token sooner than the request that used it first; on one process and on two
workers, every request carries the group and first-use labels one process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmbench.prefixes import SharedPrefixes

MockServer = Callable[..., str]


def run(url: str, out: Path, *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--quiet", "--out", str(out),
         "--model", "mock", *args],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return sorted(lines, key=lambda line: line["index"])


def test_a_reused_prefix_reaches_its_first_token_sooner(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "150", "--itl-ms", "1", "--tokens", "4", "--prefix-cache")
    lines = run(
        url, tmp_path / "run", "--prefix-tokens", "200", "--prefix-groups", "2",
        "--input-tokens", "20", "--requests", "20",
    )  # fmt: skip
    assert len(lines) == 20
    assert {line["status"] for line in lines} == {"ok"}
    assert [line["prefix_group"] for line in lines] == [i % 2 for i in range(20)]
    assert [line["prefix_first"] for line in lines] == [True, True] + [False] * 18
    first = [line["ttft_ms"] for line in lines if line["prefix_first"]]
    reuse = [line["ttft_ms"] for line in lines if not line["prefix_first"]]
    # nothing cached: the mock's full 150 ms (the pre-flight sent a prefix no request
    # of the run sends, so it warmed none of theirs)
    assert min(first) > 120
    assert max(reuse) < 0.5 * min(first)  # ~200 of ~220 words were cached


def test_two_workers_label_requests_as_one_process_does(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "2")
    lines = run(
        url, tmp_path / "run", "--prefix-tokens", "30", "--prefix-groups", "5",
        "--prefix-pick", "random", "--seed", "3", "--input-tokens", "10", "--requests", "24",
        "--concurrency", "2", "--workers", "2",
    )  # fmt: skip
    assert [line["index"] for line in lines] == list(range(24))
    truth = SharedPrefixes(30, 5, "random", seed=3)
    assert [(line["prefix_group"], line["prefix_first"]) for line in lines] == [
        (truth.group(i), truth.first(i)) for i in range(24)
    ]
