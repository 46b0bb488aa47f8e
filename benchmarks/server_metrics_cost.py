"""What --server-metrics costs the client: CPU per streamed token and TTFT error, with
and without scraping at 1 s, at W500-like load, measured in one sitting.

Starts `llmbench mock` pinned to core 1 and, on the same core, a static file server
with a vLLM-sized /metrics page (120 KB: two engines' histograms, as vLLM 0.9 writes
them for one model; the mock's own page is 2 KB). Each run is `llmbench run` in a child
process pinned to core 0 (the real CLI code path, in-process there), measuring its own
getrusage around the run only. Three clients, interleaved so drift hits each alike:

- off:   no scraping;
- mock:  --server-metrics <mock>/metrics (the mock's small page, in vLLM's names);
- page:  that and the 120 KB page too, every second.

    taskset -c 0 .venv/bin/python benchmarks/server_metrics_cost.py          # 3 repeats
    taskset -c 0 .venv/bin/python benchmarks/server_metrics_cost.py --repeat 5

Prints medians: CPU µs per token, TTFT error p50/p99, the client's loop lag p99 (its
self-check), and each variant's difference from "off" with the spread of "off" itself
(the noise a difference has to beat). Then the scraper alone, without load, in the
same sitting: its start-up CPU (imports, its HTTP client) and its CPU per scrape, the
exact cost that the end-to-end difference can only bound.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmbench.demo import mock_process

VARIANTS = ("off", "mock", "page")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vllm_page() -> bytes:
    """A /metrics page the size of vLLM's for one model on two engines: every histogram
    family's buckets (what makes the page big), and the gauges and counters read."""
    model = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'
    lines = []
    for h in range(25):
        name = f"vllm:histogram_{h}_seconds"
        lines += [f"# HELP {name} A histogram.", f"# TYPE {name} histogram"]
        for engine in (0, 1):
            for b in range(20):
                lines.append(f'{name}_bucket{{engine="{engine}",le="{b / 10}",{model}}} {b * 13}.0')
            lines.append(f'{name}_bucket{{engine="{engine}",le="+Inf",{model}}} 300.0')
            lines.append(f'{name}_count{{engine="{engine}",{model}}} 300.0')
            lines.append(f'{name}_sum{{engine="{engine}",{model}}} 31.5')
    fixture = Path(__file__).resolve().parents[1] / "tests/fixtures/server_metrics/vllm.txt"
    return ("\n".join(lines) + "\n").encode() + fixture.read_bytes()


