"""Does the client hold steady for ten minutes against a server that sometimes misbehaves?

Starts `llmbench mock` with a mix of every fault mode on 2% of requests, runs
`llmbench run` against it in a subprocess (concurrency 500, 600 s by default) and
samples the client's RSS and open file descriptors from /proc every 30 s. At the end:

- the run completed (exit 0, no traceback) and lost nothing: summary.json's
  `requests.total == ok + failed ==` the measured lines of results.jsonl;
- RSS grew less than 10% from the first minute (warm-up: imports, pools, histograms)
  to the end of the load;
- the open file descriptors returned to the baseline once the run was over: the last
  sample after summary.json was written, against the process's first sample, within
  the handful of handles a run keeps open (event loop, output files).

    python benchmarks/soak.py [--duration 600] [--concurrency 500] [--interval 30]

Linux only (/proc). Prints one PASS/FAIL line per check; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["FAULTS", "main"]

# Every mode the mock has; --fault-rate is the share of requests that get one of them,
# each drawn with equal chance.
FAULTS = (
    "status:429",
    "status:500",
    "status:503",
    "html",
    "cut:5",
    "stall",
    "hang",
    "trickle",
    "badjson",
    "huge",
    "noend",
    "error-event",
    "content-type",
)
_READY_TIMEOUT_S = 15.0
# Handles a finished run may still hold besides its connections: the event loop's
# selector and self-pipe, results.jsonl, the report being written, a tokenizer file.
_FD_SLACK = 16
_RSS_GROWTH_LIMIT = 0.10
# Sampling while the run winds down: often enough to catch the moment after the
# outputs are written and before the interpreter exits.
_WIND_DOWN_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float
    rss_kb: int
    fds: int
    summary_written: bool
    load: bool = False  # taken on the sampling schedule while the load ran


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument(
        "--warm", type=float, default=60.0, help="seconds before the RSS reference sample"
    )
    p.add_argument("--fault-rate", type=float, default=0.02)
    p.add_argument("--out", type=Path, default=None, help="run output dir (default: temp)")
    return p.parse_args(argv)


def _start_mock(rate: float) -> tuple[subprocess.Popen[str], str]:
    faults = [arg for spec in FAULTS for arg in ("--fault", spec)]
    cmd = [sys.executable, "-m", "llmbench", "mock", "--port", "0", "--seed", "1", "--stats"]
    proc = subprocess.Popen(
        [*cmd, *faults, "--fault-rate", str(rate)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if "listening on " not in line:
        proc.kill()
        proc.wait()
        raise SystemExit(f"mock did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1].strip()


def _client(url: str, args: argparse.Namespace, out: Path) -> subprocess.Popen[str]:
    cmd = [
        *(sys.executable, "-m", "llmbench", "run", "--url", url, "--out", str(out), "--quiet"),
        *("--concurrency", str(args.concurrency), "--duration", str(args.duration)),
        # Tight enough that stall and hang end quickly, loose for a loaded machine.
        *("--timeout", "60", "--ttft-timeout", "10", "--stall-timeout", "5"),
        # Faults start with the first request: a pre-flight that drew one (2%) would
        # stop the soak before it began.
        "--no-preflight",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _sample(pid: int, t0: float, out: Path) -> Sample | None:
    """RSS and open fds of a live process; None once it is gone or a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith("Z") or "VmRSS" not in fields:
        return None
    rss_kb = int(fields["VmRSS"].split()[0])
    return Sample(time.monotonic() - t0, rss_kb, fds, (out / "summary.json").exists())


def _watch(client: subprocess.Popen[str], args: argparse.Namespace, out: Path) -> list[Sample]:
    """Sample at start, every interval during the load, then densely until exit."""
    t0 = time.monotonic()
    samples: list[Sample] = []
    first = None
    while first is None and client.poll() is None:  # as soon as the interpreter runs
        first = _sample(client.pid, t0, out)
    if first is not None:
        samples.append(first)
        _show("start", first)
    next_at = args.interval
    while client.poll() is None:
        now = time.monotonic() - t0
        if now < args.duration:
            time.sleep(max(0.0, min(next_at, args.duration) - now))
            s = _sample(client.pid, t0, out)
            if s is not None and s.t_s >= next_at - 0.5:
                s = replace(s, load=True)
                samples.append(s)
                _show("load", s)
                next_at += args.interval
            continue
        s = _sample(client.pid, t0, out)
        if s is not None:
            samples.append(s)
        time.sleep(_WIND_DOWN_POLL_S)
    return samples


def _show(phase: str, s: Sample) -> None:
    print(f"t={s.t_s:7.1f}s {phase:5} rss={s.rss_kb / 1024:8.1f} MiB fds={s.fds}", flush=True)


def _verdict(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {text}", flush=True)
    return ok


def _check_outputs(code: int, stderr: str, out: Path) -> list[bool]:
    completed = code == 0 and "Traceback" not in stderr
    results = [
        _verdict(completed, f"run completed: exit {code}, traceback: {'Traceback' in stderr}")
    ]
    try:
        summary = json.loads((out / "summary.json").read_text())
        lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    except (OSError, ValueError) as exc:
        return [*results, _verdict(False, f"outputs unreadable: {exc}")]
    req = summary["requests"]
    measured = sum(1 for x in lines if x.get("phase") == "measure")
    same = req["total"] == req["ok"] + req["failed"] == measured
    text = f"total {req['total']} == ok {req['ok']} + failed {req['failed']} == lines {measured}"
    print(f"statuses: {req.get('by_status')}")
    return [*results, _verdict(same, text)]


def _check_samples(samples: list[Sample], args: argparse.Namespace) -> list[bool]:
    if not samples:
        return [_verdict(False, "no samples of the client were taken")]
    load = [s for s in samples if s.load]
    ref = next((s for s in load if s.t_s >= args.warm), None)
    checks = []
    if ref is not None and load[-1] is not ref:
        growth = (load[-1].rss_kb - ref.rss_kb) / ref.rss_kb
        text = (
            f"rss growth after {args.warm:g} s: {growth:+.1%} "
            f"({ref.rss_kb / 1024:.1f} -> {load[-1].rss_kb / 1024:.1f} MiB, limit "
            f"{_RSS_GROWTH_LIMIT:.0%})"
        )
        checks.append(_verdict(growth < _RSS_GROWTH_LIMIT, text))
    else:
        print(f"SKIP rss growth: no samples after the {args.warm:g} s reference")
    base = samples[0].fds
    after = [s for s in samples if s.summary_written] or samples[-1:]
    end = after[-1]
    peak = max(s.fds for s in samples)
    text = f"fds returned to baseline: {end.fds} at the end, {base} at start, peak {peak}"
    checks.append(_verdict(end.fds <= base + _FD_SLACK, text))
    return checks


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when every check passed."""
    args = _args(argv)
    with tempfile.TemporaryDirectory(prefix="llmbench-soak-") as tmp:
        out = args.out or Path(tmp) / "out"
        mock, url = _start_mock(args.fault_rate)
        try:
            client = _client(url, args, out)
            samples = _watch(client, args, out)
            _, stderr = client.communicate()
        finally:
            mock.send_signal(signal.SIGTERM)
            stats, _ = mock.communicate(timeout=30)
        print("mock:", " | ".join(stats.strip().splitlines()))
        checks = _check_outputs(client.returncode, stderr, out) + _check_samples(samples, args)
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
