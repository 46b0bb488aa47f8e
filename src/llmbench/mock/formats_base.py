"""What every mock wire format shares: the request/reply types, the `Endpoint` protocol,
the tokens a reply is made of (`Vocab`) and the small JSON/SSE helpers.

A format is a set of `Endpoint`s. An endpoint parses a request into a `GenRequest` and
renders a reply as pre-encoded messages: what goes out with the head, just before the
first token, once per token, and after the last token. Rendering happens once per
request; the timing engine (`streams.py`) then only picks bytes by index. HTTP framing
(chunks, heads) is not a format's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOCAB",
    "JSON_TYPE",
    "NDJSON_TYPE",
    "SSE_TYPE",
    "WORDS",
    "Body",
    "Endpoint",
    "FormatError",
    "GenRequest",
    "HeaderLookup",
    "Reply",
    "StreamEvents",
    "Vocab",
    "count_words",
    "get_bool",
    "get_messages",
    "get_object",
    "get_str",
    "load_object",
    "max_tokens",
    "sse",
    "sse_event",
]

# Short, common English words: each is one token for the usual BPE tokenizers, so a
# client counting tokens by tokenizer agrees with the usage the mock reports.
_PLAIN_WORDS = (
    "the of and to in is it that was for on are with as his they at be this from "
    "have or by one had not but what all were when we there can an your which their"
)
WORDS: tuple[str, ...] = tuple(" " + w for w in _PLAIN_WORDS.split(" "))
DEFAULT_MODEL = "llmbench-mock"

SSE_TYPE = b"text/event-stream; charset=utf-8"
JSON_TYPE = b"application/json"
NDJSON_TYPE = b"application/x-ndjson"

# A request header by lower-case name (the first value), or None.
HeaderLookup = Callable[[bytes], bytes | None]


class FormatError(Exception):
    """The request is well-framed HTTP but not a valid request for this endpoint."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class GenRequest:
    """What a generation request asks for, independent of its API family.

    `cumulative`: every streamed event repeats the whole text so far (DashScope without
    `incremental_output`) instead of carrying only the new token. `prompt` is the
    prompt as the request gave it (a string, a message list, ...), only read by the
    prefix cache (`prefix_cache.prompt_words`). A conversation API sets `conversation`:
    "" to start one, else the id to continue (of `user`); the server puts the id it
    issued there before rendering (see `conversations.py`).
    """

    model: str
    max_tokens: int | None
    stream: bool
    include_usage: bool
    prompt_tokens: int
    cumulative: bool = False
    prompt: object = None
    conversation: str | None = None
    user: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply to render: `n` output tokens, ending with `finish` ("length"/"stop")."""

    request: GenRequest
    n: int
    finish: str
    rid: str
    created: int


@dataclass(frozen=True, slots=True)
class StreamEvents:
    """A streamed reply as complete messages (each becomes one HTTP chunk).

    Token k is written as `tokens[k % len(tokens)]`: a format whose events are the same
    for every occurrence of a word renders one event per vocabulary word; one whose
    events differ per position (counters, cumulative text) renders `n` of them.
    """

    content_type: bytes
    preamble: tuple[bytes, ...]
    first: tuple[bytes, ...]
    tokens: tuple[bytes, ...]
    tail: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Body:
    """A non-streamed reply."""

    content_type: bytes
    body: bytes


class Endpoint(Protocol):
    """One generation route of an API family (`family` names it for fault injection)."""

    family: str
    path: str

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        """Validate a request; raise `FormatError` when it is not acceptable."""
        ...

    def stream(self, reply: Reply) -> StreamEvents:
        """Render a streamed reply."""
        ...

    def body(self, reply: Reply) -> Body:
        """Render a non-streamed reply."""
        ...


@dataclass(frozen=True, slots=True)
class Vocab:
    """The tokens replies are made of: token k is `words[k % len(words)]`."""

    words: tuple[str, ...]
    json: tuple[bytes, ...]  # each word as a JSON string, encoded once per server

    @classmethod
    def of(cls, words: Sequence[str]) -> Vocab:
        """A vocabulary of `words` (at least one)."""
        if not words:
            raise ValueError("a vocabulary needs at least one word")
        return cls(tuple(words), tuple(orjson.dumps(w) for w in words))

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """The words of `text`, each with the whitespace before it, so they join back."""
        return cls.of(re.findall(r"\s*\S+", text))

    def word(self, k: int) -> str:
        """Token k of every reply."""
        return self.words[k % len(self.words)]

    def text(self, n: int) -> str:
        """The first `n` tokens of a reply, joined."""
        return "".join(self.word(k) for k in range(n))


DEFAULT_VOCAB = Vocab.of(WORDS)


def sse(payload: bytes) -> bytes:
    """An unnamed SSE event, `data: ` with the space, as most servers write it."""
    return b"data: " + payload + b"\n\n"


def sse_event(name: bytes, payload: bytes) -> bytes:
    """A named SSE event (`event:` line, then `data:`)."""
    return b"event: " + name + b"\ndata: " + payload + b"\n\n"


def count_words(value: object) -> int:
    """Prompt tokens, estimated cheaply as whitespace-separated words (documented)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 1  # a pre-tokenized prompt: one token id
    if isinstance(value, dict):
        return count_words(value.get("content")) + count_words(value.get("text"))
    return 0


def load_object(body: bytes) -> dict[str, object]:
    """The request body as a JSON object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError("request body must be a JSON object")
    return data


def max_tokens(data: Mapping[str, object], *names: str) -> int | None:
    """The first of `names` present: an output-token limit >= 1."""
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FormatError(f"{name} must be an integer >= 1, got {value!r}", name)
        return value
    return None


def get_str(data: Mapping[str, object], name: str, default: str) -> str:
    """A string field; absent or null gives `default`."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise FormatError(f"{name} must be a string", name)
    return value


def get_bool(data: Mapping[str, object], name: str, default: bool) -> bool:
    """A boolean field; absent or null gives `default`."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FormatError(f"{name} must be a boolean", name)
    return value


def get_messages(data: Mapping[str, object]) -> list[object]:
    """The chat APIs' required ``messages``: a non-empty array."""
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise FormatError("messages must be a non-empty array", "messages")
    return messages


def get_object(data: Mapping[str, object], name: str) -> dict[str, object]:
    """An object field; absent or null gives an empty one."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FormatError(f"{name} must be an object", name)
    return value
