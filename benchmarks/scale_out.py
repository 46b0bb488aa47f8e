"""`llmbench run --workers N`: what the coordinator costs, what the workers can ingest,
and whether splitting a run moves TTFT.

    .venv/bin/python benchmarks/scale_out.py                 # all three parts, 3 repeats
    .venv/bin/python benchmarks/scale_out.py --repeat 5 --parts a,c

Every llmbench run here is a child process running the real CLI in-process
(``scale_out.py --child run ...``), pinned with taskset; the mock is pinned to core 1.
Medians over ``--repeat`` runs, workers=1 and workers=2 interleaved within a repeat.

(a) Coordinator CPU. ``--workers 2`` with a fixed request count, and with a quarter of
    it: the difference is the CPU per extra request, without the fixed start-up and
    output costs. Client (coordinator and both workers) on core 0. The child *is* the
    coordinator process, so at its end ``getrusage(RUSAGE_SELF)`` is the coordinator's
    own user+sys over its whole life (interpreter start-up, imports, pre-flight,
    supervising, merging and writing the outputs; its reader threads included) and
    ``getrusage(RUSAGE_CHILDREN)`` is exactly its two workers' whole lives: it waits for
    both, and they start no children. That avoids both traps: ``os.wait4`` on the
    coordinator (or ``/usr/bin/time``) reports it plus its waited-for workers, and
    polling ``/proc/<pid>/stat`` misses the last interval before exit. The coordinator's
    CPU is split into phases by timing its ``_supervise`` call from outside (a wrapper
    around the module function; the total does not depend on it). The workers'
    measured-phase CPU (summary ``client.cpu_pct`` x ``run.wall_time_s``, each worker)
    is printed beside their whole-life CPU. Target: coordinator CPU per request < 5% of
    a worker's (printed for the whole run and per extra request). Workers' CPU per
    request is their total over all requests: each worker serves half of them, so that
    is one worker's CPU per its own request.
(b) Ingest capacity. The mock as fast as it streams (TTFT 0, ITL 0: a reply's tokens
    leave in one write, so the mock costs little and the client's per-token parsing is
    what is measured), a fixed duration at high concurrency. workers=1: client on core 0,
    mock on core 1. workers=2: client on cores 0 and 1, sharing core 1 with the mock (a
    2-core machine has no third core); the mock's own CPU is printed so the share shows.
(c) TTFT accuracy. Mock TTFT 50 ms at concurrency 20; reported TTFT p50/p99 minus 50 ms
    for workers=1 and workers=2, same load, client on core 0 in both (only the split
    changes).

The first line reports the CPU other processes used in a 1 s sample before the runs,
the last what they used during them: this VM's 2 cores are shared and noisy.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

_CLIENT_CORE = "0"
_BOTH_CORES = "0,1"
_MOCK_CORE = "1"
_READY_PREFIX = "llmbench mock listening on "
_READY_TIMEOUT_S = 15.0
_RUN_TIMEOUT_S = 300.0
_TICK_S = float(os.sysconf("SC_CLK_TCK"))
_TARGET_COORDINATOR_PCT = 5.0

Figures = dict[str, float]
_F = TypeVar("_F", bound=Callable[..., Any])


# -- the measured child: the coordinator (or the single-process client) itself ----------


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _marking(fn: _F, marks: list[float]) -> _F:
    """``fn``, noting this process's CPU in ``marks`` as it enters and as it leaves."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        marks.append(_own_cpu_s())
        try:
            return fn(*args, **kwargs)
        finally:
            marks.append(_own_cpu_s())

    return cast(_F, wrapper)


def _child(argv: list[str]) -> int:
    """Run `llmbench <argv>` in this process; print its CPU by phase as one JSON line."""
    startup = _own_cpu_s()  # interpreter start-up and this script's imports
    import llmbench.coordinator as coordinator
    from llmbench.cli import main as cli_main

    marks: list[float] = []  # own CPU when the coordinator starts and stops supervising
    coordinator._supervise = _marking(coordinator._supervise, marks)
    code = cli_main(argv)
    total = _own_cpu_s()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, after = (marks[0], marks[1]) if len(marks) == 2 else (total, total)
    print(
        json.dumps(
            {
                "exit": code,
                "cpu_s": total,
                "startup_s": startup,
                "to_supervise_s": before - startup,
                "supervise_s": after - before,
                "after_s": total - after,
                "children_s": kids.ru_utime + kids.ru_stime,
            }
        )
    )
    return 0


