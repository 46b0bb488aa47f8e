"""Typed stream events: what a provider makes of one wire message.

The union is closed; the runner consumes it with ``match``. Events carry no
timestamps: the runner stamps them, so providers stay free of clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Content", "Conversation", "End", "Meta", "StreamError", "StreamEvent", "Usage"]


@dataclass(frozen=True, slots=True)
class Content:
    """Generated text. ``text`` is visible output, ``reasoning`` a thinking channel."""

    text: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the server; ``None`` where the server said nothing."""

    prompt: int | None = None
    completion: int | None = None


@dataclass(frozen=True, slots=True)
class End:
    """The provider's end signal (``[DONE]``, ``finish_reason``, ``message_end`` ...).

    The first End stops the clock (latency) and closes the content: nothing after it
    is timed or counted. ``final`` says whether the stream is over too: OpenAI's
    ``finish_reason`` chunk is an End with ``final=False``, because a usage chunk may
    follow it before ``[DONE]`` (the final End); the transport stops reading at a
    final End."""

    reason: str = ""
    final: bool = True


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error reported inside an otherwise successful stream."""

    message: str


@dataclass(frozen=True, slots=True)
class Meta:
    """A message that matters for counting but not for timing (pings, workflow events)."""

    kind: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """The conversation a server keeps the history of (Dify's ``conversation_id``): a
    session's later turns send it back instead of the history."""

    id: str


StreamEvent = Content | Usage | End | StreamError | Meta | Conversation
