"""Shards into one run: what a shard's summary.json carries for a merge (its ``partial``
block), reading it back from a file that may be damaged, and the one merge every
launcher uses (``--workers``, ``--shard`` + ``llmbench merge``).

Pure: summaries in, a merged value out; the merge command and the coordinator do the
reading and writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from llmbench.measured import Measured, merge
from llmbench.output.summary import SAMPLE_CAP
from llmbench.result import RampFigures

__all__ = ["MergeError", "MergedRun", "ShardPart", "merge_parts", "partial_block", "read_part"]

# Config fields that differ between the shards of one run: everything else must agree.
_PER_SHARD = frozenset({"shard", "shards", "out_dir", "quiet"})


class MergeError(ValueError):
    """The shards cannot be merged: one line saying why."""


@dataclass(frozen=True, slots=True)
class ShardPart:
    """One shard's share of a run, as its summary.json has it."""

    index: int
    count: int
    measured: Measured
    run_start_ns: int  # results.jsonl's start_s origin, on the common timeline
    config: Mapping[str, Any]
    run: Mapping[str, Any]  # the shard's own run block (stop reason, signal, ...)
    client: Mapping[str, Any]
    due_unsent: int
    ramp: RampFigures | None
    error_rate_stop: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class MergedRun:
    """The run the shards make together."""

    measured: Measured
    run_start_ns: int
    interrupted: bool
    stop_reason: str
    signal: str | None
    client: dict[str, Any]
    due_unsent: int
    ramp: RampFigures | None
    error_rate_stop: Mapping[str, Any] | None
    workers: list[dict[str, Any]]
    start_late_s: float | None = None  # the latest shard's start after --start-at
    overload: str | None = None  # why a sweep step's shard stopped as overloaded


def partial_block(measured: Measured, run_start_ns: int, due_unsent: int) -> dict[str, Any]:
    """A shard summary's ``partial`` block: what :func:`read_part` needs besides the
    blocks every summary has (``run``, ``config``, ``client``, ``ramp``)."""
    capped = replace(
        measured,
        sample_first_frame=_cap(measured.sample_first_frame),
        sample_last_frame=_cap(measured.sample_last_frame),
    )
    return {
        "measured": capped.to_json(),
        "run_start_ns": run_start_ns,
        "due_unsent": due_unsent,
    }


def _cap(text: str | None) -> str | None:
    return None if text is None else text[:SAMPLE_CAP]


def read_part(summary: Any, where: str) -> ShardPart:
    """A shard's part from its summary.json (parsed); MergeError naming ``where`` and
    what is wrong: not a shard's summary, or damaged."""
    try:
        return _read(summary)
    except ValueError as exc:
        raise MergeError(f"{where}: {exc}") from None


def _read(summary: Any) -> ShardPart:
    if not isinstance(summary, dict):
        raise ValueError("not a summary.json (not an object)")
    run, config = summary.get("run"), summary.get("config")
    partial = summary.get("partial")
    if not isinstance(run, dict) or not isinstance(config, dict):
        raise ValueError("not a summary.json (no run or config block)")
    if not isinstance(partial, dict):
        raise ValueError("not a shard's summary.json (no partial block: run it with --shard I/N)")
    index, count = config.get("shard"), config.get("shards")
    if not _is_int(index) or not _is_int(count) or not 0 <= index < count:
        raise ValueError("config.shard/shards: not a shard I of N")
    start, due = partial.get("run_start_ns"), partial.get("due_unsent")
    if not _is_int(start) or not _is_int(due) or start < 0 or due < 0:
        raise ValueError("partial: run_start_ns and due_unsent must be counts")
    ramp = summary.get("ramp")
    return ShardPart(
        index=index,
        count=count,
        measured=Measured.from_json(partial.get("measured")),
        run_start_ns=start,
        config=config,
        run=_run(run),
        client=_client(summary.get("client")),
        due_unsent=due,
        ramp=_ramp(ramp) if ramp is not None else None,
        error_rate_stop=_error_rate_stop(run.get("error_rate_stop")),
    )


# The run block's fields a merge uses, each with the type it must have (else dropped).
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "started_at": (str,),
    "interrupted": (bool,),
    "stop_reason": (str,),
    "signal": (str,),
    "max_error_rate": (int, float),
    "preflight": (bool,),
    "allow_char_slo": (bool,),
    "start_late_s": (int, float),
    "exit": (str,),
    "overload": (str,),
}


