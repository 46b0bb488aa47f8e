"""`llmbench run --workers N`: N local worker processes, each an ordinary shard run
(``--shard I/N``), and this coordinator, which checks the run once, starts them at one
instant, shows their combined live line, and merges their outputs into one run
directory through the same merge as `llmbench merge`.

Protocol with a worker (its stdin and stdout): the worker says ``{"ready": true}`` after
its pre-flight, reads its start instant (Unix seconds) from stdin, then prints one
JSON progress object a second. Its stderr is ours: its one-line errors reach the user.

A worker that dies (killed, OOM, a crash) stops the run: the others get SIGTERM (the
grace period, ``canceled``, every output written), the dead one's flushed results are
recovered from its results.jsonl, everything is merged and the exit code is 3. Ctrl-C /
SIGTERM are forwarded to every worker, with a run's usual meaning. Workers run in
their own sessions, so a terminal's Ctrl-C reaches them once, through here.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from llmbench.app import Prepared, announce, open_run_dir, prepare
from llmbench.merge_command import exit_code, write_merged
from llmbench.output.jsonl import iter_results
from llmbench.output.recover import recover_measured
from llmbench.shard_merge import MergeError, ShardPart, merge_parts, read_part
from llmbench.worker_handles import LocalWorker, WorkerHandle


def _ray_worker(flags: list[str], out: Path) -> WorkerHandle:
    from llmbench.ray_workers import RayWorker

    return RayWorker(flags, out)


__all__ = ["run_workers", "worker_argv"]

# Flags a worker must not inherit: the coordinator writes these outputs itself.
_DROPPED = (
    "--workers", "--out", "--junit", "--html-report", "--csv", "--start-at", "--shard", "--ray",
)  # fmt: skip
_DROPPED_ALONE = ("--quiet", "--progress-json")
# The start is announced this far ahead, so every worker has read it before it comes.
_START_AHEAD_S = 0.5
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}
# A worker silent this long while the others report is named on the live line.
_BEHIND_S = 3.0


def worker_argv(argv: list[str], index: int, count: int, model: str | None) -> list[str]:
    """The run flags of worker ``index``: the user's, without those the coordinator
    owns, plus its shard and the pipe protocol (its handle adds its directory)."""
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
            # `--flag value` (not `--flag=value`); --csv's value is optional
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            optional = name == "--csv" and (nxt is None or nxt.startswith("-"))
            skip = "=" not in arg and nxt is not None and not optional
            continue
        kept.append(arg)
    extra = ["--model", model] if model is not None and "--model" not in kept else []
    return [
        *kept, *extra,
        "--shard", f"{index}/{count}", "--start-at", "stdin", "--progress-json", "--quiet",
    ]  # fmt: skip


@dataclass
class _Worker:
    index: int
    proc: WorkerHandle
    ready: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    seen_at: float = 0.0
    collected: bool = False

    @property
    def out(self) -> Path:
        return self.proc.out

    def ended(self) -> bool:
        """Whether it exited; its files are here from then on."""
        if self.proc.poll() is None:
            return False
        if not self.collected:
            self.collected = True
            self.proc.collect()
        return True


def _read_lines(worker: _Worker, inbox: queue.Queue[tuple[int, Any]]) -> None:
    """A worker's stdout, as JSON objects into ``inbox``; (index, None) at its end."""
    for raw in worker.proc.lines():
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # the worker's final table (it runs --quiet): not for us
        if isinstance(obj, dict):
            inbox.put((worker.index, obj))
    inbox.put((worker.index, None))


def run_workers(args: argparse.Namespace) -> int:
    """Check the run, start the workers, merge them; the run's exit code."""
    prep = prepare(args)  # every check once, here; the model asked once, here
    ray_address = getattr(args, "ray", None)
    if ray_address:  # a cluster that cannot be joined is bad input: nothing written yet
        from llmbench.ray_workers import connect, disconnect

        connect(ray_address)
        try:
            return _coordinate(args, prep, ray_address)
        finally:
            disconnect()
    return _coordinate(args, prep, None)