# -- processes ----------------------------------------------------------------------------


def _pinned(cores: str, cmd: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cores, *cmd] if taskset else cmd


def _pid_cpu_s(pid: int) -> float:
    """User+sys CPU of a live process (its own, not its children's), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK_S


@contextmanager
def _mock(*args: str) -> Iterator[tuple[str, int]]:
    """`llmbench mock` on core 1 and a free port: (base URL, PID); stopped by its PID."""
    cmd = [sys.executable, "-m", "llmbench", "mock", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(_pinned(_MOCK_CORE, [*cmd, *args]), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith(_READY_PREFIX):
            raise RuntimeError(f"the mock did not start: it printed {line!r}")
        yield line[len(_READY_PREFIX) :].strip(), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _run(url: str, mock_pid: int, cores: str, workers: int, run_args: list[str]) -> Figures:
    """One `llmbench run --workers N` on ``cores``; its figures (see `_figures`)."""
    tmp = Path(tempfile.mkdtemp(prefix="llmbench-scale-out-"))
    out = tmp / "run"
    argv = ["run", "--url", url, "--model", "m", "--workers", str(workers)]
    argv += ["--quiet", "--out", str(out), *run_args]
    cmd = _pinned(cores, [sys.executable, __file__, "--child", *argv])
    mock0 = _pid_cpu_s(mock_pid)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_RUN_TIMEOUT_S)
        if done.returncode != 0 or not (out / "summary.json").is_file():
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
        cpu = json.loads(done.stdout.strip().splitlines()[-1])
        if cpu["exit"] != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {cpu['exit']}: {done.stderr[-500:]}")
        summary = json.loads((out / "summary.json").read_text())
        parts = [
            json.loads((out / "workers" / str(i) / "summary.json").read_text())
            for i in range(workers if workers > 1 else 0)
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _figures(cpu, summary, parts, _pid_cpu_s(mock_pid) - mock0)


def _figures(
    cpu: dict[str, Any], summary: dict[str, Any], parts: list[dict[str, Any]], mock_s: float
) -> Figures:
    """A run's figures, all floats so the repeats' medians are taken key by key."""
    wall = float(summary["run"]["wall_time_s"])
    clients = [p["client"] for p in parts] or [summary["client"]]
    walls = [float(p["run"]["wall_time_s"]) for p in parts] or [wall]
    ttft = summary["ttft_ms"] or {}
    tokens_per_worker = [float(p["throughput"]["output_tokens_per_s"]) for p in parts] or [
        float(summary["throughput"]["output_tokens_per_s"])
    ]
    return {
        "requests": float(summary["requests"]["total"]),
        "failed": float(summary["requests"]["failed"]),
        "tokens_per_s": float(summary["throughput"]["output_tokens_per_s"]),
        "tokens_per_s_per_worker": statistics.fmean(tokens_per_worker),
        "cpu_pct_worst": max(float(c["cpu_pct"]) for c in clients),
        "worker_measured_s": sum(
            float(c["cpu_pct"]) / 100 * w for c, w in zip(clients, walls, strict=True)
        ),
        "saturated": 1.0 if summary["client"]["saturated"] else 0.0,
        "ttft_p50_ms": float(ttft.get("p50", 0.0)),
        "ttft_p99_ms": float(ttft.get("p99", 0.0)),
        "mock_pct": 100 * mock_s / wall if wall else 0.0,
        **{key: float(value) for key, value in cpu.items()},
    }


def _median(rows: list[Figures]) -> Figures:
    """Each figure's median over the repeats; ``saturated`` becomes a count of runs."""
    out = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    out["saturated"] = sum(row["saturated"] for row in rows)
    return out


Plan = list[tuple[int, str, list[str]]]  # (workers, client cores, run flags) per entry


