"""The real CLI with ``--transport httpx`` against a server that closes kept-alive
connections under the next request (without ``Connection: close``): the hostile
review's "4 of 8 spurious failures".

Such a request may have reached the server, so it is never resent behind the user's
back: it is a ``connect_error`` ("connection closed before any response"), and
``--retries`` repeats it where the user allows, counted in ``attempts`` and
``retry_errors``. The server runs in a thread of this process (tests/hostile_servers.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# The hostile servers live beside the unit tests (tests/), which pytest puts on
# sys.path only when it collects a module there; this file may run alone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile_servers import WHOLE, Hostile, Step, serve

RUN_TIMEOUT_S = 120.0
# The server closes each connection 100 ms after its response: the next request
# (sent at once, concurrency 1) is already written on it when the FIN comes.
STALE: tuple[Step, ...] = (WHOLE, 0.1, "close")


@contextmanager
def threaded(*steps: Step) -> Iterator[Hostile]:
    """``serve(*steps)`` on its own event loop in a thread, for a subprocess to call."""
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def main() -> None:
        async with serve(*steps) as srv:
            box["srv"], box["stop"] = srv, asyncio.Event()
            ready.set()
            await box["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    try:
        assert ready.wait(10)
        yield box["srv"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()


def run_cli(out: Path, url: str, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    cli = [sys.executable, "-m", "llmbench", "run", "--url", f"{url}/v1/chat/completions"]
    proc = subprocess.run(
        [
            *cli,
            "--out",
            str(out),
            "--quiet",
            "--transport",
            "httpx",
            "--no-preflight",
            "--model",  # named: no GET /v1/models reaches the counting server
            "m",
            "--max-error-rate",
            "100%",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return proc.returncode, proc.stderr, lines


@pytest.mark.slow
def test_a_stale_connection_is_a_connect_error_never_a_silent_resend(tmp_path: Path) -> None:
    with threaded(*STALE) as srv:
        code, stderr, lines = run_cli(tmp_path / "out", srv.url, "--requests", "8")
        requests_seen = len(srv.seen.requests)
    assert "Traceback" not in stderr, stderr
    assert code == 0, stderr
    outcomes = [(r["status"], r["error"], r["attempts"]) for r in lines]
    assert set(outcomes) <= {
        ("ok", None, 1),
        ("connect_error", "connection closed before any response", 1),
    }, outcomes
    assert any(status == "connect_error" for status, _, _ in outcomes)
    # Each failed request died unread on a closing connection: the server answered
    # exactly the requests that are ok, and nothing was sent twice.
    assert requests_seen == sum(status == "ok" for status, _, _ in outcomes)


@pytest.mark.slow
def test_retries_repeat_a_stale_connection_and_count_it(tmp_path: Path) -> None:
    with threaded(*STALE) as srv:
        code, stderr, lines = run_cli(
            tmp_path / "out", srv.url, "--requests", "8", "--retries", "2"
        )
        requests_seen = len(srv.seen.requests)
    assert "Traceback" not in stderr, stderr
    assert code == 0, stderr
    assert [r["status"] for r in lines] == ["ok"] * 8
    resent = [r for r in lines if r["attempts"] > 1]
    assert resent  # the race happened, and every repeat is on the record
    assert all(r["retry_errors"] == ["connect_error"] * (r["attempts"] - 1) for r in resent)
    assert requests_seen == 8