def _coordinate(args: argparse.Namespace, prep: Prepared, ray_address: str | None) -> int:
    """The run itself, once every check passed."""
    cfg = prep.cfg
    count = cfg.shards
    run_dir = open_run_dir(cfg)
    announce(prep, run_dir)
    argv = list(getattr(args, "argv", None) or sys.argv[2:])
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start_ns = time.time_ns()
    workers: list[_Worker] = []
    inbox: queue.Queue[tuple[int, Any]] = queue.Queue()
    control = _Control(workers)
    control.install()  # before the first worker starts: none is ever left behind
    started = False
    try:
        for i in range(count):
            flags = worker_argv(argv, i, count, cfg.model)
            out = run_dir / "workers" / str(i)
            handle = _ray_worker(flags, out) if ray_address else LocalWorker(flags, out)
            workers.append(_Worker(i, handle))
            threading.Thread(target=_read_lines, args=(workers[-1], inbox), daemon=True).start()
        started = _supervise(control, inbox, quiet=cfg.quiet, concurrency=cfg.concurrency)
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()  # only after _supervise failed: never leave one behind
            w.proc.wait()
            w.ended()
    if control.signals and not started:
        print("llmbench run: interrupted before the workers started; nothing was measured",
              file=sys.stderr)  # fmt: skip
        return _EXIT_BY_SIGNAL.get(control.signals[0], 130)
    if not started:  # a pre-flight failed: its line is on stderr
        return next((code for w in workers if (code := w.proc.wait()) > 0), 3)
    parts = _parts(workers, cfg.public(), start_ns, prep.goodput)
    try:
        merged = merge_parts(parts)
    except MergeError as exc:
        print(f"llmbench run: cannot merge the workers: {exc}", file=sys.stderr)
        return 3
    html = getattr(args, "html_report", None)
    summary, _ = write_merged(
        merged,
        parts,
        run_dir,
        results_from=[
            (w.out / "results.jsonl", p.run_start_ns) for w, p in zip(workers, parts, strict=True)
        ],
        checks=prep.checks,
        goodput=prep.goodput,
        started_at=started_at,
        junit_path=Path(args.junit) if getattr(args, "junit", None) else None,
        html=html,
        csv=getattr(args, "csv", None),
        extra_run={"signal": control.signals[0]} if control.signals else None,
    )
    return exit_code(merged, summary)


