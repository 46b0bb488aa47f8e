"""Multi-turn sessions: a chat user's turns, sent one at a time, each carrying the
conversation so far. Pure: texts and numbers in, workload items out; the runner owns
the sending, the clock and the think-time sleeps.

A :class:`Session` is what a dataset (or the synthetic generator) gives: its user turns
and, when the dataset has them, reference replies. A :class:`SessionState` walks one
session: :meth:`SessionState.request` is the next turn's :class:`WorkloadItem`,
:meth:`SessionState.answered` takes the reply and says whether another turn follows.

How the history travels depends on the API (a provider's ``history`` attribute):

``messages``  chat APIs (OpenAI chat, Anthropic, DashScope): turn k sends the message list
              user 1, assistant 1, ..., user k.
``text``      completion APIs: turn k's prompt is turn k-1's prompt, the reply to it and
              the new user text, so every turn's prompt starts with the last one's
              (what a prefix cache can reuse).
``server``    Dify: the server keeps the history. Turn 1 starts a conversation; its
              reply's ``conversation_id`` is sent with every later turn, which carries
              only its own query.

The assistant turns are the **actual streamed replies** by default; with
``reference=True`` (``--history reference``) the dataset's own replies, so every run
sends the same prompts whatever the server answered.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from llmbench.config import ConfigError
from llmbench.result import SessionEnd
from llmbench.workload import WorkloadItem

__all__ = [
    "HISTORY_STYLES",
    "MAX_HISTORY_CHARS",
    "MAX_REPLY_CHARS",
    "MAX_TURNS",
    "HistoryStyle",
    "Session",
    "SessionPlan",
    "SessionState",
    "Spread",
    "Turn",
    "history_style",
    "parse_spread",
]

HistoryStyle = Literal["messages", "text", "server"]
HISTORY_STYLES: tuple[HistoryStyle, ...] = get_args(HistoryStyle)

# A session longer than this is a data error, not a chat: it also bounds the history a
# session keeps (its replies) and the per-turn breakdown's keys.
MAX_TURNS = 1000
# A reply kept as history is cut here (as it streams: llmbench.exchange), and a session
# whose history passes MAX_HISTORY_CHARS ends: a server that streams without end must not
# grow every later turn's body, and the client's memory, with it. Real replies and
# conversations are far shorter (4,000,000 characters is about a million tokens).
MAX_REPLY_CHARS = 1_000_000
MAX_HISTORY_CHARS = 4_000_000
# Between a completion prompt's turns: a blank line, as chat transcripts separate them.
_TURN_GAP = "\n\n"


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn: its text, its own max_tokens (None: the run's), and the dataset's
    reply to it (``--history reference``; None when the dataset has none)."""

    text: str
    max_tokens: int | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """One user's conversation: its turns in order. ``extra_body`` merges into every
    turn's body (a prompts file's other fields); ``prompt_id`` is the session's index in
    its source; ``prefix_group``/``prefix_first`` label a shared prefix that starts its
    first turn (``--prefix-groups``)."""

    turns: tuple[Turn, ...]
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    prompt_id: int | None = None
    prefix_group: int | None = None
    prefix_first: bool | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.turns) <= MAX_TURNS:
            raise ValueError(f"a session has 1..{MAX_TURNS} turns, got {len(self.turns)}")


def history_style(provider: object) -> HistoryStyle:
    """How ``provider`` carries a conversation: its ``history`` attribute; a plugin
    without one is taken for a chat API (it gets the message list)."""
    style = getattr(provider, "history", "messages")
    return style if style in HISTORY_STYLES else "messages"


