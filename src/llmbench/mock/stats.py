"""The mock's own health: how late it writes first tokens, and what it served.

If the mock writes a first token late, a benchmark blames the client or the network for
it. So the mock measures itself: first-token lateness is the actual write time minus the
ideal one (`start + ttft + jitter`, the start being the arrival or, when `--slots` made the
request wait, its admission), recorded in an HDR histogram. Only first tokens are
histogrammed (a few hundred a second); later tokens only update a maximum, because an
HDR record per token would cost the mock a tenth of a core at 50,000 tokens/s. The
capacity figures (`--slots`: active, queued, queue waits) come from `capacity.Slots`,
the Dify conversation counts from `conversations.Conversations` and the `--prefix-cache`
figures from `prefix_cache.PrefixCache`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from hdrh.histogram import HdrHistogram

from llmbench.mock import prefix_cache
from llmbench.mock.capacity import CapacitySnapshot, Slots
from llmbench.mock.conversations import Conversations, ConversationsSnapshot, seeded_ids
from llmbench.mock.prefix_cache import PrefixCacheSnapshot

__all__ = ["MockStats", "MockStatsSnapshot"]

_MAX_TRACKED_US = 3_600_000_000  # one hour: anything later is clamped, not lost
_SIGNIFICANT_DIGITS = 3


@dataclass(frozen=True, slots=True)
class MockStatsSnapshot:
    """A frozen copy of `MockStats` at one moment; `to_json()` is what `GET /stats` returns."""

    first_token_lateness_p50_ms: float
    first_token_lateness_p99_ms: float
    first_token_lateness_max_ms: float
    first_tokens: int
    token_lateness_max_ms: float
    tokens: int
    requests: int
    streams_started: int
    streams_completed: int
    streams_aborted: int
    streams_active: int
    errors: int
    faults: dict[str, int]
    capacity: CapacitySnapshot
    conversations: ConversationsSnapshot
    prefix_cache: PrefixCacheSnapshot
    prompt_tokens: int = 0  # of every generation request accepted (GET /metrics)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: lateness grouped under `first_token_lateness_ms`, the slots
        and queue under `capacity` (see `CapacitySnapshot`), then `conversations` and
        `prefix_cache` (see their snapshots)."""
        flat = asdict(self)
        flat["capacity"] = self.capacity.to_json()
        flat["conversations"] = self.conversations.to_json()
        flat["prefix_cache"] = self.prefix_cache.to_json()
        return {
            "first_token_lateness_ms": {
                "p50": flat.pop("first_token_lateness_p50_ms"),
                "p99": flat.pop("first_token_lateness_p99_ms"),
                "max": flat.pop("first_token_lateness_max_ms"),
                "count": flat.pop("first_tokens"),
            },
            **flat,
        }

    def lines(self) -> list[str]:
        """Human-readable summary printed by `--stats` on shutdown."""
        return [
            "first-token lateness ms: "
            f"p50={self.first_token_lateness_p50_ms:.3f} "
            f"p99={self.first_token_lateness_p99_ms:.3f} "
            f"max={self.first_token_lateness_max_ms:.3f} (n={self.first_tokens})",
            f"token lateness max ms: {self.token_lateness_max_ms:.3f} (tokens={self.tokens})",
            f"requests={self.requests} streams: started={self.streams_started} "
            f"completed={self.streams_completed} aborted={self.streams_aborted} "
            f"errors={self.errors}",
            self.conversations.line(),
            self.prefix_cache.line(),
            self.capacity.line(),
            f"faults={sum(self.faults.values())}"
            + "".join(f" {spec}={n}" for spec, n in sorted(self.faults.items())),
        ]


class MockStats:
    """Live counters, mutated by the server on the event loop thread only."""

    __slots__ = (
        "_capacity",
        "_conversations",
        "_first",
        "_prefix_cache",
        "errors",
        "faults",
        "prompt_tokens",
        "requests",
        "streams_aborted",
        "streams_completed",
        "streams_started",
        "token_late_max_ns",
        "tokens",
    )

    def __init__(
        self,
        capacity: Callable[[], CapacitySnapshot] | None = None,
        conversations: Callable[[], ConversationsSnapshot] | None = None,
        prefix_cache: Callable[[], PrefixCacheSnapshot] | None = None,
    ) -> None:
        # Where the grouped figures come from (the server's `Slots.statistics`, ...).
        self._capacity = capacity or Slots[object]().statistics
        self._conversations = conversations or Conversations(seeded_ids(None)).statistics
        self._prefix_cache = prefix_cache or _prefix_cache_off
        self._first = HdrHistogram(1, _MAX_TRACKED_US, _SIGNIFICANT_DIGITS)
        self.requests = 0
        self.errors = 0
        self.faults: dict[str, int] = {}  # injected faults by `--fault` spec
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_aborted = 0
        self.tokens = 0
        self.token_late_max_ns = 0
        self.prompt_tokens = 0

    def fault(self, spec: str) -> None:
        """Count one injected fault."""
        self.faults[spec] = self.faults.get(spec, 0) + 1

    def first_token(self, late_ns: int) -> None:
        """Record one first token written `late_ns` after its ideal time."""
        self._first.record_value(min(max(late_ns, 0) // 1000, _MAX_TRACKED_US))

    def statistics(self) -> MockStatsSnapshot:
        """Snapshot the counters (cheap enough to serve on every `GET /stats`)."""
        hist = self._first
        count = hist.get_total_count()

        def ms(us: int) -> float:
            return us / 1000 if count else 0.0

        return MockStatsSnapshot(
            first_token_lateness_p50_ms=ms(hist.get_value_at_percentile(50)),
            first_token_lateness_p99_ms=ms(hist.get_value_at_percentile(99)),
            first_token_lateness_max_ms=ms(hist.get_max_value()),
            first_tokens=count,
            token_lateness_max_ms=self.token_late_max_ns / 1e6,
            tokens=self.tokens,
            requests=self.requests,
            streams_started=self.streams_started,
            streams_completed=self.streams_completed,
            streams_aborted=self.streams_aborted,
            streams_active=self.streams_started - self.streams_completed - self.streams_aborted,
            errors=self.errors,
            faults=dict(self.faults),
            capacity=self._capacity(),
            conversations=self._conversations(),
            prefix_cache=self._prefix_cache(),
            prompt_tokens=self.prompt_tokens,
        )


def _prefix_cache_off() -> PrefixCacheSnapshot:
    return prefix_cache.OFF
