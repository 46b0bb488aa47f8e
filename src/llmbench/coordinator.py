"""`llmbench run --workers N`: N worker processes, each an ordinary shard run
(``--shard I/N``), and this coordinator, which checks the run once, starts them at one
instant, shows their combined live line, and, once they have all ended, merges their
outputs into one run directory through the same merge as `llmbench merge`.

Protocol with a worker (:mod:`llmbench.worker_handles`): its run flags go on its stdin
(never in its command line, where ``ps`` shows an API key); it says ``{"ready": true,
"run_start_ns": ...}`` after its pre-flight, reads the start instant (Unix seconds) from
stdin, then prints one JSON progress object a second. Its stderr is ours.

A worker that dies (killed, OOM, a crash) or stops at ``--max-error-rate`` stops the run:
the others get SIGTERM (the grace period, ``canceled``, every output written), a dead
one's flushed results are rebuilt from its results.jsonl, everything is merged, and the
exit code is 3 (a death) or 5 (the error rate). Ctrl-C / SIGTERM reach every worker once,
with a run's usual meaning; before the start they only end the pre-flights.

``--server-metrics`` is scraped here, once for the run, from a thread of its own
(:class:`~llmbench.server_scraper.ScrapeThread`), on the common timeline; the workers
get the flags (their summaries record them) and never scrape.
"""

from __future__ import annotations

import argparse
import queue
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from llmbench.app import EXIT_ERROR_RATE, EXIT_OVERLOADED, announce, open_run_dir
from llmbench.console import workers_line
from llmbench.environment import make_output_parents
from llmbench.merge_command import exit_code, write_merged
from llmbench.output.jsonl import iter_results
from llmbench.output.recover import recover_measured
from llmbench.output.server_summary import server_line
from llmbench.prepare import Prepared, prepare
from llmbench.report_command import CSV_IN_RUN_DIR
from llmbench.server_scraper import Scraper, ScrapeThread, scraper_for
from llmbench.shard_merge import MergedRun, MergeError, ShardPart, merge_parts, read_part
from llmbench.worker_handles import LocalWorker, WorkerHandle, worker_argv

__all__ = ["run_workers"]

# The start is announced this far ahead, so every worker has read it before it comes.
_START_AHEAD_S = 0.5
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}
# A worker silent this long while the others report is named on the live line.
_BEHIND_S = 3.0


@dataclass
class _Worker:
    index: int
    proc: WorkerHandle
    ready: bool = False
    run_start_ns: int | None = None  # its results.jsonl origin, from its ready line
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

    def finished(self) -> bool:
        """Exited having written its summary (whatever its exit code said)."""
        return self.ended() and (self.out / "summary.json").is_file()


@dataclass
class _Control:
    """What the signal handler and the supervisor share."""

    workers: list[_Worker]
    signals: list[str] = field(default_factory=list)
    started: bool = False  # the start instant went out: the workers are measuring
    stopped_by: str | None = None  # why the coordinator stopped the others itself

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


def _handle(flags: list[str], out: Path, ray_address: str | None) -> WorkerHandle:
    if ray_address is None:
        return LocalWorker(flags, out)
    from llmbench.ray_workers import RayWorker

    return RayWorker(flags, out)


