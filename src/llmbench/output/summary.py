"""summary.json: the run's aggregate figures in the schema of DESIGN.md."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from llmbench.measured import Measured, SecondCounts
from llmbench.metric_defs import HISTOGRAM_METRICS, definitions
from llmbench.metrics import LATE_START_MS, histogram_stats
from llmbench.output.workload_summary import workload_blocks
from llmbench.result import RampFigures
from llmbench.slo import GoodputSpec, goodput_block
from llmbench.tokens import run_token_unit

__all__ = [
    "SAMPLE_CAP",
    "SCHEMA_VERSION",
    "build_summary",
    "run_summary",
    "write_bytes_atomic",
    "write_json_atomic",
]

SCHEMA_VERSION = 1
# The first and last frame are kept raw, each capped: enough to see the wire format.
SAMPLE_CAP = 64 * 1024


def _same(value: Any) -> Any:
    return value


def _second_json(t: int, sec: SecondCounts) -> dict[str, Any]:
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


def _errors(measured: Measured) -> list[dict[str, Any]]:
    rows = [
        {"kind": e.kind, "http_status": e.http_status, "count": e.count, "example": e.example}
        for e in measured.errors
    ]
    # most frequent first; ties by kind and status, so merged shards list them alike
    return sorted(rows, key=lambda row: (-int(row["count"]), row["kind"], str(row["http_status"])))


def build_summary(
    measured: Measured,
    *,
    run: dict[str, Any],
    config: dict[str, Any],
    open_loop: bool,
    token_mode: str = "auto",
    client: dict[str, Any] | None = None,
    never_sent: int | None = None,
    goodput: GoodputSpec | None = None,
    offered_rps: float | None = None,
    ramp: RampFigures | None = None,
    redact: Callable[[Any], Any] = _same,
) -> dict[str, Any]:
    """Every figure of the run (or of merged shards), in one pass. ``run`` and
    ``config`` come from the caller (the config already free of credentials);
    ``client`` is the self-check block,
    ``never_sent`` the open loop's due-but-unsent count; ``offered_rps`` the open
    loop's target rate (``--rps``), shown next to the achieved one; ``ramp`` the ramp's
    own figures, kept apart from the measured ones; ``redact`` scrubs what a server
    or a flag may echo (config, error examples, sample frames). ``slo`` is left None:
    :func:`llmbench.slo.judge` fills it. The workload blocks (``turns``, ``prefixes``,
    ``sessions``, ``input_lengths``) are :mod:`llmbench.output.workload_summary`'s."""
    wall_s = measured.wall_ns / 1e9
    per_s = (lambda n: round(n / wall_s, 3)) if wall_s > 0 else (lambda n: 0.0)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run": {**run, "wall_time_s": round(wall_s, 6)},
        "config": redact(config),
        "requests": {
            "total": measured.finished,
            "ok": measured.ok,
            "failed": measured.finished - measured.ok,
            "by_status": dict(sorted(measured.status_counts.items())),
            "retried": measured.retried,
            "attempts": measured.attempts,
        },
    }
    hist = measured.hdr()
    for m in HISTOGRAM_METRICS:
        if open_loop or not m.open_loop_only:
            out[m.key] = histogram_stats(hist[m.key])
    if open_loop:
        late: dict[str, Any] = {"threshold_ms": LATE_START_MS, "count": measured.late_starts}
        if never_sent is not None:
            late["never_sent"] = never_sent
        out["late_starts"] = late
    out["throughput"] = {
        "requests_per_s": per_s(measured.ok),
        **({} if offered_rps is None else {"offered_rps": offered_rps}),
        "output_tokens_per_s": per_s(measured.output_tokens),
        "total_tokens_per_s": per_s(measured.output_tokens + measured.input_tokens),
    }
    out["tokens"] = {
        "mode": token_mode,
        "input": measured.input_tokens,
        "output": measured.output_tokens,
        "sources": dict(sorted(measured.token_sources.items())),
        # the unit actually counted: "tokens" only when every count came from usage or
        # a tokenizer; "mixed" (and mixed: true) when some requests fell back
        "unit": run_token_unit(measured.token_sources, token_mode)[0],
        "mixed": run_token_unit(measured.token_sources, token_mode)[1],
    }
    out["errors"] = redact(_errors(measured))
    out["slo"] = None
    # Redact, then cut: a key straddling the cap would otherwise survive minus its tail.
    out["samples"] = {
        "first_frame": _cap(redact(measured.sample_first_frame)),
        "last_frame": _cap(redact(measured.sample_last_frame)),
    }
    out["timeseries"] = [_second_json(t, sec) for t, sec in enumerate(measured.seconds)]
    # The full distributions, HdrHistogram's compressed base64 encoding (microseconds):
    # the report draws its histograms from these, and runs can be merged later.
    out["hdr_us"] = dict(measured.histograms)
    if ramp is not None:
        out["ramp"] = ramp.to_json()
    if client is not None:
        out["client"] = client
    if goodput is not None:
        out["goodput"] = goodput_block(goodput, measured.good, measured.finished, wall_s)
    # turns, prefixes, sessions, input_lengths: each only when the run has its data
    out.update(
        workload_blocks(measured.breakdowns, requests=measured.finished, config=out["config"])
    )
    out["definitions"] = definitions()
    return out


