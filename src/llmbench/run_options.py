"""`llmbench run` flags, and turning them into a validated RunConfig.

Aliases keep users of the Dify stream load-test script's flags at home: --host/--port,
--threads, --execution-time, --param-file, --model-name, --html-report.

Each provider's own flags come from its registration (``ProviderSpec.add_flags``), one
argument group per provider; only the chosen provider reads its flags, so another
provider's flag is accepted and has no effect.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from llmbench.config import (
    ARRIVALS,
    TRANSPORTS,
    ConfigError,
    RunConfig,
    parse_json_object,
)
from llmbench.environment import local_sources
from llmbench.providers import (
    add_plugin_flags,
    builtin_specs,
    options_for,
    plugin_names,
    provider_names,
)
from llmbench.providers.base import FlagGroup, OptionSources
from llmbench.report_command import add_output_flags
from llmbench.sse import DEFAULT_MAX_LINE_BYTES
from llmbench.tokens import TOKEN_MODES
from llmbench.workload import DEFAULT_PROMPT

__all__ = [
    "DEFAULT_REQUESTS",
    "add_plugin_arguments",
    "add_run_arguments",
    "build_config",
    "parse_header",
]

# With no stop rule given, a run is a quick smoke test rather than an endless one.
DEFAULT_REQUESTS = 100


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _target_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target")
    g.add_argument("--url", help="server base URL, e.g. http://127.0.0.1:8000")
    g.add_argument("--host", help="server host; with --port forms --url http://HOST:PORT")
    g.add_argument("--port", type=int, help="server port (with --host)")
    g.add_argument("--provider", default="openai-chat", help="API family (default openai-chat)")
    g.add_argument("--endpoint", help="request path, replacing the provider's standard one")
    g.add_argument("--model", "--model-name", dest="model", help="model name sent in each request")
    g.add_argument("--api-key", help="API key (else LLMBENCH_API_KEY, then OPENAI_API_KEY)")
    g.add_argument("--api-key-file", help="file with one API key per line, used round-robin")
    g.add_argument("-H", "--header", action="append", default=[], help="'Name: value' (repeatable)")
    g.add_argument("--extra-body", help="JSON object merged into every request body")
    g.add_argument(
        "--no-stream",
        dest="stream",
        action="store_false",
        help="non-streaming requests (TTFT is then the whole response)",
    )


def _provider_flags(p: argparse.ArgumentParser) -> None:
    """One group per built-in provider's flags (providers sharing their flags, the
    OpenAI APIs, share a group; a provider without flags shows none)."""
    groups: dict[Callable[[FlagGroup], None], list[str]] = {}
    for spec in builtin_specs():
        groups.setdefault(spec.add_flags, []).append(spec.name)
    for add_flags, names in groups.items():
        add_flags(p.add_argument_group(f"--provider {' | '.join(names)}"))


def _workload_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload")
    g.add_argument("--prompt", help="the prompt to send (default: a short question)")
    g.add_argument(
        "--prompts-file",
        "--param-file",
        dest="prompts_file",
        help=".txt (one prompt per line), .jsonl ({prompt|messages,...}) or ShareGPT .json",
    )
    g.add_argument(
        "--order",
        choices=("sequential", "shuffle"),
        default="sequential",
        help="order of --prompts-file prompts (shuffle uses --seed)",
    )
    g.add_argument("--input-tokens", help="synthetic prompts of N tokens, or MEAN:STDDEV")
    g.add_argument("--output-tokens", type=int, help="max_tokens for synthetic prompts")
    g.add_argument("--max-tokens", type=int, help="max_tokens sent with every request")
    g.add_argument(
        "--ignore-eos",
        action="store_true",
        help="send vLLM's ignore_eos so servers generate the full length",
    )
    g.add_argument(
        "--token-mode",
        default="auto",
        choices=TOKEN_MODES,
        help="how tokens are counted (default auto: server usage, else characters)",
    )
    g.add_argument("--tokenizer", help="local tokenizer.json for --token-mode tokenizer")


def _load_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load")
    g.add_argument(
        "--concurrency",
        "--threads",
        dest="concurrency",
        type=int,
        help="cap on requests in flight; closed loop: the number of workers "
        "(default 1); with --rps: due requests wait for a free slot (default 1000)",
    )
    g.add_argument("--rps", type=_number, help="open loop: target requests per second")
    g.add_argument(
        "--arrival",
        choices=ARRIVALS,
        default="constant",
        help="open-loop arrival process (default constant)",
    )
    g.add_argument(
        "--burstiness",
        type=_number,
        default=1.0,
        help="gamma arrivals' shape: 1 is Poisson, smaller is burstier (default 1)",
    )
    g.add_argument(
        "--burst", type=int, default=1, help="constant arrivals: token-bucket capacity (default 1)"
    )
    g.add_argument("--seed", type=int, default=0, help="seed for arrivals and shuffles (default 0)")
    g.add_argument(
        "--ramp-up",
        type=_number,
        default=0.0,
        help="seconds over which concurrency (closed) or rate (open loop) rises",
    )
    g.add_argument("--requests", type=int, help="stop after this many measured requests")
    g.add_argument(
        "--duration",
        "--execution-time",
        dest="duration",
        type=_number,
        help="stop sending after S seconds",
    )
    g.add_argument("--warmup", type=int, default=0, help="warm-up requests, not measured")
    g.add_argument("--warmup-s", type=_number, default=0.0, help="seconds of warm-up")
    g.add_argument(
        "--grace",
        type=_number,
        default=5.0,
        help="seconds in-flight requests get to finish after a stop (default 5)",
    )


def _http_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("http")
    g.add_argument("--timeout", type=_number, default=600.0, help="seconds per request")
    g.add_argument("--connect-timeout", type=_number, default=10.0, help="seconds to connect")
    g.add_argument("--ttft-timeout", type=_number, help="seconds to wait for the first token")
    g.add_argument(
        "--stall-timeout",
        type=_number,
        help="seconds without any bytes mid-stream before giving up",
    )
    g.add_argument(
        "--retries",
        type=int,
        default=0,
        help="retry connection errors and 429/503 up to N times (default 0: a "
        "benchmark counts failures, it does not hide them)",
    )
    g.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="fast",
        help="fast: HTTP/1.1 on asyncio protocols (default); httpx: proxies, HTTP/2",
    )
    g.add_argument("--http2", action="store_true", help="HTTP/2 (with --transport httpx)")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument("--ca-cert", help="CA bundle to verify the server with")
    g.add_argument("--client-cert", help="client certificate (PEM) for mutual TLS")
    g.add_argument("--client-key", help="client private key (PEM), if not in --client-cert")
    g.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"longest stream line accepted (default {DEFAULT_MAX_LINE_BYTES})",
    )


def _output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--out", help="run directory (default runs/<UTC timestamp>-<model>/)")
    g.add_argument("--quiet", action="store_true", help="print only the final summary")
    g.add_argument("--junit", help="write the SLO checks as JUnit XML to FILE")
    add_output_flags(g)


def _gate_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SLOs (exit 1 when one fails)")
    g.add_argument(
        "--slo",
        action="append",
        default=[],
        help="check on the run's figures, e.g. 'ttft_p95<=500ms' (repeatable, or comma-separated)",
    )
    g.add_argument(
        "--goodput", help="per-request SLOs for goodput, e.g. 'ttft:500ms,tpot:50ms,latency:10s'"
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    for add in (
        _target_flags,
        _provider_flags,
        _workload_flags,
        _load_flags,
        _http_flags,
        _gate_flags,
        _output_flags,
    ):
        add(p)


def _provider_in(argv: Sequence[str]) -> str | None:
    """The --provider value in a command line, read ahead of the real parse."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    pre.add_argument("--provider")
    try:
        known, _ = pre.parse_known_args(list(argv))
    except argparse.ArgumentError:
        return None
    return known.provider if isinstance(known.provider, str) else None


