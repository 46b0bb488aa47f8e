"""Per-request time limits, as pure arithmetic over a transport's clock instants (ns).

Four limits match what production SLOs care about: connecting (``connect``), the
first token (``ttft``), silence mid-stream (``stall``: no bytes for S seconds once
the response head is in) and the whole request (``total``). A transport asks
:meth:`Timeouts.check` when its single timer fires: either a limit was passed, or
when to look again. Moving deadlines (stall) are re-checked lazily, so the hot
path never touches a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Limit", "Timeouts"]

# Which limit ended a request: RequestResult.detail for a timeout.
Limit = Literal["connect", "ttft", "stall", "total"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Timeouts:
    total_s: float = 600.0
    connect_s: float = 10.0
    ttft_s: float | None = None
    stall_s: float | None = None

    def check(
        self, t0: int, now: int, *, has_token: bool, head_at: int | None, last_rx: int
    ) -> tuple[Limit | None, int]:
        """(the limit passed, or None; the next instant worth checking again)."""
        total = t0 + int(self.total_s * _NS)
        if now >= total:
            return "total", total
        due = total
        if self.ttft_s is not None and not has_token:
            ttft = t0 + int(self.ttft_s * _NS)
            if now >= ttft:
                return "ttft", ttft
            due = min(due, ttft)
        if self.stall_s is not None and head_at is not None:
            stall = max(last_rx, head_at) + int(self.stall_s * _NS)
            if now >= stall:
                return "stall", stall
            due = min(due, stall)
        return None, due

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
