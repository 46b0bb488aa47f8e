"""Dify conversations: the ids the mock issued and what each conversation said (sans-IO).

Dify's chat API keeps a conversation's history server-side: a request whose
`conversation_id` is empty or absent starts a conversation, every `message` event and
the `message_end` of the reply carry its id, and a later turn sends that id back. An id
the server does not know, or one started by another `user`, is answered with HTTP 404
and `{"code": "not_found", "message": "Conversation Not Exists.", "status": 404}` (Dify's
service API raises werkzeug's `NotFound("Conversation Not Exists.")`, which its
`external_api` error handler renders as code/message/status).

A turn's prompt is the conversation's history (every earlier query and answer) followed
by its query, so the mock counts the history in `prompt_tokens` and, under
`--prefix-cache`, keeps the history's block hashes (`prefix_cache.Chain`) for the next
turn's lookup. Memory is bounded: at most `MAX_CONVERSATIONS` are remembered and, with
a history budget, at most that many history blocks in all; the least recently used
conversation is forgotten first (its id then gets the 404).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from llmbench.mock.prefix_cache import Chain

__all__ = [
    "MAX_CONVERSATIONS",
    "NOT_FOUND_BODY",
    "Conversation",
    "Conversations",
    "ConversationsSnapshot",
    "seeded_ids",
]

# A benchmark's sessions in flight are thousands at most; 100,000 ids (~200 bytes each
# without histories) keep a long soak's memory flat while no live session is forgotten.
MAX_CONVERSATIONS = 100_000
# Dify's 404 for an unknown conversation (see the module docstring).
NOT_FOUND_BODY: dict[str, object] = {
    "code": "not_found",
    "message": "Conversation Not Exists.",
    "status": 404,
}


def seeded_ids(seed: int | None) -> Callable[[], str]:
    """UUID4-shaped ids, as Dify's; the same sequence for the same `--seed`."""
    rng = random.Random(None if seed is None else f"conversations-{seed}")

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    return new_id


def user_key(user: str) -> bytes:
    """What a conversation keeps of its `user`: a 16-byte digest, whatever the client
    sent (a megabyte-long user string times 100,000 conversations is not kept)."""
    return hashlib.blake2b(user.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Conversation:
    """One conversation: its id, its user, its history's words (and block hashes)."""

    __slots__ = ("history", "id", "user", "words")

    def __init__(self, cid: str, user: str) -> None:
        self.id = cid
        self.user = user_key(user)
        self.words = 0  # history words, added to the next turn's prompt_tokens
        self.history: Chain | None = None  # under --prefix-cache only


@dataclass(frozen=True, slots=True)
class ConversationsSnapshot:
    """The `conversations` group of `/stats`: conversations `started`, later turns
    `resumed`, turns naming an unknown id (`not_found`), how many are remembered now
    (at most `max`) and how many were `forgotten` to stay within the bounds."""

    started: int
    resumed: int
    not_found: int
    remembered: int
    forgotten: int
    max: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "started": self.started,
            "resumed": self.resumed,
            "not_found": self.not_found,
            "remembered": self.remembered,
            "forgotten": self.forgotten,
            "max": self.max,
        }

    def line(self) -> str:
        """One human-readable line for `--stats`."""
        return (
            f"conversations: started={self.started} resumed={self.resumed} "
            f"not_found={self.not_found} remembered={self.remembered} "
            f"forgotten={self.forgotten}"
        )


class Conversations:
    """The conversations the mock issued, least recently used first.

    `max_history_blocks` (0: no histories kept) bounds the block hashes of all
    histories together; past it, or past `limit` conversations, the least recently used
    conversation is forgotten whole.
    """

    __slots__ = (
        "_blocks",
        "_by_id",
        "_forgotten",
        "_limit",
        "_max_blocks",
        "_new_id",
        "_not_found",
        "_resumed",
        "_started",
    )

    def __init__(
        self,
        new_id: Callable[[], str],
        limit: int = MAX_CONVERSATIONS,
        max_history_blocks: int = 0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._new_id = new_id
        self._limit = limit
        self._max_blocks = max_history_blocks
        self._by_id: OrderedDict[str, Conversation] = OrderedDict()
        self._blocks = 0  # history hashes held, over every conversation
        self._started = self._resumed = self._not_found = self._forgotten = 0

    @property
    def keeps_history(self) -> bool:
        """Whether histories' block hashes are kept (`--prefix-cache`)."""
        return self._max_blocks > 0

    def find(self, cid: str, user: str) -> Conversation | None:
        """The conversation `cid` of `user`, now the most recently used; None (counted as
        not found) when the mock never issued it, forgot it, or issued it to another user."""
        conv = self._by_id.get(cid)
        if conv is None or conv.user != user_key(user):
            self._not_found += 1
            return None
        self._by_id.move_to_end(cid)
        self._resumed += 1
        return conv

    def start(self, user: str) -> Conversation:
        """A new conversation of `user`, with a fresh id."""
        cid = self._new_id()
        while cid in self._by_id:  # a repeated id would merge two conversations
            cid = self._new_id()
        conv = Conversation(cid, user)
        self._by_id[cid] = conv
        self._started += 1
        self._evict()
        return conv

    def record(self, conv: Conversation, words: int, history: Chain | None = None) -> None:
        """`conv` had a turn: its history is now `words` long (block hashes `history`)."""
        conv.words = words
        if history is not None and self._max_blocks:
            old = len(conv.history.hashes) if conv.history is not None else 0
            conv.history = history
            self._blocks += len(history.hashes) - old
            self._evict()

    def _evict(self) -> None:
        by_id = self._by_id
        # The newest conversation stays even if its history alone exceeds the budget.
        while len(by_id) > 1 and (
            len(by_id) > self._limit or (self._max_blocks and self._blocks > self._max_blocks)
        ):
            _, conv = by_id.popitem(last=False)
            if conv.history is not None:
                self._blocks -= len(conv.history.hashes)
            self._forgotten += 1

    def statistics(self) -> ConversationsSnapshot:
        """Snapshot the counters."""
        return ConversationsSnapshot(
            started=self._started,
            resumed=self._resumed,
            not_found=self._not_found,
            remembered=len(self._by_id),
            forgotten=self._forgotten,
            max=self._limit,
        )
