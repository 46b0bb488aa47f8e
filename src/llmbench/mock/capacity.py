"""The mock's capacity: K generation slots with a FIFO queue in front of them (sans-IO).

A real server generates for a bounded number of requests at once (vLLM's
`--max-num-seqs`) and queues the rest; `--slots K` gives the mock the same shape. A
request holds a slot from admission until its reply ends, however it ends (completed,
cut by a fault, or the client going away); a waiting request is admitted, first come
first served, when a slot frees. Like trio's `CapacityLimiter` this caps how many run at
once, not how fast they arrive: with TTFT t, ITL i and n tokens each request holds a slot
for t + (n - 1) * i, so the server sustains K / (t + (n - 1) * i) requests a second and
its queue grows without bound past that.

`Slots` is bookkeeping only: no sockets and no clock (every time is passed in), so it is
tested directly. Tickets are whatever the server uses to name a waiting request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["MAX_SLOTS", "CapacitySnapshot", "Slots"]

# More slots than any one server batches (vLLM's --max-num-seqs defaults to 256 or 1024);
# the bound keeps a typo from reading as "unlimited in all but name".
MAX_SLOTS = 100_000

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CapacitySnapshot:
    """A frozen copy of a `Slots`' state; `to_json()` is the `capacity` group of `/stats`.

    `slots` is the limit (0: unlimited); `active` requests hold a slot now and `queued`
    wait for one; `admitted` counts every request that got a slot, `left_queue` those
    whose client went away while waiting. Waits are over admitted requests, zero for
    those admitted on arrival.
    """

    slots: int
    active: int
    active_max: int
    queued: int
    queued_max: int
    admitted: int
    left_queue: int
    queue_wait_mean_ms: float
    queue_wait_max_ms: float

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with the waits grouped under `queue_wait_ms`."""
        return {
            "slots": self.slots,
            "active": self.active,
            "active_max": self.active_max,
            "queued": self.queued,
            "queued_max": self.queued_max,
            "admitted": self.admitted,
            "left_queue": self.left_queue,
            "queue_wait_ms": {"mean": self.queue_wait_mean_ms, "max": self.queue_wait_max_ms},
        }

    def line(self) -> str:
        """One human-readable line for `--stats`."""
        limit = self.slots or "unlimited"
        return (
            f"capacity: slots={limit} active={self.active} (max {self.active_max}) "
            f"queued={self.queued} (max {self.queued_max}) admitted={self.admitted} "
            f"left_queue={self.left_queue} queue wait ms: mean={self.queue_wait_mean_ms:.3f} "
            f"max={self.queue_wait_max_ms:.3f}"
        )


class Slots(Generic[T]):
    """At most `limit` tickets active at once (0: no limit); the rest wait in FIFO order.

    Every ticket that `arrive`s is later `release`d exactly once: when its reply ends if
    it was admitted, or when its client leaves the queue. A ticket named twice, or one
    never seen, is a bug in the caller and raises `RuntimeError`.
    """

    __slots__ = (
        "_active",
        "_active_max",
        "_admitted",
        "_left",
        "_limit",
        "_queue",
        "_queued_max",
        "_wait_max_ns",
        "_wait_total_ns",
    )

    def __init__(self, limit: int = 0) -> None:
        if not 0 <= limit <= MAX_SLOTS:
            raise ValueError(f"slots must be in 0..{MAX_SLOTS}, got {limit}")
        self._limit = limit
        self._active: set[T] = set()
        self._queue: OrderedDict[T, int] = OrderedDict()  # ticket -> arrival time, oldest first
        self._active_max = 0
        self._queued_max = 0
        self._admitted = 0
        self._left = 0
        self._wait_total_ns = 0
        self._wait_max_ns = 0

    @property
    def active(self) -> int:
        """How many tickets hold a slot now."""
        return len(self._active)

    @property
    def queued(self) -> int:
        """How many tickets wait for a slot now."""
        return len(self._queue)

    def arrive(self, ticket: T, now_ns: int) -> bool:
        """Admit `ticket` now (True) or queue it behind the others (False)."""
        active, queue = self._active, self._queue
        if ticket in active or ticket in queue:
            raise RuntimeError(f"ticket {ticket!r} already holds a slot or waits for one")
        # A queue exists only while every slot is taken (release admits at once), so a
        # free slot here never lets a newcomer pass a waiting ticket.
        if not self._limit or len(active) < self._limit:
            self._admit(ticket, 0)
            return True
        queue[ticket] = now_ns
        if len(queue) > self._queued_max:
            self._queued_max = len(queue)
        return False

    def release(self, ticket: T, now_ns: int) -> T | None:
        """`ticket` is done: free its slot or take it out of the queue.

        Returns the ticket admitted into the freed slot (the longest waiting), if any;
        the caller starts its reply, timed from `now_ns`.
        """
        if ticket in self._active:
            self._active.remove(ticket)
            if not self._queue:
                return None
            admitted, since = self._queue.popitem(last=False)
            self._admit(admitted, now_ns - since)
            return admitted
        if ticket in self._queue:
            del self._queue[ticket]
            self._left += 1
            return None
        raise RuntimeError(f"ticket {ticket!r} holds no slot and is not queued")

    def _admit(self, ticket: T, waited_ns: int) -> None:
        # Once per request: comparisons rather than max(), and no clock (see `release`).
        active = self._active
        active.add(ticket)
        if len(active) > self._active_max:
            self._active_max = len(active)
        self._admitted += 1
        if waited_ns:
            self._wait_total_ns += waited_ns
            if waited_ns > self._wait_max_ns:
                self._wait_max_ns = waited_ns

    def statistics(self) -> CapacitySnapshot:
        """Snapshot the counters (cheap: served on every `GET /stats`)."""
        mean = self._wait_total_ns / self._admitted / 1e6 if self._admitted else 0.0
        return CapacitySnapshot(
            slots=self._limit,
            active=len(self._active),
            active_max=self._active_max,
            queued=len(self._queue),
            queued_max=self._queued_max,
            admitted=self._admitted,
            left_queue=self._left,
            queue_wait_mean_ms=mean,
            queue_wait_max_ms=self._wait_max_ns / 1e6,
        )
