"""One request's receive state machine: bytes and instants in, a RequestResult out.

This is the runner's receive loop with the I/O taken out: a transport calls
``on_head``, ``on_data`` and ``finish`` with ``perf_counter_ns`` instants it read
when the bytes arrived. No clock is read here, so tests drive it with numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Protocol

import orjson

from llmbench.events import Content, End, Meta, StreamError, StreamEvent, Usage
from llmbench.lines import LineSplitter
from llmbench.providers.base import Provider, error_text
from llmbench.result import Phase, RequestResult
from llmbench.sse import SSEError, SSEEvent, SSEParser
from llmbench.tokens import TokenPolicy, count_input, count_output

__all__ = ["ERROR_BODY_BYTES", "Exchange", "bounded"]

_DEFAULT_TOKENS = TokenPolicy()
_NO_USAGE = Usage()

# What we keep of an error body or message: enough to read, never a memory risk.
ERROR_BODY_BYTES = 1024

# What a body must be labelled, when the server labels it at all: a 200 with another
# type (a proxy's page, a misconfigured gateway) is not the stream we asked for, even
# when its body happens to parse as events. NDJSON and JSON: any type naming json
# (application/json, application/x-ndjson, application/jsonl, ...+json).
_SSE_TYPE = "text/event-stream"
_EXPECTED_TYPE: dict[str, tuple[str, Callable[[str], bool]]] = {
    "sse": (_SSE_TYPE, lambda media: media == _SSE_TYPE),
    "ndjson": ("an NDJSON type", lambda media: "json" in media),
    "json": ("a JSON type", lambda media: "json" in media),
}


def bounded(text: str, limit: int = ERROR_BODY_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _type_problem(framing: str, content_type: str | None) -> str | None:
    """Why a 200's Content-Type is not the framing's body, or None if it may be."""
    if not content_type:
        return None  # unlabelled: the body decides
    media = _media(content_type)
    want, ok = _EXPECTED_TYPE[framing]
    return None if ok(media) else f"expected {want}, got {bounded(media, 200)}"


def _one_line(body: bytes) -> str:
    """An error body as one line: whitespace runs (newlines too) become one space."""
    return " ".join(body.decode("utf-8", "replace").split())


def _json_error(body: bytes) -> str | None:
    """The ``{"error": ...}`` a gateway sent as a 200 JSON body, if it is one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = obj.get("error") if isinstance(obj, dict) else None
    return None if error is None else " ".join(error_text(error).split())


# Anything a provider's decode may raise on a message it cannot read.
_DECODE_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, SSEError)


class _Framing(Protocol):
    """Splits a body into messages; SSE events are the messages' common shape.
    ``undispatched`` counts messages with no data (SSE pings), which decode never sees."""

    @property
    def undispatched(self) -> int: ...

    def feed(self, data: bytes) -> list[SSEEvent]: ...

    def close(self) -> list[SSEEvent]: ...


class _JsonBody:
    """Framing ``json``: the whole body is one message, delivered at EOF."""

    undispatched = 0

    def __init__(self, max_bytes: int) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_bytes

    def feed(self, data: bytes) -> list[SSEEvent]:
        self._size += len(data)
        if self._size > self._max:
            raise ValueError(f"response body larger than {self._max} bytes")
        self._parts.append(data)
        return []

    def close(self) -> list[SSEEvent]:
        return [SSEEvent(data=b"".join(self._parts).decode("utf-8", "replace"))]


class _Ndjson:
    """Framing ``ndjson``: one message per line."""

    undispatched = 0

    def __init__(self, max_bytes: int) -> None:
        self._lines = LineSplitter(max_bytes)

    def feed(self, data: bytes) -> list[SSEEvent]:
        return [SSEEvent(data=line) for line in self._lines.feed(data)]

    def close(self) -> list[SSEEvent]:
        return [SSEEvent(data=line) for line in self._lines.close()]


_FRAMINGS: dict[str, Callable[[int], _Framing]] = {
    "sse": SSEParser,
    "ndjson": _Ndjson,
    "json": _JsonBody,
}


# No request counts more tokens than this; a larger "count" is garbage, and would not
# fit the 64-bit integers JSON writers (orjson) accept once summed over a run.
_MAX_COUNT = 2**32


def _count(value: object) -> int | None:
    """A server's token count, if it is one: a JSON string or float is not a count."""
    return value if type(value) is int and 0 <= value <= _MAX_COUNT else None


