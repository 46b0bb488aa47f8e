"""summary.json: the run's aggregate figures in the schema of DESIGN.md."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from llmbench.metric_defs import HISTOGRAM_METRICS, definitions
from llmbench.metrics import LATE_START_MS, Recorder, Second, histogram_stats
from llmbench.slo import GoodputSpec, goodput_block

__all__ = ["SAMPLE_CAP", "SCHEMA_VERSION", "build_summary", "write_json_atomic"]

SCHEMA_VERSION = 1
# The first and last frame are kept raw, each capped: enough to see the wire format.
SAMPLE_CAP = 64 * 1024


def _same(value: Any) -> Any:
    return value


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
    client: dict[str, Any] | None = None,
    never_sent: int | None = None,
    goodput: GoodputSpec | None = None,
    redact: Callable[[Any], Any] = _same,
) -> dict[str, Any]:
    """Every figure of the run, in one pass. ``run`` and ``config`` come from the caller
    (the config already free of credentials); ``client`` is the self-check block,
    ``never_sent`` the open loop's due-but-unsent count; ``redact`` scrubs what a server
    or a flag may echo (config, error examples, sample frames). ``slo`` is left None:
    :func:`llmbench.slo.judge` fills it."""
    wall_s = rec.wall_ns / 1e9
    per_s = (lambda n: round(n / wall_s, 3)) if wall_s > 0 else (lambda n: 0.0)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run": {**run, "wall_time_s": round(wall_s, 6)},
        "config": redact(config),
        "requests": {
            "total": rec.finished,
            "ok": rec.ok,
            "failed": rec.finished - rec.ok,
            "by_status": dict(sorted(rec.status_counts.items())),
            "retried": rec.retried,
            "attempts": rec.attempts,
        },
    }
    hist = rec.hist
    for m in HISTOGRAM_METRICS:
        if open_loop or not m.open_loop_only:
            out[m.key] = histogram_stats(hist[m.key])
    if open_loop:
        late: dict[str, Any] = {"threshold_ms": LATE_START_MS, "count": rec.late_starts}
        if never_sent is not None:
            late["never_sent"] = never_sent
        out["late_starts"] = late
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
    out["errors"] = redact(_errors(rec))
    out["slo"] = None
    out["samples"] = redact(
        {"first_frame": _cap(rec.sample_first_frame), "last_frame": _cap(rec.sample_last_frame)}
    )
    out["timeseries"] = [_second_json(t, sec) for t, sec in enumerate(rec.seconds)]
    # The full distributions, HdrHistogram's compressed base64 encoding (microseconds):
    # the report draws its histograms from these, and runs can be merged later.
    out["hdr_us"] = {
        name: h.encode().decode("ascii") for name, h in hist.items() if h.get_total_count()
    }
    if client is not None:
        out["client"] = client
    if goodput is not None:
        out["goodput"] = goodput_block(goodput, rec.good, rec.finished, wall_s)
    out["definitions"] = definitions()
    return out


def _cap(text: str | None) -> str | None:
    return None if text is None else text[:SAMPLE_CAP]


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
