"""Is the client itself the bottleneck? A verdict from measured client figures.

The runner measures event-loop lag (a ticker's lateness), the process's CPU use
and the feeder's dispatch lateness; this module only judges them, so the
thresholds are tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CPU_LIMIT_PCT", "DISPATCH_LIMIT_MS", "LOOP_LAG_LIMIT_MS", "Verdict", "judge"]

# Beyond these the client adds delay of its own to what it measures.
# Loop lag p99 of 10 ms means a response's bytes may wait 10 ms to be stamped.
LOOP_LAG_LIMIT_MS = 10.0
# A single-threaded event loop near a whole core has no headroom left.
CPU_LIMIT_PCT = 90.0
# An open-loop feeder more than 10 ms late at p99 no longer delivers the schedule.
DISPATCH_LIMIT_MS = 10.0


@dataclass(frozen=True, slots=True)
class Verdict:
    saturated: bool
    reasons: tuple[str, ...]


def judge(
    *,
    loop_lag_p99_ms: float | None,
    cpu_pct: float | None,
    dispatch_lateness_p99_ms: float | None,
) -> Verdict:
    """Saturated when any figure passes its limit; the reasons say which and by how much."""
    reasons: list[str] = []
    if loop_lag_p99_ms is not None and loop_lag_p99_ms > LOOP_LAG_LIMIT_MS:
        reasons.append(f"event-loop lag p99 {loop_lag_p99_ms:.1f} ms > {LOOP_LAG_LIMIT_MS:g} ms")
    if cpu_pct is not None and cpu_pct >= CPU_LIMIT_PCT:
        reasons.append(f"client CPU {cpu_pct:.0f}% of one core >= {CPU_LIMIT_PCT:g}%")
    if dispatch_lateness_p99_ms is not None and dispatch_lateness_p99_ms > DISPATCH_LIMIT_MS:
        reasons.append(
            f"dispatch lateness p99 {dispatch_lateness_p99_ms:.1f} ms > {DISPATCH_LIMIT_MS:g} ms"
        )
    return Verdict(bool(reasons), tuple(reasons))
