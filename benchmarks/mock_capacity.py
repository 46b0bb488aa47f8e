"""Can one mock process carry a benchmark without becoming its bottleneck?

Starts `llmbench mock` pinned to core 1, drives it from the floor client pinned to core 0
(500 concurrent streams, ITL 10 ms, 64 tokens, 10 s by default), then reads the mock's
own `/stats`: its first-token lateness (actual first write minus ideal time) must stay
under 3 ms at p99, and the events delivered should be close to the ideal rate
`concurrency * tokens / (ttft + (tokens - 1) * itl)`.

    python benchmarks/mock_capacity.py [--concurrency 500] [--duration 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson

__all__ = ["main"]

_HERE = Path(__file__).resolve().parent
_READY_TIMEOUT_S = 15.0
_LATENESS_BUDGET_MS = 3.0


def _pinned(core: int, cmd: list[str], pin: bool) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *cmd] if pin and taskset else cmd


def _start_mock(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "llmbench.mock",
        "--port",
        "0",
        "--ttft-ms",
        str(args.ttft_ms),
        "--itl-ms",
        str(args.itl_ms),
        "--tokens",
        str(args.tokens),
    ]
    proc = subprocess.Popen(_pinned(1, cmd, args.pin), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    # The mock prints its URL first, then nothing until it exits.
    ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if "listening on " not in line:
        proc.kill()
        proc.wait()
        raise SystemExit(f"mock did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1].strip()


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` from /proc (Linux), to show how busy the mock was."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _preemptions(pid: int) -> int | None:
    """Times the kernel took the CPU from `pid` for another task: a busy machine, not
    the mock, is to blame for lateness that comes with many of these."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("nonvoluntary_ctxt_switches:"):
            return int(line.split()[1])
    return None


def _run_floor(url: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        str(_HERE / "floor_client.py"),
        "--url",
        url,
        "-c",
        str(args.concurrency),
        "--duration",
        str(args.duration),
        "--max-tokens",
        str(args.tokens),
        "--json",
    ]
    out = subprocess.run(_pinned(0, cmd, args.pin), capture_output=True, text=True, check=True)
    figures: dict[str, float] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _report(
    args: argparse.Namespace, floor: dict[str, float], stats: dict[str, object], cpu: float | None
) -> bool:
    late = stats["first_token_lateness_ms"]
    assert isinstance(late, dict)
    ideal = (
        args.concurrency * args.tokens / ((args.ttft_ms + (args.tokens - 1) * args.itl_ms) / 1e3)
    )
    wall = floor["wall_s"]
    print(
        f"load: {args.concurrency} streams, ttft {args.ttft_ms} ms, itl {args.itl_ms} ms, "
        f"{args.tokens} tokens, {args.duration} s, pinned={args.pin}"
    )
    print(
        f"mock first-token lateness ms: p50={late['p50']:.3f} p99={late['p99']:.3f} "
        f"max={late['max']:.3f} (n={late['count']})"
    )
    print(f"mock token lateness max ms: {stats['token_lateness_max_ms']:.3f}")
    print(
        f"events/s: achieved {floor['events_per_s']:.0f} vs ideal {ideal:.0f} "
        f"({100 * floor['events_per_s'] / ideal:.1f}%); requests {floor['requests']:.0f}, "
        f"errors {floor['errors']:.0f}, aborted streams {stats['streams_aborted']}"
    )
    print(
        f"floor client TTFT ms (steady): p50={floor['ttft_p50_ms']:.3f} "
        f"p99={floor['ttft_p99_ms']:.3f} max={floor['ttft_max_ms']:.3f}; "
        f"first request per connection: p50={floor['first_ttft_p50_ms']:.3f} "
        f"max={floor['first_ttft_max_ms']:.3f}"
    )
    if cpu is not None:
        print(f"mock CPU: {cpu:.2f} s over {wall:.2f} s = {100 * cpu / wall:.0f}% of one core")
    ok = float(late["p99"]) < _LATENESS_BUDGET_MS
    print(
        f"verdict: {'PASS' if ok else 'FAIL'} (p99 first-token lateness < {_LATENESS_BUDGET_MS} ms)"
    )
    return ok


def _run_once(args: argparse.Namespace) -> bool:
    proc, url = _start_mock(args)
    try:
        cpu0, pre0 = _cpu_seconds(proc.pid), _preemptions(proc.pid)
        floor = _run_floor(url, args)
        cpu1, pre1 = _cpu_seconds(proc.pid), _preemptions(proc.pid)
        with urllib.request.urlopen(url + "/stats", timeout=10) as resp:
            stats = orjson.loads(resp.read())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    ok = _report(args, floor, stats, cpu)
    if pre0 is not None and pre1 is not None:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"machine: mock preempted {pre1 - pre0} times; load average {load}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the capacity check; exit 0 when the lateness budget holds in some run.

    Other processes only ever add lateness, so on a shared machine `--repeat N` reports
    every run and passes when one of them (the least disturbed) meets the budget.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each with a fresh mock")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="skip taskset")
    args = parser.parse_args(argv)
    passed = 0
    for run in range(args.repeat):
        if args.repeat > 1:
            print(f"--- run {run + 1} of {args.repeat}")
        passed += _run_once(args)
    if args.repeat > 1:
        print(f"{passed} of {args.repeat} runs met the budget")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
