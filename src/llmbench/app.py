"""`llmbench run`: a prepared run (:mod:`llmbench.prepare`: every check, before
anything is written or sent), run, summarized once, every output written.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from llmbench import __version__, junit, slo
from llmbench.config import ConfigError, RunConfig
from llmbench.console import (
    live_line,
    progress_bar,
    progress_json,
    summary_table,
    unmeasured_line,
)
from llmbench.environment import make_output_parents
from llmbench.exchange import Exchange
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder, histogram_stats
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.server_summary import server_line
from llmbench.output.summary import run_summary, write_json_atomic
from llmbench.overload import OverloadWatch, Stop, Tick
from llmbench.prepare import Prepared, criteria, prepare
from llmbench.report_command import CSV_IN_RUN_DIR, write_after_run
from llmbench.run_options import add_run_arguments, build_config
from llmbench.runner import Progress, Runner, RunOutcome
from llmbench.scale_options import checked_start, workers_of
from llmbench.server_scraper import Scraper, alongside, scraper_for
from llmbench.session_plan import first_turn
from llmbench.shard_merge import partial_block
from llmbench.sharding import Shard
from llmbench.tokens import run_token_unit, unit_label
from llmbench.worker_handles import die_with_parent
from llmbench.workload import KeyRing, WorkloadItem

__all__ = [
    "Prepared",
    "add_arguments",
    "announce",
    "exit_code",
    "open_run_dir",
    "prepare",
    "run",
    "write_output",
]

EXIT_SLO_FAILED = 1
EXIT_NOTHING_MEASURED = 3
# The run was measured, but summary.json or the JUnit file could not be written (each
# named on stderr): a CI gate must not pass on files that are not there.
EXIT_OUTPUT_NOT_WRITTEN = 4
# --max-error-rate stopped the run: what was measured is mostly failures.
EXIT_ERROR_RATE = 5
# A sweep step (the hidden --stop-overloaded) ended early: the load is past capacity.
EXIT_OVERLOADED = 6
# The pre-flight error shown on the one line: enough for a status and a server's message.
_PREFLIGHT_ERROR_CHARS = 300
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}

T = TypeVar("T")


class PreflightFailed(Exception):
    """The pre-flight request failed: the message is the one line to print (redacted)."""


def _run_dir(cfg: RunConfig) -> Path:
    if cfg.out_dir is not None:
        return cfg.out_dir
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", cfg.model or "model")[:60]
    return Path("runs") / f"{stamp}-{model}"


def _transport(prep: Prepared) -> Transport:
    cfg, context = prep.cfg, prep.tls
    if cfg.transport == "httpx":
        return HttpxTransport(
            concurrency=cfg.concurrency, timeouts=cfg.timeouts, ssl_context=context, http2=cfg.http2
        )
    return FastTransport(timeouts=cfg.timeouts, ssl_context=context)


def _event_loop_runner() -> asyncio.Runner:
    """uvloop when installed: it roughly halves the client's CPU per streamed event."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return asyncio.Runner(loop_factory=factory)


def _progress(cfg: RunConfig, recorder: Recorder, elapsed_s: float) -> str:
    """How far a bounded run is: by count or by time, whichever is further along."""
    fractions = []
    if cfg.requests:
        fractions.append(recorder.finished / cfg.requests)
    if cfg.duration_s:
        fractions.append(elapsed_s / cfg.duration_s)
    return progress_bar(max(fractions)) if fractions else ""


