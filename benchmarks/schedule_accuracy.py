"""Does the open-loop feeder deliver the rate it was asked for, on time?

Starts `llmbench mock` (short responses, so the concurrency cap never binds) pinned to
core 1, runs `llmbench run --rps R` pinned to core 0 for each target rate, and prints:

- achieved/target: the send rate actually delivered, (n - 1) / (last send - first send)
  over the measured requests' t0 (`start_s`): counting n requests over the configured
  duration would credit the feeder with the first interval it never had to wait;
- lateness p50/p99/max: t0 minus intended send time (`queue_ms`), what a request lost
  to the client before it went out (timer wake-up, the loop being busy, building the
  request);
- the feeder's own dispatch lateness p99 (the self-check's figure) and client CPU.

With --repeat N each rate runs N times and the figures are the median run's.

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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmbench.demo import mock_process


@dataclass(frozen=True)
class Figures:
    achieved: float
    late_p50: float
    late_p99: float
    late_max: float
    feeder_p99: float
    requests: int
    failed: int
    cpu_pct: float
    saturated: bool


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(url: str, rate: float, duration: float, arrival: str, pin: bool) -> Figures:
    out = Path(tempfile.mkdtemp(prefix="llmbench-sched-"))
    cmd = [
        sys.executable, "-m", "llmbench", "run", "--url", url, "--rps", str(rate),
        "--arrival", arrival, "--duration", str(duration), "--max-tokens", "4",
        "--quiet", "--out", str(out),
    ]  # fmt: skip
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=duration + 120)
        lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        summary = json.loads((out / "summary.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    measured = [x for x in lines if x["phase"] == "measure"]
    starts = sorted(x["start_s"] for x in measured)
    queue = [x["queue_ms"] for x in measured]
    span = starts[-1] - starts[0]
    client = summary["client"]
    feeder = client["dispatch_lateness_ms"] or {"p99": 0.0}
    return Figures(
        achieved=(len(starts) - 1) / span if span > 0 else 0.0,
        late_p50=_pct(queue, 50),
        late_p99=_pct(queue, 99),
        late_max=max(queue),
        feeder_p99=feeder["p99"],
        requests=len(measured),
        failed=summary["requests"]["failed"],
        cpu_pct=client["cpu_pct"],
        saturated=client["saturated"],
    )


def line(rate: float, runs: list[Figures]) -> str:
    f = sorted(runs, key=lambda r: r.achieved)[len(runs) // 2]  # the median run
    spread = f"  (achieved over {len(runs)} runs: " + ", ".join(
        f"{100 * r.achieved / rate:.2f}%" for r in runs
    ) + ")" if len(runs) > 1 else ""  # fmt: skip
    return (
        f"target {rate:7.0f}/s  achieved {f.achieved:8.1f}/s ({100 * f.achieved / rate:6.2f}%)  "
        f"lateness p50 {f.late_p50:6.3f} ms  p99 {f.late_p99:6.3f} ms  max {f.late_max:7.3f} ms  "
        f"feeder p99 {f.feeder_p99:6.3f} ms  requests {f.requests}  failed {f.failed}  "
        f"client cpu {f.cpu_pct:.0f}%  saturated {f.saturated}{spread}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="50,500,2000")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--arrival", default="constant", choices=("constant", "poisson", "gamma"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args()
    print(
        f"arrival {a.arrival}, {a.duration:g} s per rate, median of {a.repeat} run(s); "
        "achieved = (n-1)/(last t0 - first t0); lateness = t0 - intended"
    )
    mock_args = ("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4")
    with mock_process(*mock_args, pin_core=1 if a.pin else None) as url:
        for rate in (float(r) for r in a.rates.split(",")):
            runs = [measure(url, rate, a.duration, a.arrival, a.pin) for _ in range(a.repeat)]
            print(line(rate, runs), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
