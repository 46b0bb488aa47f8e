"""`llmbench run`: turn parsed flags into a prepared run, run it, write every output.

Everything that can be wrong with the user's input is checked in ``prepare``,
before anything is created on disk, so a bad flag leaves no half-written run
directory behind.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmbench import __version__, junit, slo
from llmbench.config import ConfigError, RunConfig
from llmbench.console import live_line, progress_bar, summary_table
from llmbench.environment import check_environment, env_api_keys, proxy_for
from llmbench.fdlimit import ensure_fd_limit
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.tls import ssl_context
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.summary import build_summary, write_json_atomic
from llmbench.providers import Provider, make_provider
from llmbench.redaction import secret_values
from llmbench.report_command import check_output_paths, write_after_run
from llmbench.run_options import add_run_arguments, build_config
from llmbench.runner import Progress, Runner, RunOutcome
from llmbench.tokens import TokenPolicy, load_tokenizer, unit_label
from llmbench.workload import (
    KeyRing,
    WorkloadItem,
    cycle_items,
    load_keys,
    load_prompts,
    parse_length,
    synthetic_items,
)

__all__ = ["Prepared", "add_arguments", "prepare", "run"]

EXIT_SLO_FAILED = 1
EXIT_NOTHING_MEASURED = 3
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run that passed every check and is ready to start."""

    cfg: RunConfig
    provider: Provider
    items: Iterator[WorkloadItem]
    keys: KeyRing
    tokens: TokenPolicy
    checks: list[slo.SloCheck]
    goodput: slo.GoodputSpec | None
    note: str = ""


def _items(args: argparse.Namespace, cfg: RunConfig) -> Iterator[WorkloadItem]:
    if args.prompts_file:
        prompts = load_prompts(Path(args.prompts_file))
        return cycle_items(prompts, args.order, cfg.seed)
    if args.input_tokens:
        length = parse_length(args.input_tokens, "--input-tokens")
        return synthetic_items(length, cfg.max_tokens, cfg.seed)
    return cycle_items([WorkloadItem(prompt=cfg.prompt, max_tokens=cfg.max_tokens)], "x", 0)


def _keys(args: argparse.Namespace, cfg: RunConfig) -> KeyRing:
    """The keys, and every credential the run knows of, so outputs can be scrubbed."""
    secrets = secret_values(cfg.headers)
    if args.api_key:
        return KeyRing([args.api_key], secrets)
    if args.api_key_file:
        return KeyRing(load_keys(Path(args.api_key_file)), secrets)
    return KeyRing(env_api_keys(), secrets)


def _tokens(cfg: RunConfig) -> TokenPolicy:
    if cfg.token_mode != "tokenizer" or cfg.tokenizer is None:
        return TokenPolicy(cfg.token_mode)
    try:
        return TokenPolicy(cfg.token_mode, load_tokenizer(cfg.tokenizer))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _proxied(cfg: RunConfig) -> RunConfig:
    """The fast transport speaks no proxy protocol: when the environment routes the
    target through a proxy (as httpx would honour), use httpx instead."""
    if cfg.transport == "fast" and proxy_for(cfg.url) is not None:
        return _replace(cfg, transport="httpx")
    return cfg


def _replace(cfg: RunConfig, **changes: Any) -> RunConfig:
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def prepare(args: argparse.Namespace) -> Prepared:
    """Validate everything and load every file; raises ConfigError (exit 2)."""
    cfg = build_config(args)
    ensure_fd_limit(cfg.concurrency)
    transport_before = cfg.transport
    cfg = _proxied(cfg)
    note = "" if cfg.transport == transport_before else "a proxy is set: using --transport httpx"
    ssl_context(  # load certificates now, so a bad file fails before the run
        insecure=cfg.insecure,
        ca_cert=cfg.ca_cert,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
    )
    try:
        checks = slo.parse_slos(args.slo)
        goodput = slo.parse_goodput(args.goodput) if args.goodput else None
        slo.require_goodput(checks, goodput)
    except slo.SloError as exc:
        message = str(exc)  # name the flag: --goodput's messages already do
        raise ConfigError(message if "--goodput" in message else f"--slo: {message}") from None
    check_environment(cfg, Path(args.junit) if args.junit else None)
    check_output_paths(args.html_report, args.csv)
    provider = make_provider(cfg)
    items = _items(args, cfg)
    return Prepared(cfg, provider, items, _keys(args, cfg), _tokens(cfg), checks, goodput, note)


def _run_dir(cfg: RunConfig) -> Path:
    if cfg.out_dir is not None:
        return cfg.out_dir
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", cfg.model or "model")[:60]
    return Path("runs") / f"{stamp}-{model}"


