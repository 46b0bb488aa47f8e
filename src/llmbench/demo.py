"""`llmbench demo`: start the built-in mock server, benchmark it for real, stop it.

It is the README's first command: it proves the install works end to end and
shows what a run prints and writes, with no server of the user's own.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["add_arguments", "mock_process", "run"]

_READY_PREFIX = "llmbench mock listening on "


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    p.add_argument("--concurrency", type=int, default=500, help="requests in flight (default 500)")
    p.add_argument("--rps", type=float, default=50.0, help="target request rate (default 50)")
    p.add_argument("--out", help="run directory (default runs/<UTC timestamp>-demo/)")


@contextmanager
def mock_process(
    *mock_args: str, timeout_s: float = 15.0, pin_core: int | None = None
) -> Iterator[str]:
    """Run `llmbench mock` on a free loopback port; yield its base URL; stop it by PID.

    ``pin_core`` pins the server to one CPU with taskset (benchmarks keep client
    and server on separate cores)."""
    cmd = [sys.executable, "-m", "llmbench", "mock", "--host", "127.0.0.1", "--port", "0"]
    if pin_core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(pin_core), *cmd]
    proc = subprocess.Popen([*cmd, *mock_args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < deadline and not line.startswith(_READY_PREFIX):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError("the mock server exited before it was ready")
        if not line.startswith(_READY_PREFIX):
            raise RuntimeError("the mock server did not start in time")
        yield line[len(_READY_PREFIX) :].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def run(args: argparse.Namespace) -> int:
    from llmbench.cli import main as cli_main

    with mock_process("--ttft-ms", "100", "--itl-ms", "10", "--tokens", "64") as url:
        print(f"demo: mock server at {url} (TTFT 100 ms, ITL 10 ms, 64 tokens)", flush=True)
        argv = [
            "run",
            "--url",
            url,
            "--model",
            "demo",
            "--concurrency",
            str(args.concurrency),
            "--rps",
            str(args.rps),
            "--duration",
            str(args.duration),
            # the mock's own Prometheus page (vLLM's names): the report's Server section
            "--server-metrics",
            url + "/metrics",
        ]
        if args.out:
            argv += ["--out", args.out]
        return cli_main(argv)
