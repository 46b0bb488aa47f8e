"""How one run is split into N shards (issue 14): pure arithmetic, no I/O.

Shard ``I`` of ``N`` owns the requests whose global index ``j`` (counted per phase, from
0) has ``j % N == I``: in open loop the arrivals ``I, I+N, I+2N, ...`` of the one global
schedule drawn from ``--seed`` (so the union of the shards' intended times is exactly the
single-process schedule, whatever the arrival process), in closed loop its share of the
requests. Caps and counts are split so the shards' shares add up exactly; closed-loop
workers keep their global ramp-up start times, so the merged active count rises as one
ramp. Workload items go by global index too (:func:`item_position`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["MAX_SHARDS", "Positioned", "Shard", "item_position", "parse_start_at", "parse_workers"]

_SHARD = re.compile(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*")
# More shards than this is a typo, not a plan (Ray clusters of 1,000 cores included).
MAX_SHARDS = 4096


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` is the whole run."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 0 <= self.index < self.count:
            raise ValueError(
                f"shard {self.index}/{self.count}: expected I/N with 0 <= I < N <= {MAX_SHARDS}"
            )

    @staticmethod
    def parse(text: str) -> Shard:
        """``"I/N"`` (0-based I); ValueError with the reason otherwise."""
        m = _SHARD.fullmatch(text)
        if m is None:
            raise ValueError(f"expected I/N, such as 0/4, got {text!r:.40}")
        return Shard(int(m[1]), int(m[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def share(self, total: int) -> int:
        """How many of ``total`` requests (or workers, or slots) are this shard's:
        the shares of all shards add up to ``total`` exactly."""
        return len(range(self.index, total, self.count))

    def global_index(self, local: int) -> int:
        """The global index of this shard's ``local``-th request of a phase."""
        return self.index + local * self.count

    def arrivals(self, offsets: Iterator[int]) -> Iterator[int]:
        """This shard's arrivals of the global schedule: ``I, I+N, I+2N, ...``."""
        for j, offset in enumerate(offsets):
            if j % self.count == self.index:
                yield offset

    def worker_starts(self, starts: list[int]) -> list[int]:
        """This shard's closed-loop workers' start offsets, of the global ramp's."""
        return starts[self.index :: self.count]


def item_position(shard: Shard, phase_base: int, local: int) -> int:
    """Which item of the workload stream a shard's ``local``-th request of a phase
    sends: the one the single-process run sends as request ``phase_base + global``,
    where ``phase_base`` counts the requests of the phases before (the warm-up's)."""
    return phase_base + shard.global_index(local)


class Positioned(Generic[T]):
    """Random access into a stream, for positions asked in rising order (a shard's
    requests take their items by global position). A stream with its own ``at`` (the
    synthetic workload) is asked directly; another is read forward, the other shards'
    items skipped. The last item is kept: one position may be asked twice in a row."""

    def __init__(self, stream: Iterator[T]) -> None:
        self._stream = stream
        self._direct = getattr(stream, "at", None)
        self._next = 0  # the position the stream's next item has
        self._last: tuple[int, T] | None = None

    def at(self, position: int) -> T:
        if self._direct is not None:
            item: T = self._direct(position)
            return item
        if self._last is not None and self._last[0] == position:
            return self._last[1]
        if position < self._next:
            raise ValueError(f"position {position} was passed (at {self._next})")
        for _ in range(position - self._next):
            next(self._stream)
        item = next(self._stream)
        self._next = position + 1
        self._last = (position, item)
        return item


def parse_workers(text: str, usable_cores: int) -> int:
    """``--workers``: a count, or ``auto``: one per usable core, leaving one for the
    coordinator when there are more than two. ValueError with the reason."""
    if text.strip().lower() == "auto":
        return max(1, usable_cores - 1) if usable_cores > 2 else max(1, usable_cores)
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"expected a count or auto, got {text!r:.40}") from None
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"expected 1 to {MAX_SHARDS}, got {n}")
    return n


def parse_start_at(text: str) -> float:
    """``--start-at``: Unix seconds, or an ISO 8601 instant with a time zone (a naive
    one would mean different instants on differently configured machines). The instant
    as Unix seconds; ValueError with the reason."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected ISO 8601 or Unix seconds, got {text!r:.60}") from None
        if instant.tzinfo is None:
            raise ValueError(f"{text!r:.60} has no time zone; add Z or +HH:MM") from None
        seconds = instant.timestamp()
    if not 0 < seconds < 1e11:  # before 1970 or past year 5138; NaN and inf fail too
        raise ValueError(f"not an instant llmbench can wait for: {text!r:.40}")
    return seconds
