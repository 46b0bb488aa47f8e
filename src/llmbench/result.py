"""One request's outcome: what results.jsonl stores and the Recorder counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from llmbench.metric_defs import results_fields

__all__ = [
    "FAILED_STATUSES",
    "PHASES",
    "STATUSES",
    "Phase",
    "RampFigures",
    "RequestResult",
    "SessionEnd",
    "SessionResult",
    "Status",
]

# "ramp": the unmeasured phase of --ramp-up S when no warm-up is given (with a warm-up,
# the ramp is the warm-up's first part); only "measure" counts in the headline figures.
Phase = Literal["ramp", "warmup", "measure"]
PHASES: tuple[Phase, ...] = get_args(Phase)

# The status taxonomy of DESIGN.md "Errors are data": a closed set.
Status = Literal[
    "ok",
    "http_error",
    "connect_error",
    "timeout",
    "stream_error",
    "parse_error",
    "incomplete",
    "empty",
    "canceled",
]
STATUSES: tuple[Status, ...] = get_args(Status)
FAILED_STATUSES: frozenset[Status] = frozenset(STATUSES[1:])
# The per-request figures results.jsonl holds, in milliseconds (the metric table's).
_RESULT_FIELDS = tuple((m.key, m.value) for m in results_fields() if m.value)


@dataclass(frozen=True, slots=True)
class RampFigures:
    """The ramp's own figures (``--ramp-up``): the requests started while the load rose
    to its level, kept out of the headline figures; summary.json's ``ramp`` block."""

    duration_s: float
    requests: int
    ok: int

    def to_json(self) -> dict[str, Any]:
        per_s = round(self.ok / self.duration_s, 3) if self.duration_s > 0 else 0.0
        return {
            "duration_s": round(self.duration_s, 6),
            "requests": self.requests,
            "ok": self.ok,
            "requests_per_s": per_s,
        }


# How a multi-turn session ended: every turn sent and answered; a turn failed (the rest
# are not sent: the history would be wrong); the run stopped before its last turn.
SessionEnd = Literal["completed", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class SessionResult:
    """One multi-turn session's outcome (llmbench.sessions): ``turns`` planned, ``sent``
    of them sent (requests), ``ok`` answered; ``start_ns`` (its first turn's t0) and
    ``end_ns`` (its last reply's end, or when it was stopped) are perf_counter_ns
    instants. ``phase`` is its first turn's."""

    session: int
    phase: Phase
    turns: int
    sent: int
    ok: int
    start_ns: int
    end_ns: int
    end: SessionEnd

    @property
    def unsent(self) -> int:
        return self.turns - self.sent


@dataclass(frozen=True, slots=True)
class RequestResult:
    """Durations are nanoseconds from ``t0`` (the hand-off to the HTTP client);
    ``t0_ns``, ``intended_ns`` and ``end_ns`` are perf_counter_ns instants."""

    index: int
    phase: Phase
    status: Status
    t0_ns: int
    end_ns: int
    intended_ns: int | None = None
    detail: str | None = None
    http_status: int | None = None
    error: str | None = None
    key_index: int | None = None
    ttfb_ns: int | None = None
    ttft_ns: int | None = None
    latency_ns: int | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    token_source: str = "none"
    chunks: int = 0
    chars: int = 0
    end_reason: str | None = None
    icl_ns: tuple[int, ...] = ()
    chunk_tokens: tuple[int, ...] | None = None
    attempts: int = 1
    retry_errors: tuple[str, ...] = ()
    first_frame: str | None = None
    last_frame: str | None = None
    meta_events: int = 0  # pings, workflow/node events: counted, never timed
    # --save-detailed only (None otherwise): the generated text, redacted, and the
    # prompt's index in its source; with them results.jsonl gets the ITL list too.
    text: str | None = None
    prompt_id: int | None = None
    # The prompt's token count as the server's usage gave it (None: it gave none), apart
    # from ``input_tokens``, which falls back to the token mode's own count.
    server_input_tokens: int | None = None
    # A multi-turn session's request (llmbench.sessions): the session's number in the
    # run and the turn's, from 1; None for a single request.
    session: int | None = None
    turn: int | None = None
    # --prefix-groups: the shared prefix the prompt starts with, and whether this is the
    # first request of the run to send it (the server cannot have cached it yet).
    prefix_group: int | None = None
    prefix_first: bool | None = None
    # The conversation the server said it keeps this request's history in (Dify).
    conversation_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def tpot_ns(self) -> float | None:
        """(latency - TTFT) / (output tokens - 1), for requests with >= 2 output tokens
        that came in more than one content event: a reply in one event has no decode
        interval to time (its first token and its end are one instant): n/a, not 0."""
        if self.latency_ns is None or self.ttft_ns is None or self.chunks == 1:
            return None
        if not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.latency_ns - self.ttft_ns) / (self.output_tokens - 1)

    @property
    def itl_ns(self) -> list[tuple[float, int]]:
        """Inter-token latencies as (gap, count) pairs: a chunk gap is divided across
        the chunk's tokens when they are known, else it is one token's latency."""
        counts = self.chunk_tokens
        if counts is None:
            return [(gap, 1) for gap in self.icl_ns]
        return [
            (gap / max(1, n), max(1, n)) for gap, n in zip(self.icl_ns, counts[1:], strict=False)
        ]

    @property
    def queue_ns(self) -> int | None:
        return None if self.intended_ns is None else self.t0_ns - self.intended_ns

    def to_json(self, run_start_ns: int) -> dict[str, Any]:
        """The results.jsonl line: milliseconds, times relative to the run's start; the
        per-request figures are the metric table's (``metric_defs``) results fields."""
        out: dict[str, Any] = {
            "index": self.index,
            "phase": self.phase,
            "status": self.status,
            "detail": self.detail,
            "http_status": self.http_status,
            "error": self.error,
            "start_s": round((self.t0_ns - run_start_ns) / 1e9, 6),
        }
        for key, value in _RESULT_FIELDS:
            ns = value(self)
            out[key] = None if ns is None else round(ns / 1e6, 3)
        out.update(
            input_tokens=self.input_tokens,
            server_input_tokens=self.server_input_tokens,
            output_tokens=self.output_tokens,
            token_source=self.token_source,
            chunks=self.chunks,
            chars=self.chars,
            end_reason=self.end_reason,
            meta_events=self.meta_events,
            key_index=self.key_index,
            attempts=self.attempts,
            retry_errors=list(self.retry_errors),
        )
        if self.session is not None:
            out["session"] = self.session
            out["turn"] = self.turn
            if self.conversation_id is not None:
                out["conversation_id"] = self.conversation_id
        if self.prefix_group is not None:
            out["prefix_group"] = self.prefix_group
            out["prefix_first"] = self.prefix_first
        if self.text is not None:  # --save-detailed: written only when asked (size)
            out["prompt_id"] = self.prompt_id
            out["itl_ms"] = [
                round(gap / 1e6, 3) for gap, count in self.itl_ns for _ in range(count)
            ]
            out["text"] = self.text
        return out
