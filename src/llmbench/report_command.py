"""`llmbench report RUN_DIR [--html-report PATH] [--csv [FILE]]`, and the same outputs
written at the end of every `llmbench run`.

The report is a pure function of summary.json and results.jsonl, so it can be rebuilt
at any time: with a newer llmbench, or to add a CSV. A run that died without writing
summary.json (SIGKILL, OOM) still has its results.jsonl: `llmbench report` rebuilds the
summary from it first (:mod:`llmbench.output.recover`), marked as recovered. A path
that is not a run directory is bad input: one line on stderr and exit 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from llmbench.config import EXIT_USAGE, ConfigError
from llmbench.output.csv_export import write_csv
from llmbench.output.jsonl import iter_results
from llmbench.output.recover import recover_summary
from llmbench.output.report import ReportError, build_report
from llmbench.output.summary import write_json_atomic

__all__ = [
    "CSV_IN_RUN_DIR",
    "add_arguments",
    "add_output_flags",
    "check_output_paths",
    "recover_if_crashed",
    "run",
    "write_after_run",
]

# What a run leaves that an output path must never overwrite.
_RUN_FILES = ("results.jsonl", "summary.json")
# A bare `--csv`: the CSV goes into the run directory (the run's is not known when the
# flags are parsed, so this stands for it until the outputs are written).
CSV_IN_RUN_DIR = "RUN_DIR/results.csv"


def add_output_flags(group: argparse._ActionsContainer) -> None:
    """--html-report and --csv, shared by `run` and `report`."""
    group.add_argument(
        "--html-report",
        metavar="PATH",
        help="where to write the report (default RUN_DIR/report.html)",
    )
    group.add_argument(
        "--csv",
        metavar="FILE",
        nargs="?",
        const=CSV_IN_RUN_DIR,
        help="also write results.jsonl as CSV, one row per request "
        f"(FILE defaults to {CSV_IN_RUN_DIR})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `report` subcommand's arguments."""
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run directory (summary.json, results.jsonl; a run killed before it wrote "
        "summary.json gets one rebuilt from results.jsonl). A bare --csv goes after RUN_DIR",
    )
    add_output_flags(parser)


def check_output_paths(html: str | None, csv: str | None) -> None:
    """Each path must be a file we can create: not a directory, not under a regular
    file. Checked before a run starts, so a typo costs nothing (ConfigError, exit 2)."""
    for flag, text in (("--html-report", html), ("--csv", csv)):
        if not text or text == CSV_IN_RUN_DIR:  # the run directory is made by the run
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
        recovered = recover_if_crashed(run_dir)
        if recovered:
            print(recovered)
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


def recover_if_crashed(run_dir: Path) -> str | None:
    """Rebuild summary.json from results.jsonl when the run left none (it was killed);
    the console line saying so, or None when there was nothing to recover."""
    summary_path, results = run_dir / "summary.json", run_dir / "results.jsonl"
    if not run_dir.is_dir() or summary_path.exists() or not results.is_file():
        return None
    try:
        summary = recover_summary(iter_results(results), iter_results(results))
        write_json_atomic(summary_path, summary)
    except OSError as exc:
        raise ReportError(
            f"cannot recover {summary_path}: {exc.filename}: {exc.strerror}"
        ) from None
    return (
        f"summary: {summary_path} (recovered from results.jsonl: "
        f"{summary['requests']['total']:,} measured requests; the run's config is unknown)"
    )


def _write_html(run_dir: Path, html: str | None) -> str:
    out = Path(html) if html else run_dir / "report.html"
    _refuse_run_file(run_dir, out, "--html-report")
    return f"report: {build_report(run_dir, out)}"


def _write_csv(run_dir: Path, csv: str) -> str:
    out = run_dir / "results.csv" if csv == CSV_IN_RUN_DIR else Path(csv)
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
