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

import orjson

__all__ = [
    "WORKER",
    "LocalWorker",
    "WorkerHandle",
    "die_with_parent",
    "exit_text",
    "send_start",
    "start",
    "worker_argv",
]

# Flags a worker must not inherit: the coordinator writes these outputs, and owns the
# start and the split, itself.
_DROPPED = (
    "--workers", "--out", "--junit", "--html-report", "--csv", "--start-at", "--shard", "--ray",
)  # fmt: skip
_DROPPED_ALONE = ("--quiet", "--coordinated")


def worker_argv(argv: list[str], index: int, count: int, model: str | None) -> list[str]:
    """The run flags of worker ``index``: the user's (as written: no flag may be
    abbreviated), without those the coordinator owns, plus its shard."""
    kept: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _DROPPED_ALONE:
            continue
        if name in _DROPPED:
            # `--flag value` (not `--flag=value`); --csv's value is optional, and a
            # value may look like a negative number (`--csv -1`)
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            optional = name == "--csv" and (nxt is None or nxt.startswith("--"))
            skip = "=" not in arg and nxt is not None and not optional
            continue
        kept.append(arg)
    extra = ["--model", model] if model is not None and "--model" not in kept else []
    return [*kept, *extra, "--shard", f"{index}/{count}", "--quiet"]


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Called by a worker as it starts (Linux): SIGTERM when its parent dies, so a
    coordinator killed outright leaves no worker behind; the worker still ends as on
    Ctrl-C, writing everything (``llmbench merge`` can combine what they wrote)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives its run at most
        pass


# The first stdin line of `python -m llmbench --worker` is its `run` flags, as JSON: out
# of `ps`, where an --api-key or a secret -H value would otherwise show.
WORKER = "--worker"
WORKER_COMMAND = [sys.executable, "-m", "llmbench", WORKER]


def worker_flags_line(flags: list[str], out: Path | str) -> bytes:
    """The worker's first stdin line: its run flags, its run directory and the
    coordination flag."""
    return orjson.dumps([*flags, "--out", str(out), "--coordinated"]) + b"\n"


def start(
    flags: list[str], out: Path | str, *, stderr: int | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """A worker process (this interpreter; on a Ray node, that node's), in its own
    session (a terminal's Ctrl-C reaches it once, through the coordinator), given its
    flags on stdin."""
    proc = subprocess.Popen(
        WORKER_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        cwd=cwd,
    )
    assert proc.stdin is not None
    proc.stdin.write(worker_flags_line(flags, out))
    proc.stdin.flush()
    return proc


def exit_text(code: int | None) -> str:
    """A process's end as words: "exit code 3", "killed by SIGKILL"."""
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


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

    def ended_how(self) -> str:
        """How it ended, for a line and a summary row ("exit code 3", "killed by ...")."""
        ...


class LocalWorker:
    """A worker process on this machine, in its own session: a terminal's Ctrl-C
    reaches it once, through the coordinator."""

    def __init__(
        self, flags: list[str], out: Path, *, stderr: int | None = None, cwd: str | None = None
    ) -> None:
        self.out = out
        self._proc = start(flags, out, stderr=stderr, cwd=cwd)

    def lines(self) -> Iterator[bytes]:
        assert self._proc.stdout is not None
        yield from self._proc.stdout

    def error_lines(self) -> Iterator[bytes]:
        """Its stderr, when it was started with ``stderr=PIPE`` (a Ray actor relays it)."""
        assert self._proc.stderr is not None
        yield from self._proc.stderr

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

    def ended_how(self) -> str:
        return exit_text(self._proc.poll())
