"""Command line: `llmbench run | mock`. Bad input is one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from llmbench import __version__
from llmbench.config import DEFAULT_MAX_LINE_BYTES, ConfigError

__all__ = ["main"]

EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_MEASURED = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    target = p.add_argument_group("target")
    target.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--provider", default="openai-chat", help="API family (default openai-chat)"
    )
    target.add_argument("--endpoint", help="request path, replacing the provider's standard one")
    target.add_argument("--model", help="model name sent in the request body")
    target.add_argument("--api-key", help="API key (or LLMBENCH_API_KEY / OPENAI_API_KEY)")
    target.add_argument(
        "--no-usage",
        dest="include_usage",
        action="store_false",
        help="do not ask for stream_options.include_usage (for servers that reject it)",
    )
    work = p.add_argument_group("workload")
    work.add_argument("--prompt", help="the prompt to send (default: a short question)")
    work.add_argument("--max-tokens", type=int, help="max_tokens sent with every request")
    load = p.add_argument_group("load")
    load.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="cap on requests in flight; closed loop: the number of workers (default 1); "
        "with --rps: due requests wait for a free slot (default 1000)",
    )
    load.add_argument("--rps", type=_positive_float, help="open loop: target requests per second")
    load.add_argument(
        "--arrival",
        choices=("constant", "poisson", "gamma"),
        default="constant",
        help="open-loop arrival process (default constant)",
    )
    load.add_argument(
        "--burstiness",
        type=_positive_float,
        default=1.0,
        help="gamma arrivals' shape: 1 is Poisson, smaller is burstier (default 1)",
    )
    load.add_argument(
        "--burst",
        type=int,
        default=1,
        help="constant arrivals: token-bucket capacity, requests sent at once (default 1)",
    )
    load.add_argument("--seed", type=int, default=0, help="seed for random arrivals (default 0)")
    load.add_argument(
        "--ramp-up",
        type=_positive_float,
        default=0.0,
        help="seconds over which concurrency (closed loop) or rate (open loop) rises linearly",
    )
    load.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="requests sent first and left out of every statistic (default 0)",
    )
    load.add_argument(
        "--warmup-s",
        type=_positive_float,
        default=0.0,
        help="seconds of warm-up requests before measuring (default 0)",
    )
    load.add_argument("--requests", type=int, help="stop after this many measured requests")
    load.add_argument("--duration", type=_positive_float, help="stop sending after S seconds")
    load.add_argument(
        "--grace",
        type=_positive_float,
        default=5.0,
        help="seconds in-flight requests get to finish after a stop (default 5)",
    )
    load.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per request")
    load.add_argument(
        "--connect-timeout", type=_positive_float, default=10.0, help="seconds to connect"
    )
    load.add_argument(
        "--transport",
        choices=("fast", "httpx"),
        default="fast",
        help="HTTP client: fast (HTTP/1.1 on asyncio protocols, default) or httpx",
    )
    load.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"longest stream line accepted (default {DEFAULT_MAX_LINE_BYTES})",
    )
    out = p.add_argument_group("output")
    out.add_argument("--out", help="run directory (default runs/<UTC timestamp>-<model>/)")
    out.add_argument("--quiet", action="store_true", help="print only the final summary")


def _build_parser() -> argparse.ArgumentParser:
    from llmbench import demo, mock

    parser = _Parser(prog="llmbench", description="Benchmark streaming LLM inference endpoints.")
    parser.add_argument("--version", action="version", version=f"llmbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="benchmark an endpoint")
    _add_run_arguments(run)
    mock.add_arguments(sub.add_parser("mock", help="start the built-in mock server"))
    demo.add_arguments(sub.add_parser("demo", help="benchmark the built-in mock server for 10 s"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "mock":
        from llmbench import mock

        return mock.run(args)
    if args.command == "demo":
        from llmbench import demo

        return demo.run(args)
    from llmbench.app import run_command

    try:
        return run_command(args)
    except ConfigError as exc:
        print(f"llmbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
