"""`llmbench merge SHARD_DIR... --out DIR`: the run directories of ``--shard I/N`` runs
into one run directory, as if one process had run it (results.jsonl, summary.json,
report.html, the SLO checks and the exit code). The ``--workers`` coordinator writes its
outputs through the same :func:`write_merged`.

Bad input (a directory that is not a finished shard, shards of different runs, a shard
missing or given twice, ``--out`` inside a shard) is one line and exit 2, before anything
is written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from llmbench import __version__, junit, slo
from llmbench.app import EXIT_NOTHING_MEASURED, write_output
from llmbench.app import exit_code as run_exit_code
from llmbench.config import ConfigError
from llmbench.console import summary_table
from llmbench.environment import check_junit, check_out_dir
from llmbench.output.jsonl import iter_results
from llmbench.output.summary import run_summary, write_json_atomic
from llmbench.report_command import add_output_flags, check_output_paths, write_after_run
from llmbench.runner import RunOutcome
from llmbench.shard_merge import MergedRun, MergeError, ShardPart, merge_parts, read_part
from llmbench.workload import KeyRing

__all__ = ["add_arguments", "read_shard", "run", "write_merged"]

# A shard's summary.json is a few MB at most (histograms, one row per second); a file
# past this is not one.
_MAX_SUMMARY_BYTES = 128 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="run directories")
    parser.add_argument("--out", required=True, help="the merged run directory (made)")
    parser.add_argument("--junit", help="write the SLO checks as JUnit XML to FILE")
    add_output_flags(parser)


def read_shard(run_dir: Path) -> ShardPart:
    """A finished shard's part; ConfigError with one line for anything else."""
    path = run_dir / "summary.json"
    if path.is_file() and not (run_dir / "results.jsonl").is_file():
        raise ConfigError(f"{run_dir}: no results.jsonl (its requests would be missing)")
    try:
        if path.stat().st_size > _MAX_SUMMARY_BYTES:
            raise ConfigError(f"{path}: larger than any shard's summary.json")
        summary = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{run_dir}: no summary.json (not a run directory, or a shard that did not finish)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ConfigError(f"{path}: not JSON") from None
    try:
        return read_part(summary, str(path))
    except MergeError as exc:
        raise ConfigError(str(exc)) from None


def _goodput(summary_goodput: Any) -> slo.GoodputSpec | None:
    """A shard's goodput criteria back as a spec (its summary holds them in ms)."""
    if not isinstance(summary_goodput, dict) or not isinstance(
        summary_goodput.get("criteria"), dict
    ):
        return None
    bounds = ",".join(
        f"{key.removesuffix('_ms')}:{ms}ms" for key, ms in summary_goodput["criteria"].items()
    )
    try:
        return slo.parse_goodput(bounds) if bounds else None
    except slo.SloError as exc:
        raise ConfigError(f"goodput criteria of the shards: {exc}") from None


def _checks(slo_block: Any) -> list[slo.SloCheck]:
    """A shard's --slo checks, from the expressions its summary recorded."""
    if not isinstance(slo_block, dict) or not isinstance(slo_block.get("checks"), list):
        return []
    exprs = [c.get("expr") for c in slo_block["checks"] if isinstance(c, dict)]
    try:
        return slo.parse_slos([e for e in exprs if isinstance(e, str)])
    except slo.SloError as exc:
        raise ConfigError(f"SLO checks of the shards: {exc}") from None


@dataclass(frozen=True, slots=True)
class Gate:
    """What a run is judged by: its --slo checks, --goodput criteria, --allow-char-slo."""

    checks: tuple[slo.SloCheck, ...]
    goodput: slo.GoodputSpec | None
    allow_char_slo: bool


def _gate(summary: dict[str, Any]) -> Gate:
    run = summary.get("run")
    allow = isinstance(run, dict) and run.get("allow_char_slo") is True
    return Gate(tuple(_checks(summary.get("slo"))), _goodput(summary.get("goodput")), allow)


