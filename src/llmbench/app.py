"""`llmbench run`: turn parsed flags into a prepared run, run it, write every output.

Everything that can be wrong with the user's input is checked in ``prepare``,
before anything is created on disk, so a bad flag leaves no half-written run
directory behind.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import signal
import ssl
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from llmbench import __version__, junit, slo
from llmbench.config import ConfigError, RunConfig, check_header
from llmbench.console import (
    live_line,
    progress_bar,
    progress_json,
    summary_table,
    unmeasured_line,
)
from llmbench.discovery import DEFAULT_TIMEOUT_S as DISCOVERY_TIMEOUT_S
from llmbench.discovery import ModelListUnavailable, discover_model
from llmbench.environment import (
    check_environment,
    env_api_keys,
    make_output_parents,
    proxy_for,
)
from llmbench.exchange import Exchange
from llmbench.fdlimit import ensure_fd_limit
from llmbench.http.fast import FastTransport
from llmbench.http.httpx_transport import HttpxTransport
from llmbench.http.tls import ssl_context
from llmbench.http.transport import Transport
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.summary import run_summary, write_json_atomic
from llmbench.providers import Provider, make_provider, provider_spec
from llmbench.redaction import secret_values, url_secrets
from llmbench.report_command import CSV_IN_RUN_DIR, check_output_paths, write_after_run
from llmbench.run_options import add_run_arguments, build_config
from llmbench.runner import Progress, Runner, RunOutcome
from llmbench.scale_options import START_AT_STDIN, start_at, workers_of
from llmbench.shard_merge import partial_block
from llmbench.tokens import (
    TokenPolicy,
    counts_true_tokens,
    load_tokenizer,
    run_token_unit,
    unit_label,
)
from llmbench.workload import (
    KeyRing,
    WorkloadItem,
    check_key,
    cycle_items,
    load_keys,
    load_prompts,
    parse_length,
    synthetic_items,
)

__all__ = ["Prepared", "add_arguments", "announce", "exit_code", "open_run_dir", "prepare", "run"]

EXIT_SLO_FAILED = 1
EXIT_NOTHING_MEASURED = 3
# The run was measured, but summary.json or the JUnit file could not be written (each
# named on stderr): a CI gate must not pass on files that are not there.
EXIT_OUTPUT_NOT_WRITTEN = 4
# --max-error-rate stopped the run: what was measured is mostly failures.
EXIT_ERROR_RATE = 5
# The pre-flight error shown on the one line: enough for a status and a server's message.
_PREFLIGHT_ERROR_CHARS = 300
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
    tls: ssl.SSLContext | None  # built once, here: a bad certificate file fails before the run
    note: str = ""
    preflight: bool = True  # one request before the clock starts (--no-preflight: none)
    max_error_rate: float | None = None  # --max-error-rate, a share; None: no limit
    allow_char_slo: bool = False  # --allow-char-slo: per-token SLOs on any unit
    start_at: float | None = None  # --start-at: Unix seconds when the shards all begin
    coordinated: bool = False  # a --workers coordinator's worker (progress and start via pipes)


class PreflightFailed(Exception):
    """The pre-flight request failed: the message is the one line to print (redacted)."""


def _items(args: argparse.Namespace, cfg: RunConfig) -> tuple[Iterator[WorkloadItem], str]:
    """The workload, and a console note about it ("" when there is nothing to say)."""
    if args.prompts_file:
        prompts = load_prompts(Path(args.prompts_file))
        return cycle_items(prompts.items, args.order, cfg.seed), prompts.note
    if args.input_tokens:
        length = parse_length(args.input_tokens, "--input-tokens")
        return synthetic_items(length, cfg.max_tokens, cfg.seed), ""
    return cycle_items([WorkloadItem(prompt=cfg.prompt, max_tokens=cfg.max_tokens)], "x", 0), ""


def _api_keys(args: argparse.Namespace) -> list[str]:
    """--api-key, else --api-key-file's keys, else the environment's; each checked."""
    if args.api_key:
        check_key(args.api_key, "--api-key")
        return [args.api_key]
    if args.api_key_file:
        return load_keys(Path(args.api_key_file))
    return env_api_keys()


def _keys(keys: list[str], cfg: RunConfig, provider: Provider) -> KeyRing:
    """The keys, and every credential the run knows of (secret -H values, the URL's
    password, the provider's own secret headers), so outputs can be scrubbed. One
    request is built to check every header it would send: a provider's option that
    lands in a header (``--anthropic-version``, a template's ``${ENV}``) is held to
    the -H rules too."""
    sample = provider.build_request(WorkloadItem(prompt=""), keys[0] if keys else None)
    for name, value in sample.headers:
        check_header(name, value, f"--provider {cfg.provider}: header")
    secrets = [*secret_values(sample.headers), *secret_values(cfg.headers), *url_secrets(cfg.url)]
    return KeyRing(keys, secrets)


def _tokens(cfg: RunConfig) -> TokenPolicy:
    if cfg.token_mode != "tokenizer" or cfg.tokenizer is None:
        return TokenPolicy(cfg.token_mode)
    try:
        return TokenPolicy(cfg.token_mode, load_tokenizer(cfg.tokenizer))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _planned_unit(cfg: RunConfig) -> str:
    """What the run's per-token figures will be in, known before sending: "tokens"
    only when every count can come from usage or a tokenizer."""
    mode = cfg.token_mode
    usage = bool(getattr(cfg.provider_options, "include_usage", True))  # --no-usage: False
    if mode == "disabled" or counts_true_tokens(
        mode, tokenizer=cfg.tokenizer is not None, usage_requested=usage
    ):
        return "tokens"  # disabled: no per-token figure exists to judge
    return "estimated tokens" if mode == "estimate" else "chars"


def _proxied(cfg: RunConfig) -> RunConfig:
    """The fast transport speaks no proxy protocol: when the environment routes the
    target through a proxy (as httpx would honour), use httpx instead."""
    if cfg.transport == "fast" and proxy_for(cfg.url) is not None:
        return _replace(cfg, transport="httpx")
    return cfg


def _with_model(
    cfg: RunConfig, tls: ssl.SSLContext | None, api_keys: list[str]
) -> tuple[RunConfig, str]:
    """Without --model, an OpenAI-compatible server is asked which model it serves
    (the last check before the run, once every local input has passed): its only
    model is used, several stop the run (ConfigError), and a server with no usable
    list is sent requests that name no model, with a note saying why."""
    if cfg.model is not None or not provider_spec(cfg.provider).lists_models:
        return cfg, ""
    try:
        model = discover_model(
            cfg.url,
            cfg.headers,
            min(DISCOVERY_TIMEOUT_S, cfg.timeout_s),
            tls,
            api_key=api_keys[0] if api_keys else None,
            trust_env=cfg.transport == "httpx",  # the run's own proxy and CA settings
        )
    except ModelListUnavailable as exc:
        return cfg, f"no --model, and {exc}: requests name no model"
    return _replace(cfg, model=model), f"--model {model}: the one model the server lists"


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
    tls = ssl_context(
        insecure=cfg.insecure,
        ca_cert=cfg.ca_cert,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
    )
    try:
        checks = slo.parse_slos(args.slo)
        goodput = slo.parse_goodput(args.goodput) if args.goodput else None
        slo.require_goodput(checks, goodput)
        if not getattr(args, "allow_char_slo", False):
            slo.refuse_per_token_criteria(checks, goodput, _planned_unit(cfg))
        slo.require_open_loop(checks, cfg.open_loop)
    except slo.SloError as exc:
        message = str(exc)  # name the flag: --goodput's messages already do
        raise ConfigError(message if "--goodput" in message else f"--slo: {message}") from None
    check_environment(cfg, Path(args.junit) if args.junit else None)
    check_output_paths(args.html_report, args.csv)
    items, items_note = _items(args, cfg)
    api_keys = _api_keys(args)
    cfg, model_note = _with_model(cfg, tls, api_keys)
    provider = make_provider(cfg)
    note = "; ".join(n for n in (note, items_note, model_note) if n)
    keys = _keys(api_keys, cfg, provider)
    return Prepared(
        cfg, provider, items, keys, _tokens(cfg), checks, goodput, tls, note,
        preflight=getattr(args, "preflight", True),
        allow_char_slo=getattr(args, "allow_char_slo", False),
        max_error_rate=getattr(args, "max_error_rate", None),
        start_at=start_at(args, time.time()),
        coordinated=getattr(args, "start_at", None) == START_AT_STDIN,
    )  # fmt: skip


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
    key_index, key = prep.keys.next()
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


def _execute(prep: Prepared, recorder: Recorder, writer: ResultsWriter) -> RunOutcome:
    view = _LiveView(prep.cfg, recorder, as_json=prep.coordinated)

    async def main() -> RunOutcome:
        transport = _transport(prep)
        try:
            items = prep.items
            if prep.preflight:  # the first item goes again as the run's first request
                first = next(items)
                await _preflight(prep, transport, first)
                items = itertools.chain([first], items)
            runner = Runner(
                prep.cfg, prep.provider, transport, items, prep.keys, recorder, writer,
                tick=view.tick, tokens=prep.tokens, max_error_rate=prep.max_error_rate,
                begin_ns=_perf_instant(prep.start_at),
            )  # fmt: skip
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.interrupt, sig.name)
            if prep.coordinated:  # ready: the coordinator says when every worker begins
                runner.begin_ns = _perf_instant(await _start_from_coordinator())
            return await runner.run()
        finally:
            await transport.aclose()

    try:
        return _run_loop(main())
    finally:
        view.close()


async def _start_from_coordinator() -> float:
    """Say ready on stdout; the start instant (Unix seconds) comes on stdin. A closed
    stdin means the coordinator is gone: nothing is sent."""
    print(orjson.dumps({"ready": True}).decode(), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    try:
        return float(line)
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
            **({"start_late_s": outcome.start_late_s} if prep.start_at is not None else {}),
        },
        config=cfg.public(),
        run_start_ns=run_start_ns + timeline_ns,
        client=dict(outcome.client),
        due_unsent=outcome.due_unsent,
        goodput=prep.goodput,
        ramp=outcome.ramp,
        redact=prep.keys.redact_tree,
    )
    if cfg.shards > 1:  # redacted as the rest: error examples and frames are in it
        partial = partial_block(measured, run_start_ns + timeline_ns, outcome.due_unsent)
        summary["partial"] = prep.keys.redact_tree(partial)
    return slo.judge(summary, prep.checks, prep.goodput, any_unit=prep.allow_char_slo)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


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
    ramp = f", ramp-up {cfg.ramp_up_s:g} s (not measured)" if cfg.ramp_up_s else ""
    print(
        f"llmbench {__version__}: {cfg.provider} at {url}, {load}{ramp}; writing {run_dir}/",
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
    (0 ok, 1 SLO failed, 3 nothing measured or the pre-flight failed, 5 stopped at
    --max-error-rate, 130/143 interrupted)."""
    if workers_of(args) > 1:
        from llmbench.coordinator import run_workers

        return run_workers(args)
    prep = prepare(args)
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
    try:
        outcome = _execute(prep, recorder, writer)
    except PreflightFailed as exc:
        print(f"llmbench run: {exc}", file=sys.stderr)
        return EXIT_NOTHING_MEASURED
    finally:
        writer.close()
    summary, verdicts = _summarize(prep, recorder, outcome, started_at, run_start_ns, timeline_ns)
    # Each output on its own: one that cannot be written costs only itself.
    summary_path = run_dir / "summary.json"
    wrote_summary = _write_output(
        summary_path, lambda: write_json_atomic(summary_path, summary), prep.keys
    )
    wrote_junit = not args.junit or _write_output(
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
    return exit_code(outcome, summary, written=wrote_summary and wrote_junit)


def _write_output(path: Path, write: Callable[[], None], keys: KeyRing) -> bool:
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


def exit_code(outcome: RunOutcome, summary: dict[str, Any], *, written: bool = True) -> int:
    """130/143 interrupted; 3 nothing measured; 5 stopped at --max-error-rate; 1 an SLO
    failed; 4 summary.json or the JUnit file could not be written; else 0."""
    if outcome.interrupted:
        return _EXIT_BY_SIGNAL.get(outcome.signal or "", 130)
    if summary["requests"]["ok"] == 0:
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
    if summary["slo"] is not None and not summary["slo"]["passed"]:
        return EXIT_SLO_FAILED
    return 0 if written else EXIT_OUTPUT_NOT_WRITTEN


def _run_loop(coro: Coroutine[Any, Any, RunOutcome]) -> RunOutcome:
    with _event_loop_runner() as loop_runner:
        return loop_runner.run(coro)
