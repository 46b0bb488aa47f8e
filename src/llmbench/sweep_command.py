"""`llmbench sweep`: the highest load the server sustains under the SLOs, with the curve.

Each step is an ordinary `llmbench run` (in this process, with the user's run flags and
the step's load; ``--workers`` steps start their workers as a run does) in its own run
directory under the sweep directory, with the same seed, so steps differ only in load.
Rate mode first runs a short closed-loop probe at ``--probe-concurrency`` to estimate
the server's maximum throughput, then searches (:mod:`llmbench.sweep_search`) and
fills the curve; ``--loads`` runs an explicit list instead. A step past capacity ends
early (the run's hidden ``--stop-overloaded``, :mod:`llmbench.overload`). After every
step sweep.json, sweep.csv and report.html are rewritten, so an interrupted sweep
keeps every finished step.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import orjson

from llmbench import __version__, slo
from llmbench.app import EXIT_NOTHING_MEASURED, EXIT_OUTPUT_NOT_WRITTEN
from llmbench.config import (
    EXIT_USAGE,
    MAX_CONCURRENCY,
    MAX_RPS,
    MIN_RPS,
    ConfigError,
)
from llmbench.output.report import ReportError
from llmbench.output.summary import write_bytes_atomic, write_json_atomic
from llmbench.output.sweep_report import write_sweep_report
from llmbench.sweep_options import (
    SweepPlan,
    add_arguments,
    check_run_flags,
    plan_of,
    run_tokens,
    without,
)
from llmbench.sweep_search import (
    Point,
    SearchSpace,
    bracket,
    curve_loads,
    next_search_load,
    round_load,
)
from llmbench.sweep_steps import (
    answer_block,
    knee_block,
    step_line,
    step_record,
    sweep_csv,
)

__all__ = ["EXIT_CODES_HELP", "add_arguments", "check_flags", "run"]

EXIT_CODES_HELP = """exit codes:
  0    an answer was found: the highest load that met every --slo (and --goodput-target)
  1    not even the lowest load tried met them
  2    usage or configuration error: one line on stderr, nothing was run
  3    nothing measured: the probe's (or a step's) pre-flight failed, or the probe
       measured no throughput
  4    measured, but sweep.json, sweep.csv or report.html could not be written (named)
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; the finished steps are written"""

EXIT_NO_ANSWER = 1
_EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}
# A search that has not converged after this many steps is chasing noise: it stops.
_MAX_SEARCH_STEPS = 20
# Without --min, rate mode searches down to a twentieth of the probe's estimate.
_RATE_FLOOR = 1 / 20
# Concurrency mode starts here (or at --min) and doubles until a step fails.
_FIRST_CONCURRENCY = 8.0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is (a BaseException: an event loop running a step's
    pre-flight lets it through, where it would log and swallow an Exception)."""


def _on_term(_signum: int, _frame: FrameType | None) -> None:
    _TERM.append("SIGTERM")
    raise _Terminated


