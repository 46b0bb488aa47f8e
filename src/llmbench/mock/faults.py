"""Fault injection for the mock: which requests misbehave, and the bytes they get instead.

A benchmark tool is used exactly when servers misbehave, so the mock reproduces the
ways they do: error statuses, a proxy's HTML page, streams cut, stalled, trickled or
never answered, broken or oversized events, a missing end signal, an error event and a
wrong Content-Type. `--fault SPEC` (repeatable) names the modes and `--fault-rate P`
the share of generation requests that get one; a faulted request gets exactly one
mode, drawn uniformly from those given, from a generator seeded by `--seed`.

Everything here is plain code over bytes, like the formats: the server asks the plan
for a `Fault` per request and applies it through the hooks in `server.py` and
`streams.py`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from llmbench.mock import http11
from llmbench.mock.streams import StreamPlan

__all__ = [
    "FAULT_KINDS",
    "HUGE_EVENT_BYTES",
    "RETRY_AFTER_S",
    "STALL_AFTER",
    "TRICKLE_NS",
    "Fault",
    "FaultError",
    "FaultPlan",
    "TrickleJob",
    "bad_json",
    "error_event",
    "huge_event",
    "parse_fault",
    "response",
    "shape",
    "whole_body",
]

# Modes that answer before any stream starts, and modes that change a stream.
_RESPONSE_KINDS = ("status", "html", "hang")
_STREAM_KINDS = (
    "cut",
    "stall",
    "trickle",
    "badjson",
    "huge",
    "noend",
    "error-event",
    "content-type",
)
FAULT_KINDS = _RESPONSE_KINDS + _STREAM_KINDS
_STATUS_CODES = (429, 500, 503)

# One event larger than any line bound a client should accept (llmbench's is 1 MiB):
# 10 MB is what a buggy server dumping a whole document into one chunk looks like.
HUGE_EVENT_BYTES = 10 * 1024 * 1024
# `stall` stops after this many content chunks: after the first token, so the client's
# mid-stream (stall) limit fires rather than its time-to-first-token limit.
STALL_AFTER = 2
# `trickle` writes one byte per tick of this length (the wheel's ~1 ms resolution).
TRICKLE_NS = 1_000_000
# What a 503 tells a client to wait; small, so retrying clients are tested quickly.
RETRY_AFTER_S = 1

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class FaultError(ValueError):
    """A `--fault` spec that names no known mode, or gives it a bad argument."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault mode; `arg` is the status code (`status`) or chunk count (`cut`)."""

    kind: str
    arg: int | None = None

    @property
    def spec(self) -> str:
        """The `--fault` spelling, e.g. `status:503` (what `--stats` counts by)."""
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"

    @property
    def is_stream(self) -> bool:
        """True for modes that change a streamed reply (not applied to non-streamed ones)."""
        return self.kind in _STREAM_KINDS


def parse_fault(spec: str) -> Fault:
    """Parse one `--fault` value; raise `FaultError` naming the spec and the rule."""
    kind, colon, arg = spec.strip().partition(":")
    if kind == "status":
        if not arg.isdigit() or int(arg) not in _STATUS_CODES:
            codes = ", ".join(f"status:{c}" for c in _STATUS_CODES)
            raise FaultError(f"--fault {spec!r}: the status must be one of {codes}")
        return Fault("status", int(arg))
    if kind == "cut":
        if not arg.isdigit():
            raise FaultError(f"--fault {spec!r}: cut needs a chunk count N >= 0, as in cut:5")
        return Fault("cut", int(arg))
    if kind not in FAULT_KINDS:
        known = ", ".join(
            ("status:CODE", "cut:N", *(k for k in FAULT_KINDS if k not in ("status", "cut")))
        )
        raise FaultError(f"--fault {spec!r} is not a fault mode; known: {known}")
    if colon:
        raise FaultError(f"--fault {spec!r}: {kind} takes no argument")
    return Fault(kind)


class FaultPlan:
    """Draws the fault (or none) for each generation request, reproducibly per seed."""

    def __init__(self, faults: Sequence[Fault], rate: float, rand: Callable[[], float]) -> None:
        self._faults = tuple(faults)
        self._rate = rate
        self._rand = rand

    @classmethod
    def seeded(cls, faults: Sequence[Fault], rate: float, seed: int | None) -> FaultPlan:
        """A plan with its own generator, so faults never shift the jitter's sequence."""
        return cls(faults, rate, random.Random(seed).random)

    def draw(self) -> Fault | None:
        """The fault for the next request: with probability `rate`, one mode uniformly."""
        if not self._faults or self._rate <= 0:
            return None
        if self._rate < 1 and self._rand() >= self._rate:
            return None
        if len(self._faults) == 1:
            return self._faults[0]
        return self._faults[int(self._rand() * len(self._faults)) % len(self._faults)]


