"""Command line: `llmbench run | mock | demo | compare | report | merge | sweep`. Bad
input: one line, exit 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import NoReturn

import orjson

from llmbench import __version__
from llmbench.config import EXIT_USAGE, ConfigError
from llmbench.config_file import add_config_flags, expand, subcommand
from llmbench.config_print import render
from llmbench.run_options import add_plugin_arguments
from llmbench.worker_handles import WORKER

__all__ = ["EXIT_USAGE", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


EXIT_CODES = """exit codes:
  0    ran, and every --slo passed (compare: no regression beyond tolerance)
  1    an --slo failed (compare: a metric regressed beyond tolerance)
  2    usage or configuration error: one line on stderr, nothing was sent
  3    nothing measured: the pre-flight request failed (one line says why; no outputs),
       the target was unreachable, or every request failed; or a --workers worker died
       (what the others measured is merged and written)
  4    measured, but summary.json or the JUnit file could not be written (named on stderr)
  5    stopped early: the error rate passed --max-error-rate (summary.json run.error_rate_stop)
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; every output is still written"""


def _take_signals() -> None:
    """A worker answers Ctrl-C and SIGTERM as a run does, whatever it inherited: a Ray
    actor's thread that starts it may have them blocked (the mask survives exec), and a
    signal ignored at exec stays ignored in Python."""
    wanted = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, wanted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_argv() -> list[str]:
    """A worker's `run` flags, from the first stdin line (a JSON list of strings)."""
    try:
        flags = orjson.loads(sys.stdin.readline())
    except orjson.JSONDecodeError:
        flags = None
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        return ["run", "--help"]  # not a coordinator on the other end: say how to run
    return ["run", *flags]


def _build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole command line; ``argv`` is read ahead only for a plugin provider's
    flags (``--provider NAME``), so a plugin is loaded only when it is named."""
    parser = _Parser(
        prog="llmbench",
        description="Benchmark streaming LLM inference endpoints.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"llmbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module_name, help_text) in _COMMANDS.items():
        module = import_module(module_name)
        # a gate's --help spells out its exit codes (a command with codes of its own,
        # such as sweep, has them as its module's EXIT_CODES_HELP)
        epilog = EXIT_CODES if name in _GATES else getattr(module, "EXIT_CODES_HELP", None)
        command = sub.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            # No prefixes: `--work 2` must not become --workers, and a --workers
            # coordinator hands its workers the flags as written.
            allow_abbrev=False,
        )
        module.add_arguments(command)
        if name in _PICK_A_PROVIDER:
            add_plugin_arguments(command, argv)
        if name in _CONFIGURABLE:
            add_config_flags(command)
    return parser


def _with_config(argv: list[str]) -> list[str]:
    """A configurable command's ``--config FILE`` read: its flags, then the command
    line's (see llmbench.config_file). Workers get these flags, never the file."""
    if not argv or argv[0] not in _CONFIGURABLE:
        return argv
    name = argv[0]
    return [name, *expand(argv[1:], lambda flags: subcommand(_build_parser([name, *flags]), name))]


def _print_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``--print-config``: the resolved flags as TOML (UTF-8, as TOML is), exit 0."""
    text = render(subcommand(parser, args.command), args.argv, f"llmbench {args.command}")
    raw = getattr(sys.stdout, "buffer", None)  # whatever the locale's encoding
    if raw is None:
        sys.stdout.write(text)
    else:
        sys.stdout.flush()
        raw.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0


# The commands a CI pipeline gates on: their --help spells out the exit codes.
_GATES = ("run", "compare", "merge")
# The commands with --provider: a plugin provider named there adds its own flags.
_PICK_A_PROVIDER = ("run", "sweep")
# The commands with --config FILE.toml and --print-config.
_CONFIGURABLE = ("run", "sweep")


# Each command's module has add_arguments(parser) and run(args) -> exit code.
_COMMANDS = {
    "run": ("llmbench.app", "benchmark an endpoint"),
    "mock": ("llmbench.mock", "start the built-in mock server"),
    "demo": ("llmbench.demo", "benchmark the built-in mock server for 10 s"),
    "compare": ("llmbench.compare", "compare two runs; exit 1 on a regression"),
    "report": ("llmbench.report_command", "rebuild a run's report.html (and a CSV)"),
    "merge": ("llmbench.merge_command", "merge the run directories of --shard runs into one run"),
    "sweep": (
        "llmbench.sweep_command",
        "find the highest load that meets the SLOs, with the curve",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == [WORKER]:  # a --workers coordinator's worker: its run flags come on stdin
        _take_signals()
        argv = _worker_argv()
    try:
        argv = _with_config(argv)
    except ConfigError as exc:
        print(f"llmbench {argv[0]}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        parser = _build_parser(argv)
    except ConfigError as exc:  # a plugin named by --provider that cannot add its flags
        print(f"llmbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    args.argv = list(argv[1:])  # a --workers coordinator gives its workers the same flags
    module = import_module(_COMMANDS[args.command][0])
    try:
        if getattr(args, "print_config", False):
            # the command's own checks that need nothing sent: --print-config is a lint
            check = getattr(module, "check_flags", None)
            if check is not None:
                check(args)
            return _print_config(parser, args)
        run = module.run
        return int(run(args))
    except ConfigError as exc:
        print(f"llmbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a run's own handling: nothing to keep
        return 130
    except BrokenPipeError:  # `llmbench ... | head`: every file is written already
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
