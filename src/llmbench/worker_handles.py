"""How the ``--workers`` coordinator reaches a worker: a local process, or (``--ray``)
a process that a Ray actor runs on some node of a cluster. Both speak the same pipe
protocol (see :mod:`llmbench.coordinator`); a handle hides where the process runs.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

__all__ = ["LocalWorker", "WorkerHandle", "die_with_parent", "send_start", "worker_command"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a worker, before it starts (Linux): SIGTERM when its parent dies, so a
    coordinator killed outright leaves no worker behind; the worker still ends as on
    Ctrl-C, writing everything (``llmbench merge`` can combine what they wrote)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives its run at most
        pass


def worker_command(flags: list[str], out: Path | str) -> list[str]:
    """The command that runs a worker with ``flags`` into run directory ``out``, with
    this interpreter (on a Ray node: that node's)."""
    return [sys.executable, "-m", "llmbench", "run", *flags, "--out", str(out)]


def send_start(stdin: IO[bytes] | None, at: float) -> None:
    """Write the start instant to a worker's stdin and close it; a worker that is gone
    already is not an error here (the coordinator sees it end)."""
    assert stdin is not None
    try:
        stdin.write(f"{at!r}\n".encode())
        stdin.close()
    except OSError:
        pass


class WorkerHandle(Protocol):
    """One worker, wherever it runs. ``out`` is its run directory on this machine,
    complete once :meth:`collect` has run after the worker ended."""

    out: Path

    def lines(self) -> Iterator[bytes]:
        """Its stdout, line by line, until it ends (blocking)."""
        ...

    def start_at(self, at: float) -> None:
        """Tell it the common start instant (Unix seconds); it may be gone already."""
        ...

    def poll(self) -> int | None: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...

    def wait(self) -> int: ...

    def collect(self) -> None:
        """Bring its run directory's files to ``out`` (a local worker's are there)."""
        ...


class LocalWorker:
    """A worker process on this machine, in its own session: a terminal's Ctrl-C
    reaches it once, through the coordinator."""

    def __init__(self, flags: list[str], out: Path) -> None:
        self.out = out
        self._proc = subprocess.Popen(
            worker_command(flags, out),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def lines(self) -> Iterator[bytes]:
        assert self._proc.stdout is not None
        yield from self._proc.stdout

    def start_at(self, at: float) -> None:
        send_start(self._proc.stdin, at)

    def poll(self) -> int | None:
        return self._proc.poll()

    def send_signal(self, signum: int) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signum)

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()

    def wait(self) -> int:
        return self._proc.wait()

    def collect(self) -> None:
        return None