def shards_gate(summaries: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> Gate:
    """The shards' common gate; ConfigError when one shard was judged differently (a
    merged verdict would then depend on the order the shards were named in)."""
    gates = [_gate(s) for s in summaries]
    for gate, where in zip(gates[1:], dirs[1:], strict=True):
        if gate != gates[0]:
            raise ConfigError(
                f"{where}: its --slo, --goodput or --allow-char-slo differ from {dirs[0]}'s: "
                "the shards of one run are judged alike"
            )
    return gates[0]


def write_merged(
    merged: MergedRun,
    parts: Sequence[ShardPart],
    out_dir: Path,
    *,
    results_from: Sequence[tuple[Path, int]],
    checks: Sequence[slo.SloCheck],
    goodput: slo.GoodputSpec | None,
    allow_char_slo: bool,
    started_at: str | None,
    junit_path: Path | None = None,
    html: str | None = None,
    csv: str | None = None,
    extra_run: dict[str, Any] | None = None,
    keys: KeyRing | None = None,
    finish: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Every output of the merged run in ``out_dir`` (made): results.jsonl (each
    shard's lines, ``start_s`` moved onto the run's common start; ``results_from``
    pairs a shard's results file with its start on the timeline), summary.json, the
    JUnit file, the report. Returns the summary, and whether results.jsonl, summary.json
    and the JUnit file were written (each failure is one line on stderr, as a run's:
    exit 4). ``finish`` adds the caller's own blocks to the summary before it is judged
    and written (the --workers coordinator's ``server`` block)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: cannot create it: {exc.strerror}") from None
    ring = keys or KeyRing([])
    results = out_dir / "results.jsonl"
    concatenated = write_output(
        results, lambda: _concatenate(results, results_from, merged.run_start_ns), ring
    )
    config = {**parts[0].config, "shard": None, "shards": len(parts), "out_dir": str(out_dir)}
    summary = run_summary(
        merged.measured,
        run={
            "llmbench_version": __version__,
            "started_at": started_at,
            "interrupted": merged.interrupted,
            "stop_reason": merged.stop_reason,
            "signal": merged.signal,
            "max_error_rate": parts[0].run.get("max_error_rate"),
            "error_rate_stop": merged.error_rate_stop,
            "preflight": parts[0].run.get("preflight"),
            "allow_char_slo": allow_char_slo,
            **({} if merged.start_late_s is None else {"start_late_s": merged.start_late_s}),
            **({"overload": merged.overload} if merged.overload else {}),
            "workers": len(parts),
            **(extra_run or {}),
        },
        config=config,
        run_start_ns=merged.run_start_ns,
        client=merged.client,
        due_unsent=merged.due_unsent,
        goodput=goodput,
        ramp=merged.ramp,
    )
    summary["workers"] = merged.workers
    if finish is not None:
        finish(summary)
    summary, verdicts = slo.judge(summary, checks, goodput, any_unit=allow_char_slo)
    summary_path = out_dir / "summary.json"
    written = write_output(summary_path, lambda: write_json_atomic(summary_path, summary), ring)
    written = written and concatenated
    if junit_path is not None:
        cases = junit.slo_cases(verdicts)
        write = lambda: junit.write_junit(junit_path, "llmbench run", cases)  # noqa: E731
        written = write_output(junit_path, write, ring) and written
    print(summary_table(summary))
    if verdicts:
        print("\n" + slo.format_table(verdicts))
    lines = write_after_run(out_dir, html, csv)
    print(
        "\n"
        + "\n".join(
            [
                f"results: {out_dir / 'results.jsonl'}",
                f"summary: {out_dir / 'summary.json'}",
                *lines,
            ]
        )
    )
    return summary, written


def _concatenate(target: Path, sources: Sequence[tuple[Path, int]], run_start_ns: int) -> None:
    """The shards' results.jsonl lines into one file, each line whole; ``start_s``
    counted from the merged run's start (lines a crash tore are skipped)."""
    with target.open("wb") as out:
        for path, start_ns in sources:
            shift = (start_ns - run_start_ns) / 1e9
            for line in iter_results(path):
                start = line.get("start_s")
                if isinstance(start, int | float) and not isinstance(start, bool):
                    line["start_s"] = round(start + shift, 6)
                out.write(orjson.dumps(line) + b"\n")


def exit_code(merged: MergedRun, summary: dict[str, Any], *, written: bool = True) -> int:
    """As one run's (see `llmbench run --help`); 3 when a worker died."""
    if any(w.get("exit") not in (None, "finished") for w in merged.workers):
        print("llmbench: a worker died; its flushed results are merged", file=sys.stderr)
        return EXIT_NOTHING_MEASURED  # exit 3: see `llmbench run --help`
    outcome = RunOutcome(
        merged.interrupted,
        merged.stop_reason,
        merged.signal,
        error_rate_stop=merged.error_rate_stop,
        overload=merged.overload,
    )
    return run_exit_code(outcome, summary, written=written)


def run(args: argparse.Namespace) -> int:
    dirs = [Path(d) for d in args.shards]
    out_dir = Path(args.out)
    for d in dirs:
        if out_dir.resolve().is_relative_to(d.resolve()):
            raise ConfigError(f"--out {out_dir} is in shard {d}: merge into a new directory")
    check_out_dir(out_dir)
    if args.junit:
        check_junit(Path(args.junit))
    check_output_paths(args.html_report, args.csv)
    parts = [read_shard(d) for d in dirs]
    try:
        merged = merge_parts(parts)
    except MergeError as exc:
        raise ConfigError(str(exc)) from None
    summaries = [orjson.loads((d / "summary.json").read_bytes()) for d in dirs]
    gate = shards_gate(summaries, dirs)
    by_index = {p.index: d for p, d in zip(parts, dirs, strict=True)}
    started = [p.run["started_at"] for p in parts if "started_at" in p.run]
    summary, written = write_merged(
        merged,
        sorted(parts, key=lambda p: p.index),
        out_dir,
        results_from=[(by_index[p.index] / "results.jsonl", p.run_start_ns) for p in parts],
        checks=gate.checks,
        goodput=gate.goodput,
        allow_char_slo=gate.allow_char_slo,
        started_at=min(started) if started else datetime.now(UTC).isoformat(timespec="seconds"),
        junit_path=Path(args.junit) if args.junit else None,
        html=args.html_report,
        csv=args.csv,
        extra_run={"merged_from": [str(d) for d in dirs]},
    )
    return exit_code(merged, summary, written=written)
