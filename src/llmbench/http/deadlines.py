"""Per-request time limits, as pure arithmetic over a transport's clock instants (ns).

Four limits match what production SLOs care about: connecting (``connect``), the
first token (``ttft``), silence mid-stream (``stall``: no bytes for S seconds once
the response head is in) and the whole request (``total``). Each limit that applies
has a deadline; the earliest one is the request's next deadline, and a transport's
single timer asks :meth:`Timeouts.check` (or :meth:`Timeouts.check_connect` while it
connects) when it fires: either a limit was passed, or when to look again.

A deadline only moves later as bytes arrive (the stall deadline follows the last
byte; the ttft deadline goes away with the first token), so a timer armed for the
earliest deadline is never late for any of them, with one exception a transport
must handle: the response head *starts* the stall limit, so a new, sooner deadline
can appear then (:meth:`Timeouts.check` says which; re-arm when it is sooner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_WAIT_S", "Limit", "Timeouts"]

# Which limit ended a request: RequestResult.detail for a timeout.
Limit = Literal["connect", "ttft", "stall", "total"]

_NS = 1_000_000_000
# A limit longer than this (about 31 years) is treated as this: `int(1e300 * 1e9)` is
# an OverflowError, and nothing a benchmark waits for lasts that long.
_FOREVER_S = 1e9
# The longest a transport's timer waits before looking again. Event loops convert a
# delay to an integer (uvloop: int64 milliseconds) and overflow on huge ones; a timer
# that wakes once a day and finds nothing due costs nothing.
MAX_WAIT_S = 86_400.0


def _ns(seconds: float) -> int:
    """Seconds as nanoseconds, bounded (NaN and anything past _FOREVER_S are forever)."""
    return int(seconds * _NS) if seconds < _FOREVER_S else int(_FOREVER_S * _NS)


@dataclass(frozen=True, slots=True)
class Timeouts:
    total_s: float = 600.0
    connect_s: float = 10.0
    ttft_s: float | None = None
    stall_s: float | None = None

    def check(
        self, t0: int, now: int, *, has_token: bool, head_at: int | None, last_rx: int
    ) -> tuple[Limit | None, int]:
        """(the limit passed, or None; the next instant worth checking again).

        Of the limits that apply (total always; ttft until the first token; stall once
        the head is in), the one with the earliest deadline is reported when ``now``
        is past it, with that deadline: a timer that fires late still names the limit
        that was passed first. On equal deadlines total wins, then ttft."""
        limit: Limit = "total"
        due = t0 + _ns(self.total_s)
        if self.ttft_s is not None and not has_token:
            ttft = t0 + _ns(self.ttft_s)
            if ttft < due:
                limit, due = "ttft", ttft
        if self.stall_s is not None and head_at is not None:
            stall = max(last_rx, head_at) + _ns(self.stall_s)
            if stall < due:
                limit, due = "stall", stall
        return (limit if now >= due else None), due

    def check_connect(self, t0: int, started: int, now: int) -> tuple[Limit | None, int]:
        """:meth:`check` while connecting (from ``started``): the connect limit, and the
        ttft and total limits, which count from ``t0`` and run during the connect too."""
        limit, due = self.check(t0, now, has_token=False, head_at=None, last_rx=t0)
        connect = started + _ns(self.connect_s)
        if connect < due:
            limit, due = "connect", connect
        return (limit if now >= due else None), due

    def first_deadline_s(self) -> float:
        """Seconds from t0 to the first limit that can end a request with no token yet."""
        return self.total_s if self.ttft_s is None else min(self.total_s, self.ttft_s)

    def expired(self, *, has_token: bool) -> Limit:
        """Which limit a passed ttft-or-total deadline is (what :meth:`check` says then):
        ``ttft`` while no token came and it is the sooner limit, else ``total``."""
        ttft_first = self.ttft_s is not None and self.ttft_s < self.total_s
        return "ttft" if ttft_first and not has_token else "total"

    def message(self, which: Limit) -> str:
        """What the ``error`` field says for a passed limit."""
        limit = {
            "total": (self.total_s, "no complete response within"),
            "ttft": (self.ttft_s, "no first token within"),
            "stall": (self.stall_s, "no bytes mid-stream for"),
            "connect": (self.connect_s, "no connection within"),
        }[which]
        return f"timeout:{which}: {limit[1]} {limit[0]:g} s"
