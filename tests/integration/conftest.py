"""Fixtures for tests that need a real mock server in a subprocess.

`mock_server` is the one to use: a factory that starts `llmbench mock` on 127.0.0.1 with
a free port and returns its base URL. Servers run in their own process, as users run
them, so a test exercises the real sockets, timing and shutdown.
"""

from __future__ import annotations

import contextlib
import importlib.util
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["MockServers", "browser_context", "http_server", "mock_server", "mock_server_module"]

READY_PREFIX = "llmbench mock listening on "


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A tiny in-process HTTP server on 127.0.0.1 for a test's own misbehaving
    endpoint; yields its base URL and stops it on the way out."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


def _command() -> list[str]:
    # The lead's CLI when it exists (what users run), else the package's own entry point.
    if importlib.util.find_spec("llmbench.cli") is not None:
        return [sys.executable, "-m", "llmbench", "mock"]
    return [sys.executable, "-m", "llmbench.mock"]


class MockServers:
    """Starts mock servers on demand and stops exactly the processes it started."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> str:
        """Start `llmbench mock --host 127.0.0.1 --port 0 *args`; return its base URL."""
        cmd = [*_command(), "--host", "127.0.0.1", "--port", "0", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self._procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            self.stop(proc)
            raise RuntimeError(f"mock did not start: {cmd} printed {line!r}")
        return line[len(READY_PREFIX) :].strip()

    def stop(self, proc: subprocess.Popen[str]) -> int:
        """SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`; return the exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def stop_all(self) -> None:
        """Stop every server this object started."""
        while self._procs:
            self.stop(self._procs.pop())

    @property
    def processes(self) -> list[subprocess.Popen[str]]:
        """The running servers, oldest first (for tests of the mock's own shutdown)."""
        return list(self._procs)


@pytest.fixture
def mock_server() -> Iterator[Callable[..., str]]:
    """Factory: start a mock server, get its base URL; every one is stopped at teardown.

        url = mock_server("--ttft-ms", "100", "--itl-ms", "10", "--tokens", "32")
        httpx.post(url + "/v1/chat/completions", json={...})

    Arguments are `llmbench mock` flags; `--host 127.0.0.1 --port 0` is always added and
    the port is read from the server's first stdout line. Each call starts a new process;
    teardown sends SIGTERM to exactly those PIDs, then SIGKILL after 5 s.
    """
    servers = MockServers()
    try:
        yield servers.start
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def mock_server_module() -> Iterator[Callable[..., str]]:
    """Like `mock_server`, but the servers live for the whole test module (faster)."""
    servers = MockServers()
    try:
        yield servers.start
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium (offline, a fresh profile) per test module, for the report
    tests; its settings are test_report_browser.py's, which skips when it is missing."""
    from test_report_browser import CHROMIUM, FLAGS, sync_api

    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=FLAGS,
            headless=True,
            viewport={"width": 1360, "height": 900},
        )
        context.set_offline(True)
        try:
            yield context
        finally:
            context.close()