def _merge_usage(old: Usage | None, new: Usage) -> Usage:
    """A usage update keeps what it does not say: Anthropic's message_delta carries
    only output_tokens, its message_start the input_tokens."""
    prompt, completion = _count(new.prompt), _count(new.completion)
    if old is not None:
        prompt = old.prompt if prompt is None else prompt
        completion = old.completion if completion is None else completion
    return Usage(prompt, completion)


class Exchange:
    """Collects one request's timings from the events its provider decodes."""

    def __init__(
        self,
        provider: Provider,
        *,
        index: int,
        phase: Phase,
        t0_ns: int,
        intended_ns: int | None = None,
        key_index: int | None = None,
        max_line_bytes: int,
        tokens: TokenPolicy = _DEFAULT_TOKENS,
        prompt: str = "",
    ) -> None:
        self._decode = provider.decode
        self._framing = _FRAMINGS[provider.framing](max_line_bytes)
        self._framing_name = provider.framing
        self.index = index
        self.phase: Phase = phase
        self.t0_ns = t0_ns
        self.intended_ns = intended_ns
        self.key_index = key_index
        self.http_status: int | None = None
        self.ttfb_ns: int | None = None
        self._ttft_at: int | None = None
        self._end_at: int | None = None
        self._end_reason: str | None = None
        self._content_at: list[int] = []
        self._chars = 0
        self._tokens = tokens
        self._prompt = prompt
        self._texts: list[str] | None = [] if tokens.keeps_text else None
        self._chunk_tokens: dict[int, int] = {}
        self._usage_updates = 0
        self._usage: Usage | None = None
        self._failure: tuple[str, str] | None = None
        self._detail: str | None = None
        self._error_body: bytearray | None = None  # kept (bounded) for the message
        self._wrong_type: str | None = None  # a 200 JSON body where a stream was due
        self._first_frame: str | None = None
        self._last_frame: str | None = None
        self._meta_events = 0

    @property
    def meta_events(self) -> int:
        """Messages counted but never timed: Meta events and data-less SSE events."""
        return self._meta_events + self._framing.undispatched

    @property
    def has_token(self) -> bool:
        """Whether the first token (TTFT) has arrived: the ttft time limit stops here."""
        return self._ttft_at is not None

    @property
    def failed(self) -> bool:
        """True once the request is lost: the transport may stop reading."""
        return self._failure is not None

    def on_head(self, status: int, t_ns: int, content_type: str | None = None) -> None:
        self.http_status = status
        self.ttfb_ns = t_ns - self.t0_ns
        if status >= 400:
            self._error_body = bytearray()
            return
        problem = _type_problem(self._framing_name, content_type)
        if problem is None:
            return
        if content_type is not None and "json" in _media(content_type):
            self._wrong_type = problem  # an API error as JSON, or not: finish reads it
            self._error_body = bytearray()
        else:
            self._fail("parse_error", problem)

    def on_data(self, data: bytes, t_ns: int) -> bool:
        """Feed body bytes that arrived at ``t_ns``; return True if the request failed."""
        if self._error_body is not None:
            room = ERROR_BODY_BYTES - len(self._error_body)
            if room > 0:
                self._error_body += data[:room]
            return False
        if self._failure is not None:
            return True
        try:
            self._on_messages(self._framing.feed(data), t_ns)
        except _DECODE_ERRORS as exc:
            self._fail("parse_error", f"{type(exc).__name__}: {exc}")
        return self._failure is not None

    def _on_messages(self, messages: list[SSEEvent], t_ns: int) -> None:
        decode = self._decode
        for message in messages:
            data = message.data
            self._last_frame = data
            for item in decode(message.event, data):
                self._on_event(item, data, t_ns)

    def _on_event(self, item: StreamEvent, data: str, t_ns: int) -> None:
        match item:
            case Content(text=text, reasoning=reasoning):
                if text or reasoning:
                    if self._ttft_at is None:
                        self._ttft_at = t_ns
                        self._first_frame = data
                    self._content_at.append(t_ns)
                    self._chars += len(text) + len(reasoning)
                    if self._texts is not None:
                        self._texts.append(text + reasoning)
            case End(reason=reason):
                if self._end_at is None:
                    self._end_at = t_ns
                    self._end_reason = reason
            case Usage():
                self._on_usage(item)
            case StreamError(message=message):
                self._fail("stream_error", message)
            case Meta():
                self._meta_events += 1

    def _on_usage(self, usage: Usage) -> None:
        """Usage mid-stream (vLLM's continuous_usage_stats) tells how many tokens
        the latest chunk carried: the cumulative count's step since the last one."""
        previous = self._usage.completion if self._usage is not None else None
        self._usage = _merge_usage(self._usage, usage)
        completion = _count(usage.completion)
        if completion is None or not self._content_at or self._end_at is not None:
            return
        self._usage_updates += 1
        step = completion - (previous or 0)
        if step > 0:
            self._chunk_tokens[len(self._content_at) - 1] = step

    def _per_chunk_tokens(self) -> tuple[int, ...] | None:
        """Tokens in each content chunk, when known (continuous usage or a tokenizer)."""
        chunks = len(self._content_at)
        if self._usage_updates >= 2 and self._chunk_tokens:
            return tuple(self._chunk_tokens.get(i, 1) for i in range(chunks))
        counter = self._tokens.counter
        if counter is not None and self._texts is not None and self._tokens.mode == "tokenizer":
            return tuple(max(1, counter(text)) for text in self._texts)
        return None

    def _fail(self, status: str, message: str) -> None:
        if self._failure is None:
            self._failure = (status, bounded(message))

    def finish(self, t_ns: int) -> RequestResult:
        """The body ended (or the connection closed) at ``t_ns``."""
        if self._error_body is not None:
            status, message = self._body_failure()
            return self._result(status, t_ns, message)
        if self._failure is None:
            try:
                self._on_messages(self._framing.close(), t_ns)
            except _DECODE_ERRORS as exc:
                self._fail("parse_error", f"{type(exc).__name__}: {exc}")
        if self._failure is not None:
            status, message = self._failure
            return self._result(status, t_ns, message)
        if self._end_at is None:
            return self._result("incomplete", t_ns, "stream ended without an end signal")
        return self._result("ok", t_ns, None)

    def _body_failure(self) -> tuple[str, str]:
        """An HTTP error from its body's start; a 200 JSON body where a stream was due
        is one too when it carries ``{"error": ...}``, else a parse_error naming its type."""
        body = bytes(self._error_body or b"")
        if self._wrong_type is None:
            return "http_error", bounded(f"HTTP {self.http_status}: {_one_line(body)}")
        error = _json_error(body)
        if error is not None:
            return "http_error", bounded(f"HTTP {self.http_status}: {error}")
        return "parse_error", bounded(f"{self._wrong_type}: {_one_line(body)}")

    def fail(
        self, status: str, message: str, t_ns: int, detail: str | None = None
    ) -> RequestResult:
        """The transport lost the request (connect error, timeout, cancel); ``detail``
        says which time limit (connect, ttft, stall, total) for a timeout."""
        self._detail = self._detail or detail
        self._fail(status, message)
        assert self._failure is not None
        return self._result(self._failure[0], t_ns, self._failure[1])

    def _result(self, status: str, t_ns: int, error: str | None) -> RequestResult:
        times = self._content_at
        usage = self._usage or _NO_USAGE
        policy = self._tokens
        text = "".join(self._texts) if self._texts is not None else ""
        tokens, source = count_output(
            policy.mode, usage.completion, text, self._chars, policy.counter
        )
        input_tokens = count_input(policy.mode, usage.prompt, self._prompt, policy.counter)
        return RequestResult(
            index=self.index,
            phase=self.phase,
            status=status,
            detail=self._detail if status != "ok" else None,
            t0_ns=self.t0_ns,
            end_ns=t_ns,
            intended_ns=self.intended_ns,
            http_status=self.http_status,
            error=error,
            key_index=self.key_index,
            ttfb_ns=self.ttfb_ns,
            ttft_ns=None if self._ttft_at is None else self._ttft_at - self.t0_ns,
            latency_ns=None if self._end_at is None else self._end_at - self.t0_ns,
            output_tokens=tokens,
            input_tokens=input_tokens,
            token_source=source,
            chunks=len(times),
            chars=self._chars,
            end_reason=self._end_reason,
            icl_ns=tuple(b - a for a, b in pairwise(times)),
            chunk_tokens=self._per_chunk_tokens(),
            first_frame=self._first_frame,
            last_frame=self._last_frame,
            meta_events=self.meta_events,
        )
