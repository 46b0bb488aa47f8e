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
    HISTORY_SOURCES,
    MAX_BURST,
    MAX_BURSTINESS,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_INPUT_TOKENS,
    MAX_LINE_BYTES,
    MAX_PREFIX_GROUPS,
    MAX_REQUESTS,
    MAX_RETRIES,
    MAX_RPS,
    MAX_SEED,
    MAX_TOKENS,
    MAX_TRACE_SPEED,
    MIN_BURSTINESS,
    MIN_LINE_BYTES,
    MIN_RPS,
    MIN_SCRAPE_INTERVAL_S,
    MIN_TRACE_SPEED,
    PREFIX_PICKS,
    TRANSPORTS,
    ConfigError,
    RunConfig,
    check_count,
    check_header,
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
from llmbench.retry import DEFAULT_MAX_ERROR_RATE, ERROR_RATE_MIN_REQUESTS, ERROR_RATE_WINDOW
from llmbench.scale_options import add_scale_flags, shard_of, workers_of
from llmbench.sse import DEFAULT_MAX_LINE_BYTES
from llmbench.tokens import TOKEN_MODES
from llmbench.workload import DEFAULT_PROMPT

__all__ = [
    "DEFAULT_REQUESTS",
    "add_plugin_arguments",
    "add_run_arguments",
    "build_config",
    "integer_flag",
    "number_flag",
    "parse_header",
]

# With no stop rule given, a run is a quick smoke test rather than an endless one.
DEFAULT_REQUESTS = 100


# Every time flag's bound, as --help states it.
_SECONDS = f"at most {MAX_DURATION_S:.0f} s, one year"


