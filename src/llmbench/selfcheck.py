"""Is the client itself the bottleneck? A verdict from measured client figures.

The runner measures event-loop lag (a ticker's lateness), the process's CPU use
and the feeder's dispatch lateness; this module only judges them, so the
thresholds are tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CPU_LIMIT_PCT",
    "DISPATCH_LIMIT_MS",
    "LOOP_LAG_LIMIT_MS",
    "MIN_CPU_WINDOW_S",
    "MIN_EVIDENCE",
    "Verdict",
    "judge",
]

# Beyond these the client adds delay of its own to what it measures.
# Loop lag p99 of 10 ms means a response's bytes may wait 10 ms to be stamped.
LOOP_LAG_LIMIT_MS = 10.0
# A single-threaded event loop near a whole core has no headroom left.
CPU_LIMIT_PCT = 90.0
# An open-loop feeder more than 10 ms late at p99 no longer delivers the schedule.
DISPATCH_LIMIT_MS = 10.0
# A p99 over its limit counts only with at least this many samples over the limit: in a
# 3 s run one garbage collection or one noisy neighbour is the whole 1%, and that
# is the machine hiccuping, not a client out of headroom.
MIN_EVIDENCE = 5
# CPU over less measured time than this is start-up and shut-down, not load: a run that
# stops at once (every connection refused) spent its fraction of a second parsing flags
# and importing, which reads as a busy core.
MIN_CPU_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    saturated: bool
    reasons: tuple[str, ...]


def judge(
    *,
    loop_lag_p99_ms: float | None,
    loop_lag_over: int,
    cpu_pct: float | None,
    dispatch_lateness_p99_ms: float | None,
    dispatch_over: int,
) -> Verdict:
    """Saturated when any figure passes its limit; the reasons say which and by how much.

    ``*_over`` count the samples beyond the limit (see MIN_EVIDENCE)."""
    reasons: list[str] = []
    lag = loop_lag_p99_ms
    if lag is not None and lag > LOOP_LAG_LIMIT_MS and loop_lag_over >= MIN_EVIDENCE:
        reasons.append(
            f"event-loop lag p99 {lag:.1f} ms > {LOOP_LAG_LIMIT_MS:g} ms "
            f"({loop_lag_over} ticks over)"
        )
    if cpu_pct is not None and cpu_pct >= CPU_LIMIT_PCT:
        reasons.append(f"client CPU {cpu_pct:.0f}% of one core >= {CPU_LIMIT_PCT:g}%")
    late = dispatch_lateness_p99_ms
    if late is not None and late > DISPATCH_LIMIT_MS and dispatch_over >= MIN_EVIDENCE:
        reasons.append(
            f"dispatch lateness p99 {late:.1f} ms > {DISPATCH_LIMIT_MS:g} ms "
            f"({dispatch_over} requests over)"
        )
    return Verdict(bool(reasons), tuple(reasons))