def _repeat(a: argparse.Namespace, mock_args: list[str], plan: Plan) -> list[Figures]:
    """Medians, one per entry of ``plan``, over ``a.repeat`` interleaved runs."""
    rows: list[list[Figures]] = [[] for _ in plan]
    with _mock(*mock_args) as (url, pid):
        for _ in range(a.repeat):
            for i, (workers, cores, run_args) in enumerate(plan):
                rows[i].append(_run(url, pid, cores, workers, run_args))
                time.sleep(0.5)
    return [_median(r) for r in rows]


# -- the three parts ----------------------------------------------------------------------


def _part_a(a: argparse.Namespace) -> None:
    mock_args = ["--ttft-ms", "10", "--itl-ms", "1", "--tokens", str(a.tokens)]
    small = max(1, a.requests // 4)
    plan: Plan = [
        (2, _CLIENT_CORE, ["--concurrency", str(a.concurrency), "--requests", str(n)])
        for n in (a.requests, small)
    ]
    print(
        f"(a) coordinator CPU: --workers 2, {a.requests:,} (and {small:,}) requests, "
        f"c={a.concurrency}, mock TTFT 10 ms ITL 1 ms {a.tokens} tokens; client "
        f"(coordinator + workers) on core {_CLIENT_CORE}, mock on core {_MOCK_CORE}"
    )
    big, little = _repeat(a, mock_args, plan)
    n = big["requests"] or 1.0
    coord, workers = big["cpu_s"], big["children_s"]
    print(
        f"  coordinator {1e6 * coord / n:7.1f} µs/request ({coord:.3f} s: start-up "
        f"{big['startup_s']:.3f}, imports + pre-flight + spawn {big['to_supervise_s']:.3f}, "
        f"supervising {big['supervise_s']:.3f}, merge + outputs {big['after_s']:.3f})"
    )
    print(
        f"  workers     {1e6 * workers / n:7.1f} µs/request ({workers:.3f} s, both whole "
        f"processes; of which measured phase {big['worker_measured_s']:.3f} s)"
    )
    extra = n - little["requests"] or 1.0
    d_coord, d_workers = coord - little["cpu_s"], workers - little["children_s"]
    print(
        f"  per extra request ({little['requests']:,.0f} -> {n:,.0f}): coordinator "
        f"{1e6 * d_coord / extra:.1f} µs, workers {1e6 * d_workers / extra:.1f} µs"
    )
    for name, c, w in (("whole run", coord, workers), ("per extra request", d_coord, d_workers)):
        pct = 100 * c / w if w > 0 else float("nan")
        verdict = "met" if pct < _TARGET_COORDINATOR_PCT else "missed"
        print(
            f"  coordinator / workers, {name}: {pct:.1f}% "
            f"(target < {_TARGET_COORDINATOR_PCT:g}%: {verdict})"
        )


def _part_b(a: argparse.Namespace) -> None:
    mock_args = ["--ttft-ms", "0", "--itl-ms", "0", "--tokens", str(a.ingest_tokens)]
    run_args = ["--concurrency", str(a.ingest_concurrency), "--duration", str(a.ingest_s)]
    print(
        f"(b) ingest capacity: mock TTFT 0 ITL 0 {a.ingest_tokens} tokens, "
        f"c={a.ingest_concurrency}, {a.ingest_s:g} s; mock on core {_MOCK_CORE}; "
        f"workers=1 on core {_CLIENT_CORE}, workers=2 on cores {_BOTH_CORES} (sharing "
        f"core {_MOCK_CORE} with the mock)"
    )
    plan: Plan = [(1, _CLIENT_CORE, run_args), (2, _BOTH_CORES, run_args)]
    rows = _repeat(a, mock_args, plan)
    for (workers, cores, _), m in zip(plan, rows, strict=True):
        print(
            f"  workers={workers} (cores {cores:<3}) {m['tokens_per_s']:>9,.0f} tok/s; per "
            f"worker {m['tokens_per_s_per_worker']:>9,.0f} tok/s at {m['cpu_pct_worst']:3.0f}% "
            f"CPU (worst worker); saturated in {m['saturated']:.0f} of {a.repeat} runs; "
            f"mock {m['mock_pct']:3.0f}% of a core; failed {m['failed']:.0f}"
        )
    if rows[0]["tokens_per_s"]:
        print(f"  workers=2 / workers=1: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}x")


def _part_c(a: argparse.Namespace) -> None:
    ttft = 50.0
    mock_args = ["--ttft-ms", f"{ttft:g}", "--itl-ms", "10", "--tokens", "20"]
    run_args = ["--concurrency", "20", "--requests", str(a.ttft_requests)]
    print(
        f"(c) TTFT accuracy: mock TTFT {ttft:g} ms ITL 10 ms 20 tokens, c=20, "
        f"{a.ttft_requests} requests; client on core {_CLIENT_CORE} for both, mock on core "
        f"{_MOCK_CORE}"
    )
    plan: Plan = [(1, _CLIENT_CORE, run_args), (2, _CLIENT_CORE, run_args)]
    for (workers, _, _), m in zip(plan, _repeat(a, mock_args, plan), strict=True):
        print(
            f"  workers={workers}  TTFT error p50 {m['ttft_p50_ms'] - ttft:+6.2f} ms  p99 "
            f"{m['ttft_p99_ms'] - ttft:+6.2f} ms  (client CPU {m['cpu_pct_worst']:.0f}% worst "
            f"worker, saturated in {m['saturated']:.0f} of {a.repeat})"
        )


# -- other tenants --------------------------------------------------------------------------


def _machine_busy_s() -> tuple[float, float]:
    """(user + nice + system, steal) CPU seconds of all cores since boot, from /proc/stat.

    Interrupt time is left out: loopback traffic's softirq work is the benchmark's own
    but is not charged to any process, so counting it would inflate "other processes"."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, steal = ticks[0], ticks[1], ticks[2], ticks[7]
    return (user + nice + system) / _TICK_S, steal / _TICK_S


def _ours_s() -> float:
    """CPU of this script and every process it started and reaped."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _own_cpu_s() + kids.ru_utime + kids.ru_stime


def _others_pct(body: Callable[[], None]) -> float:
    """CPU other processes used while ``body`` ran, in % of all the cores."""
    busy0, ours0, wall0 = _machine_busy_s()[0], _ours_s(), time.monotonic()
    body()
    busy, ours, wall = _machine_busy_s()[0] - busy0, _ours_s() - ours0, time.monotonic() - wall0
    return 100 * max(0.0, busy - ours) / (wall * (os.cpu_count() or 1))


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return _child(sys.argv[2:])
    p = argparse.ArgumentParser(description="llmbench --workers: coordinator cost, ingest, TTFT")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--parts", default="a,b,c", help="comma list of a, b, c")
    p.add_argument("--requests", type=int, default=10_000, help="(a) requests per run")
    p.add_argument("--concurrency", type=int, default=200, help="(a) concurrency")
    p.add_argument("--tokens", type=int, default=50, help="(a) tokens per reply")
    p.add_argument("--ingest-s", type=float, default=5.0, help="(b) seconds per run")
    p.add_argument("--ingest-concurrency", type=int, default=200, help="(b) concurrency")
    p.add_argument("--ingest-tokens", type=int, default=1000, help="(b) tokens per reply")
    p.add_argument("--ttft-requests", type=int, default=400, help="(c) requests per run")
    a = p.parse_args()
    parts = {"a": _part_a, "b": _part_b, "c": _part_c}
    print(
        f"{os.cpu_count()} cores; other processes used "
        f"{_others_pct(lambda: time.sleep(1.0)):.0f}% of them in the second before; "
        f"medians of {a.repeat}"
    )
    chosen = [parts[k.strip()] for k in a.parts.split(",")]

    def run_parts() -> None:
        for part in chosen:
            part(a)

    t0 = time.monotonic()
    steal0 = _machine_busy_s()[1]
    others = _others_pct(run_parts)
    print(
        f"took {time.monotonic() - t0:.0f} s; other processes used {others:.0f}% of the "
        f"cores meanwhile; steal {_machine_busy_s()[1] - steal0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
