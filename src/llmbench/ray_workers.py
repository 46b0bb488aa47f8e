"""``--ray ADDRESS``: the workers of ``--workers N`` as Ray actors, one CPU each, spread
over the cluster's nodes (``SPREAD``). Each actor runs an ordinary worker process on its
node and relays its pipes and its results through Ray: results.jsonl streams to the
driver as it grows (a lost actor loses at most its last second), its other files come
when it ends. No home-made cluster protocol: Ray is what serving clusters already run.

Ray is an optional extra (``pip install 'llmbench[ray]'``), imported only here and only
when ``--ray`` is given. ``local`` starts a throwaway single-node Ray (and stops it after
the run); any other address is passed to ``ray.init`` as it is (``auto``,
``ray://host:10001``). Every node needs llmbench installed in the Python that Ray runs
there.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmbench.config import ConfigError
from llmbench.worker_handles import exit_text

__all__ = ["RayWorker", "connect", "disconnect"]

LOCAL = "local"
# How long one relay call waits for new lines before returning none.
_TAKE_WAIT_S = 0.5
# The most of results.jsonl one relay call carries (the rest comes with the next).
_RESULTS_CHUNK = 8 * 1024 * 1024
_INSTALL = "--ray needs Ray: pip install 'llmbench[ray]'"
# The exit status of a worker whose actor is gone: what it wrote stays on its node.
_LOST = -9


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(_INSTALL) from None
    return ray


def check_available() -> None:
    """ConfigError (exit 2, one line saying what to install) when Ray is missing."""
    _ray()


def connect(address: str) -> None:
    """Join (or, for ``local``, start) the Ray cluster; ConfigError with one line."""
    ray = _ray()
    quiet = {"log_to_driver": False, "configure_logging": False}
    try:
        if address == LOCAL:
            ray.init(
                address="local",
                include_dashboard=False,
                _node_ip_address="127.0.0.1",  # nothing listens beyond this machine
                **quiet,
            )
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # Ray raises many kinds (ConnectionError, RuntimeError, ...)
        raise ConfigError(f"--ray {address}: cannot join the cluster: {exc}") from None


def disconnect() -> None:
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()


def _actor_class() -> Any:
    """The actor, defined when Ray is there (Ray ships it to the nodes by value)."""
    ray = _ray()

    @ray.remote(num_cpus=1, max_concurrency=4)
    class ShardActor:
        """Runs one worker process on its node and relays its pipes and files."""

        def __init__(self, flags: list[str], cwd: str) -> None:
            import subprocess
            import tempfile
            import threading

            from llmbench.worker_handles import LocalWorker

            self._dir = Path(tempfile.mkdtemp(prefix="llmbench-shard-"))
            # The driver's working directory where this node has it (relative paths in
            # the flags then mean what they meant to the user); else Ray's.
            here = cwd if Path(cwd).is_dir() else None
            self._worker = LocalWorker(flags, self._dir / "run", stderr=subprocess.PIPE, cwd=here)
            self._out: list[bytes] = []
            self._err: list[bytes] = []
            self._ended = 0
            self._changed = threading.Condition()
            self._results_at = 0  # how much of results.jsonl went to the driver
            self._results_lock = threading.Lock()
            pipes = ((self._worker.lines(), self._out), (self._worker.error_lines(), self._err))
            for stream, sink in pipes:
                threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

        def _pump(self, stream: Any, sink: list[bytes]) -> None:
            for line in stream:
                with self._changed:
                    sink.append(line)
                    self._changed.notify_all()
            with self._changed:
                self._ended += 1
                self._changed.notify_all()

        def take(self, wait_s: float) -> tuple[list[bytes], list[bytes], bool, bytes]:
            """New stdout and stderr lines (waiting up to ``wait_s`` for some), whether
            both pipes have ended, and the whole results.jsonl lines written since."""
            with self._changed:
                if not self._out and not self._err and self._ended < 2:
                    self._changed.wait(wait_s)
                out, err = self._out[:], self._err[:]
                self._out.clear()
                self._err.clear()
                ended = self._ended >= 2
            return out, err, ended, self._new_results(_RESULTS_CHUNK)

        def _new_results(self, limit: int | None) -> bytes:
            """results.jsonl's whole lines past what was sent (at most ``limit``
            bytes; None: all of them)."""
            with self._results_lock:
                try:
                    with (self._dir / "run" / "results.jsonl").open("rb") as fh:
                        fh.seek(self._results_at)
                        data = fh.read(-1 if limit is None else limit)
                except FileNotFoundError:
                    return b""
                whole = data[: data.rfind(b"\n") + 1]
                self._results_at += len(whole)
                return whole

        def start_at(self, at: float) -> None:
            self._worker.start_at(at)

        def poll(self) -> int | None:
            return self._worker.poll()

        def send_signal(self, signum: int) -> None:
            self._worker.send_signal(signum)

        def files(self) -> dict[str, bytes]:
            """The worker's run directory (once it ended), then gone from the node."""
            import shutil

            self._worker.wait()
            run = self._dir / "run"
            found = {
                p.name: p.read_bytes()
                for p in run.glob("*")
                if p.is_file() and p.name != "results.jsonl"  # streamed already
            }
            found["results.jsonl"] = self._new_results(None)  # the rest of it
            shutil.rmtree(self._dir, ignore_errors=True)
            return found

    return ShardActor


