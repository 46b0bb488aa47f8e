"""Does the open-loop feeder deliver the rate it was asked for, on time?

Starts `llmbench mock` (short responses, so the concurrency cap never binds)
pinned to core 1, runs `llmbench run --rps R` pinned to core 0 for each target
rate, and prints the achieved rate over the target and the dispatch lateness
(t0 minus intended send time, i.e. queue_ms) at p50/p99/max, from results.jsonl.

    python benchmarks/schedule_accuracy.py                       # 50, 500, 2000 rps
    python benchmarks/schedule_accuracy.py --rates 2000 --arrival poisson --duration 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmbench.demo import mock_process  # noqa: E402


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(url: str, rate: float, duration: float, arrival: str, pin: bool) -> str:
    out = Path(tempfile.mkdtemp(prefix="llmbench-sched-"))
    cmd = [
        sys.executable, "-m", "llmbench", "run", "--url", url, "--rps", str(rate),
        "--arrival", arrival, "--duration", str(duration), "--max-tokens", "4",
        "--quiet", "--out", str(out),
    ]
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, timeout=duration + 120)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    starts = sorted(x["start_s"] for x in lines)
    queue = [x["queue_ms"] for x in lines]
    achieved = len(starts) / duration
    failed = summary["requests"]["failed"]
    client = summary["client"]
    return (
        f"target {rate:7.0f}/s  achieved {achieved:8.1f}/s ({100 * achieved / rate:6.2f}%)  "
        f"lateness p50 {_pct(queue, 50):6.3f} ms  p99 {_pct(queue, 99):6.3f} ms  "
        f"max {max(queue):7.3f} ms  requests {len(lines)}  failed {failed}  "
        f"client cpu {client['cpu_pct']:.0f}%  saturated {client['saturated']}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="50,500,2000")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--arrival", default="constant", choices=("constant", "poisson", "gamma"))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args()
    print(f"arrival {a.arrival}, {a.duration:g} s per rate; achieved = measured requests / "
          f"duration; lateness = t0 - intended")
    with mock_process("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4",
                      pin_core=1 if a.pin else None) as url:
        for rate in (float(r) for r in a.rates.split(",")):
            for _ in range(a.repeat):
                print(measure(url, rate, a.duration, a.arrival, a.pin), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
