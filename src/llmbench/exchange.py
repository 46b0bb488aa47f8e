"""One request's receive state machine: bytes and instants in, a RequestResult out.

This is the runner's receive loop with the I/O taken out: a transport calls
``on_head``, ``on_data`` and ``finish`` (or ``lost``) with the clock instants it read
when the bytes arrived. No clock is read here, so tests drive it with numbers.
:attr:`Exchange.ended` tells the transport when the provider's stream is over (its
final end signal, or a failure): it stops reading there, and nothing after the first
end signal is timed or counted. Every text the result keeps is redacted (``redact``)
before it is cut to its cap.

The hot loop is ``on_data`` -> the framing's decoder -> ``Provider.decode`` ->
``_on_event``, once per streamed token; what is not per token lives beside it:
:mod:`llmbench.framing` (body to messages), :mod:`llmbench.content_type` (which
label a 200 may carry), :mod:`llmbench.error_body` (an error body as a message) and
:mod:`llmbench.usage` (which usage counts to believe).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

from llmbench.caps import bounded
from llmbench.content_type import is_json, mismatch
from llmbench.error_body import ErrorBody, is_error_status
from llmbench.events import Content, Conversation, End, Meta, StreamError, StreamEvent, Usage
from llmbench.framing import Message, message_decoder
from llmbench.providers.base import Provider, end_reason
from llmbench.result import Phase, RequestResult, Status
from llmbench.sse import SSEError
from llmbench.tokens import TokenPolicy, count_input, count_output
from llmbench.usage import merge_usage, token_count
from llmbench.workload import WorkloadItem

__all__ = ["MAX_REASON_BYTES", "Exchange"]

_DEFAULT_TOKENS = TokenPolicy()
_NO_USAGE = Usage()
_NO_ITEM = WorkloadItem(prompt="")

# Anything a provider's decode may raise on a message it cannot read.
_DECODE_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, SSEError)

# An end reason is a word (stop, length, end_turn); one a server made long is cut here.
MAX_REASON_BYTES = 200


# Where the content stands, one attribute read per content event: before the first
# token, between it and the first end signal, after that (content is dropped).
_WAITING, _STREAMING, _CLOSED = 0, 1, 2


class _StreamOver(Exception):
    """Raised by ``_on_event`` at a final End: the messages left in the batch are
    after the end, and are dropped (cheaper than a check per message)."""


def _identity(text: str) -> str:
    return text


class Exchange:
    """Collects one request's timings from the events its provider decodes."""

    # Slots: the per-token path reads a dozen of these. Measured on CPython 3.11, slot
    # reads beat the instance dict's, which lost its fast path at 30 attributes (+3%
    # per token in benchmarks/token_path.py's Exchange row).
    __slots__ = (
        "_chars",
        "_chunk_tokens",
        "_content_at",
        "_content_state",
        "_conversation",
        "_decode",
        "_decoder",
        "_detail",
        "_end_at",
        "_end_reason",
        "_error_body",
        "_failure",
        "_first_frame",
        "_framing",
        "_item",
        "_keep_text",
        "_keeps",
        "_last_frame",
        "_meta_events",
        "_over",
        "_prompt",
        "_prompt_id",
        "_redact",
        "_reply",
        "_reply_room",
        "_texts",
        "_tokens",
        "_ttft_at",
        "_usage",
        "_usage_updates",
        "http_status",
        "index",
        "intended_ns",
        "key_index",
        "phase",
        "t0_ns",
        "ttfb_ns",
    )

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
        redact: Callable[[str], str] = _identity,
        keep_text: bool = False,
        prompt_id: int | None = None,
        item: WorkloadItem | None = None,
        reply_chars: int = 0,
    ) -> None:
        """``redact`` scrubs credentials from any text the result keeps (error
        messages, sample frames, the end reason) before it is cut to its cap.
        ``keep_text`` (--save-detailed) puts the generated text and ``prompt_id`` in
        the result. ``item`` is the workload item sent: its session, turn and prefix
        labels go into the result. ``reply_chars`` keeps up to that many characters of
        the reply's content (not its reasoning) as :attr:`reply`: a session's next turn
        carries it, and a reply without end must not grow the client's memory."""
        self._decode = provider.decode
        self._decoder = message_decoder(provider.framing, max_line_bytes)
        self._framing = provider.framing
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
        self._texts: list[str] | None = [] if tokens.keeps_text or keep_text else None
        self._keep_text = keep_text
        self._reply: list[str] | None = [] if reply_chars > 0 else None
        self._reply_room = reply_chars
        self._keeps = self._texts is not None or self._reply is not None
        self._prompt_id = prompt_id
        self._item = item
        self._conversation: str | None = None
        self._chunk_tokens: dict[int, int] = {}
        self._usage_updates = 0
        self._usage: Usage | None = None
        self._failure: tuple[Status, str] | None = None
        self._detail: str | None = None
        self._error_body: ErrorBody | None = None  # the body is an error, not a stream
        self._first_frame: str | None = None
        self._last_frame: str | None = None
        self._meta_events = 0
        self._over = False  # a final End arrived or the request failed: read no more
        self._content_state = _WAITING
        self._redact = redact

    @property
    def meta_events(self) -> int:
        """Messages counted but never timed: Meta events and data-less SSE events."""
        return self._meta_events + self._decoder.undispatched

    @property
    def has_token(self) -> bool:
        """Whether the first token (TTFT) has arrived: the ttft time limit stops here."""
        return self._ttft_at is not None

    @property
    def ended(self) -> bool:
        """True once the stream is over for the provider (a final End: ``[DONE]``,
        ``message_stop``, ``message_end``, ...) or the request failed: the transport
        stops reading and calls ``finish`` now. A non-final End (OpenAI's
        ``finish_reason``: usage may follow) does not end it, and an error response
        (any status but a 2xx with a body) never ends early: it is read to its end."""
        return self._over

    @property
    def failed(self) -> bool:
        """True once the request is lost: the transport may stop reading."""
        return self._failure is not None

    def on_head(
        self,
        status: int,
        t_ns: int,
        content_type: str | None = None,
        location: str | None = None,
    ) -> None:
        """The response head arrived at ``t_ns``. A status that is not a stream's
        (not 2xx, or 204/205) is an ``http_error``: its body is kept for the message,
        and a redirect's ``location`` (the header, when given) is named in it."""
        self.http_status = status
        self.ttfb_ns = t_ns - self.t0_ns
        if is_error_status(status):
            self._error_body = ErrorBody(location=location)
            return
        problem = mismatch(self._framing, content_type, self._redact)
        if problem is None:
            return
        if content_type is not None and is_json(content_type):
            self._error_body = ErrorBody(problem)  # an API error as JSON, or not: finish reads it
        else:
            self._mark_failed("parse_error", problem)

    def on_data(self, data: bytes, t_ns: int) -> bool:
        """Feed body bytes that arrived at ``t_ns``; return True if the request failed.
        Once :attr:`ended`, bytes are dropped unread: nothing after the end counts."""
        if self._error_body is not None:
            self._error_body.add(data)
            return False
        if self._over:
            return self._failure is not None
        try:
            self._on_messages(self._decoder.feed(data), t_ns)
        except _StreamOver:
            pass
        except _DECODE_ERRORS as exc:
            self._mark_failed("parse_error", f"{type(exc).__name__}: {exc}")
        return self._failure is not None

    def _on_messages(self, messages: Sequence[Message], t_ns: int) -> None:
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
                    if self._content_state != _STREAMING:
                        if self._content_state == _CLOSED:
                            return  # after the first End: neither timed nor counted
                        self._content_state = _STREAMING
                        self._ttft_at = t_ns
                        self._first_frame = data
                    self._content_at.append(t_ns)
                    self._chars += len(text) + len(reasoning)
                    if self._keeps:
                        self._keep(text, reasoning)
            case End(reason=reason, final=final):
                if self._end_at is None:
                    self._end_at = t_ns
                    self._end_reason = reason
                    self._content_state = _CLOSED
                if final:
                    self._over = True
                    raise _StreamOver
            case Usage():
                self._on_usage(item)
            case StreamError(message=message):
                self._mark_failed("stream_error", message)
            case Meta():
                self._meta_events += 1
            case Conversation(id=conversation):
                self._conversation = conversation

    def _keep(self, text: str, reasoning: str) -> None:
        """Keep a content event's text: all of it to count or save (``_texts``), and the
        content alone, up to its room, as the session's reply (``_reply``)."""
        if self._texts is not None:
            self._texts.append(text + reasoning)
        if self._reply is not None and self._reply_room > 0 and text:
            self._reply.append(text[: self._reply_room])
            self._reply_room -= len(text)

    @property
    def reply(self) -> str:
        """The reply's content as kept (``reply_chars``): "" when none was kept."""
        return "".join(self._reply) if self._reply is not None else ""

    @property
    def conversation(self) -> str | None:
        """The conversation the server named (Dify), as sent: a later turn sends it back."""
        return self._conversation

    def _on_usage(self, usage: Usage) -> None:
        """Usage mid-stream (vLLM's continuous_usage_stats) tells how many tokens
        the latest chunk carried: the cumulative count's step since the last one."""
        previous = self._usage.completion if self._usage is not None else None
        self._usage = merge_usage(self._usage, usage)
        completion = token_count(usage.completion)
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

    def _mark_failed(self, status: Status, message: str) -> None:
        """Record why the request failed; the first reason wins. No result yet."""
        if self._failure is None:
            self._failure = (status, bounded(self._redact(message)))
            self._over = True

    def finish(self, t_ns: int) -> RequestResult:
        """The body ended (or the connection closed) at ``t_ns``."""
        if self._error_body is not None:
            status, message = self._error_body.failure(self.http_status, self._redact)
            return self._result(status, t_ns, message)
        if not self._over:
            try:
                self._on_messages(self._decoder.close(), t_ns)
            except _StreamOver:
                pass
            except _DECODE_ERRORS as exc:
                self._mark_failed("parse_error", f"{type(exc).__name__}: {exc}")
        if self._failure is not None:
            status, message = self._failure
            return self._result(status, t_ns, message)
        if self._end_at is None:
            return self._result("incomplete", t_ns, "stream ended without an end signal")
        if not self._content_at:
            reason = self._reason()
            return self._result("empty", t_ns, f"stream ended ({reason}) with no content")
        return self._result("ok", t_ns, None)

    def _reason(self) -> str | None:
        """The end reason as a string (a provider may pass on what a server sent),
        redacted, then cut."""
        reason = self._end_reason
        if reason is None:
            return None
        return bounded(self._redact(end_reason(reason)), MAX_REASON_BYTES)

    def _frame(self, frame: str | None) -> str | None:
        return None if frame is None else self._redact(frame)

    def lost(
        self, status: Status, message: str, t_ns: int, detail: str | None = None
    ) -> RequestResult:
        """The transport (or the runner) lost the request at ``t_ns``: connect error,
        timeout, cancel. Returns the result; a failure already recorded (a stream
        error, say) wins over ``status``. ``detail`` says which time limit (connect,
        ttft, stall, total) for a timeout."""
        self._detail = self._detail or detail
        self._mark_failed(status, message)
        assert self._failure is not None
        return self._result(self._failure[0], t_ns, self._failure[1])

    def _result(self, status: Status, t_ns: int, error: str | None) -> RequestResult:
        times = self._content_at
        item = self._item or _NO_ITEM
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
            end_reason=self._reason(),
            icl_ns=tuple(b - a for a, b in pairwise(times)),
            chunk_tokens=self._per_chunk_tokens(),
            first_frame=self._frame(self._first_frame),
            last_frame=self._frame(self._last_frame),
            meta_events=self.meta_events,
            text=self._redact(text) if self._keep_text else None,
            prompt_id=self._prompt_id if self._keep_text else None,
            server_input_tokens=token_count(usage.prompt),
            session=item.session,
            turn=item.turn,
            prefix_group=item.prefix_group,
            prefix_first=item.prefix_first,
            conversation_id=None
            if self._conversation is None
            else self._redact(self._conversation),
        )