class RayWorker:
    """A worker run by a Ray actor; ``out`` gets its files on :meth:`collect`."""

    _actor_cls: Any = None

    def __init__(self, flags: list[str], out: Path) -> None:
        ray = _ray()
        if RayWorker._actor_cls is None:
            RayWorker._actor_cls = _actor_class()
        self.out = out
        self._ray = ray
        spread = RayWorker._actor_cls.options(scheduling_strategy="SPREAD")
        self._actor = spread.remote(flags, os.getcwd())
        self._code: int | None = None
        self._lost = False  # the actor died: its other files are out of reach
        self._results_lock = threading.Lock()

    def lines(self) -> Iterator[bytes]:
        while True:
            try:
                out, err, ended, results = self._ray.get(self._actor.take.remote(_TAKE_WAIT_S))
            except Exception:  # the actor died (its node went away): no more lines
                return
            for line in err:  # the worker's one-line errors reach the user
                sys.stderr.write(line.decode("utf-8", "replace"))
            sys.stderr.flush()
            self._append_results(results)
            yield from out
            if ended:
                return

    def _append_results(self, lines: bytes) -> None:
        """Results as they stream in: a lost actor loses at most its last second."""
        if lines:
            with self._results_lock:
                self.out.mkdir(parents=True, exist_ok=True)
                with (self.out / "results.jsonl").open("ab") as fh:
                    fh.write(lines)

    def start_at(self, at: float) -> None:
        try:
            self._ray.get(self._actor.start_at.remote(at))
        except Exception:  # the actor is gone
            self._code, self._lost = _LOST, True

    def poll(self) -> int | None:
        if self._code is None:
            try:
                self._code = self._ray.get(self._actor.poll.remote())
            except Exception:  # the actor itself died (its node went away)
                self._code, self._lost = _LOST, True
        return self._code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                self._ray.get(self._actor.send_signal.remote(signum))
            except Exception:  # the actor is gone
                self._code, self._lost = _LOST, True

    def kill(self) -> None:
        if self._code is None:  # the actor and, with it, its worker (die_with_parent)
            self._ray.kill(self._actor)
            self._code = _LOST

    def wait(self) -> int:
        while (code := self.poll()) is None:
            time.sleep(0.1)
        return code

    def ended_how(self) -> str:
        if self._lost:
            return "its Ray actor was lost; its results streamed so far are kept"
        return exit_text(self._code)

    def collect(self) -> None:
        try:
            files = self._ray.get(self._actor.files.remote())
        except Exception:  # the actor is gone, and with it what the worker wrote
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self._append_results(files.pop("results.jsonl", b""))  # the tail of the stream
        for name, data in files.items():
            (self.out / Path(name).name).write_bytes(data)