def add_plugin_arguments(p: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """The flags of the plugin provider ``--provider`` names in ``argv``, if it names
    one: a plugin is loaded only when asked for, so its flags join the parser (and
    ``--help``) only then. Built-in providers' flags are always there."""
    name = _provider_in(argv)
    if name is None or name in provider_names() or name not in plugin_names():
        return  # an unknown name is reported with the rest of the config
    add_plugin_flags(name, p.add_argument_group(f"--provider {name} (plugin)"))


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        # never the text itself: a header without its colon is often a credential
        raise ConfigError("-H/--header must be 'Name: value', got one without a name or ':'")
    return name.strip(), value.strip()


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if args.host:
        host = f"[{args.host}]" if ":" in args.host else args.host
        return f"http://{host}:{args.port}" if args.port else f"http://{host}"
    raise ConfigError("--url (or --host and --port) is required")


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _stop_rules(args: argparse.Namespace) -> tuple[int | None, float | None]:
    if args.requests is None and args.duration is None:
        return DEFAULT_REQUESTS, None
    return args.requests, args.duration


def build_config(args: argparse.Namespace, sources: OptionSources | None = None) -> RunConfig:
    """Flags to a validated RunConfig, with the chosen provider's options built from
    its flags (read through ``sources``: this process's environment and files by
    default). Raises ConfigError with a one-line message."""
    given = [x for x in ("prompt", "prompts_file", "input_tokens") if getattr(args, x)]
    if len(given) > 1:
        flags = " and ".join("--" + s.replace("_", "-") for s in given)
        raise ConfigError(f"{flags} are alternatives: give one")
    requests, duration = _stop_rules(args)
    concurrency = args.concurrency
    if concurrency is None:
        concurrency = 1000 if args.rps is not None else 1
    cfg = RunConfig(
        url=_url(args),
        provider=args.provider,
        endpoint=args.endpoint,
        model=args.model,
        prompt=args.prompt if args.prompt is not None else DEFAULT_PROMPT,
        max_tokens=args.max_tokens if args.max_tokens is not None else args.output_tokens,
        stream=args.stream,
        ignore_eos=args.ignore_eos,
        headers=tuple(parse_header(h) for h in args.header),
        extra_body=parse_json_object(args.extra_body, "--extra-body"),
        concurrency=concurrency,
        requests=requests,
        duration_s=duration,
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
        ttft_timeout_s=args.ttft_timeout,
        stall_timeout_s=args.stall_timeout,
        retries=args.retries,
        transport=args.transport,
        http2=args.http2,
        insecure=args.insecure,
        ca_cert=_path(args.ca_cert),
        client_cert=_path(args.client_cert),
        client_key=_path(args.client_key),
        token_mode=args.token_mode,
        tokenizer=_path(args.tokenizer),
        max_line_bytes=args.max_line_bytes,
        out_dir=_path(args.out),
        quiet=args.quiet,
    )
    options = options_for(cfg.provider, args, sources or local_sources())
    return dataclasses.replace(cfg, provider_options=options)