def run_summary(
    measured: Measured,
    *,
    run: dict[str, Any],
    config: dict[str, Any],
    run_start_ns: int,
    client: dict[str, Any],
    due_unsent: int,
    goodput: GoodputSpec | None,
    ramp: RampFigures | None,
    redact: Callable[[Any], Any] = _same,
) -> dict[str, Any]:
    """A run's summary (one process's, or merged shards'): :func:`build_summary` with
    what follows from the run's public ``config`` (open or closed loop, token mode,
    offered rate) and from ``measured`` (the unit counted, when measuring started,
    seconds after ``run_start_ns``, results.jsonl's origin). ``run`` holds the rest of
    the run block."""
    origin = measured.origin_ns
    open_loop = config.get("rps") is not None or config.get("trace") is not None  # --trace
    token_mode = str(config.get("token_mode", "auto"))
    return build_summary(
        measured,
        run={
            **run,
            # what was actually counted, not what was asked for (issue 13)
            "token_unit": run_token_unit(measured.token_sources, token_mode)[0],
            "measured_start_s": None if origin is None else round((origin - run_start_ns) / 1e9, 6),
        },
        config=config,
        open_loop=open_loop,
        token_mode=token_mode,
        client=client,
        # due when the run stopped, but the cap never let them go
        never_sent=due_unsent if open_loop else None,
        goodput=goodput,
        offered_rps=config.get("rps") if open_loop else None,
        ramp=ramp,  # the ramp ran before the measured phase; its own figures
        redact=redact,  # what a server or a flag may echo
    )


def _cap(text: str | None) -> str | None:
    return None if text is None else text[:SAMPLE_CAP]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write via a temp file and rename, so a reader never sees half a summary."""
    write_bytes_atomic(path, _dumps(obj) + b"\n")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file and rename, so a reader never sees half a file. The file
    gets the mode of the run's other files (0666 less the umask, as ``open`` gives),
    not mkstemp's private 0600."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~mask)
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# orjson's own limit is 255 levels; deeper than this, a value is written as a marker.
_MAX_DEPTH = 128
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson writes as a JSON integer
_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def _dumps(obj: Any) -> bytes:
    """The JSON of a summary, never failing on a value: what orjson cannot write (an
    integer beyond 64 bits, a string with a lone surrogate, nesting past its limit,
    a type it does not know) is written as text, so a figure a server sent can never
    cost the run its summary.json."""
    try:
        return orjson.dumps(obj, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return orjson.dumps(_json_safe(obj, 0), default=str, option=_OPTIONS)


def _json_safe(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, Mapping):
        return {_safe_key(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return value  # orjson's own types (dataclasses, ...) or default=str


def _safe_key(key: Any) -> Any:
    safe = _json_safe(key, 0)
    return safe if isinstance(safe, str | int | float | bool) or safe is None else str(safe)
