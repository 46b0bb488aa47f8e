"""Size and build time of report.html for runs of 10k, 100k and 1M requests.

The issue's budget: a run of 1,000,000 requests gives a report under 5 MB, built in a
few seconds. Each run directory is synthesized through the real code paths: synthetic
``RequestResult``s go through ``metrics.Recorder`` (start and end events in time order,
so in-flight counts are right) and ``output.jsonl.ResultsWriter``, and summary.json
comes from ``output.summary.build_summary``. The run is open loop: Poisson arrivals at
300 req/s, lognormal TTFT and TPOT with a slow drift, 64-512 output tokens, and 1.5%
failures of five kinds. ITL comes from 8 chunks per request (``chunk_tokens``), which
keeps synthesis fast; the report's size does not depend on it.

Run: ``.venv/bin/python benchmarks/report_scale.py`` (about a minute, most of it
synthesis), or ``--sizes 10000 100000`` for fewer, ``--keep DIR`` to keep the runs.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from llmbench import __version__
from llmbench.config import RunConfig
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.report import build_report
from llmbench.output.summary import build_summary, write_json_atomic
from llmbench.result import RequestResult

__all__ = ["main", "synthesize"]

RATE = 300.0  # requests per second
CHUNKS = 8
BUDGET_BYTES = 5_000_000
FIRST_FRAME = (
    '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,'
    '"model":"llama-3-8b","choices":[{"index":0,"delta":{"content":"The"},'
    '"finish_reason":null}]}'
)
# (status, http_status, error, share of requests)
FAILURES = (
    ("http_error", 429, 'HTTP 429: {"error":{"message":"Rate limit reached"}}', 0.006),
    ("http_error", 503, "HTTP 503: upstream connect error", 0.003),
    ("timeout", None, "no first token in 30 s", 0.003),
    ("stream_error", 200, 'error event: {"error":"engine overloaded"}', 0.002),
    ("connect_error", None, "connection refused", 0.001),
)


def _ms(rng: random.Random, median_ms: float, sigma: float) -> int:
    return int(rng.lognormvariate(math.log(median_ms), sigma) * 1e6)


def _ok(index: int, t0: int, rng: random.Random, drift: float) -> RequestResult:
    ttft = int(_ms(rng, 180, 0.35) * drift)
    tokens = rng.randint(64, 512)
    tpot = _ms(rng, 25, 0.15)
    latency = ttft + (tokens - 1) * tpot
    per_chunk = (tokens - 1) // CHUNKS
    counts = (1, *([per_chunk] * (CHUNKS - 1)), tokens - 1 - per_chunk * (CHUNKS - 1))
    return RequestResult(
        index=index,
        phase="measure",
        status="ok",
        t0_ns=t0,
        end_ns=t0 + latency,
        http_status=200,
        ttfb_ns=_ms(rng, 4, 0.3),
        ttft_ns=ttft,
        latency_ns=latency,
        output_tokens=tokens,
        input_tokens=rng.randint(200, 2000),
        token_source="usage",
        chunks=CHUNKS + 1,
        chars=tokens * 4,
        end_reason="stop",
        icl_ns=tuple(n * tpot for n in counts[1:]),
        chunk_tokens=counts,
        first_frame=FIRST_FRAME,
        last_frame="[DONE]",
    )


def _failed(index: int, t0: int, rng: random.Random, kind: int) -> RequestResult:
    status, code, error, _ = FAILURES[kind]
    duration = 30_000_000_000 if status == "timeout" else _ms(rng, 8, 0.5)
    return RequestResult(
        index=index,
        phase="measure",
        status=status,
        t0_ns=t0,
        end_ns=t0 + duration,
        http_status=code,
        error=error,
        ttfb_ns=duration if code is not None else None,
    )


def _results(n: int, seed: int = 1) -> Iterator[RequestResult]:
    """``n`` results in start order; TTFT drifts slowly, as a warming cache would."""
    rng = random.Random(seed)
    cumulative = []
    total = 0.0
    for *_, share in FAILURES:
        total += share
        cumulative.append(total)
    t = 0.0
    for index in range(n):
        t += rng.expovariate(RATE)
        t0 = int(t * 1e9)
        draw = rng.random()
        kind = next((k for k, edge in enumerate(cumulative) if draw < edge), None)
        if kind is None:
            yield _ok(index, t0, rng, 1.0 + 0.3 * math.sin(t / 600))
        else:
            yield _failed(index, t0, rng, kind)


def synthesize(run_dir: Path, n: int) -> None:
    """Write results.jsonl and summary.json of an ``n``-request run into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.jsonl").unlink(missing_ok=True)  # the writer appends
    recorder = Recorder()
    recorder.set_origin(0)
    writer = ResultsWriter(run_dir / "results.jsonl", 0)
    pending: list[tuple[int, int, RequestResult]] = []  # (end_ns, index, result)

    def finish_until(t_ns: float) -> None:
        while pending and pending[0][0] <= t_ns:
            result = heapq.heappop(pending)[2]
            recorder.record(result)
            writer.write(result)
            if recorder.finished % 10_000 == 0:  # a bounded buffer, as the runner flushes it
                writer.flush()

    for result in _results(n):
        finish_until(result.t0_ns)
        recorder.on_start(result.t0_ns)
        heapq.heappush(pending, (result.end_ns, result.index, result))
    finish_until(math.inf)
    writer.close()
    config = RunConfig(url="http://gpu-7.internal:8000", model="llama-3-8b", rps=RATE)
    summary = build_summary(
        recorder.freeze(),
        run={
            "llmbench_version": __version__,
            "started_at": "2026-01-01T00:00:00+00:00",
            "interrupted": False,
            "stop_reason": "done",
            "token_unit": "tokens",
        },
        config={**config.public(), "requests": n, "concurrency": 1000},
        open_loop=True,
    )
    summary["client"] = {"cpu_pct": 41.0, "saturated": False, "saturation_reasons": []}
    write_json_atomic(run_dir / "summary.json", summary)


def measure(run_dir: Path, n: int) -> tuple[float, float, int]:
    """(synthesis s, report build s, report bytes) for one size."""
    start = time.perf_counter()
    synthesize(run_dir, n)
    built = time.perf_counter()
    html = build_report(run_dir)
    done = time.perf_counter()
    return built - start, done - built, html.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="write the run directories here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        print(f"{'requests':>10} {'results.jsonl':>14} {'report':>10} {'build':>8}  budget")
        for n in args.sizes:
            run_dir = root / f"run-{n}"
            _, build_s, size = measure(run_dir, n)
            jsonl_mb = (run_dir / "results.jsonl").stat().st_size / 1e6
            verdict = "ok" if size < BUDGET_BYTES else "OVER 5 MB"
            print(
                f"{n:>10,} {jsonl_mb:>11.1f} MB {size / 1e6:>7.2f} MB {build_s:>7.2f}s  {verdict}"
            )


if __name__ == "__main__":
    main()