@contextmanager
def static_page(pin_core: int | None) -> Iterator[str]:
    """`python -m http.server` serving the page at /metrics; yields its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "metrics").write_bytes(vllm_page())
        # -u: it says its port on stdout, unbuffered
        cmd = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", tmp]
        if pin_core is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(pin_core), *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)"
            port = line.split(" port ")[1].split()[0]
            yield f"http://127.0.0.1:{port}/metrics"
        finally:
            proc.terminate()
            proc.wait()


def _child(url: str, c: int, n: int, tokens: int, targets: list[str]) -> dict[str, Any]:
    import prometheus_client.parser  # noqa: F401  (imports outside the measured window)

    import llmbench.app  # noqa: F401
    from llmbench.cli import main as cli_main

    out = Path(tempfile.mkdtemp(prefix="llmbench-scrape-cost-"))
    argv = ["run", "--url", url, "--model", "m", "--concurrency", str(c), "--requests", str(n),
            "--max-tokens", str(tokens), "--quiet", "--out", str(out)]  # fmt: skip
    for target in targets:
        argv += ["--server-metrics", target, "--server-metrics-interval", "1"]
    cpu0 = _cpu_s()
    cli_main(argv)
    cpu = _cpu_s() - cpu0
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    server = summary.get("server") or {"targets": []}
    return {
        "cpu_s": cpu,
        "tokens": summary["tokens"]["output"],
        "ttft_p50_ms": summary["ttft_ms"]["p50"],
        "ttft_p99_ms": summary["ttft_ms"]["p99"],
        "lag_p99_ms": (summary["client"].get("loop_lag_ms") or {}).get("p99", 0.0),
        "scrapes": sum(t["ok"] for t in server["targets"]),
        "failed": sum(t["failed"] for t in server["targets"]),
        "wall_s": summary["run"]["wall_time_s"],
    }


def _scrape_child(targets: list[str], scrapes: int) -> dict[str, Any]:
    """The scraper alone, no load: CPU of its start (imports, its HTTP client, the first
    scrape) and then per scrape, scraping every 10 ms."""
    import asyncio

    import llmbench.app  # noqa: F401  (as a run has it loaded before it scrapes)

    cpu0 = _cpu_s()
    from llmbench.server_scraper import Scraper, alongside

    scraper = Scraper(targets, interval_s=0.01)
    asyncio.run(alongside(scraper, asyncio.sleep(0.005)))  # the start and one scrape
    start = _cpu_s() - cpu0
    scraper = Scraper(targets, interval_s=0.01)
    cpu1 = _cpu_s()
    asyncio.run(alongside(scraper, asyncio.sleep(scrapes * 0.01)))
    per = (_cpu_s() - cpu1) / max(1, min(log.ok for log in scraper.logs))
    return {"start_ms": 1e3 * start, "per_scrape_ms": 1e3 * per}


def _run_child(
    url: str, c: int, n: int, tokens: int, targets: list[str], pin: bool
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--url", url, "-c", str(c), "-n", str(n),
           "--tokens", str(tokens), *(f"--target={t}" for t in targets)]  # fmt: skip
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    p = argparse.ArgumentParser(description="client CPU with and without --server-metrics")
    p.add_argument("--child", action="store_true")
    p.add_argument("--scrape-child", action="store_true")
    p.add_argument("--url")
    p.add_argument("--target", action="append", default=[])
    p.add_argument("-c", "--concurrency", type=int, default=500)
    p.add_argument("-n", "--requests", type=int, help="requests per run (default 10 per worker)")
    p.add_argument("--tokens", type=int, default=50)
    p.add_argument("--ttft-ms", type=float, default=100.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-pin", dest="pin", action="store_false")
    a = p.parse_args()
    n = a.requests or 10 * a.concurrency
    if a.child:
        print(json.dumps(_child(a.url, a.concurrency, n, a.tokens, a.target)))
        return 0
    if a.scrape_child:
        print(json.dumps(_scrape_child(a.target, 200)))
        return 0
    mock_args = ["--ttft-ms", str(a.ttft_ms), "--itl-ms", str(a.itl_ms), "--tokens", str(a.tokens)]
    print(
        f"workload: c={a.concurrency}, {n} requests per run, TTFT {a.ttft_ms:g} ms, "
        f"ITL {a.itl_ms:g} ms, {a.tokens} tokens; mock and page on core 1, client on core 0; "
        f"median of {a.repeat}"
    )
    core = 1 if a.pin else None
    with mock_process(*mock_args, pin_core=core) as url, static_page(core) as page:
        targets = {"off": [], "mock": [url + "/metrics"], "page": [url + "/metrics", page]}
        rows: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for _ in range(a.repeat):
            for variant in VARIANTS:  # interleaved
                raw = _run_child(url, a.concurrency, n, a.tokens, targets[variant], a.pin)
                rows[variant].append(raw)
                time.sleep(0.5)
        costs = {v: _scrape_cost(targets[v], a.pin) for v in VARIANTS[1:]}
    _report(rows, a.ttft_ms)
    for variant, cost in costs.items():
        print(
            f"  the scraper alone ({variant}): start {cost['start_ms']:.1f} ms CPU, then "
            f"{cost['per_scrape_ms']:.2f} ms CPU per tick of {len(targets[variant])} target(s)"
        )
    return 0


def _scrape_cost(targets: list[str], pin: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--scrape-child", *(f"--target={t}" for t in targets)]
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _report(rows: dict[str, list[dict[str, Any]]], ttft_ms: float) -> None:
    def per_token(r: dict[str, Any]) -> float:
        return 1e6 * r["cpu_s"] / max(1, r["tokens"])

    off = [per_token(r) for r in rows["off"]]
    base = statistics.median(off)
    print(f"  'off' runs: {', '.join(f'{v:.2f}' for v in off)} µs/token "
          f"(spread {max(off) - min(off):.2f} µs: the noise)")  # fmt: skip
    for variant in VARIANTS:
        rs = rows[variant]
        cpu = statistics.median(per_token(r) for r in rs)
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        p50, p99 = med["ttft_p50_ms"] - ttft_ms, med["ttft_p99_ms"] - ttft_ms
        change = f"{cpu - base:+.2f}, {100 * (cpu / base - 1):+.1f}%"
        print(
            f"  {variant:<5} {cpu:7.2f} µs/token ({change})"
            f"  TTFT err p50 {p50:+6.2f} ms p99 {p99:+6.2f} ms"
            f"  loop lag p99 {med['lag_p99_ms']:5.2f} ms  scrapes {med['scrapes']:.0f}"
            f" (failed {med['failed']:.0f}) over {med['wall_s']:.1f} s"
        )


if __name__ == "__main__":
    raise SystemExit(main())
