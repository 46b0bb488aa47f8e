"""`llmbench report RUN_DIR [--html-report PATH] [--csv FILE]`, and the same outputs
written at the end of every `llmbench run`.

The report is a pure function of summary.json and results.jsonl, so it can be rebuilt
at any time: after a crash, with a newer llmbench, or to add a CSV. A path that is not
a run directory is bad input: one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from llmbench.config import EXIT_USAGE, ConfigError
from llmbench.output.csv_export import write_csv
from llmbench.output.report import ReportError, build_report

__all__ = [
    "add_arguments",
    "add_output_flags",
    "check_output_paths",
    "run",
    "write_after_run",
]

# What a run leaves that an output path must never overwrite.
_RUN_FILES = ("results.jsonl", "summary.json")


def add_output_flags(group: argparse._ActionsContainer) -> None:
    """--html-report and --csv, shared by `run` and `report`."""
    group.add_argument(
        "--html-report",
        metavar="PATH",
        help="where to write the report (default RUN_DIR/report.html)",
    )
    group.add_argument(
        "--csv", metavar="FILE", help="also write results.jsonl as CSV, one row per request"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `report` subcommand's arguments."""
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory (summary.json, results.jsonl)"
    )
    add_output_flags(parser)


def check_output_paths(html: str | None, csv: str | None) -> None:
    """Each path must be a file we can create: not a directory, not under a regular
    file. Checked before a run starts, so a typo costs nothing (ConfigError, exit 2)."""
    for flag, text in (("--html-report", html), ("--csv", csv)):
        if not text:
            continue
        path = Path(text)
        if path.is_dir():
            raise ConfigError(f"{flag} {path}: is a directory; give a file path")
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"{flag} {path}: {parent} is a file, not a directory")


def run(args: argparse.Namespace) -> int:
    """Build the report (and the CSV); 0 on success, 2 with one line on bad input."""
    check_output_paths(args.html_report, args.csv)
    run_dir = Path(args.run_dir)
    try:
        print(_write_html(run_dir, args.html_report))
        if args.csv:
            print(_write_csv(run_dir, args.csv))
    except ReportError as exc:
        print(f"llmbench report: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def write_after_run(run_dir: Path, html: str | None, csv: str | None) -> list[str]:
    """The report (and the CSV) of a finished run; the console lines naming them.

    Never raises: results.jsonl and summary.json are already on disk, so a failure
    here is one line on stderr that says how to retry, not a lost run."""
    jobs: list[Callable[[], str]] = [partial(_write_html, run_dir, html)]
    if csv:
        jobs.append(partial(_write_csv, run_dir, csv))
    lines = []
    for job in jobs:
        try:
            lines.append(job())
        except Exception as exc:  # any bug here must not cost the run its exit code
            message = str(exc) if isinstance(exc, ReportError) else f"{type(exc).__name__}: {exc}"
            print(
                f"llmbench run: warning: {message}; retry with `llmbench report {run_dir}`",
                file=sys.stderr,
            )
    return lines


def _write_html(run_dir: Path, html: str | None) -> str:
    out = Path(html) if html else run_dir / "report.html"
    _refuse_run_file(run_dir, out, "--html-report")
    return f"report: {build_report(run_dir, out)}"


def _write_csv(run_dir: Path, csv: str) -> str:
    out = Path(csv)
    _refuse_run_file(run_dir, out, "--csv")
    _make_parent(out)
    try:
        rows = write_csv(run_dir / "results.jsonl", out)
    except FileNotFoundError as exc:
        raise ReportError(f"cannot write the CSV: {exc.filename} not found") from None
    except OSError as exc:
        raise ReportError(f"cannot write the CSV: {exc.filename}: {exc.strerror}") from None
    return f"csv: {out} ({rows:,} rows)"


def _refuse_run_file(run_dir: Path, out: Path, flag: str) -> None:
    if any(out.resolve() == (run_dir / name).resolve() for name in _RUN_FILES):
        raise ReportError(f"{flag} {out}: that is the run's own {out.name}; give another path")


def _make_parent(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {out.parent}: {exc.strerror}") from None
