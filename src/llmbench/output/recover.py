"""Rebuild a crashed run's summary from its results.jsonl alone.

A run killed with SIGKILL (or by the OOM killer, or a power cut) leaves results.jsonl,
flushed at least once a second, and no summary.json. Every measured line is turned back
into a :class:`RequestResult` and fed, in time order, to the same :class:`Recorder` and
:func:`build_summary` a live run uses, so the figures are computed by the same code.

What a line cannot give back, and how the summary says so (``run.recovery.notes``):

- the config: ``config`` is ``{}`` and ``run.recovered`` is true;
- the per-token gaps: ITL and inter-chunk latency are not in results.jsonl, so
  ``itl_ms`` and ``icl_ms`` are null (unless the lines carry an ``itl_ms`` list);
- the end instant: a line has t0 (``start_s``) and durations, so a request ends at
  t0 + latency, or at its longest known duration when it has no latency, and never
  before the line written before it (lines are written in the order requests end);
- the measured phase's start: taken as the first measured request's t0;
- samples of the raw frames, goodput criteria, the client self-check: absent.

Pure: lines in, a summary dict out; reading the file is the caller's
(:func:`llmbench.output.jsonl.iter_results`).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from llmbench import __version__
from llmbench.measured import Measured
from llmbench.metrics import Recorder
from llmbench.output.summary import build_summary
from llmbench.result import PHASES, RequestResult, Status
from llmbench.usage import token_count

__all__ = ["STOP_REASON", "recover_summary", "result_from_line"]

STOP_REASON = "recovered from results.jsonl"
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_REBUILT = (
    "rebuilt from results.jsonl after the run ended without writing summary.json "
    "(killed, or crashed); the run's config is unknown"
)
_NO_GAPS = "itl_ms and icl_ms are null: results.jsonl holds no per-token gaps"
_NOTES = (
    "a request's end is taken as t0 + latency (its longest known duration if it has "
    "no latency); wall time and the per-second series follow from these ends",
    "the measured phase is taken to start at the first measured request's t0",
    "no raw frame samples, goodput or client self-check survive a crash",
)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ns(value: Any) -> int | None:
    ms = _num(value)
    return None if ms is None else round(ms * _NS_PER_MS)


def _gaps(value: Any) -> tuple[int, ...]:
    """An ``itl_ms`` list (lines written with per-request detail), as gap nanoseconds."""
    if not isinstance(value, list):
        return ()
    return tuple(ns for ns in (_ns(v) for v in value) if ns is not None)


def result_from_line(line: dict[str, Any], not_before_ns: int = 0) -> RequestResult | None:
    """The :class:`RequestResult` a results.jsonl line was written from, as far as the
    line tells (no frames, no gaps unless listed); None for a line with no start time.
    Instants are nanoseconds from the run's start; ``not_before_ns`` is the end of the
    line before it, a lower bound for an end the line does not give."""
    start_s = _num(line.get("start_s"))
    if start_s is None:
        return None
    t0 = round(start_s * _NS_PER_S)
    ttfb, ttft, latency = (_ns(line.get(k)) for k in ("ttfb_ms", "ttft_ms", "latency_ms"))
    queue = _ns(line.get("queue_ms"))
    longest = latency if latency is not None else max(ttft or 0, ttfb or 0)
    retry_errors = line.get("retry_errors")
    return RequestResult(
        index=_int(line.get("index")) or 0,
        phase=phase if (phase := line.get("phase")) in PHASES else "measure",
        status=cast(Status, str(line.get("status") or "ok")),
        t0_ns=t0,
        end_ns=max(t0 + longest, not_before_ns),
        intended_ns=None if queue is None else t0 - queue,
        detail=_str(line.get("detail")),
        http_status=_int(line.get("http_status")),
        error=_str(line.get("error")),
        key_index=_int(line.get("key_index")),
        ttfb_ns=ttfb,
        ttft_ns=ttft,
        latency_ns=latency,
        output_tokens=_int(line.get("output_tokens")),
        input_tokens=_int(line.get("input_tokens")),
        token_source=_str(line.get("token_source")) or "none",
        chunks=_int(line.get("chunks")) or 0,
        chars=_int(line.get("chars")) or 0,
        end_reason=_str(line.get("end_reason")),
        icl_ns=_gaps(line.get("itl_ms")),
        attempts=_int(line.get("attempts")) or 1,
        retry_errors=tuple(str(e) for e in retry_errors) if isinstance(retry_errors, list) else (),
        meta_events=_int(line.get("meta_events")) or 0,
        # the workload labels (issue 16): the per-turn, per-prefix and input-length
        # figures are recovered with the rest (session outcomes have no line of their own)
        server_input_tokens=token_count(line.get("server_input_tokens")),
        session=_int(line.get("session")),
        turn=_int(line.get("turn")),
        prefix_group=_int(line.get("prefix_group")),
        prefix_first=first if isinstance(first := line.get("prefix_first"), bool) else None,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _measured(lines: Iterable[dict[str, Any]]) -> Iterator[RequestResult]:
    """The measured requests in file order (the order they ended)."""
    last_end = 0
    for line in lines:
        if line.get("phase", "measure") != "measure":
            continue
        result = result_from_line(line, last_end)
        if result is not None:
            last_end = result.end_ns
            yield result


def _replay(rec: Recorder, starts: array[int], results: Iterable[RequestResult]) -> None:
    """Starts and ends into the Recorder in time order, as the live run fed them: every
    start at or before a request's end is counted before that request is recorded."""
    next_start = 0
    for result in results:
        while next_start < len(starts) and starts[next_start] <= result.end_ns:
            rec.on_start(starts[next_start])
            next_start += 1
        rec.record(result)
    for t0 in starts[next_start:]:
        rec.on_start(t0)


