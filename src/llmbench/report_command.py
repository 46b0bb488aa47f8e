"""`llmbench report RUN_DIR [--html PATH] [--csv FILE]`: rebuild a run's report.

The report is a pure function of summary.json and results.jsonl, so it can be rebuilt
at any time: after a crash, with a newer llmbench, or to add a CSV. A path that is not
a run directory is bad input: one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmbench.output.csv_export import write_csv
from llmbench.output.report import ReportError, build_report

__all__ = ["EXIT_USAGE", "add_arguments", "run"]

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `report` subcommand's arguments."""
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory (summary.json, results.jsonl)"
    )
    parser.add_argument(
        "--html", metavar="PATH", help="where to write the report (default RUN_DIR/report.html)"
    )
    parser.add_argument(
        "--csv", metavar="FILE", help="also write results.jsonl as CSV, one row per request"
    )


def run(args: argparse.Namespace) -> int:
    """Build the report (and the CSV); 0 on success, 2 with one line on bad input."""
    run_dir = Path(args.run_dir)
    try:
        html = build_report(run_dir, Path(args.html) if args.html else None)
        print(f"report: {html}")
        if args.csv:
            rows = write_csv(run_dir / "results.jsonl", Path(args.csv))
            print(f"csv: {args.csv} ({rows:,} rows)")
    except ReportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
    return 0


def _fail(message: str) -> int:
    print(f"llmbench report: error: {message}", file=sys.stderr)
    return EXIT_USAGE