def response(fault: Fault, extra: bytes, keep_alive: bool) -> bytes:
    """The whole reply of a `status` or `html` fault; `extra` is pre-rendered header lines."""
    if fault.kind == "html":
        return (
            http11.response_head(
                502, b"text/html", length=len(_HTML_502), keep_alive=keep_alive, extra=extra
            )
            + _HTML_502
        )
    status = fault.arg or 500
    if status == 503:
        extra += b"retry-after: %d\r\n" % RETRY_AFTER_S
    message = {429: b"rate limit exceeded", 503: b"server overloaded"}.get(
        status, b"internal server error"
    )
    body = b'{"error":{"message":"mock fault: %s","type":"HTTPError","param":null,"code":%d}}' % (
        message,
        status,
    )
    head = http11.response_head(
        status, b"application/json", length=len(body), keep_alive=keep_alive, extra=extra
    )
    return head + body


# The error event each API family documents for a failure mid-stream. Formats not listed
# get OpenAI's (vLLM sends `data: {"error": {...}}` and then `[DONE]`).
_ERROR_EVENTS = {
    "openai": (
        b'data: {"error":{"message":"mock fault: generation failed","type":"InternalServerError",'
        b'"param":null,"code":500}}\n\n',
        b"data: [DONE]\n\n",
    ),
    "anthropic": (
        b"event: error\ndata: "
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    ),
    # Dify's chat-messages stream: an `error` event with status, code and message.
    "dify": (
        b'data: {"event":"error","task_id":"mock-task","message_id":"mock-message",'
        b'"status":500,"code":"internal_server_error","message":"mock fault: generation failed"}'
        b"\n\n",
    ),
    # TGI's streaming error: a data line with `error` and `error_type`.
    "tgi": (b'data:{"error":"mock fault: generation failed","error_type":"generation"}\n\n',),
    # Ollama streams NDJSON: an error is one `{"error": ...}` line.
    "ollama": (b'{"error":"mock fault: generation failed"}\n',),
    # DashScope: `event:error` with the HTTP status as a comment line.
    "dashscope": (
        b"id:1\nevent:error\n:HTTP_STATUS/500\n"
        b'data:{"code":"InternalError","message":"mock fault: generation failed",'
        b'"request_id":"mock-request"}\n\n',
    ),
}


def error_event(format_name: str) -> bytes:
    """The framed (chunked) error event, and what the format sends after it, for a stream."""
    events = _ERROR_EVENTS.get(format_name, _ERROR_EVENTS["openai"])
    return b"".join(http11.chunk(e) for e in events) + http11.LAST_CHUNK


def bad_json() -> bytes:
    """One framed SSE event whose data is not valid JSON (a truncated chunk)."""
    return http11.chunk(b'data: {"id":"chatcmpl-broken","choices":[{"index":0,"delta":{"con\n\n')


@functools.cache
def huge_event() -> bytes:
    """One framed 10 MB single-line SSE event (built once: it is the same every time)."""
    payload = b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % (
        b"x" * HUGE_EVENT_BYTES
    )
    return http11.chunk(payload)


class TrickleJob:
    """Writes a whole pre-rendered reply one byte per `TRICKLE_NS` (the `trickle` fault)."""

    __slots__ = ("_data", "_done", "_due", "_pos", "_write", "dead")

    def __init__(
        self, write: Callable[[bytes], object], done: Callable[[], None], data: bytes, now_ns: int
    ) -> None:
        self.dead = False
        self._write = write
        self._done = done
        self._data = data
        self._pos = 0
        self._due = now_ns

    @property
    def due_ns(self) -> int:
        """The deadline of the next byte."""
        return self._due

    def fire(self, now_ns: int) -> int | None:
        """Write the next byte; hand the connection back after the last one."""
        self._write(self._data[self._pos : self._pos + 1])
        self._pos += 1
        if self._pos < len(self._data):
            self._due = now_ns + TRICKLE_NS
            return self._due
        self.dead = True
        self._done()
        return None

    def abort(self) -> None:
        """The client went away mid-trickle."""
        self.dead = True


def shape(fault: Fault, plan: StreamPlan, format_name: str) -> StreamPlan:
    """The stream plan of a reply that gets stream fault `fault` (same plan if none applies).

    Faults mid-stream happen at the token half-way through the reply, so the client has
    seen content first; `cut` and `stall` stop before the last token at the latest, so
    they always interrupt the reply.
    """
    last = plan.n - 1
    match fault.kind:
        case "cut":
            return replace(plan, stop_at=min(fault.arg or 0, last), then="close")
        case "stall":
            return replace(plan, stop_at=min(STALL_AFTER, last), then="stall")
        case "badjson":
            return replace(plan, stop_at=plan.n // 2, stop_bytes=bad_json())
        case "huge":
            return replace(plan, stop_at=plan.n // 2, stop_bytes=huge_event())
        case "error-event":
            return replace(
                plan, stop_at=plan.n // 2, stop_bytes=error_event(format_name), then="end"
            )
        case "noend":
            return replace(plan, tail=http11.LAST_CHUNK)
    return plan


def whole_body(plan: StreamPlan) -> bytes:
    """Every body byte of a planned stream, for `trickle` to write one at a time."""
    tokens = plan.tokens
    return plan.first + b"".join(tokens[k % len(tokens)] for k in range(plan.n)) + plan.tail
