"""Command line: `llmbench run | mock | demo`. Bad input is one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from llmbench import __version__
from llmbench.config import ConfigError

__all__ = ["main"]

EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_MEASURED = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    from llmbench import demo, mock, run_options

    parser = _Parser(prog="llmbench", description="Benchmark streaming LLM inference endpoints.")
    parser.add_argument("--version", action="version", version=f"llmbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run_options.add_run_arguments(sub.add_parser("run", help="benchmark an endpoint"))
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
    except KeyboardInterrupt:  # Ctrl-C before the run started: nothing to keep
        return 130
    except BrokenPipeError:  # `llmbench run ... | head`: every file is written already
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
