"""A sans-IO line splitter for newline-delimited JSON bodies (NDJSON).

Some APIs stream one JSON object per line instead of SSE (Ollama ``/api/chat``,
``/api/generate``). This splits the body into lines and decodes them;
:class:`llmbench.framing.NdjsonDecoder` makes each line a message and the provider
parses its JSON. Lines end in LF or CRLF, as the NDJSON spec allows
(https://github.com/ndjson/ndjson-spec, "Line Separator"); empty lines are skipped,
which it also allows; and ``close`` returns a final line that has no LF, because
servers often end the body right after the last object.
"""

from __future__ import annotations

from llmbench.sse import DEFAULT_MAX_LINE_BYTES, LineTooLongError

__all__ = ["LineSplitter"]

_LF = 10  # b"\n"[0]
_CR = 13  # b"\r"[0]; ``int in bytes`` is a memchr, much faster than ``b"\r" in bytes``


def _decode(block: bytes) -> str:
    # Whole lines only reach here, so no UTF-8 character is ever cut in two, and LF
    # is never part of a multibyte sequence, so decoding a block of lines at once
    # gives the same text as decoding each line. Invalid UTF-8 becomes U+FFFD
    # rather than failing the stream, as in llmbench.sse.
    try:
        return block.decode()
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace")


class LineSplitter:
    """Incremental NDJSON line splitter: ``feed`` bytes, get complete non-empty lines.

    Chunk boundaries may fall anywhere, including inside CRLF or a UTF-8 character.
    A line (without its LF) longer than ``max_line_bytes`` raises
    :class:`~llmbench.sse.LineTooLongError` as soon as the pending part passes the
    bound; the splitter must not be fed again after that.
    """

    __slots__ = ("_max", "_pending", "_pending_len")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
        self._max = max_line_bytes
        self._pending: list[bytes] = []  # the unterminated last line, in pieces
        self._pending_len = 0

    def feed(self, data: bytes) -> list[str]:
        """Consume the next chunk of the body; return the lines it completed."""
        if data and data[-1] == _LF and not self._pending:
            return self._split(data)  # fast path: whole lines, nothing pending
        end = data.rfind(b"\n") + 1
        lines: list[str] = []
        if end:
            block = data[:end] if end < len(data) else data
            if self._pending:
                self._pending.append(block)
                block = b"".join(self._pending)
                self._pending.clear()
                self._pending_len = 0
            lines = self._split(block)
        if end < len(data):
            self._stash(data[end:])
        return lines

    def close(self) -> list[str]:
        """Signal end of stream: return the final unterminated line, if any."""
        line = b"".join(self._pending).removesuffix(b"\r")
        self._pending.clear()
        self._pending_len = 0
        return [_decode(line)] if line else []

    def _split(self, block: bytes) -> list[str]:
        """Split ``block``, which ends in LF, into its non-empty lines."""
        if len(block) > self._max:
            self._check(max(map(len, block.split(b"\n"))))
        lines = _decode(block).split("\n")
        del lines[-1]  # the empty string after the final LF
        if _CR in block:
            lines = [line.removesuffix("\r") for line in lines]
        if "" in lines:
            lines = [line for line in lines if line]
        return lines

    def _stash(self, tail: bytes) -> None:
        """Keep an unterminated line, raising once it passes the bound."""
        self._pending_len += len(tail)
        if self._pending_len > self._max:
            size = self._pending_len
            self._pending.clear()
            self._pending_len = 0
            self._check(size)
        self._pending.append(tail)

    def _check(self, size: int) -> None:
        if size > self._max:
            raise LineTooLongError(
                f"NDJSON line of at least {size} bytes exceeds max_line_bytes={self._max}"
            )