def _typed(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance, except that a bool is not a number."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run block's fields a merge reads, only where they have their type (a
    hand-edited file's ``"interrupted": "no"`` is dropped, not believed)."""
    return {k: run[k] for k, types in _RUN_FIELDS.items() if _typed(run.get(k), types)}


def _error_rate_stop(block: Any) -> dict[str, Any] | None:
    """``run.error_rate_stop`` when it has its three figures, else None."""
    if not isinstance(block, dict):
        return None
    figures = {k: block.get(k) for k in ("threshold", "observed", "window")}
    if not all(_typed(v, (int, float)) for v in figures.values()):
        return None
    return figures


def _client(block: Any) -> dict[str, Any]:
    """A shard's self-check block, only the fields of known type."""
    if not isinstance(block, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("cpu_pct", "cpu_peak_pct", "loop_lag_over_limit", "dispatch_over_limit"):
        if _typed(block.get(key), (int, float)):
            out[key] = block[key]
    for key in ("loop_lag_ms", "dispatch_lateness_ms"):
        stats = block.get(key)
        if isinstance(stats, dict) and all(_typed(v, (int, float)) for v in stats.values()):
            out[key] = stats
    if isinstance(block.get("saturated"), bool):
        out["saturated"] = block["saturated"]
    reasons = block.get("saturation_reasons")
    if isinstance(reasons, list) and all(isinstance(r, str) for r in reasons):
        out["saturation_reasons"] = reasons
    return out


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _ramp(block: Any) -> RampFigures:
    if not isinstance(block, dict):
        raise ValueError("ramp: expected an object")
    duration, requests, ok = block.get("duration_s"), block.get("requests"), block.get("ok")
    if not isinstance(duration, int | float) or not _is_int(requests) or not _is_int(ok):
        raise ValueError("ramp: expected duration_s, requests and ok")
    return RampFigures(float(duration), requests, ok)


def check_parts(parts: Sequence[ShardPart]) -> None:
    """MergeError unless ``parts`` are every shard of one run, each once."""
    if not parts:
        raise MergeError("no shards to merge")
    count = parts[0].count
    if any(p.count != count for p in parts):
        counts = sorted({p.count for p in parts})
        raise MergeError(f"the shards are of runs split differently (N = {counts})")
    seen = sorted(p.index for p in parts)
    if seen != list(range(count)):
        missing = sorted(set(range(count)) - set(seen))
        doubled = sorted({i for i in seen if seen.count(i) > 1})
        what = f"shard(s) {doubled} given twice" if doubled else f"missing shard(s) {missing}"
        raise MergeError(f"{what} of {count}")
    _check_overlap(parts)
    first = _shared(parts[0].config)
    for part in parts[1:]:
        other = _shared(part.config)
        differ = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
        if differ:
            raise MergeError(
                f"shard {part.index} is of another run: its {', '.join(differ[:5])} differ"
            )


# Shards of one run begin measuring within moments of each other (seconds, with a
# warm-up): ones an hour apart are runs of different days, however alike their flags.
MAX_START_GAP_S = 3600


def _check_overlap(parts: Sequence[ShardPart]) -> None:
    origins = [(p.measured.origin_ns, p.index) for p in parts if p.measured.origin_ns is not None]
    if len(origins) < 2:
        return
    (first, i), (last, j) = min(origins), max(origins)
    if (last - first) / 1e9 > MAX_START_GAP_S:
        raise MergeError(
            f"shard {j} began measuring {(last - first) / 1e9:,.0f} s after shard {i}: not one run"
        )


def _shared(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _PER_SHARD}


def merge_parts(parts: Sequence[ShardPart]) -> MergedRun:
    """The run that every shard of ``parts`` makes together (checked by
    :func:`check_parts`): figures merged exactly, the outcome the worst of the shards'."""
    check_parts(parts)
    parts = sorted(parts, key=lambda p: p.index)
    signals = [p.run.get("signal") for p in parts if p.run.get("signal")]
    reasons = [str(p.run.get("stop_reason")) for p in parts]
    stop_reason = next((r for r in reasons if r not in ("done", "None")), "done")
    stops = [p.error_rate_stop for p in parts if p.error_rate_stop]
    late = [float(p.run["start_late_s"]) for p in parts if "start_late_s" in p.run]
    overloads = [str(p.run["overload"]) for p in parts if "overload" in p.run]
    return MergedRun(
        measured=merge([p.measured for p in parts]),
        run_start_ns=min(p.run_start_ns for p in parts),
        interrupted=any(bool(p.run.get("interrupted")) for p in parts),
        stop_reason=stop_reason,
        signal=str(signals[0]) if signals else None,
        client=merge_clients([p.client for p in parts]),
        due_unsent=sum(p.due_unsent for p in parts),
        ramp=_merge_ramps([p.ramp for p in parts]),
        error_rate_stop=stops[0] if stops else None,
        workers=[worker_row(p) for p in parts],
        start_late_s=max(late) if late else None,
        overload=overloads[0] if overloads else None,
    )


def worker_row(part: ShardPart) -> dict[str, Any]:
    """One shard's line of the merged summary's ``workers`` list."""
    m = part.measured
    return {
        "worker": part.index,
        "requests": m.finished,
        "ok": m.ok,
        "output_tokens": m.output_tokens,
        "stop_reason": part.run.get("stop_reason"),
        "exit": part.run.get("exit", "finished"),
        "client": dict(part.client),
    }


def merge_clients(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The merged self-check: saturated when any shard was (reasons name the shard),
    and each figure the worst shard's."""
    if not blocks:
        return {}
    if len(blocks) == 1:
        return dict(blocks[0])
    out: dict[str, Any] = {}
    for key in ("cpu_pct", "cpu_peak_pct", "loop_lag_over_limit", "dispatch_over_limit"):
        values = [b[key] for b in blocks if isinstance(b.get(key), int | float)]
        out[key] = max(values) if values else None
    for key in ("loop_lag_ms", "dispatch_lateness_ms"):
        stats = [b[key] for b in blocks if isinstance(b.get(key), dict)]
        out[key] = max(stats, key=lambda s: float(s.get("p99") or 0)) if stats else None
    out["saturated"] = any(bool(b.get("saturated")) for b in blocks)
    out["saturation_reasons"] = [
        f"worker {i}: {reason}"
        for i, b in enumerate(blocks)
        for reason in (b.get("saturation_reasons") or [])
    ]
    out["per_worker"] = "each figure is the worst worker's; see workers[].client"
    return out


def _merge_ramps(ramps: Sequence[RampFigures | None]) -> RampFigures | None:
    known = [r for r in ramps if r is not None]
    if not known:
        return None
    return RampFigures(
        max(r.duration_s for r in known),
        sum(r.requests for r in known),
        sum(r.ok for r in known),
    )