# Set once SIGTERM came: a step that reports 130 (Ctrl-C's code) was ended by it.
_TERM: list[str] = []


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM between steps ends the sweep as Ctrl-C does (a step's event loop puts
    its own handler in and leaves the default behind: this goes back after each)."""
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class _Sweep:
    """The sweep as it runs: where it writes, what each step is given, what it found."""

    plan: SweepPlan
    tokens: list[str]  # the user's run flags, as every step gets them
    head: dict[str, Any]
    quiet: bool
    model_found: bool  # --model given, or the first step found the server's one model
    steps: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] | None = None
    interrupted: str | None = None
    unwritten: set[str] = field(default_factory=set)  # outputs whose last write failed

    @property
    def high(self) -> float:
        """The highest load the search may try: --max, else as high as a run may go
        (the search grows fast, and stops where the SLOs or the client give out)."""
        if self.plan.high is not None:
            return self.plan.high
        return float(MAX_RPS if self.plan.mode == "rate" else MAX_CONCURRENCY)

    def points(self) -> list[Point]:
        return [Point(s["load"], s["verdict"]) for s in self.steps]

    def load_flags(self, load: float) -> list[str]:
        if self.plan.mode == "rate":
            return ["--rps", f"{load:g}"]
        return ["--concurrency", str(int(load))]

    def stop_flags(self) -> list[str]:
        if self.plan.step_requests is not None:
            return ["--requests", str(self.plan.step_requests)]
        return ["--duration", f"{self.plan.step_duration_s:g}"]

    def run_step(self, tokens: list[str], name: str) -> dict[str, Any] | int:
        """One `llmbench run` into ``name``, exactly as the command line would run it:
        its summary, or the exit code that ends the sweep (2 a usage error the step
        found, 3 nothing measured, 130/143 interrupted)."""
        from llmbench.cli import main as cli_main

        directory = self.plan.out / name
        argv = ["run", *tokens, "--out", str(directory), "--quiet"]
        sink = io.StringIO()  # the step's own table and paths: the sweep prints its line
        with _signals(), contextlib.redirect_stdout(sink):
            code = cli_main(argv)
        if code in _EXIT_BY_SIGNAL.values():
            term = code == _EXIT_BY_SIGNAL["SIGTERM"] or bool(_TERM)
            self.interrupted = "SIGTERM" if term else "SIGINT"
            return _EXIT_BY_SIGNAL[self.interrupted]  # cut short: not the load's figures
        try:
            summary = orjson.loads((directory / "summary.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            summary = None
        if code == EXIT_USAGE or not isinstance(summary, dict):
            return code or EXIT_NOTHING_MEASURED
        model = (summary.get("config") or {}).get("model")
        if not self.model_found and isinstance(model, str):  # asked once, by the first step
            self.tokens.append(f"--model={model}")  # one token: a name may start with "-"
            self.head["model"] = model
            self.model_found = True
        return summary

    def measure(self, role: str, load: float) -> int | None:
        """A search, curve or listed step at ``load``; an exit code when the sweep must end."""
        name = f"step-{len(self.steps) + 1:02d}-{load:g}"
        flags = [*self.load_flags(load), *self.stop_flags(), "--stop-overloaded"]
        summary = self.run_step([*self.tokens, *flags], name)
        if isinstance(summary, int):
            return summary
        record = step_record(
            len(self.steps), role, load, name, summary,
            mode=self.plan.mode, goodput_target=self.plan.goodput_target,
        )  # fmt: skip
        self.steps.append(record)
        if not self.quiet:
            print(step_line(record, self.plan.mode), flush=True)
        self.write()
        return None

    def run_probe(self) -> float | int:
        """Rate mode's closed-loop probe at --probe-concurrency: the server's maximum
        throughput, estimated (req/s); an exit code when the sweep must end. Its SLOs
        are not judged (a probe saturates on purpose), nor its cap."""
        plan = self.plan
        tokens = [
            *without(self.tokens, _PROBE_DROPS),
            "--concurrency", str(plan.probe_concurrency),
            "--duration", f"{plan.probe_duration_s:g}",
        ]  # fmt: skip
        summary = self.run_step(tokens, "probe")
        if isinstance(summary, int):
            return summary
        # A saturated closed loop completes at the server's rate: successes over the
        # whole wall time, the drain included (the headline), which the probe's own
        # sending window would overstate when requests outlast it.
        throughput = summary.get("throughput") or {}
        estimate = throughput.get("requests_per_s")
        estimate = float(estimate) if isinstance(estimate, int | float) else 0.0
        client = summary.get("client") or {}
        self.probe = {
            "concurrency": plan.probe_concurrency,
            "achieved_rps": estimate,
            "output_tokens_per_s": throughput.get("output_tokens_per_s"),
            "dir": "probe",
            "client_limited": bool(client.get("saturated")),
            "client_reasons": list(client.get("saturation_reasons") or []),
        }
        if not self.quiet:
            print(f" probe    concurrency {plan.probe_concurrency}  achieved {estimate:.3g} "
                  "req/s: the estimate of the server's maximum throughput", flush=True)  # fmt: skip
        self.write()
        return estimate

    def sweep_json(self) -> dict[str, Any]:
        b = bracket(self.points())
        return {
            **self.head,
            "probe": self.probe,
            "answer": answer_block(self.steps, b, self.plan.mode, self.plan.high),
            "knee": knee_block(self.steps, self.plan.mode),
            "interrupted": self.interrupted,
            "steps": self.steps,
        }

    def write(self) -> None:
        """sweep.json, sweep.csv and report.html as they stand (after every step). One
        that cannot be written is named on one line (once) and costs only itself; the
        sweep goes on and exits 4."""
        sweep = self.sweep_json()
        out = self.plan.out
        csv_bytes = sweep_csv(self.steps).encode("utf-8")
        writers: list[tuple[str, Callable[[], object]]] = [
            ("sweep.json", lambda: write_json_atomic(out / "sweep.json", sweep)),
            ("sweep.csv", lambda: write_bytes_atomic(out / "sweep.csv", csv_bytes)),
            ("report.html", lambda: write_sweep_report(out, sweep)),
        ]
        for name, write in writers:
            try:
                write()
            except (OSError, ReportError) as exc:
                if name not in self.unwritten:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                    print(f"llmbench sweep: error: could not write {out / name}: {reason}",
                          file=sys.stderr)  # fmt: skip
                self.unwritten.add(name)
            else:
                self.unwritten.discard(name)


# The probe sets its own load, and judges nothing.
_PROBE_DROPS = frozenset({"--slo", "--goodput", "--concurrency", "--threads"})


def _slo_thresholds(checks: Sequence[slo.SloCheck]) -> list[dict[str, Any]]:
    out = []
    for c in checks:
        path = slo.METRICS[c.metric].path
        family = path[0].removesuffix("_ms") if len(path) == 2 and path[0].endswith("_ms") else None
        stat = path[1] if len(path) == 2 else None
        out.append({"expr": c.expr, "metric": c.metric, "family": family, "stat": stat,
                    "op": c.op, "value": c.threshold, "unit": c.unit})  # fmt: skip
    return out


def _head(args: argparse.Namespace, plan: SweepPlan, url: str) -> dict[str, Any]:
    checks = slo.parse_slos(args.slo)
    goodput = slo.parse_goodput(args.goodput) if args.goodput else None
    return {
        "schema": "llmbench.sweep/1",
        "llmbench_version": __version__,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "url": url,
        "model": args.model,
        "provider": args.provider,
        "mode": plan.mode,
        "load_unit": "req/s" if plan.mode == "rate" else "concurrency",
        "slos": [c.expr for c in checks],
        "slo_thresholds": _slo_thresholds(checks),
        "goodput": None
        if goodput is None
        else {"criteria": goodput.criteria(), "target_percent": plan.goodput_target},
        "tolerance_percent": round(plan.tolerance * 100, 6),
        "step_duration_s": plan.step_duration_s,
        "step_requests": plan.step_requests,
    }


def check_flags(args: argparse.Namespace) -> None:
    """Every check the sweep makes before it runs, nothing sent (ConfigError)."""
    check_run_flags(args, run_tokens(args.argv), plan_of(args))


def run(args: argparse.Namespace) -> int:
    """`llmbench sweep`: 0 an answer was found, 1 not even the lowest load met the SLOs,
    2 usage, 3 nothing measured, 130/143 interrupted (finished steps written)."""
    plan = plan_of(args)
    tokens = run_tokens(args.argv)
    url = check_run_flags(args, tokens, plan)
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {plan.out}: cannot create it: {exc.strerror}") from None
    for stale in ("sweep.json", "sweep.csv", "report.html"):
        try:
            (plan.out / stale).unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {plan.out}: cannot replace {stale}: {exc.strerror}") from None
    sweep = _Sweep(plan, tokens, _head(args, plan, url), args.quiet, args.model is not None)
    if not args.quiet:
        target = ", ".join(sweep.head["slos"]) or "goodput"
        print(f"llmbench sweep {__version__}: {args.provider} at {url}, {plan.mode} mode, "
              f"target {target}; writing {plan.out}/", flush=True)  # fmt: skip
    try:
        with _signals():
            code = _drive(sweep)
    except KeyboardInterrupt:  # between steps (a step's own run handles it within)
        sweep.interrupted = "SIGTERM" if _TERM else "SIGINT"
        code = _EXIT_BY_SIGNAL[sweep.interrupted]
    sweep.write()
    answer = sweep.sweep_json()["answer"]
    print(f"\n{answer['text']}" if not args.quiet else answer["text"])
    written = [n for n in ("sweep.json", "report.html") if n not in sweep.unwritten]
    print("\n".join(f"{n.split('.')[0] if n == 'sweep.json' else 'report'}: {plan.out / n}"
                    for n in written))  # fmt: skip
    if code is not None:
        return code
    if not sweep.steps:
        return EXIT_NOTHING_MEASURED
    if sweep.unwritten:
        return EXIT_OUTPUT_NOT_WRITTEN
    return 0 if answer["found"] else EXIT_NO_ANSWER


def _drive(sweep: _Sweep) -> int | None:
    """Every step of the sweep; an exit code when it must end early, else None."""
    plan = sweep.plan
    if plan.loads:
        for load in plan.loads:
            if (code := sweep.measure("list", load)) is not None:
                return code
        return None
    space = _space(sweep)
    if isinstance(space, int):
        return space
    for _ in range(_MAX_SEARCH_STEPS):
        searched = next_search_load(sweep.points(), space)
        if searched is None:
            break
        if (code := sweep.measure("search", searched)) is not None:
            return code
    answer = bracket(sweep.points()).passed
    for load in curve_loads(answer, sweep.points(), plan.steps, space):
        if (code := sweep.measure("curve", load)) is not None:
            return code
    return None


def _space(sweep: _Sweep) -> SearchSpace | int:
    """Where the search goes: rate mode probes the server first (an exit code when the
    probe measured nothing); concurrency mode doubles from a small concurrency."""
    plan = sweep.plan
    tol = plan.tolerance
    if plan.mode == "concurrency":
        low = plan.low or 1.0
        guess = min(sweep.high, max(low, _FIRST_CONCURRENCY))
        return SearchSpace(low, sweep.high, guess, tol, integer=True, growth=2.0, accelerate=False)
    estimate = sweep.run_probe()
    if isinstance(estimate, int):
        return estimate
    if estimate <= 0:
        print("llmbench sweep: the probe measured no throughput; nothing to search",
              file=sys.stderr)  # fmt: skip
        return EXIT_NOTHING_MEASURED
    low = plan.low or max(MIN_RPS, round_load(estimate * _RATE_FLOOR, False))
    guess = min(max(estimate, low), sweep.high)
    return SearchSpace(low, sweep.high, guess, tol)
