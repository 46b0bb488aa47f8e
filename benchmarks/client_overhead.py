"""Client CPU per streamed token and TTFT error: llmbench against a raw floor.

Starts `llmbench mock` pinned to core 1 and, for each concurrency, runs each
client in its own process pinned to core 0: the floor (benchmarks/floor_client.py,
raw asyncio protocols + orjson per event) and llmbench itself (the real CLI code
path, in-process, `--transport fast` and optionally `--transport httpx`). Each child
measures its own getrusage around the run only (not interpreter start-up).

    python benchmarks/client_overhead.py                  # c=100 and c=500, 3 repeats
    python benchmarks/client_overhead.py -c 500 --repeat 5 --transports fast,httpx

Figures: CPU µs per streamed token and per request, achieved/ideal request rate,
TTFT error (reported minus configured) at p50/p99, and llmbench/floor ratios taken
in the same run. Medians over the repeats.

The floor stamps t0 after its connection is open and reports each connection's first
request apart; llmbench's t0 is before connecting (DESIGN.md), so its p50/p99 include
the first wave. The second line gives both clients' figures split the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmbench.demo import mock_process


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_floor(url: str, concurrency: int, requests: int, tokens: int) -> dict[str, Any]:
    from floor_client import _loop_factory, run_floor

    cpu0 = _cpu_s()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(run_floor(url, concurrency, requests=requests, max_tokens=tokens))
    cpu = _cpu_s() - cpu0
    fig = result.figures()
    return {
        "cpu_s": cpu,
        "requests": fig["requests"],
        "tokens": fig["events"],
        "wall_s": fig["wall_s"],
        "errors": fig["errors"],
        # The floor keeps each connection's first request apart: its TTFT figures are
        # the steady state only.
        "ttft_p50_ms": fig["ttft_p50_ms"],
        "ttft_p99_ms": fig["ttft_p99_ms"],
        "steady_p99_ms": fig["ttft_p99_ms"],
        "first_p50_ms": fig["first_ttft_p50_ms"],
        "first_max_ms": fig["first_ttft_max_ms"],
    }


def _pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


def _wave_figures(results: Path, concurrency: int) -> dict[str, float]:
    """TTFT of the first wave (each connection's first request: indexes below the
    concurrency) apart from the steady state, as the floor reports them."""
    first: list[float] = []
    steady: list[float] = []
    for line in results.read_bytes().splitlines():
        row = json.loads(line)
        if row["status"] == "ok" and row["ttft_ms"] is not None:
            (first if row["index"] < concurrency else steady).append(row["ttft_ms"])
    first.sort()
    steady.sort()
    return {
        "steady_p99_ms": _pct(steady, 0.99),
        "first_p50_ms": _pct(first, 0.50),
        "first_max_ms": _pct(first, 1.0),
    }


def _child_llmbench(
    url: str, concurrency: int, requests: int, tokens: int, transport: str
) -> dict[str, Any]:
    import llmbench.app  # noqa: F401  (imports outside the measured window)
    from llmbench.cli import main as cli_main

    out = Path(tempfile.mkdtemp(prefix="llmbench-overhead-"))
    argv = [
        "run",
        "--url",
        url,
        "--model",
        "m",
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--max-tokens",
        str(tokens),
        "--quiet",
        "--transport",
        transport,
        "--out",
        str(out),
    ]
    cpu0 = _cpu_s()
    cli_main(argv)
    cpu = _cpu_s() - cpu0
    summary = json.loads((out / "summary.json").read_text())
    waves = _wave_figures(out / "results.jsonl", concurrency)
    shutil.rmtree(out, ignore_errors=True)
    return {
        **waves,
        "cpu_s": cpu,
        "requests": summary["requests"]["ok"],
        "tokens": summary["tokens"]["output"],
        "wall_s": summary["run"]["wall_time_s"],
        "errors": summary["requests"]["failed"],
        "ttft_p50_ms": (summary["ttft_ms"] or {}).get("p50", 0.0),
        "ttft_p99_ms": (summary["ttft_ms"] or {}).get("p99", 0.0),
        "saturated": summary["client"]["saturated"],
    }


def _run_child(kind: str, url: str, c: int, n: int, tokens: int, pin: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--url",
        url,
        "-c",
        str(c),
        "-n",
        str(n),
        "--tokens",
        str(tokens),
    ]
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _derive(raw: dict[str, Any], ideal_rps: float, ttft_ms: float) -> dict[str, float]:
    rate = raw["requests"] / raw["wall_s"] if raw["wall_s"] else 0.0
    return {
        "cpu_us_per_token": 1e6 * raw["cpu_s"] / max(1, raw["tokens"]),
        "cpu_us_per_request": 1e6 * raw["cpu_s"] / max(1, raw["requests"]),
        "rate_of_ideal_pct": 100.0 * rate / ideal_rps,
        "ttft_err_p50_ms": raw["ttft_p50_ms"] - ttft_ms,
        "ttft_err_p99_ms": raw["ttft_p99_ms"] - ttft_ms,
        "steady_err_p99_ms": raw["steady_p99_ms"] - ttft_ms,
        "first_err_p50_ms": raw["first_p50_ms"] - ttft_ms,
        "first_err_max_ms": raw["first_max_ms"] - ttft_ms,
        "errors": float(raw["errors"]),
    }


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def _print_row(name: str, m: dict[str, float], floor: dict[str, float] | None) -> None:
    ratio = f"{m['cpu_us_per_token'] / floor['cpu_us_per_token']:5.2f}x" if floor else "  1.00x"
    print(
        f"  {name:<16} {m['cpu_us_per_token']:8.1f} µs/token {m['cpu_us_per_request']:9.0f} "
        f"µs/req  {ratio} floor  rate {m['rate_of_ideal_pct']:5.1f}% of ideal  "
        f"TTFT err p50 {m['ttft_err_p50_ms']:+6.2f} ms p99 {m['ttft_err_p99_ms']:+7.2f} ms  "
        f"errors {m['errors']:.0f}"
    )
    print(
        f"  {'':<16} TTFT err without the first wave p99 {m['steady_err_p99_ms']:+7.2f} ms;"
        f" first wave (connection set-up) p50 {m['first_err_p50_ms']:+7.2f} ms"
        f" max {m['first_err_max_ms']:+7.2f} ms"
    )


def main() -> int:
    p = argparse.ArgumentParser(description="llmbench client overhead vs a raw floor")
    p.add_argument("--child", choices=("floor", "fast", "httpx"))
    p.add_argument("--url")
    p.add_argument("-c", "--concurrency", type=int, action="append")
    p.add_argument("-n", "--requests", type=int, help="requests per run (default 10 per worker)")
    p.add_argument("--tokens", type=int, default=50)
    p.add_argument("--ttft-ms", type=float, default=100.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--transports", default="fast", help="comma list: fast,httpx")
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args()
    if a.child:
        c = a.concurrency[0]
        raw = (
            _child_floor(a.url, c, a.requests, a.tokens)
            if a.child == "floor"
            else _child_llmbench(a.url, c, a.requests, a.tokens, a.child)
        )
        print(json.dumps(raw))
        return 0
    kinds = ["floor", *a.transports.split(",")]
    mock_args = ["--ttft-ms", str(a.ttft_ms), "--itl-ms", str(a.itl_ms), "--tokens", str(a.tokens)]
    print(
        f"workload: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.tokens} tokens; "
        f"mock on core 1, clients on core 0; median of {a.repeat}"
    )
    with mock_process(*mock_args, pin_core=1 if a.pin else None) as url:
        for c in a.concurrency or [100, 500]:
            n = a.requests or 10 * c
            ideal = c / ((a.ttft_ms + (a.tokens - 1) * a.itl_ms) / 1000)
            rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
            for _ in range(a.repeat):
                for kind in kinds:  # interleaved, so drift hits every client alike
                    raw = _run_child(kind, url, c, n, a.tokens, a.pin)
                    rows[kind].append(_derive(raw, ideal, a.ttft_ms))
                    time.sleep(0.5)
            print(f"c={c}, {n} requests per run, ideal {ideal:.1f} req/s")
            floor = _median(rows["floor"])
            _print_row("floor (raw)", floor, None)
            for kind in kinds[1:]:
                _print_row(f"llmbench {kind}", _median(rows[kind]), floor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
