"""`llmbench sweep`'s own flags, checked into a :class:`SweepPlan`, and the run flags
every step is given (the user's, without the sweep's). Bad input: one ConfigError line."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from llmbench.config import (
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_REQUESTS,
    MAX_RPS,
    MIN_RPS,
    ConfigError,
)
from llmbench.prepare import criteria
from llmbench.redaction import redact_url
from llmbench.run_options import add_run_arguments, build_config, integer_flag, number_flag
from llmbench.session_sources import is_session_file
from llmbench.sweep_steps import Mode

__all__ = [
    "DEFAULT_PROBE_CONCURRENCY",
    "DEFAULT_STEP_S",
    "MAX_STEPS",
    "SweepPlan",
    "add_arguments",
    "check_run_flags",
    "plan_of",
    "run_tokens",
    "without",
]

DEFAULT_STEP_S = 10.0
DEFAULT_STEPS = 8
DEFAULT_TOLERANCE = 5.0
DEFAULT_PROBE_CONCURRENCY = 256
MAX_STEPS = 50
# The sweep's own flags, each taking one value: a step's run never sees them.
_SWEEP_FLAGS = frozenset({
    "--mode", "--min", "--max", "--steps", "--tolerance", "--loads", "--step-duration",
    "--step-requests", "--probe-concurrency", "--probe-duration", "--goodput-target", "--out",
})  # fmt: skip
_NO_SESSIONS = "the sweep steps request rates, not sessions; run sessions with llmbench run"
# Run flags the sweep sets per step (or that have no meaning for a sweep).
_REFUSED = {
    "rps": "--rps: the sweep sets each step's rate (--min/--max or --loads)",
    "requests": "--requests: give --step-requests (each step's length)",
    "duration": "--duration: give --step-duration (each step's length)",
    "shard": "--shard: a sweep is one process (its steps can use --workers)",
    "start_at": "--start-at: a sweep's steps start one after another",
    "junit": "--junit: the sweep's answer is its exit code and sweep.json",
    "html_report": "--html-report: the sweep writes DIR/report.html, each step its own",
    "csv": "--csv: the sweep writes DIR/sweep.csv, each step its results.jsonl",
    "trace": "--trace: a trace sets its own load; replay it with llmbench run --trace",
    # a step's verdicts compare request rates; a session rate is another unit
    "turns": f"--turns: {_NO_SESSIONS}",
    "sessions": f"--sessions: {_NO_SESSIONS}",
    "think_time": f"--think-time: {_NO_SESSIONS}",
    # the hidden flags a run's coordinator and a sweep give their own processes
    "coordinated": "--coordinated: not a sweep flag",
    "stop_overloaded": "--stop-overloaded: not a sweep flag (every step has it)",
}


def _number(text: str) -> float:
    """A load or a length: a number, as the run's flags take one, and finite."""
    value = number_flag(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _percent(text: str) -> float:
    return _number(text.strip().removesuffix("%"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    for action in parser._actions:
        if "--out" in action.option_strings:  # the sweep's directory, not one run's
            action.help = "sweep directory (default sweeps/<UTC timestamp>-<model>/)"
    g = parser.add_argument_group("sweep")
    g.add_argument(
        "--mode",
        choices=("rate", "concurrency"),
        default="rate",
        help="rate: open loop, steps are request rates (--arrival applies; default); "
        "concurrency: closed loop, steps are concurrencies",
    )
    g.add_argument("--min", type=_number, metavar="LOAD", help="lowest load the search may try")
    g.add_argument(
        "--max",
        type=_number,
        metavar="LOAD",
        help="highest load the search may try (default: no limit but a run's own; an answer "
        "at --max is reported as a lower bound)",
    )
    g.add_argument(
        "--steps",
        type=integer_flag,
        help="steps in all, at least: the search takes as many as it needs (at most 20), "
        f"then steps below the answer fill up to N to draw the curve (2..{MAX_STEPS}, "
        f"default {DEFAULT_STEPS})",
    )
    g.add_argument(
        "--tolerance",
        type=_percent,
        metavar="PCT",
        help=f"how close the answer is to the first failing load (default {DEFAULT_TOLERANCE:g}%%)",
    )
    g.add_argument(
        "--loads",
        metavar="L1,L2,...",
        help="run these loads instead of searching (rates, or concurrencies in concurrency mode)",
    )
    g.add_argument(
        "--step-duration",
        type=_number,
        metavar="S",
        help=f"each step's measured seconds (default {DEFAULT_STEP_S:g})",
    )
    g.add_argument(
        "--step-requests", type=integer_flag, metavar="N", help="each step's measured requests"
    )
    g.add_argument(
        "--probe-concurrency",
        type=integer_flag,
        help="rate mode: the closed-loop probe's concurrency that estimates the server's "
        f"maximum throughput (default {DEFAULT_PROBE_CONCURRENCY})",
    )
    g.add_argument(
        "--probe-duration",
        type=_number,
        metavar="S",
        help="the probe's seconds (default: a step's)",
    )
    g.add_argument(
        "--goodput-target",
        type=_percent,
        metavar="PCT",
        help="with --goodput: a step passes only when at least PCT%% of its requests are "
        "good (default 95)",
    )


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """The sweep's own options, checked."""

    mode: Mode
    low: float | None
    high: float | None
    steps: int
    tolerance: float  # a fraction: 0.05 is 5%
    loads: tuple[float, ...]
    step_duration_s: float | None
    step_requests: int | None
    probe_concurrency: int
    probe_duration_s: float
    goodput_target: float | None
    out: Path

    @property
    def integer(self) -> bool:
        return self.mode == "concurrency"


def _loads(text: str, mode: Mode) -> tuple[float, ...]:
    loads = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"--loads: not a number: {part.strip()!r}") from None
        _check_load(value, mode, "--loads")
        loads.append(value)  # as given: a listed load is not rounded
    if len(loads) > MAX_STEPS:
        raise ConfigError(f"--loads: at most {MAX_STEPS} loads, got {len(loads)}")
    if len(set(loads)) != len(loads):
        raise ConfigError("--loads: a load is given twice")
    return tuple(loads)


def _check_load(value: float, mode: Mode, flag: str) -> None:
    if mode == "rate":
        if not (math.isfinite(value) and MIN_RPS <= value <= MAX_RPS):
            raise ConfigError(
                f"{flag}: a rate from {MIN_RPS:g} to {MAX_RPS:.0f} req/s, got {value:g}"
            )
    elif not (math.isfinite(value) and value == int(value) and 1 <= value <= MAX_CONCURRENCY):
        raise ConfigError(f"{flag}: a concurrency from 1 to {MAX_CONCURRENCY}, got {value:g}")


def plan_of(args: argparse.Namespace) -> SweepPlan:
    """The sweep flags, checked; ConfigError (exit 2) names the flag."""
    for dest, message in _REFUSED.items():
        if getattr(args, dest, None) not in (None, False):
            raise ConfigError(message)
    if args.prompts_file and is_session_file(Path(args.prompts_file), sharegpt_sessions=False):
        raise ConfigError(f"--prompts-file {args.prompts_file} holds sessions: {_NO_SESSIONS}")
    mode: Mode = args.mode
    if mode == "concurrency" and args.concurrency is not None:
        raise ConfigError("--concurrency: the sweep sets each step's (--min/--max or --loads)")
    if not args.slo and not args.goodput:
        raise ConfigError(
            "give at least one --slo or --goodput: the sweep finds the highest load that "
            "meets them, e.g. --slo 'ttft_p95<=500ms'"
        )
    if args.goodput_target is not None and not args.goodput:
        raise ConfigError("--goodput-target needs --goodput criteria, e.g. ttft:500ms")
    target = args.goodput_target if args.goodput_target is not None else 95.0
    if args.goodput and not 0 < target <= 100:
        raise ConfigError(f"--goodput-target: a percentage above 0 and at most 100, got {target:g}")
    if args.step_duration is not None and args.step_requests is not None:
        raise ConfigError("--step-duration and --step-requests are alternatives: give one")
    if args.step_duration is not None and not 1 <= args.step_duration <= MAX_DURATION_S:
        raise ConfigError(
            f"--step-duration: from 1 to {MAX_DURATION_S:.0f} s, got {args.step_duration:g}"
        )
    if args.step_requests is not None and not 1 <= args.step_requests <= MAX_REQUESTS:
        raise ConfigError(f"--step-requests: from 1 to {MAX_REQUESTS}, got {args.step_requests}")
    if args.loads is not None:
        given = [f for f, v in (("--min", args.min), ("--max", args.max), ("--steps", args.steps),
                                ("--tolerance", args.tolerance)) if v is not None]  # fmt: skip
        if given:
            raise ConfigError(f"--loads runs exactly those loads: drop {', '.join(given)}")
    steps = args.steps if args.steps is not None else DEFAULT_STEPS
    if not 2 <= steps <= MAX_STEPS:
        raise ConfigError(f"--steps: from 2 to {MAX_STEPS}, got {steps}")
    tolerance = args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE
    if not 0.5 <= tolerance <= 50:
        raise ConfigError(f"--tolerance: from 0.5 to 50 (percent), got {tolerance:g}")
    for flag, value in (("--min", args.min), ("--max", args.max)):
        if value is not None:
            _check_load(value, mode, flag)
    if args.min is not None and args.max is not None and args.min >= args.max:
        raise ConfigError(f"--min {args.min:g} must be below --max {args.max:g}")
    probe_c = (
        DEFAULT_PROBE_CONCURRENCY if args.probe_concurrency is None else args.probe_concurrency
    )
    if not 1 <= probe_c <= MAX_CONCURRENCY:
        raise ConfigError(f"--probe-concurrency: from 1 to {MAX_CONCURRENCY}, got {probe_c}")
    step_s = args.step_duration if args.step_requests is None else None
    probe_s = args.probe_duration if args.probe_duration is not None else step_s or DEFAULT_STEP_S
    if not 1 <= probe_s <= MAX_DURATION_S:
        raise ConfigError(f"--probe-duration: from 1 to {MAX_DURATION_S:.0f} s, got {probe_s:g}")
    return SweepPlan(
        mode=mode,
        low=args.min,
        high=args.max,
        steps=steps,
        tolerance=tolerance / 100,
        loads=_loads(args.loads, mode) if args.loads is not None else (),
        step_duration_s=(step_s or DEFAULT_STEP_S) if args.step_requests is None else None,
        step_requests=args.step_requests,
        probe_concurrency=probe_c,
        probe_duration_s=probe_s,
        goodput_target=target if args.goodput else None,
        out=Path(args.out) if args.out else _default_dir(args.model),
    )


def _default_dir(model: str | None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", model or "model")[:60]
    return Path("sweeps") / f"{stamp}-{name}"


def run_tokens(argv: Sequence[str]) -> list[str]:
    """The user's command line without the sweep's own flags (and their values): what
    every step's `llmbench run` is given before the step's own flags."""
    return without(argv, _SWEEP_FLAGS)


def without(tokens: Sequence[str], flags: frozenset[str]) -> list[str]:
    """``tokens`` without ``flags`` and their values (each takes one)."""
    kept: list[str] = []
    skip = False
    for arg in tokens:
        if skip:
            skip = False
            continue
        if arg.split("=", 1)[0] in flags:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


def check_run_flags(args: argparse.Namespace, tokens: list[str], plan: SweepPlan) -> str:
    """A step's run flags, checked once before anything runs (a bad one is exit 2 here,
    not after the probe); the target URL as outputs may show it."""
    from llmbench.cli import _build_parser

    first = plan.loads[0] if plan.loads else (1.0 if plan.mode == "rate" else 1)
    flags = ["run", *tokens, *(["--rps", f"{first:g}"] if plan.mode == "rate" else
                               ["--concurrency", str(int(first))])]  # fmt: skip
    step_args = _build_parser(flags).parse_args(flags)
    cfg = build_config(step_args)
    criteria(step_args, cfg)
    return redact_url(cfg.url)
