"""`llmbench run`: turn parsed flags into a config, run it, write every output.

Validation happens before anything is created on disk, so a bad flag leaves no
half-written run directory behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmbench import __version__
from llmbench.config import RunConfig
from llmbench.console import live_line, progress_bar, summary_table
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.summary import build_summary, write_json_atomic
from llmbench.providers import make_provider
from llmbench.runner import Runner
from llmbench.workload import DEFAULT_PROMPT, KeyRing, single_prompt

__all__ = ["config_from_args", "run_command"]

EXIT_NOTHING_MEASURED = 3
# With no stop rule given, a run is a quick smoke test rather than an endless one.
DEFAULT_REQUESTS = 100
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Flags to a validated RunConfig (raises ConfigError)."""
    if args.concurrency is not None:
        concurrency = args.concurrency
    else:
        concurrency = 1000 if args.rps is not None else 1
    return RunConfig(
        url=args.url,
        provider=args.provider,
        endpoint=args.endpoint,
        model=args.model,
        prompt=args.prompt if args.prompt is not None else DEFAULT_PROMPT,
        max_tokens=args.max_tokens,
        include_usage=args.include_usage,
        concurrency=concurrency,
        requests=args.requests if (args.requests or args.duration) else DEFAULT_REQUESTS,
        duration_s=args.duration,
        rps=args.rps,
        arrival=args.arrival,
        burstiness=args.burstiness,
        burst=args.burst,
        seed=args.seed,
        ramp_up_s=args.ramp_up,
        warmup_requests=args.warmup,
        warmup_s=args.warmup_s,
        grace_s=args.grace,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        transport=args.transport,
        max_line_bytes=args.max_line_bytes,
        out_dir=Path(args.out) if args.out else None,
        quiet=args.quiet,
    )


def _api_keys(args: argparse.Namespace) -> list[str]:
    if args.api_key:
        return [args.api_key]
    for name in ("LLMBENCH_API_KEY", "OPENAI_API_KEY"):
        if os.environ.get(name):
            return [os.environ[name]]
    return []


def _run_dir(cfg: RunConfig) -> Path:
    if cfg.out_dir is not None:
        return cfg.out_dir
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", cfg.model or "model")[:60]
    return Path("runs") / f"{stamp}-{model}"


def _transport(cfg: RunConfig) -> Transport:
    if cfg.transport == "httpx":
        return HttpxTransport(
            concurrency=cfg.concurrency,
            connect_timeout_s=cfg.connect_timeout_s,
            timeout_s=cfg.timeout_s,
            ssl_context=None,
        )
    return FastTransport(
        connect_timeout_s=cfg.connect_timeout_s, timeout_s=cfg.timeout_s, ssl_context=None
    )


def _event_loop_runner() -> asyncio.Runner:
    """uvloop when installed: it roughly halves the client's CPU per streamed event."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return asyncio.Runner(loop_factory=factory)


def run_command(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    provider = make_provider(cfg)
    keys = KeyRing(_api_keys(args))
    run_dir = _run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_start_ns = time.perf_counter_ns()
    recorder = Recorder()
    writer = ResultsWriter(run_dir / "results.jsonl", run_start_ns)
    holder: dict[str, Runner] = {}

    tty = sys.stdout.isatty()

    def tick(elapsed: float) -> None:
        if cfg.quiet:
            return
        line = live_line(elapsed, recorder, holder["runner"].in_flight, cfg.concurrency)
        if tty:  # one line redrawn in place, with a progress bar
            print(f"\r{_progress(cfg, recorder, elapsed)} {line}\x1b[K", end="", flush=True)
        else:
            print(line, flush=True)

    async def main() -> Any:
        transport = _transport(cfg)
        items = single_prompt(cfg.prompt, cfg.max_tokens)
        runner = Runner(cfg, provider, transport, items, keys, recorder, writer, tick=tick)
        holder["runner"] = runner
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.interrupt, sig.name)
        try:
            return await runner.run()
        finally:
            await transport.aclose()

    if not cfg.quiet:
        print(
            f"llmbench {__version__}: {cfg.provider} at {cfg.public()['url']}, "
            f"concurrency {cfg.concurrency}; writing {run_dir}/",
            flush=True,
        )
    try:
        outcome = _run_loop(main())
    finally:
        writer.close()
        if tty and not cfg.quiet:
            print()
    summary = build_summary(
        recorder,
        run={
            "llmbench_version": __version__,
            "started_at": started_at,
            "interrupted": outcome.interrupted,
            "stop_reason": outcome.stop_reason,
        },
        config=cfg.public(),
        open_loop=cfg.open_loop,
    )
    summary["client"] = holder["runner"].monitor.summary()
    write_json_atomic(run_dir / "summary.json", summary)
    print(summary_table(summary))
    if summary["client"]["saturated"]:
        reasons = "; ".join(summary["client"]["saturation_reasons"])
        print(
            f"WARNING: the client was saturated ({reasons}); latency figures include client delay",
            file=sys.stderr,
        )
    print(f"\nresults: {run_dir / 'results.jsonl'}\nsummary: {run_dir / 'summary.json'}")
    if outcome.interrupted:
        return _EXIT_BY_SIGNAL.get(outcome.stop_reason, 130)
    if recorder.ok == 0:
        print("llmbench run: no request succeeded; nothing was measured", file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    return 0


def _progress(cfg: RunConfig, recorder: Recorder, elapsed_s: float) -> str:
    """How far a bounded run is: by count or by time, whichever is further along."""
    fractions = []
    if cfg.requests:
        fractions.append(recorder.finished / cfg.requests)
    if cfg.duration_s:
        fractions.append(elapsed_s / cfg.duration_s)
    return progress_bar(max(fractions)) if fractions else ""


def _run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    with _event_loop_runner() as loop_runner:
        return loop_runner.run(coro)
