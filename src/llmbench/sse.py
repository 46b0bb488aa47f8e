"""A sans-IO parser for ``text/event-stream`` (server-sent events).

Bytes go in, frozen :class:`SSEEvent` objects come out; no sockets, no clock, no
event loop. The algorithm is WHATWG HTML §9.2.6 "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

It runs once per streamed token for every concurrent stream, so ``feed`` scans with
``bytes``/``str`` methods and never loops over single bytes in Python: LF-only input
(what every inference server sends) takes a fast path, and any CR takes a slow path
that rewrites CR and CRLF line ends to LF first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "LineTooLongError",
    "SSEError",
    "SSEEvent",
    "SSEParser",
]

# The longest line (without its line end) the parser will hold, in bytes. An SSE
# event's data is one line per ``data:`` field, and inference servers put a whole JSON
# chunk on one line: a token delta is ~150-500 bytes, while a final chunk carrying
# logprobs or tool-call arguments can pass 200 KB. 1 MiB leaves 5x headroom over that
# and still caps what one misbehaving stream (say a 10 MB single-line event) can pin
# in memory: at a thousand concurrent streams, 1 GiB in the worst case rather than
# unbounded. ``--max-line-bytes`` (RunConfig.max_line_bytes) sets it per run. This is
# its one definition; NDJSON lines (llmbench.lines) have the same bound.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

_LF = 10  # b"\n"[0]; ``int in bytes`` is a memchr, much faster than ``b"\n" in bytes``
_CR = 13  # b"\r"[0]
_BOM = b"\xef\xbb\xbf"


class SSEError(Exception):
    """Base class for the errors of the SSE parser and the NDJSON line splitter."""


class LineTooLongError(SSEError):
    """A line exceeded the parser's bound; the stream cannot be parsed further.

    The Exchange records the request as ``parse_error``. The parser must not be fed
    again after raising it.
    """


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event (§9.2.6, "dispatch the event").

    ``event`` is the type (``"message"`` when the block set none or an empty one);
    ``data`` is the ``data`` field values joined with LF; ``id`` is the last event ID
    in effect at dispatch (it persists across events, ``""`` after an empty ``id:``,
    ``None`` if the stream never set one); ``retry`` is a valid ``retry`` value given
    in this event's block, else ``None``.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


_new = object.__new__
_FIELDS = SSEEvent.__dict__  # the slot descriptors, typed Any
_set_event = _FIELDS["event"].__set__
_set_data = _FIELDS["data"].__set__
_set_id = _FIELDS["id"].__set__
_set_retry = _FIELDS["retry"].__set__


def _new_event(event: str, data: str, id: str | None, retry: int | None) -> SSEEvent:
    """Build an :class:`SSEEvent` without its ``__init__``, for the hot path.

    A frozen dataclass's ``__init__`` calls ``object.__setattr__`` once per field:
    ~0.5 us here, more than the rest of the fast path. Setting the slots through
    their descriptors takes ~0.25 us and gives an equal object (a test checks it).
    """
    ev: SSEEvent = _new(SSEEvent)
    _set_event(ev, event)
    _set_data(ev, data)
    _set_id(ev, id)
    _set_retry(ev, retry)
    return ev


def _too_long(size: int, bound: int) -> LineTooLongError:
    return LineTooLongError(f"SSE line of at least {size} bytes exceeds max_line_bytes={bound}")


def _to_int(digits: str, default: int | None) -> int | None:
    # int() refuses strings over sys.get_int_max_str_digits() (4300) digits; such a
    # retry is nonsense, and ignoring it beats failing the stream.
    try:
        return int(digits)
    except ValueError:
        return default


def _decode(block: bytes) -> str:
    # The spec's decoder is UTF-8 with replacement (§9.2.6: "decoded using the UTF-8
    # decode algorithm"). Strict decoding is faster and succeeds almost always. Only
    # whole lines reach here, and LF/CR are never part of a multibyte sequence, so
    # decoding per block gives the same text as decoding the whole stream.
    try:
        return block.decode()
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace")


class SSEParser:
    """Incremental ``text/event-stream`` parser: ``feed`` bytes, get events.

    Chunk boundaries may fall anywhere (inside a CRLF, inside a UTF-8 character,
    inside the BOM); any split of a stream yields the same events. A line longer than
    ``max_line_bytes`` raises :class:`LineTooLongError` as soon as the pending partial
    line passes the bound, so the buffer never holds much more than the bound; the
    data of an event still being collected has the same bound.
    """

    __slots__ = (
        "_after_cr",
        "_at_start",
        "_clean",
        "_data",
        "_event",
        "_head",
        "_last_id",
        "_max",
        "_pending",
        "_pending_len",
        "_retry",
        "undispatched",
    )

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
        self._max = max_line_bytes
        self._at_start = True  # the BOM may still come (§9.2.6: stripped once)
        self._head = b""  # a BOM prefix split across the first chunks
        self._after_cr = False  # last chunk ended in CR: a leading LF ends no line
        self._pending: list[bytes] = []  # the unterminated last line, in pieces
        self._pending_len = 0
        self._data: list[str] = []  # the data buffer, one entry per data field
        self._event = ""  # the event type buffer
        self._last_id: str | None = None  # the last event ID buffer
        self._retry: int | None = None
        self._clean = True  # data, event type and retry are empty: at a block start
        # Events with a type but no data (Dify's keep-alive `event: ping`): the spec
        # never dispatches them, but a benchmark counts them.
        self.undispatched = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Consume the next chunk of the body; return the events it completed."""
        if self._at_start:
            data = self._strip_bom(data)
        if self._after_cr and data:
            self._after_cr = False
            if data[0] == _LF:
                data = data[1:]
        if _CR in data:
            data = self._normalize(data)
        if data and data[-1] == _LF and not self._pending:
            return self._feed_block(data)  # fast path: whole lines, nothing pending
        return self._feed_split(data)

    def close(self) -> list[SSEEvent]:
        """Signal end of stream: discard the unterminated final block (§9.2.6).

        "Once the end of the file is reached, any pending data must be discarded":
        an event without its blank line is never dispatched. Returns ``[]``; the
        signature matches ``feed`` so callers can treat both alike.
        """
        self._pending.clear()
        self._pending_len = 0
        self._data.clear()
        self._event = ""
        self._retry = None
        self._clean = True
        return []

    def _strip_bom(self, data: bytes) -> bytes:
        """Drop one leading UTF-8 BOM, waiting while the input is a prefix of it."""
        head = self._head + data
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._at_start = False
        self._head = b""
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _normalize(self, data: bytes) -> bytes:
        """Rewrite CRLF and lone CR line ends to LF (§9.2.6 accepts all three).

        ``bytes.splitlines`` breaks at exactly these three, in one C pass: about twice
        as fast as replacing CRLF with LF, whose two-byte search is slow in CPython.
        A CR that ends the chunk ends its line now; ``_after_cr`` makes ``feed`` drop
        an LF that starts the next chunk, so a CRLF split across chunks is one line end.
        """
        last = data[-1]
        self._after_cr = last == _CR
        lines = data.splitlines()
        if last in (_LF, _CR):
            lines.append(b"")  # keep the final line end
        return b"\n".join(lines)

    def _feed_split(self, data: bytes) -> list[SSEEvent]:
        """Join the pending partial line to ``data``'s lines; keep the new tail."""
        end = data.rfind(b"\n") + 1
        events: list[SSEEvent] = []
        if end:
            block = data[:end] if end < len(data) else data
            if self._pending:
                self._pending.append(block)
                block = b"".join(self._pending)
                self._pending.clear()
                self._pending_len = 0
            events = self._feed_block(block)
        if end < len(data):
            self._stash(data[end:])
        return events

    def _stash(self, tail: bytes) -> None:
        """Keep an unterminated line, raising once it passes the bound."""
        self._pending_len += len(tail)
        if self._pending_len > self._max:
            size = self._pending_len
            self._pending.clear()
            self._pending_len = 0
            raise _too_long(size, self._max)
        self._pending.append(tail)

    def _feed_block(self, block: bytes) -> list[SSEEvent]:
        """Parse ``block``, which holds whole LF-terminated lines and no CR."""
        if len(block) > self._max:
            self._check_lines(block)
        lines = _decode(block).split("\n")
        if self._clean and len(lines) == 3 and not lines[1]:
            # Fast path: the block is exactly one event with one field line and
            # no state is carried over: how servers send each token.
            line = lines[0]
            if line.startswith("data: "):
                return [_new_event("message", line[6:], self._last_id, None)]
            if line.startswith("data:"):
                return [_new_event("message", line[5:], self._last_id, None)]
        del lines[-1]  # the empty string after the final LF
        events = self._process(lines)
        # After a blank line the data, event type and retry buffers are all empty.
        self._clean = not lines[-1]
        return events

    def _check_lines(self, block: bytes) -> None:
        """Raise if any LF-terminated line in ``block`` exceeds the bound (rare path)."""
        longest = max(map(len, block.split(b"\n")))
        if longest > self._max:
            raise _too_long(longest, self._max)

    def _process(self, lines: list[str]) -> list[SSEEvent]:
        """Run the spec's per-line steps over complete, decoded lines."""
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if line.startswith("data:"):  # by far the most common line
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif not line:  # a blank line dispatches the event
                if data:  # "If the data buffer is an empty string, ... return."
                    events.append(
                        _new_event(
                            self._event or "message",
                            data[0] if len(data) == 1 else "\n".join(data),
                            self._last_id,
                            self._retry,
                        )
                    )
                    data.clear()
                elif self._event:
                    self.undispatched += 1
                self._event = ""
                self._retry = None
            elif line[0] != ":":  # a leading colon marks a comment
                self._field(line)
        if data:
            self._check_data(data)
        return events

    def _check_data(self, data: list[str]) -> None:
        """Bound an event still being collected, not just each line: many short
        ``data:`` lines without a blank one would otherwise grow without limit."""
        size = sum(map(len, data)) + len(data) - 1
        if size > self._max:
            data.clear()
            raise LineTooLongError(
                f"SSE event data of at least {size} characters exceeds max_line_bytes={self._max}"
            )

    def _field(self, line: str) -> None:
        """Process one non-``data:`` field line ("Process the field", §9.2.6)."""
        # No colon: the whole line is the name and the value is empty.
        name, _, value = line.partition(":")
        if value.startswith(" "):  # exactly one leading space is stripped
            value = value[1:]
        match name:
            case "data":  # only "data" with no colon comes here
                self._data.append(value)
            case "event":
                self._event = value
            case "id" if "\0" not in value:  # an id containing NULL is ignored
                self._last_id = value
            case "retry" if value.isascii() and value.isdigit():  # ASCII digits only
                self._retry = _to_int(value, self._retry)
            # any other field is ignored
