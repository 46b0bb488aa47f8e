"""summary.json: the run's aggregate figures in the schema of DESIGN.md."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from llmbench.metrics import HISTOGRAMS, Recorder, Second, histogram_stats

__all__ = ["SCHEMA_VERSION", "build_summary", "write_json_atomic"]

SCHEMA_VERSION = 1

# The metric definitions every report states (DESIGN.md, "Metric definitions").
DEFINITIONS = {
    "t0": "the moment the request is handed to the HTTP client",
    "ttfb_ms": "t0 to the response head (status line and headers) received",
    "ttft_ms": "t0 to the first content event with non-empty text (content or reasoning)",
    "latency_ms": (
        "t0 to the provider's first end signal (finish_reason chunk or [DONE], whichever "
        "comes first); the stream is still read to its end for usage"
    ),
    "tpot_ms": "(latency - TTFT) / (output tokens - 1), requests with >= 2 output tokens",
    "itl_ms": "gaps between consecutive content events of one request, over all gaps",
    "icl_ms": (
        "the same gaps, raw per chunk; itl_ms divides a gap across the chunk's tokens "
        "when they are known, so itl_ms equals icl_ms when every chunk is one token"
    ),
    "queue_ms": "open loop only: t0 minus the request's intended send time",
    "ttft_from_intended_ms": "open loop only: TTFT measured from the intended send time",
    "latency_from_intended_ms": "open loop only: latency measured from the intended send time",
    "throughput": "successful requests' tokens (or requests) / measured wall time",
    "wall_time": "first measured request's t0 to the last measured request's end",
    "statistics": "latency figures cover successful requests; warm-up requests are excluded",
}


def _second_json(t: int, sec: Second) -> dict[str, Any]:
    return {
        "t": t,
        "started": sec.started,
        "finished": sec.finished,
        "ok": sec.ok,
        "failed": sec.failed,
        "in_flight": sec.in_flight_max,
        "output_tokens": sec.output_tokens,
        "ttft_p50_ms": sec.ttft_p50_ms,
        "tpot_p50_ms": sec.tpot_p50_ms,
    }


def _errors(rec: Recorder) -> list[dict[str, Any]]:
    rows = [
        {"kind": status, "http_status": code, "count": entry[0], "example": entry[1]}
        for (status, code), entry in rec.errors.items()
    ]
    return sorted(rows, key=lambda row: -int(row["count"]))


def build_summary(
    rec: Recorder,
    *,
    run: dict[str, Any],
    config: dict[str, Any],
    open_loop: bool,
    token_mode: str = "auto",
) -> dict[str, Any]:
    """Every figure of the run; ``run`` and ``config`` come from the runner, already redacted."""
    wall_s = rec.wall_ns / 1e9
    per_s = (lambda n: round(n / wall_s, 3)) if wall_s > 0 else (lambda n: 0.0)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run": {**run, "wall_time_s": round(wall_s, 6)},
        "config": config,
        "requests": {
            "total": rec.finished,
            "ok": rec.ok,
            "failed": rec.finished - rec.ok,
            "by_status": dict(sorted(rec.status_counts.items())),
            "retried": rec.retried,
            "attempts": rec.attempts,
        },
    }
    for name in ("ttft_ms", "latency_ms", "ttfb_ms", "tpot_ms", "itl_ms", "icl_ms"):
        out[name] = histogram_stats(rec.hist[name])
    if open_loop:
        for name in ("queue_ms", "ttft_from_intended_ms", "latency_from_intended_ms"):
            out[name] = histogram_stats(rec.hist[name])
        out["late_starts"] = {"threshold_ms": 10, "count": rec.late_starts}
    out["throughput"] = {
        "requests_per_s": per_s(rec.ok),
        "output_tokens_per_s": per_s(rec.output_tokens),
        "total_tokens_per_s": per_s(rec.output_tokens + rec.input_tokens),
    }
    out["tokens"] = {
        "mode": token_mode,
        "input": rec.input_tokens,
        "output": rec.output_tokens,
        "sources": dict(sorted(rec.token_sources.items())),
    }
    out["errors"] = _errors(rec)
    out["slo"] = None  # filled in by the SLO check when --slo is given
    out["samples"] = {
        "first_frame": _cap(rec.sample_first_frame),
        "last_frame": _cap(rec.sample_last_frame),
    }
    out["timeseries"] = [_second_json(t, sec) for t, sec in enumerate(rec.seconds)]
    # The full distributions, HdrHistogram's compressed base64 encoding (microseconds):
    # the report draws its histograms from these, and runs can be merged later.
    out["hdr_us"] = {
        name: rec.hist[name].encode().decode("ascii")
        for name in HISTOGRAMS
        if rec.hist[name].get_total_count()
    }
    out["definitions"] = DEFINITIONS
    return out


_SAMPLE_CAP = 64 * 1024


def _cap(text: str | None) -> str | None:
    return None if text is None else text[:_SAMPLE_CAP]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write via a temp file and rename, so a reader never sees half a summary."""
    data = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data + b"\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