def _transport(cfg: RunConfig) -> Transport:
    context = ssl_context(
        insecure=cfg.insecure,
        ca_cert=cfg.ca_cert,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
    )
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

    def __init__(self, cfg: RunConfig, recorder: Recorder) -> None:
        self._cfg = cfg
        self._recorder = recorder
        self._tty = sys.stdout.isatty()

    def tick(self, progress: Progress) -> None:
        if self._cfg.quiet:
            return
        elapsed = progress.elapsed_s
        line = live_line(
            elapsed,
            self._recorder,
            progress.in_flight,
            self._cfg.concurrency,
            unit_label(self._cfg.token_mode),
        )
        if self._tty:
            bar = _progress(self._cfg, self._recorder, elapsed)
            print(f"\r{bar} {line}\x1b[K", end="", flush=True)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self._tty and not self._cfg.quiet:
            print()


def _execute(prep: Prepared, recorder: Recorder, writer: ResultsWriter) -> RunOutcome:
    view = _LiveView(prep.cfg, recorder)

    async def main() -> RunOutcome:
        transport = _transport(prep.cfg)
        runner = Runner(
            prep.cfg, prep.provider, transport, prep.items, prep.keys, recorder, writer,
            tick=view.tick, tokens=prep.tokens,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.interrupt, sig.name)
        try:
            return await runner.run()
        finally:
            await transport.aclose()

    try:
        return _run_loop(main())
    finally:
        view.close()


def _summarize(
    prep: Prepared, recorder: Recorder, outcome: RunOutcome, started_at: str
) -> tuple[dict[str, Any], list[slo.SloResult]]:
    """The run's summary, built once from what was measured, with its SLO verdicts."""
    cfg = prep.cfg
    summary = build_summary(
        recorder,
        run={
            "llmbench_version": __version__,
            "started_at": started_at,
            "interrupted": outcome.interrupted,
            "stop_reason": outcome.stop_reason,
            "signal": outcome.signal,
            "token_unit": prep.tokens.unit,
        },
        config=cfg.public(),
        open_loop=cfg.open_loop,
        token_mode=cfg.token_mode,
        client=dict(outcome.client),
        # due when the run stopped, but the cap never let them go
        never_sent=outcome.due_unsent if cfg.open_loop else None,
        goodput=prep.goodput,
        redact=prep.keys.redact_tree,  # what a server or a flag may echo
    )
    return slo.judge(summary, prep.checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def _open_run_dir(cfg: RunConfig) -> Path:
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


def _announce(prep: Prepared, run_dir: Path) -> None:
    cfg = prep.cfg
    if cfg.quiet:
        return
    url = prep.keys.redact(cfg.public()["url"])
    print(
        f"llmbench {__version__}: {cfg.provider} at {url}, "
        f"concurrency {cfg.concurrency}; writing {run_dir}/",
        flush=True,
    )
    if prep.note:
        print(f"note: {prep.note}", flush=True)


def _report_to_console(summary: dict[str, Any], verdicts: list[slo.SloResult]) -> None:
    print(summary_table(summary))
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
    (0 ok, 1 SLO failed, 3 nothing measured, 130/143 interrupted)."""
    prep = prepare(args)
    run_dir = _open_run_dir(prep.cfg)
    _announce(prep, run_dir)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    recorder = Recorder(prep.goodput.is_good if prep.goodput else None)
    writer = ResultsWriter(run_dir / "results.jsonl", time.perf_counter_ns())
    try:
        outcome = _execute(prep, recorder, writer)
    finally:
        writer.close()
    summary, verdicts = _summarize(prep, recorder, outcome, started_at)
    write_json_atomic(run_dir / "summary.json", summary)
    if args.junit:
        junit.write_junit(Path(args.junit), "llmbench run", junit.slo_cases(verdicts))
    _report_to_console(summary, verdicts)
    outputs = write_after_run(run_dir, args.html_report, args.csv)
    paths = [f"results: {run_dir / 'results.jsonl'}", f"summary: {run_dir / 'summary.json'}"]
    print("\n" + "\n".join([*paths, *outputs]))
    return _exit_code(outcome, summary)


def _exit_code(outcome: RunOutcome, summary: dict[str, Any]) -> int:
    """130/143 interrupted; 3 nothing measured; 1 an SLO failed; else 0."""
    if outcome.interrupted:
        return _EXIT_BY_SIGNAL.get(outcome.signal or "", 130)
    if summary["requests"]["ok"] == 0:
        print("llmbench run: no request succeeded; nothing was measured", file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    if summary["slo"] is not None and not summary["slo"]["passed"]:
        return EXIT_SLO_FAILED
    return 0


def _run_loop(coro: Coroutine[Any, Any, RunOutcome]) -> RunOutcome:
    with _event_loop_runner() as loop_runner:
        return loop_runner.run(coro)
