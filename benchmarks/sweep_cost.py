"""What a capacity sweep costs: wall time for the default `llmbench sweep` to find a
server's capacity, against a naive grid of the same step length.

    .venv/bin/python benchmarks/sweep_cost.py              # 1 repeat (about 4 minutes)
    .venv/bin/python benchmarks/sweep_cost.py --repeat 3

The server is `llmbench mock --slots 32 --ttft-ms 50 --itl-ms 10 --tokens 64` on core 1:
32 / (0.05 + 63 x 0.01) = 47.06 req/s, its known capacity. The client is on core 0.

- **sweep**: `llmbench sweep --slo 'ttft_p95<=200ms'` with every default (a 10 s probe,
  10 s steps, 8 steps, 5% tolerance): its wall time, step count and answer, and the
  answer's error against 47.06 req/s. Target: within 5% of the capacity in at most 2
  minutes.
- **grid**: the naive way, ten `llmbench run --rps L --duration 10` at 10, 20, ..., 100
  req/s (a round grid up to a rough upper bound, as a user who does not know the
  capacity would try), every one run to its end; the answer is the highest load whose
  SLO passed. Its wall time and its answer's error.

The first line reports the CPU other processes used in a 1 s sample before the runs:
this VM's 2 cores are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CLIENT_CORE = "0"
_MOCK_CORE = "1"
_READY_PREFIX = "llmbench mock listening on "
_MOCK = ("--slots", "32", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "64")
CAPACITY_RPS = 32 / (0.050 + 63 * 0.010)
_SLO = "ttft_p95<=200ms"
_GRID_STEP_S = 10
_TARGET_WALL_S = 120.0
_TARGET_ERROR = 0.05


def _pinned(core: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", core, *cmd] if os.path.exists("/usr/bin/taskset") else cmd


@contextmanager
def _mock() -> Iterator[str]:
    """The mock with a known capacity on core 1; its base URL. Stopped by its PID."""
    cmd = [sys.executable, "-m", "llmbench", "mock", "--host", "127.0.0.1", "--port", "0", *_MOCK]
    proc = subprocess.Popen(_pinned(_MOCK_CORE, cmd), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith(_READY_PREFIX):
            raise RuntimeError(f"the mock did not start: it printed {line!r}")
        yield line[len(_READY_PREFIX) :].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _llmbench(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = _pinned(_CLIENT_CORE, [sys.executable, "-m", "llmbench", *args])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def _sweep(url: str, tmp: Path) -> tuple[float, int, float | None]:
    """The default sweep: (wall seconds, steps run incl. the probe, answer in req/s)."""
    out = tmp / "sweep"
    began = time.monotonic()
    proc = _llmbench("sweep", "--url", url, "--slo", _SLO, "--quiet", "--out", str(out))
    wall = time.monotonic() - began
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"sweep exited {proc.returncode}: {proc.stderr.strip()}")
    sweep = json.loads((out / "sweep.json").read_text())
    steps = len(sweep["steps"]) + (1 if sweep["probe"] else 0)
    return wall, steps, sweep["answer"]["load"]


def _grid(url: str, tmp: Path) -> tuple[float, float | None]:
    """Ten full runs at 10, 20, ..., 100 req/s: (wall seconds, answer)."""
    loads = [float(10 * i) for i in range(1, 11)]
    passed: list[float] = []
    began = time.monotonic()
    for load in loads:
        proc = _llmbench("run", "--url", url, "--rps", f"{load:g}", "--duration",
                         str(_GRID_STEP_S), "--slo", _SLO, "--quiet",
                         "--out", str(tmp / f"grid-{load:g}"))  # fmt: skip
        if proc.returncode == 0:
            passed.append(load)
    wall = time.monotonic() - began
    failed = [x for x in loads if x not in passed]
    below = [x for x in passed if not failed or x < min(failed)]
    return wall, max(below) if below else None


def _error(answer: float | None) -> str:
    if answer is None:
        return "no answer"
    return f"{answer:g} req/s ({(answer - CAPACITY_RPS) / CAPACITY_RPS:+.1%})"


def _others_cpu_pct() -> float:
    def busy() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)

    (b0, t0), _ = busy(), time.sleep(1)
    b1, t1 = busy()
    return 100 * (b1 - b0) / max(t1 - t0, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-grid", action="store_true", help="the sweep only")
    args = parser.parse_args()
    print(f"machine busy before the runs: {_others_cpu_pct():.0f}% of all cores")
    print(f"server: llmbench mock {' '.join(_MOCK)}: capacity {CAPACITY_RPS:.2f} req/s")
    sweeps: list[float] = []
    grids: list[float] = []
    with _mock() as url, tempfile.TemporaryDirectory(prefix="llmbench-sweep-cost-") as tmp:
        for i in range(args.repeat):
            wall, steps, answer = _sweep(url, Path(tmp) / f"s{i}")
            sweeps.append(wall)
            ok = answer is not None and abs(answer - CAPACITY_RPS) <= _TARGET_ERROR * CAPACITY_RPS
            print(
                f"sweep {i + 1}: {wall:.0f} s, {steps} steps (probe included), answer "
                f"{_error(answer)}: {'within' if ok else 'NOT within'} 5%",
                flush=True,
            )
            if not args.no_grid:
                wall, answer = _grid(url, Path(tmp) / f"g{i}")
                grids.append(wall)
                print(f"grid  {i + 1}: {wall:.0f} s, 10 full {_GRID_STEP_S} s runs, answer "
                      f"{_error(answer)}", flush=True)  # fmt: skip
    median = statistics.median(sweeps)
    verdict = "met" if median <= _TARGET_WALL_S else "MISSED"
    line = f"sweep median {median:.0f} s (target <= {_TARGET_WALL_S:.0f} s: {verdict})"
    if grids:
        line += f"; grid median {statistics.median(grids):.0f} s"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