class SessionState:
    """One session in flight: which turn is next and the conversation so far.

    ``number`` is the session's number in the run (results' ``session``). The state
    moves request -> answered -> request ... until :attr:`end` is set: "completed"
    after the last turn's reply, "failed" when a turn failed (or a Dify reply named no
    conversation: the next turn would start a new one), "stopped" by :meth:`stop`."""

    def __init__(
        self, session: Session, number: int, style: HistoryStyle, *, reference: bool = False
    ) -> None:
        self.session = session
        self.number = number
        self._style = style
        self._reference = reference
        self._replies: list[str] = []
        self._prompt = ""  # the text style's last prompt
        self._conversation: str | None = None  # the server style's conversation_id
        self._history_chars = 0  # user turns and replies carried so far
        self.sent = 0  # turns sent
        self.ok = 0  # turns answered
        self.end: SessionEnd | None = None
        self.failure = ""  # why it failed ("" unless end == "failed")

    @property
    def turns(self) -> int:
        return len(self.session.turns)

    def request(self) -> WorkloadItem:
        """The next turn's request; counts it as sent."""
        assert self.end is None, "the session has ended"
        k = self.sent
        turn = self.session.turns[k]
        session = self.session
        self.sent += 1
        labels: dict[str, Any] = {
            "max_tokens": turn.max_tokens,
            "extra_body": session.extra_body,
            "prompt_id": session.prompt_id,
            "session": self.number,
            "turn": k + 1,
            # the shared prefix is measured on the first turn: a later turn's TTFT is its
            # history's (the per-turn figures), not the prefix's
            "prefix_group": session.prefix_group if k == 0 else None,
            "prefix_first": session.prefix_first if k == 0 else None,
        }
        if self._style == "server":
            return WorkloadItem(turn.text, conversation_id=self._conversation or "", **labels)
        if self._style == "text":
            self._prompt = self._prompt_for(k, turn.text)
            return WorkloadItem(self._prompt, **labels)
        messages = self._messages(k, turn.text)
        prompt = "\n".join(str(m["content"]) for m in messages)
        return WorkloadItem(prompt, messages, **labels)

    def _prompt_for(self, k: int, text: str) -> str:
        if k == 0:
            return text
        return self._prompt + self._replies[k - 1] + _TURN_GAP + text

    def _messages(self, k: int, text: str) -> tuple[Mapping[str, Any], ...]:
        out: list[Mapping[str, Any]] = []
        for earlier, reply in zip(self.session.turns[:k], self._replies, strict=True):
            out.append({"role": "user", "content": earlier.text})
            out.append({"role": "assistant", "content": reply})
        out.append({"role": "user", "content": text})
        return tuple(out)

    def answered(self, ok: bool, reply: str | None, conversation_id: str | None) -> bool:
        """The turn just sent ended (``ok``: it succeeded) with ``reply`` (its text) and,
        from a Dify server, ``conversation_id``. True when another turn follows."""
        assert self.end is None, "the session has ended"
        assert self.sent == self.ok + 1, "no turn is in flight"
        if not ok:
            self._fail(f"turn {self.sent} failed")
            return False
        self.ok += 1
        turn = self.session.turns[self.sent - 1]
        if self._style == "server":
            if self._conversation is None:
                if not conversation_id:
                    self._fail("the reply to turn 1 named no conversation_id")
                    return False
                self._conversation = conversation_id
        else:
            kept = turn.reference if self._reference and turn.reference is not None else reply
            kept = (kept or "")[:MAX_REPLY_CHARS]
            self._replies.append(kept)
            self._history_chars += len(turn.text) + len(kept)
        if self.sent == self.turns:
            self.end = "completed"
            return False
        if self._history_chars > MAX_HISTORY_CHARS:
            self._fail(f"its history passed {MAX_HISTORY_CHARS:,} characters")
            return False
        return True

    def _fail(self, why: str) -> None:
        self.end = "failed"
        self.failure = why

    def stop(self) -> None:
        """The run stopped the session before its last turn was answered."""
        if self.end is None:
            self.end = "stopped"


# -- think time and turn counts ------------------------------------------------------

# A think time longer than an hour is a typo, not a user.
MAX_THINK_S = 3600.0


@dataclass(frozen=True, slots=True)
class Spread:
    """A value drawn per use from a normal distribution (``mean`` and ``stddev``),
    clamped into ``low..high``; stddev 0 gives the mean every time. Each draw has its
    own generator, seeded by the run's seed and the draw's key, so a session's think
    times are the same whichever process (shard) runs it."""

    mean: float
    stddev: float = 0.0
    low: float = 0.0
    high: float = MAX_THINK_S

    def draw(self, seed: int, *key: object) -> float:
        if not self.stddev:
            return self.mean
        rng = random.Random("/".join(map(str, (seed, *key))))
        return min(self.high, max(self.low, rng.gauss(self.mean, self.stddev)))


def parse_spread(text: str, flag: str, *, low: float, high: float, integer: bool) -> Spread:
    """``N`` or ``MEAN:STDDEV`` (``--turns``, ``--think-time``); ConfigError naming the
    flag if it is not one, or outside ``low..high``."""
    mean_text, colon, sd_text = text.partition(":")
    kind = int if integer else float
    try:
        mean, sd = kind(mean_text), kind(sd_text) if colon else kind(0)
    except ValueError:
        raise ConfigError(f"{flag} must be N or MEAN:STDDEV, got {text!r}") from None
    if not (low <= mean <= high and 0 <= sd <= high):  # also refuses nan
        raise ConfigError(
            f"{flag} needs a mean in {low:g}..{high:g} and a stddev in 0..{high:g}, got {text!r}"
        )
    return Spread(float(mean), float(sd), low, high)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """How a run sends sessions: where they come from (an endless iterator, or one
    with ``at(position)`` for shards), how the history travels, whether it is the
    dataset's reference replies, and the think time between a reply and the next turn
    (None: none)."""

    sessions: Iterator[Session]
    style: HistoryStyle
    reference: bool = False
    think: Spread | None = None

    @property
    def keeps_replies(self) -> bool:
        """Whether each reply's text must be kept: it is the next turn's history."""
        return self.style != "server" and not self.reference
