"""The open-file limit is raised before a run, or the run stops with a clear word."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from llmbench.fdlimit import FD_HEADROOM, ensure_fd_limit


@pytest.fixture
def restore_limit() -> object:
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield saved
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_raises_the_soft_limit_up_to_what_is_needed(restore_limit: tuple[int, int]) -> None:
    _, hard = restore_limit
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"hard limit {hard} too low to test raising")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert ensure_fd_limit(1000) == 1000 + FD_HEADROOM
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1000 + FD_HEADROOM
    assert ensure_fd_limit(10) is None  # enough already: untouched


def test_stops_when_the_hard_limit_is_too_low(tmp_path: Path) -> None:
    # In a child process: a lowered hard limit cannot be raised again.
    def low_limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 300))

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", "http://127.0.0.1:9",
         "--concurrency", "5000", "--out", str(out)],
        preexec_fn=low_limits, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "llmbench run: error: --concurrency 5000 needs 5064 open files, but the hard limit "
        "is 300: raise it (ulimit -Hn) or lower --concurrency"
    )
    assert not out.exists()