@dataclass
class _Control:
    """What the signal handler and the supervisor share."""

    workers: list[_Worker]
    signals: list[str] = field(default_factory=list)
    started: bool = False  # the start instant went out: the workers are measuring

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Ctrl-C / SIGTERM: before the start the workers are only in their pre-flight,
        so they are stopped outright; once started, each gets the signal, with a run's
        meaning (grace, ``canceled``, every output written)."""
        self.signals.append(signal.Signals(signum).name)
        for w in self.workers:
            if self.started:
                w.proc.send_signal(signum)
            else:
                w.proc.kill()

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.on_signal)


def _supervise(
    control: _Control, inbox: queue.Queue[tuple[int, Any]], *, quiet: bool, concurrency: int
) -> bool:
    """Until every worker has exited: start them together once all are ready, show the
    combined live line, and stop the run when one dies (or fails its pre-flight).
    Whether the run started (every worker was ready)."""
    workers = control.workers
    open_streams = len(workers)
    started = stopping = False
    next_line = float("inf")  # the first line a second after the common start
    while open_streams or any(w.proc.poll() is None for w in workers):
        try:
            index, obj = inbox.get(timeout=0.2)
        except queue.Empty:
            index, obj = -1, None
        else:
            worker = workers[index]
            if obj is None:
                open_streams -= 1
            elif obj.get("ready"):
                worker.ready = True
            else:
                worker.progress, worker.seen_at = obj, time.monotonic()
        if not started and not control.signals and all(w.ready for w in workers):
            started = True
            at = time.time() + _START_AHEAD_S
            for w in workers:
                w.proc.start_at(at)
            control.started = True  # after the start went out: a signal now reaches them
            next_line = time.monotonic() + _START_AHEAD_S + 1.1
            for w in workers:
                w.seen_at = next_line - 1.1  # silence counts from the start
        dead = [w for w in workers if w.ended() and not _finished(w)]
        if dead and not stopping and not control.signals:  # a signal's ending is no death
            stopping = True
            for w in dead:
                print(
                    f"llmbench run: worker {w.index} died ({_exit_text(w.proc.poll())}); "
                    "stopping the others",
                    file=sys.stderr,
                )
            for w in workers:
                if w.proc.poll() is None:
                    if w.ready and started:
                        w.proc.send_signal(signal.SIGTERM)
                    else:
                        w.proc.kill()  # still in its pre-flight: nothing measured yet
        if started and not quiet and time.monotonic() >= next_line:
            next_line += 1
            print(_live_line(workers, concurrency), flush=True)
    return started


def _finished(worker: _Worker) -> bool:
    """A worker that exited and wrote its summary (whatever its exit code said)."""
    return (worker.out / "summary.json").is_file()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _live_line(workers: list[_Worker], concurrency: int) -> str:
    """The workers' progress added up; TTFT is the worst worker's last-second p50."""
    rows = [w.progress for w in workers if w.progress]

    def total(key: str) -> int:
        return sum(int(r.get(key) or 0) for r in rows)

    rates = [float(r["last_ok"]) for r in rows if r.get("last_ok") is not None]
    tokens = [float(r["last_tokens"]) for r in rows if r.get("last_tokens") is not None]
    ttfts = [float(r["ttft_p50_ms"]) for r in rows if r.get("ttft_p50_ms") is not None]
    t = max((float(r.get("t") or 0) for r in rows), default=0.0)
    done = total("done")
    ok_pct = 100.0 * total("ok") / done if done else 100.0
    rate = f"{sum(rates):,.1f}" if rates else "-"
    tps = f"{sum(tokens):,.0f}" if tokens else "-"
    ttft = f"{max(ttfts):.1f} ms (worst worker)" if ttfts else "-"
    line = (
        f"[{t:6.1f}s] {len(workers)} workers | in-flight {total('in_flight')}/{concurrency} | "
        f"done {done:,} | ok {ok_pct:.1f}% | {rate} req/s | {tps} tok/s | "
        f"TTFT p50 {ttft} | errors {total('failed'):,}"
    )
    now = time.monotonic()
    behind = [
        str(w.index) for w in workers if w.proc.poll() is None and now - w.seen_at > _BEHIND_S
    ]
    if behind:
        line += f" | no word from worker {', '.join(behind)}"
    return line


def _parts(
    workers: list[_Worker], config: dict[str, Any], start_ns: int, goodput: Any
) -> list[ShardPart]:
    """Every worker's part: from its summary.json, or, for one that died, rebuilt
    from the results it had flushed (started at the coordinator's start, to within
    its start-up time)."""
    parts: dict[int, ShardPart] = {}
    for w in workers:
        if _finished(w):
            try:
                summary = orjson.loads((w.out / "summary.json").read_bytes())
                parts[w.index] = read_part(summary, str(w.out / "summary.json"))
                continue
            except (OSError, orjson.JSONDecodeError, MergeError):
                pass  # damaged: rebuilt below like a dead worker's
    template = next(iter(parts.values())).config if parts else config
    for w in workers:
        if w.index in parts:
            continue
        results = w.out / "results.jsonl"
        measured, _ = recover_measured(
            iter_results(results),
            iter_results(results),
            start_ns,
            goodput.is_good if goodput is not None else None,
        )
        parts[w.index] = ShardPart(
            index=w.index,
            count=len(workers),
            measured=measured,
            run_start_ns=start_ns,
            config={**template, "shard": w.index, "shards": len(workers)},
            run={"stop_reason": "worker died", "exit": _exit_text(w.proc.wait())},
            client={},
            due_unsent=0,
            ramp=None,
            error_rate_stop=None,
        )
    return [parts[i] for i in range(len(workers))]