class _LiveView:
    """The once-a-second line: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, cfg: RunConfig, recorder: Recorder, *, as_json: bool = False) -> None:
        self._cfg = cfg
        self._recorder = recorder
        self._tty = sys.stdout.isatty()
        self._json = as_json  # a coordinator's worker: one JSON object a second

    def tick(self, progress: Progress) -> None:
        if self._json:
            print(progress_json(progress, self._recorder), flush=True)
            return
        if self._cfg.quiet:
            return
        cfg, elapsed = self._cfg, progress.elapsed_s
        bar = ""
        if progress.phase != "measure":  # the ramp or the warm-up: alive, not measured
            line = unmeasured_line(
                elapsed, progress.phase, progress.sent, progress.in_flight, cfg.concurrency
            )
        else:
            unit = unit_label(cfg.token_mode)
            line = live_line(elapsed, self._recorder, progress.in_flight, cfg.concurrency, unit)
            bar = _progress(cfg, self._recorder, elapsed) + " "
        if self._tty:
            print(f"\r{bar}{line}\x1b[K", end="", flush=True)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self._tty and not self._cfg.quiet:
            print()


async def _preflight(prep: Prepared, transport: Transport, item: WorkloadItem) -> None:
    """One request of the real workload through the real transport, before the clock
    starts (as ``vllm bench serve`` does): a dead or misconfigured server stops the run
    here, with one line, instead of being hammered. Its result is recorded nowhere."""
    key_index, key = prep.keys.at(0)  # the first request's key, which it uses again
    exchange = Exchange(
        prep.provider, index=-1, phase="warmup", t0_ns=time.perf_counter_ns(),
        key_index=key_index, max_line_bytes=prep.cfg.max_line_bytes, tokens=prep.tokens,
        prompt=item.prompt, redact=prep.keys.redact,
    )  # fmt: skip
    try:
        request = prep.provider.build_request(item, key)
    except Exception as exc:  # as in the run: an item the provider cannot write
        result = exchange.lost("connect_error", f"request not sent: {type(exc).__name__}", 0)
    else:
        result = await transport.send(request, exchange)
    if result.status == "ok" and not prep.allow_char_slo:
        # The server's first reply shows how tokens will be counted: a run asked for
        # usage that the server does not send would judge a token SLO in characters.
        unit, _ = run_token_unit({result.token_source: 1}, prep.cfg.token_mode)
        try:
            slo.refuse_per_token_criteria(prep.checks, prep.goodput, unit)
        except slo.SloError as exc:
            raise ConfigError(f"--slo: the pre-flight reply was counted in {unit}: {exc}") from None
    if result.status != "ok":
        code = f" {result.http_status}" if result.http_status else ""
        error = " ".join(prep.keys.redact(result.error or "").split())
        if len(error) > _PREFLIGHT_ERROR_CHARS:
            error = error[: _PREFLIGHT_ERROR_CHARS - 1] + "…"
        raise PreflightFailed(
            f"pre-flight request failed: {result.status}{code}"
            + (f": {error}" if error else "")
            + " (nothing was measured; --no-preflight skips this check)"
        )


def _execute(
    prep: Prepared,
    recorder: Recorder,
    writer: ResultsWriter,
    run_start_unix_ns: int,
    scraper: Scraper | None = None,
) -> RunOutcome:
    view = _LiveView(prep.cfg, recorder, as_json=prep.coordinated)
    overloaded = _overload_check(prep, recorder)

    async def main() -> RunOutcome:
        transport = _transport(prep)
        try:
            items, plan = prep.items, prep.sessions
            if prep.preflight and plan is not None:  # a session's first turn
                session, sessions = _preflight_of(plan.sessions)
                plan = dataclasses.replace(plan, sessions=sessions)
                await _preflight(prep, transport, first_turn(plan, session))
            elif prep.preflight:
                first, items = _preflight_of(items)
                await _preflight(prep, transport, first)

            def tick(progress: Progress) -> None:
                view.tick(progress)
                stop = overloaded(progress) if overloaded is not None else None
                if stop is not None:
                    runner.stop_overloaded(stop.reason, client_cap=stop.kind == "client_limited")

            runner = Runner(
                prep.cfg, prep.provider, transport, items, prep.keys, recorder, writer,
                tick=tick, tokens=prep.tokens, max_error_rate=prep.max_error_rate,
                begin_ns=_perf_instant(prep.start_at), sessions=plan,
            )  # fmt: skip
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.interrupt, sig.name)
            if prep.coordinated:  # ready: the coordinator says when every worker begins
                runner.begin_ns = _perf_instant(await _start_from_coordinator(run_start_unix_ns))
            return await alongside(scraper, runner.run())  # --server-metrics: a task beside
        finally:
            await transport.aclose()

    try:
        return _run_loop(main())
    finally:
        view.close()


def _preflight_of(stream: Iterator[T]) -> tuple[T, Iterator[T]]:
    """What the pre-flight sends, and the stream to run. A synthetic source gives an
    element of the run's shape that the run never sends (``unsent()``: a server's
    prefix cache must not be warmed for the figures). Otherwise the first element goes
    again as the run's first request: one with ``at(position)`` (a trace) is asked,
    another is read and re-chained."""
    unsent = getattr(stream, "unsent", None)
    if unsent is not None:
        element: T = unsent()
        return element, stream
    direct = getattr(stream, "at", None)
    if direct is not None:
        first: T = direct(0)
        return first, stream
    first = next(stream)
    return first, itertools.chain([first], stream)


def _overload_check(prep: Prepared, recorder: Recorder) -> Callable[[Progress], Stop | None] | None:
    """A sweep step's early stop (:mod:`llmbench.overload`) over the live figures:
    whether and why to end the step, once a second of its measured phase; None
    without --stop-overloaded. A shard judges its own share of the load."""
    if not prep.stop_overloaded:
        return None
    cfg = prep.cfg
    cap = Shard(cfg.shard, cfg.shards).share(cfg.concurrency) if cfg.open_loop else None
    watch = OverloadWatch(prep.checks, cap)

    def read(key: str, stat: str) -> float | None:
        hist = recorder.hist[key]
        if not hist.get_total_count():
            return None
        if stat.startswith("p"):  # one query (~1 ms), not every figure: this runs live
            percentile = float(stat[1:].replace("_", "."))
            return float(hist.get_value_at_percentile(percentile)) / 1000
        stats = histogram_stats(hist)
        return None if stats is None else stats.get(stat)

    def check(progress: Progress) -> Stop | None:
        if progress.phase != "measure":
            return None
        live = recorder.statistics(progress.elapsed_s)
        tick = Tick(progress.elapsed_s, progress.in_flight, live.finished, live.last_ttft_p50_ms)
        return watch.observe(tick, read)

    return check


async def _start_from_coordinator(run_start_unix_ns: int) -> float:
    """Say ready on stdout (with results.jsonl's origin on the common timeline, which
    the coordinator needs if this worker dies); the start instant comes on stdin. A
    closed stdin or a line that is not an instant means the coordinator is gone."""
    ready = {"ready": True, "run_start_ns": run_start_unix_ns}
    print(orjson.dumps(ready).decode(), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    try:
        return checked_start(line, time.time())
    except ValueError:
        raise PreflightFailed("the --workers coordinator went away before the start") from None


def _perf_instant(unix_s: float | None) -> int | None:
    """A wall-clock instant (--start-at) as a perf counter instant; None for none."""
    if unix_s is None:
        return None
    return time.perf_counter_ns() + int((unix_s - time.time()) * 1e9)


def _summarize(
    prep: Prepared,
    recorder: Recorder,
    outcome: RunOutcome,
    started_at: str,
    run_start_ns: int,
    timeline_ns: int,
    scraper: Scraper | None = None,
) -> tuple[dict[str, Any], list[slo.SloResult]]:
    """The run's summary, built once from what was measured, with its SLO verdicts.
    ``run_start_ns`` is results.jsonl's origin (perf counter); ``timeline_ns`` moves
    perf counter instants onto the common timeline (ns since the Unix epoch). A shard
    adds its ``partial`` block, what ``llmbench merge`` needs."""
    cfg = prep.cfg
    measured = recorder.freeze(timeline_ns)
    summary = run_summary(
        measured,
        run={
            "llmbench_version": __version__,
            "started_at": started_at,
            "interrupted": outcome.interrupted,
            "stop_reason": outcome.stop_reason,
            "signal": outcome.signal,
            "max_error_rate": prep.max_error_rate,
            "error_rate_stop": dict(outcome.error_rate_stop) if outcome.error_rate_stop else None,
            "preflight": prep.preflight,
            "allow_char_slo": prep.allow_char_slo,
            **({"overload": outcome.overload} if outcome.overload else {}),
            **(
                {"start_late_s": outcome.start_late_s}
                if prep.start_at is not None or prep.coordinated
                else {}
            ),
        },
        config=cfg.public(),
        run_start_ns=run_start_ns + timeline_ns,
        client=dict(outcome.client),
        due_unsent=outcome.due_unsent,
        goodput=prep.goodput,
        ramp=outcome.ramp,
        redact=prep.keys.redact_tree,
    )
    if scraper is not None:  # the server block, on the measured start's time axis
        origin = measured.origin_ns
        origin = run_start_ns + timeline_ns if origin is None else origin
        wall_s, redact = measured.wall_ns / 1e9, prep.keys.redact_tree
        scraper.add_block(summary, origin_ns=origin, wall_s=wall_s, redact=redact)
    if cfg.shards > 1:  # redacted as the rest: error examples and frames are in it
        partial = partial_block(measured, run_start_ns + timeline_ns, outcome.due_unsent)
        summary["partial"] = prep.keys.redact_tree(partial)
    return slo.judge(summary, prep.checks, prep.goodput, any_unit=prep.allow_char_slo)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def check_flags(args: argparse.Namespace) -> None:
    """The run's checks that read no file and send nothing (ConfigError): the flags'
    combinations and the SLO expressions, as ``--print-config`` lints them."""
    criteria(args, build_config(args))


def open_run_dir(cfg: RunConfig) -> Path:
    """The run directory, made; a run dir holds one run, so an older summary and report
    go (results.jsonl is truncated when its writer opens it)."""
    run_dir = _run_dir(cfg)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {run_dir}: cannot create it: {exc.strerror}") from None
    for stale in ("summary.json", "report.html"):
        (run_dir / stale).unlink(missing_ok=True)
    return run_dir


def announce(prep: Prepared, run_dir: Path) -> None:
    cfg = prep.cfg
    if cfg.quiet:
        return
    url = prep.keys.redact(cfg.public()["url"])
    load = f"concurrency {cfg.concurrency}"
    if cfg.rps is not None:  # the offered rate, beside which the summary puts the achieved
        load = f"offered {cfg.rps:g} req/s ({cfg.arrival} arrivals), cap {cfg.concurrency}"
    elif cfg.trace is not None:
        load = f"trace replay of {cfg.trace} at {cfg.trace_speed:g}x, cap {cfg.concurrency}"
    ramp = f", ramp-up {cfg.ramp_up_s:g} s (not measured)" if cfg.ramp_up_s else ""
    print(
        f"llmbench {__version__}: {cfg.provider} at {url}, {load}{ramp}; writing {run_dir}/",
        flush=True,
    )
    if prep.note:
        print(f"note: {prep.note}", flush=True)


def _report_to_console(summary: dict[str, Any], verdicts: list[slo.SloResult]) -> None:
    print(summary_table(summary))
    server = server_line(summary.get("server"))
    if server:
        print(server)
    if verdicts:
        print("\n" + slo.format_table(verdicts))
    client = summary.get("client") or {}
    if client.get("saturated"):
        reasons = "; ".join(client["saturation_reasons"])
        print(
            f"WARNING: the client was saturated ({reasons}); latency figures include client delay",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """`llmbench run`: prepare, run, summarize once, write every output; the exit code
    (0 ok, 1 SLO failed, 3 nothing measured or the pre-flight failed, 5 stopped at
    --max-error-rate, 130/143 interrupted)."""
    if workers_of(args) > 1:
        from llmbench.coordinator import run_workers

        return run_workers(args)
    if getattr(args, "coordinated", False):
        die_with_parent()  # a coordinator killed outright leaves no worker behind
    prep = prepare(args)
    if prep.cfg.server_metrics and prep.cfg.shards > 1 and not prep.coordinated:
        raise ConfigError(
            "--server-metrics with --shard I/N: no shard scrapes (llmbench merge would have "
            "one shard's view); use --workers N, whose coordinator scrapes for the run"
        )
    run_dir = open_run_dir(prep.cfg)
    csv = None if args.csv == CSV_IN_RUN_DIR else args.csv
    make_output_parents({"--junit": args.junit, "--html-report": args.html_report, "--csv": csv})
    announce(prep, run_dir)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    recorder = Recorder(prep.goodput.is_good if prep.goodput else None)
    run_start_ns = time.perf_counter_ns()  # results.jsonl's start_s counts from here
    # perf counter instants + this = the common timeline (ns since the Unix epoch)
    timeline_ns = time.time_ns() - time.perf_counter_ns()
    worker = prep.cfg.shard if prep.cfg.shards > 1 else None
    writer = ResultsWriter(run_dir / "results.jsonl", run_start_ns, worker=worker)
    # --server-metrics, stamped on the common timeline (a worker's coordinator scrapes)
    clock = lambda: time.perf_counter_ns() + timeline_ns  # noqa: E731
    scraper = None if prep.coordinated else scraper_for(prep.cfg, prep.tls, clock)
    try:
        outcome = _execute(prep, recorder, writer, run_start_ns + timeline_ns, scraper)
    except PreflightFailed as exc:
        print(f"llmbench run: {exc}", file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    finally:
        writer.close()
    summary, verdicts = _summarize(
        prep, recorder, outcome, started_at, run_start_ns, timeline_ns, scraper
    )
    # Each output on its own: one that cannot be written costs only itself.
    summary_path = run_dir / "summary.json"
    wrote_summary = write_output(
        summary_path, lambda: write_json_atomic(summary_path, summary), prep.keys
    )
    wrote_junit = not args.junit or write_output(
        Path(args.junit),
        lambda: junit.write_junit(Path(args.junit), "llmbench run", junit.slo_cases(verdicts)),
        prep.keys,
    )
    _report_to_console(summary, verdicts)
    # a --workers coordinator's worker: the coordinator writes the run's report
    outputs = [] if prep.coordinated else write_after_run(run_dir, args.html_report, args.csv)
    paths = [f"results: {run_dir / 'results.jsonl'}"]
    paths += [f"summary: {summary_path}"] if wrote_summary else []
    print("\n" + "\n".join([*paths, *outputs]))
    written = wrote_summary and wrote_junit
    return exit_code(outcome, summary, written=written, quiet=prep.coordinated)


def write_output(path: Path, write: Callable[[], None], keys: KeyRing) -> bool:
    """Run one output's writer; on any failure, one line on stderr naming the file and
    the reason (scrubbed: an OS message may quote a path or a value), and False."""
    try:
        write()
    except Exception as exc:  # whatever it is, the other outputs still get written
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = keys.redact(reason or type(exc).__name__)
        print(f"llmbench run: error: could not write {path}: {reason}", file=sys.stderr)
        return False
    return True


def exit_code(
    outcome: RunOutcome, summary: dict[str, Any], *, written: bool = True, quiet: bool = False
) -> int:
    """130/143 interrupted; 3 nothing measured; 5 stopped at --max-error-rate; 6 a
    sweep step stopped as overloaded; 1 an SLO failed; 4 summary.json or the JUnit
    file could not be written; else 0."""
    if outcome.interrupted:
        return _EXIT_BY_SIGNAL.get(outcome.signal or "", 130)
    if summary["requests"]["ok"] == 0:
        if not quiet:  # a worker's empty share is the coordinator's to judge
            print("llmbench run: no request succeeded; nothing was measured", file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    if outcome.error_rate_stop:
        stop = outcome.error_rate_stop
        print(
            f"llmbench run: stopped early: {stop['observed']:.0%} of the last {stop['window']} "
            f"requests failed (--max-error-rate {stop['threshold']:.0%})",
            file=sys.stderr,
        )
        return EXIT_ERROR_RATE
    if outcome.overload:  # a sweep step: the sweep reads why from summary.json
        return EXIT_OVERLOADED
    if summary["slo"] is not None and not summary["slo"]["passed"]:
        return EXIT_SLO_FAILED
    return 0 if written else EXIT_OUTPUT_NOT_WRITTEN


def _run_loop(coro: Coroutine[Any, Any, RunOutcome]) -> RunOutcome:
    with _event_loop_runner() as loop_runner:
        return loop_runner.run(coro)