def _coordinate(args: argparse.Namespace, prep: Prepared, ray_address: str | None) -> int:
    """The run itself, once every check passed."""
    cfg = prep.cfg
    run_dir = open_run_dir(cfg)
    shutil.rmtree(run_dir / "workers", ignore_errors=True)  # an older run's are not ours
    csv = getattr(args, "csv", None)
    make_output_parents({  # as a run does: --junit "$RUN_DIR/junit.xml" just works
        "--junit": getattr(args, "junit", None),
        "--html-report": getattr(args, "html_report", None),
        "--csv": None if csv == CSV_IN_RUN_DIR else csv,
    })  # fmt: skip
    announce(prep, run_dir)
    argv = list(getattr(args, "argv", None) or sys.argv[2:])
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start_ns = time.time_ns()
    control = _Control([])
    inbox: queue.Queue[tuple[int, Any]] = queue.Queue()
    previous = {
        sig: signal.signal(sig, control.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    started = False
    scraper = scraper_for(cfg, prep.tls, time.time_ns)  # the common timeline: Unix ns
    scraping = ScrapeThread(scraper).start() if scraper is not None else None
    try:  # the handlers are in place before the first worker starts: none is left behind
        for i in range(cfg.shards):
            if control.signals:  # Ctrl-C while starting them: start no more
                break
            flags = worker_argv(argv, i, cfg.shards, cfg.model)
            worker = _Worker(i, _handle(flags, run_dir / "workers" / str(i), ray_address))
            control.workers.append(worker)
            threading.Thread(target=_read_lines, args=(worker, inbox), daemon=True).start()
        started = _supervise(control, inbox, prep, quiet=cfg.quiet)
    finally:
        for w in control.workers:
            if w.proc.poll() is None:
                w.proc.kill()  # only when supervising failed: never leave one behind
            w.proc.wait()
            w.ended()
        for sig, handler in previous.items():  # a Ctrl-C while merging is Python's again
            signal.signal(sig, handler)
        if scraping is not None:  # every worker has ended: so has the run
            scraping.stop()
    if control.signals and not started:
        print("llmbench run: interrupted before the workers started; nothing was measured",
              file=sys.stderr)  # fmt: skip
        return _EXIT_BY_SIGNAL.get(control.signals[0], 130)
    if not started:  # a pre-flight failed (its line is on stderr), or a worker died
        return next((code for w in control.workers if (code := w.proc.wait()) > 0), 3)
    parts = _parts(control.workers, cfg.public(), start_ns, prep)
    try:
        merged = _as_one_run(merge_parts(parts), control)
    except MergeError as exc:
        print(f"llmbench run: cannot merge the workers: {exc}", file=sys.stderr)
        return 3
    summary, written = write_merged(
        merged,
        parts,
        run_dir,
        results_from=[
            (w.out / "results.jsonl", p.run_start_ns)
            for w, p in zip(control.workers, parts, strict=True)
        ],
        checks=prep.checks,
        goodput=prep.goodput,
        allow_char_slo=prep.allow_char_slo,
        started_at=started_at,
        junit_path=Path(args.junit) if getattr(args, "junit", None) else None,
        html=getattr(args, "html_report", None),
        csv=getattr(args, "csv", None),
        keys=prep.keys,
        finish=None if scraper is None else _server_block(scraper, merged, prep),
    )
    server = server_line(summary.get("server"))
    if server:
        print(server)
    return exit_code(merged, summary, written=written)


def _server_block(
    scraper: Scraper, merged: MergedRun, prep: Prepared
) -> Callable[[dict[str, Any]], None]:
    """What adds the scrapes to the merged summary, on its measured start's axis."""
    measured = merged.measured
    origin = merged.run_start_ns if measured.origin_ns is None else measured.origin_ns
    wall_s, redact = measured.wall_ns / 1e9, prep.keys.redact_tree
    return lambda summary: scraper.add_block(
        summary, origin_ns=origin, wall_s=wall_s, redact=redact
    )


def _as_one_run(merged: MergedRun, control: _Control) -> MergedRun:
    """The merged outcome as the user sees it: the workers the coordinator stopped
    itself were not interrupted by anyone; the run stopped because of one worker."""
    if control.signals or control.stopped_by is None:
        return merged
    return replace(merged, interrupted=False, signal=None, stop_reason=control.stopped_by)


def _read_lines(worker: _Worker, inbox: queue.Queue[tuple[int, Any]]) -> None:
    """A worker's stdout, as JSON objects into ``inbox``; (index, None) at its end,
    whatever ends it (a Ray actor that dies raises here)."""
    try:
        for raw in worker.proc.lines():
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # the worker's final table (it runs --quiet): not for us
            if isinstance(obj, dict):
                inbox.put((worker.index, obj))
    except Exception:
        pass
    finally:
        inbox.put((worker.index, None))


def _supervise(
    control: _Control, inbox: queue.Queue[tuple[int, Any]], prep: Prepared, *, quiet: bool
) -> bool:
    """Until every worker has exited: start them together once all are ready, show the
    combined live line, and stop the others when one dies, fails its pre-flight or
    stops at --max-error-rate. Whether the run started (every worker was ready)."""
    workers = control.workers
    open_streams = len(workers)
    next_line = float("inf")  # the first line a second after the common start
    while open_streams or any(w.proc.poll() is None for w in workers):
        try:
            index, obj = inbox.get(timeout=0.2)
        except queue.Empty:
            pass
        else:
            worker = workers[index]
            if obj is None:
                open_streams -= 1
            elif obj.get("ready"):
                worker.ready = True
                start = obj.get("run_start_ns")
                worker.run_start_ns = start if isinstance(start, int) else None
            else:
                worker.progress, worker.seen_at = obj, time.monotonic()
        if not control.started and not control.signals and all(w.ready for w in workers):
            at = max(time.time() + _START_AHEAD_S, prep.start_at or 0.0)  # --start-at too
            for w in workers:
                w.proc.start_at(at)
            control.started = True  # after the start went out: a signal now reaches them
            next_line = time.monotonic() + (at - time.time()) + 1.1
            for w in workers:
                w.seen_at = next_line - 1.1  # silence counts from the start
        if control.signals and not control.started:  # they were in their pre-flight
            for w in workers:
                w.proc.kill()
        elif control.stopped_by is None and not control.signals:
            _stop_on_first_failure(control)
        if control.started and not quiet and time.monotonic() >= next_line:
            next_line += 1
            now = time.monotonic()
            behind = [
                w.index for w in workers if w.proc.poll() is None and now - w.seen_at > _BEHIND_S
            ]
            rows = [w.progress for w in workers if w.progress]
            print(workers_line(rows, len(workers), prep.cfg.concurrency, behind), flush=True)
    return control.started


def _stop_on_first_failure(control: _Control) -> None:
    """A worker that ended before the others without finishing (or, before the start,
    at all), or that stopped at --max-error-rate, ends the run: the others get SIGTERM
    once they measure (a run's ending), or are stopped outright before. A sweep step's
    worker that stopped early: the others get SIGINT after it, a run's second signal,
    which cancels their requests at once as the first worker's were (no grace period)."""
    for w in control.workers:
        if not w.ended():
            continue
        code = w.proc.poll()
        if not control.started or not w.finished():
            reason = f"worker {w.index} died ({w.proc.ended_how()})"
        elif code == EXIT_ERROR_RATE and any(o.proc.poll() is None for o in control.workers):
            reason = f"worker {w.index} stopped at --max-error-rate"
        elif code == EXIT_OVERLOADED and any(o.proc.poll() is None for o in control.workers):
            reason = _own_stop_reason(w)  # a sweep step: the sweep's line says why
        else:
            continue
        control.stopped_by = "error rate" if code == EXIT_ERROR_RATE and w.finished() else reason
        if control.started and code != EXIT_OVERLOADED:
            print(f"llmbench run: {reason}; stopping the others", file=sys.stderr)
        for other in control.workers:
            if other.proc.poll() is None:
                if control.started:
                    other.proc.send_signal(signal.SIGTERM)
                    if code == EXIT_OVERLOADED:  # two kinds: two signals never merge
                        other.proc.send_signal(signal.SIGINT)
                else:
                    other.proc.kill()  # still in its pre-flight: nothing measured yet
        return


def _own_stop_reason(worker: _Worker) -> str:
    """A sweep step's worker that stopped early: "overloaded" or "client cap", as its
    summary.json says (see Runner.stop_overloaded)."""
    try:
        run = orjson.loads((worker.out / "summary.json").read_bytes()).get("run") or {}
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return "overloaded"
    reason = run.get("stop_reason") if isinstance(run, dict) else None
    return reason if reason in ("overloaded", "client cap") else "overloaded"


def _parts(
    workers: list[_Worker], config: dict[str, Any], start_ns: int, prep: Prepared
) -> list[ShardPart]:
    """Every worker's part: from its summary.json, or, for one that died, rebuilt
    from the results it had flushed, on its own timeline (from its ready line)."""
    parts: dict[int, ShardPart] = {}
    for w in workers:
        if w.finished():
            try:
                summary = orjson.loads((w.out / "summary.json").read_bytes())
                parts[w.index] = read_part(summary, str(w.out / "summary.json"))
                continue
            except (OSError, orjson.JSONDecodeError, MergeError):
                pass  # damaged: rebuilt below like a dead worker's
    template = next(iter(parts.values())).config if parts else config
    goodput = prep.goodput
    for w in workers:
        if w.index in parts:
            continue
        origin = w.run_start_ns if w.run_start_ns is not None else start_ns
        results = w.out / "results.jsonl"
        measured, _ = recover_measured(
            iter_results(results),
            iter_results(results),
            origin,
            goodput.is_good if goodput is not None else None,
        )
        parts[w.index] = ShardPart(
            index=w.index,
            count=len(workers),
            measured=measured,
            run_start_ns=origin,
            config={**template, "shard": w.index, "shards": len(workers)},
            run={"stop_reason": "worker died", "exit": w.proc.ended_how()},
            client={},
            due_unsent=0,
            ramp=None,
            error_rate_stop=None,
        )
    return [parts[i] for i in range(len(workers))]