def recover_measured(
    lines: Iterable[dict[str, Any]],
    again: Iterable[dict[str, Any]],
    run_start_ns: int = 0,
    is_good: Callable[[RequestResult], bool] | None = None,
) -> tuple[Measured, bool]:
    """What a results.jsonl (read twice: ``lines`` and ``again``; two passes keep memory
    at 8 bytes per request, the start instants) measured, with its instants moved by
    ``run_start_ns`` (the file's start_s origin on the common timeline), and whether
    the run was open loop. ``is_good`` is the goodput test, when there is one."""
    starts = array("q", sorted(r.t0_ns for r in _measured(lines)))
    open_loop = False
    rec = Recorder(is_good)
    if starts:
        rec.set_origin(starts[0])

    def results() -> Iterator[RequestResult]:
        nonlocal open_loop
        for result in _measured(again):
            open_loop = open_loop or result.intended_ns is not None
            yield result

    _replay(rec, starts, results())
    return rec.freeze(run_start_ns), open_loop


def recover_summary(
    lines: Iterable[dict[str, Any]], again: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """summary.json rebuilt from a results.jsonl read twice (see :func:`recover_measured`).
    Marked ``run.recovered``, ``run.interrupted`` and with ``run.stop_reason``
    "recovered from results.jsonl"; ``config`` is ``{}``."""
    measured, open_loop = recover_measured(lines, again)
    gaps = "itl_ms" in measured.histograms
    notes = [_REBUILT, *([] if gaps else [_NO_GAPS]), *_NOTES]
    sources = set(measured.token_sources) - {"none"}
    origin = measured.origin_ns
    run = {
        "llmbench_version": None,
        "started_at": None,
        "interrupted": True,
        "stop_reason": STOP_REASON,
        "signal": None,
        "token_unit": "chars" if sources == {"chars"} else "tokens",
        "recovered": True,
        "recovered_by": __version__,
        "measured_start_s": round(origin / _NS_PER_S, 6) if origin is not None else None,
        "recovery": {"lines": measured.started, "notes": notes},
    }
    return build_summary(measured, run=run, config={}, open_loop=open_loop, token_mode="unknown")