def number_flag(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def integer_flag(text: str) -> int:
    """An integer flag's value; the range is RunConfig's to check (and to name)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _share(text: str) -> float:
    """``--max-error-rate``: '50%' or 0.5, a share from 0 to 1."""
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%")) / (100 if percent else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a share: {text!r} (say 50% or 0.5)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 100%, got {text!r}")
    return value


def _target_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target")
    g.add_argument("--url", help="server base URL, e.g. http://127.0.0.1:8000")
    g.add_argument("--host", help="server host; with --port forms --url http://HOST:PORT")
    g.add_argument("--port", type=integer_flag, help="server port (with --host), 1..65535")
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
        default=None,  # None: not given (a trace refuses one given); sequential
        help="order of --prompts-file prompts (shuffle uses --seed; default sequential)",
    )
    g.add_argument(
        "--input-tokens",
        help=f"synthetic prompts of N tokens, or MEAN:STDDEV (N at most {MAX_INPUT_TOKENS}): "
        "exactly N with --tokenizer, else N words of about a token each",
    )
    g.add_argument(
        "--output-tokens",
        type=integer_flag,
        help=f"max_tokens for synthetic prompts (1..{MAX_TOKENS})",
    )
    g.add_argument(
        "--max-tokens",
        type=integer_flag,
        help=f"max_tokens sent with every request (1..{MAX_TOKENS})",
    )
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
    g.add_argument(
        "--tokenizer",
        help="a tokenizer.json, a directory holding one, or a model id in the local Hugging "
        "Face cache (never downloaded): synthetic prompts, shared prefixes and trace prompts "
        "are then exactly their lengths in its tokens (without it: words of about a token "
        "each); --token-mode tokenizer also counts with it",
    )


def _trace_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("trace replay")
    g.add_argument(
        "--trace",
        help="replay a trace open loop at its times: .jsonl (Mooncake: timestamp ms, "
        "input_length, output_length, hash_ids) or .csv (Azure: TIMESTAMP, ContextTokens, "
        "GeneratedTokens); synthetic prompts of its lengths (exactly, with --tokenizer)",
    )
    g.add_argument(
        "--trace-speed",
        type=number_flag,
        default=1.0,
        help=f"scale the trace's time: 2 replays twice as fast ({MIN_TRACE_SPEED:g}.."
        f"{MAX_TRACE_SPEED:g}, default 1)",
    )


def _prefix_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shared prefixes")
    g.add_argument(
        "--prefix-tokens",
        type=integer_flag,
        metavar="P",
        help="start every prompt with a shared prefix of P tokens, as a long system prompt "
        f"a server's prefix cache reuses (1..{MAX_INPUT_TOKENS}; exactly P with --tokenizer, "
        "else P words of about a token each); the prompt's own part follows",
    )
    g.add_argument(
        "--prefix-groups",
        type=integer_flag,
        metavar="G",
        help=f"distinct shared prefixes, each request takes one (1..{MAX_PREFIX_GROUPS}, "
        "default 1; needs --prefix-tokens)",
    )
    g.add_argument(
        "--prefix-pick",
        choices=PREFIX_PICKS,
        help="which prefix request i takes: round-robin, i mod G (default), or random, "
        "seeded by --seed (needs --prefix-tokens)",
    )


def _load_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load")
    g.add_argument(
        "--concurrency",
        "--threads",
        dest="concurrency",
        type=integer_flag,
        help=f"cap on requests in flight (1..{MAX_CONCURRENCY}); closed loop: the number of "
        "workers (default 1); with --rps: due requests wait for a free slot (default 1000)",
    )
    g.add_argument(
        "--rps",
        type=number_flag,
        help=f"open loop: target requests per second ({MIN_RPS:g}..{MAX_RPS:.0f})",
    )
    g.add_argument(
        "--arrival",
        choices=ARRIVALS,
        default=None,  # None: not given (a trace refuses one given); constant
        help="open-loop arrival process (default constant)",
    )
    g.add_argument(
        "--burstiness",
        type=number_flag,
        default=None,  # None: not given (a trace refuses one given); 1
        help="gamma arrivals' shape: 1 is Poisson, smaller is burstier "
        f"({MIN_BURSTINESS:g}..{MAX_BURSTINESS:g}, default 1)",
    )
    g.add_argument(
        "--burst",
        type=integer_flag,
        default=None,  # None: not given (a trace refuses one given); 1
        help=f"constant arrivals: token-bucket capacity (1..{MAX_BURST}, default 1)",
    )
    g.add_argument(
        "--seed",
        type=integer_flag,
        default=0,
        help=f"seed for arrivals and shuffles (0..{MAX_SEED}, default 0)",
    )
    g.add_argument(
        "--ramp-up",
        type=number_flag,
        default=0.0,
        help="seconds over which concurrency (closed) or rate (open loop) rises, before the "
        f"measured phase and not measured ({_SECONDS})",
    )
    g.add_argument(
        "--requests",
        type=integer_flag,
        help=f"stop after this many measured requests (1..{MAX_REQUESTS})",
    )
    g.add_argument(
        "--duration",
        "--execution-time",
        dest="duration",
        type=number_flag,
        help=f"stop sending after S seconds ({_SECONDS})",
    )
    g.add_argument(
        "--warmup",
        type=integer_flag,
        default=0,
        help=f"warm-up requests, not measured (0..{MAX_REQUESTS})",
    )
    g.add_argument(
        "--warmup-s", type=number_flag, default=0.0, help=f"seconds of warm-up ({_SECONDS})"
    )
    g.add_argument(
        "--max-error-rate",
        type=_share,
        default=DEFAULT_MAX_ERROR_RATE,
        metavar="P",
        help="stop the run (exit 5) when more than P of the last "
        f"{ERROR_RATE_WINDOW} finished requests failed, judged from "
        f"{ERROR_RATE_MIN_REQUESTS} on ('50%%' or 0.5; default 50%%; 100%% turns it off)",
    )
    g.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        help="skip the one request sent before the clock starts (default: a failed "
        "pre-flight stops the run with exit 3, nothing measured)",
    )
    g.add_argument(
        "--grace",
        type=number_flag,
        default=5.0,
        help=f"seconds in-flight requests get to finish after a stop (default 5; {_SECONDS})",
    )


def _session_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "multi-turn sessions (--concurrency counts users, --rps new sessions a second, "
        "--requests sessions)"
    )
    g.add_argument(
        "--turns",
        help="synthetic sessions of N turns (or MEAN:STDDEV), each turn's text from "
        "--input-tokens/--output-tokens (or the prompt); a --prompts-file's "
        '{"turns": [...]} lines are sessions without it',
    )
    g.add_argument(
        "--sessions",
        action="store_true",
        help="read a ShareGPT --prompts-file's conversations as sessions (without it: "
        "each one's first human turn, a single request)",
    )
    g.add_argument(
        "--think-time",
        help="seconds between a reply and the next turn: S or MEAN:STDDEV (seeded; default 0)",
    )
    g.add_argument(
        "--history",
        choices=HISTORY_SOURCES,
        default="actual",
        help="the assistant turns a later turn carries: the server's actual replies "
        "(default) or the dataset's reference replies",
    )


def _http_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("http")
    g.add_argument(
        "--timeout", type=number_flag, default=600.0, help=f"seconds per request ({_SECONDS})"
    )
    g.add_argument(
        "--connect-timeout", type=number_flag, default=10.0, help=f"seconds to connect ({_SECONDS})"
    )
    g.add_argument(
        "--ttft-timeout", type=number_flag, help=f"seconds to wait for the first token ({_SECONDS})"
    )
    g.add_argument(
        "--stall-timeout",
        type=number_flag,
        help=f"seconds without any bytes mid-stream before giving up ({_SECONDS})",
    )
    g.add_argument(
        "--retries",
        type=integer_flag,
        default=0,
        help=f"retry connection errors and 429/503 up to N times (0..{MAX_RETRIES}, default 0: "
        "a benchmark counts failures, it does not hide them)",
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
        type=integer_flag,
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"longest stream line accepted ({MIN_LINE_BYTES}..{MAX_LINE_BYTES}, "
        f"default {DEFAULT_MAX_LINE_BYTES})",
    )


def _output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--out", help="run directory (default runs/<UTC timestamp>-<model>/)")
    g.add_argument("--quiet", action="store_true", help="print only the final summary")
    g.add_argument("--junit", help="write the SLO checks as JUnit XML to FILE")
    g.add_argument(
        "--save-detailed",
        action="store_true",
        help="results.jsonl also keeps each request's prompt id, ITL list and generated "
        "text (off by default: size)",
    )
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
    g.add_argument(
        "--allow-char-slo",
        action="store_true",
        help="accept --slo/--goodput on per-token figures (tpot, itl, output/total tokens "
        "per second) when the run counts characters or estimates, not tokens",
    )


def _server_metrics_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "server metrics (the server's Prometheus page, scraped during the run beside the "
        "client's figures)"
    )
    g.add_argument(
        "--server-metrics",
        action="append",
        default=[],
        metavar="URL",
        help="scrape this Prometheus endpoint (an engine's /metrics, a DCGM exporter's) "
        "during the run (repeatable; http:// or https://, user:password@ for Basic auth)",
    )
    g.add_argument(
        "--server-metrics-interval",
        type=number_flag,
        default=1.0,
        metavar="S",
        help=f"seconds between scrapes ({MIN_SCRAPE_INTERVAL_S:g}..{MAX_DURATION_S:.0f}, "
        "default 1)",
    )
    g.add_argument(
        "--server-metric",
        action="append",
        default=[],
        metavar="REGEX",
        help="also keep the families whose name this regex matches whole, beyond the known "
        "vLLM, SGLang, TGI, llama.cpp and DCGM ones (repeatable)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    for add in (
        _target_flags,
        _provider_flags,
        _workload_flags,
        _trace_flags,
        _prefix_flags,
        _load_flags,
        _session_flags,
        _http_flags,
        _gate_flags,
        _output_flags,
        _server_metrics_flags,
        add_scale_flags,
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


# RFC 9110 §5.6.3: optional whitespace around a field value is spaces and tabs only.
_OWS = " \t"


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` to a checked (name, value): a token name and a printable-ASCII
    value (a CR or LF would inject headers). No message shows the text: a header
    without its colon, or a bad value, is often a credential."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip(_OWS):
        raise ConfigError("-H/--header must be 'Name: value', got one without a name or ':'")
    name, value = name.strip(_OWS), value.strip(_OWS)
    check_header(name, value, "-H/--header")
    if name.lower() in _FRAMING_HEADERS:
        # Both transports frame the body themselves (Content-Length); a second framing
        # header would make the request ambiguous to the server (RFC 9112 §6.3).
        raise ConfigError(f"-H/--header {name}: llmbench sets the message framing itself")
    return name, value


_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if args.host:
        if args.port is not None:
            check_count(args.port, "--port", 1, 65535)
        host = f"[{args.host}]" if ":" in args.host else args.host
        return f"http://{host}:{args.port}" if args.port else f"http://{host}"
    raise ConfigError("--url (or --host and --port) is required")


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _stop_rules(args: argparse.Namespace) -> tuple[int | None, float | None]:
    if args.requests is None and args.duration is None and not args.trace:
        return DEFAULT_REQUESTS, None
    return args.requests, args.duration


# Flags that a trace's times and lengths replace, and how to tell one was given; the
# others (--rps, --ramp-up, --input-tokens, ...) RunConfig refuses itself.
_NOT_WITH_TRACE: tuple[tuple[str, Callable[[argparse.Namespace], bool]], ...] = (
    ("--prompt", lambda a: a.prompt is not None),
    ("--order", lambda a: a.order is not None),  # these default to None: given is given
    ("--arrival", lambda a: a.arrival is not None),
    ("--burstiness", lambda a: a.burstiness is not None),
    ("--burst", lambda a: a.burst is not None),
)


def _check_trace_flags(args: argparse.Namespace) -> None:
    if not args.trace:
        return
    for flag, given in _NOT_WITH_TRACE:
        if given(args):
            raise ConfigError(
                f"--trace and {flag} are alternatives: the trace gives the requests' "
                "order, send times and prompt lengths"
            )


def _prefixes(args: argparse.Namespace) -> tuple[int | None, int, str]:
    """--prefix-tokens, --prefix-groups and --prefix-pick; the last two are refused
    without the first (given at all, even as their defaults: they default to None so
    that is known)."""
    pairs = (("--prefix-groups", args.prefix_groups), ("--prefix-pick", args.prefix_pick))
    given = [flag for flag, value in pairs if value is not None]
    if args.prefix_tokens is None and given:
        need = "needs" if len(given) == 1 else "need"
        raise ConfigError(f"{' and '.join(given)} {need} --prefix-tokens P (the prefixes' length)")
    groups = 1 if args.prefix_groups is None else args.prefix_groups
    return args.prefix_tokens, groups, args.prefix_pick or PREFIX_PICKS[0]


def _check_text_flags(args: argparse.Namespace) -> None:
    """Every text flag must be text a request can carry: bytes that are not UTF-8 reach
    Python as lone surrogates (PEP 383), which no JSON or HTTP writer can send."""
    for name, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _is_utf8(text):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag}: not valid UTF-8 text (a byte the locale cannot read)")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _split(args: argparse.Namespace) -> dict[str, int]:
    """This process's shard of the run: --shard I/N, or 0 of N for --workers N (the
    coordinator's own checks: every shard must get a slot)."""
    workers = workers_of(args)
    if workers > 1:
        return {"shard": 0, "shards": workers}
    shard = shard_of(args)
    return {"shard": shard.index, "shards": shard.count}


def build_config(args: argparse.Namespace, sources: OptionSources | None = None) -> RunConfig:
    """Flags to a validated RunConfig, with the chosen provider's options built from
    its flags (read through ``sources``: this process's environment and files by
    default). Raises ConfigError with a one-line message."""
    _check_text_flags(args)
    given = [x for x in ("prompt", "prompts_file", "input_tokens") if getattr(args, x)]
    if len(given) > 1:
        flags = " and ".join("--" + s.replace("_", "-") for s in given)
        raise ConfigError(f"{flags} are alternatives: give one")
    _check_trace_flags(args)
    check_count(args.output_tokens, "--output-tokens", 1, MAX_TOKENS)
    requests, duration = _stop_rules(args)
    prefix_tokens, prefix_groups, prefix_pick = _prefixes(args)
    concurrency = args.concurrency
    if concurrency is None:
        concurrency = 1000 if args.rps is not None or args.trace else 1
    cfg = RunConfig(
        url=_url(args),
        provider=args.provider,
        endpoint=args.endpoint,
        model=args.model,
        prompt=args.prompt if args.prompt is not None else DEFAULT_PROMPT,
        prompts_file=_path(args.prompts_file),
        order=args.order if args.order is not None else "sequential",
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        max_tokens=args.max_tokens if args.max_tokens is not None else args.output_tokens,
        stream=args.stream,
        ignore_eos=args.ignore_eos,
        headers=tuple(parse_header(h) for h in args.header),
        extra_body=parse_json_object(args.extra_body, "--extra-body"),
        concurrency=concurrency,
        requests=requests,
        duration_s=duration,
        rps=args.rps,
        arrival=args.arrival if args.arrival is not None else "constant",
        burstiness=args.burstiness if args.burstiness is not None else 1.0,
        burst=args.burst if args.burst is not None else 1,
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
        save_detailed=args.save_detailed,
        trace=_path(args.trace),
        trace_speed=args.trace_speed,
        prefix_tokens=prefix_tokens,
        prefix_groups=prefix_groups,
        prefix_pick=prefix_pick,
        turns=args.turns,
        sessions=args.sessions,
        think_time=args.think_time,
        history=args.history,
        server_metrics=tuple(getattr(args, "server_metrics", None) or ()),
        server_metrics_interval_s=getattr(args, "server_metrics_interval", 1.0),
        server_metric_patterns=tuple(getattr(args, "server_metric", None) or ()),
        **_split(args),
    )
    options = options_for(cfg.provider, args, sources or local_sources())
    return dataclasses.replace(cfg, provider_options=options)
