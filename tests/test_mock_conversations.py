"""Dify conversations in the mock without sockets: issued ids, lookups, bounds, stats."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable

import orjson
import pytest

from llmbench.mock.conversations import (
    MAX_CONVERSATIONS,
    NOT_FOUND_BODY,
    Conversations,
    seeded_ids,
)
from llmbench.mock.formats_base import DEFAULT_VOCAB, GenRequest, Reply
from llmbench.mock.formats_dify import ChatMessages
from llmbench.mock.prefix_cache import Chain
from llmbench.mock.stats import MockStats

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def counter_ids() -> Callable[[], str]:
    n = iter(range(10**9))
    return lambda: f"c{next(n)}"


def test_ids_are_uuid4_and_seeded() -> None:
    a, b, other = seeded_ids(7), seeded_ids(7), seeded_ids(8)
    first = [a() for _ in range(3)]
    assert first == [b() for _ in range(3)]
    assert first != [other() for _ in range(3)]
    assert all(_UUID4.match(i) and uuid.UUID(i).version == 4 for i in first)
    assert len({seeded_ids(None)() for _ in range(5)}) == 5


def test_an_issued_id_is_found_for_its_user_only() -> None:
    store = Conversations(seeded_ids(1))
    conv = store.start("alice")
    assert store.find(conv.id, "alice") is conv
    assert store.find(conv.id, "bob") is None  # Dify scopes conversations to the end user
    assert store.find("never-issued", "alice") is None
    snap = store.statistics()
    assert (snap.started, snap.resumed, snap.not_found, snap.remembered) == (1, 1, 2, 1)


def test_a_repeated_id_is_never_issued_twice() -> None:
    ids = iter(["same", "same", "other"])
    store = Conversations(lambda: next(ids))
    assert [store.start("u").id for _ in range(2)] == ["same", "other"]


def test_the_least_recently_used_is_forgotten_past_the_limit() -> None:
    store = Conversations(counter_ids(), limit=3)
    a, b, c = (store.start("u") for _ in range(3))
    assert store.find(a.id, "u") is a  # a used again: b is now the oldest
    d = store.start("u")
    assert store.find(b.id, "u") is None
    assert all(store.find(x.id, "u") is x for x in (a, c, d))
    snap = store.statistics()
    assert (snap.remembered, snap.forgotten, snap.max) == (3, 1, 3)


def test_the_default_limit_holds_memory_flat() -> None:
    store = Conversations(counter_ids())
    for _ in range(MAX_CONVERSATIONS + 10):
        store.start("u")
    snap = store.statistics()
    assert (snap.remembered, snap.forgotten) == (MAX_CONVERSATIONS, 10)


def test_record_keeps_the_history_words() -> None:
    store = Conversations(counter_ids())
    conv = store.start("u")
    store.record(conv, 42)
    assert (conv.words, conv.history) == (42, None)  # no histories kept without the cache


def _history(blocks: int) -> Chain:
    chain = Chain()
    chain.extend([f"w{i}" for i in range(16 * blocks)])
    return chain


def test_histories_share_a_block_budget() -> None:
    store = Conversations(counter_ids(), max_history_blocks=10)
    assert store.keeps_history
    a, b = store.start("u"), store.start("u")
    store.record(a, 96, _history(6))
    store.record(b, 64, _history(4))
    assert store.statistics().forgotten == 0
    store.record(b, 80, _history(5))  # 11 blocks in all: the oldest (a) goes
    assert store.find(a.id, "u") is None
    assert store.find(b.id, "u") is b
    # One conversation alone over the budget is kept (it is the one in use).
    store.record(b, 400, _history(25))
    assert store.statistics().remembered == 1


def test_limit_is_checked() -> None:
    with pytest.raises(ValueError, match=r"^limit must be >= 1, got 0$"):
        Conversations(seeded_ids(None), limit=0)


def test_not_found_is_difys_body() -> None:
    assert NOT_FOUND_BODY == {
        "code": "not_found",
        "message": "Conversation Not Exists.",
        "status": 404,
    }


def test_stats_carry_the_conversations_group() -> None:
    store = Conversations(seeded_ids(3), limit=5)
    store.start("u")
    store.find("x", "u")
    snap = MockStats(conversations=store.statistics).statistics()
    assert snap.to_json()["conversations"] == {
        "started": 1,
        "resumed": 0,
        "not_found": 1,
        "remembered": 1,
        "forgotten": 0,
        "max": 5,
    }
    assert "conversations: started=1 resumed=0 not_found=1" in "\n".join(snap.lines())


# The Dify format hands the conversation to the server and renders the id it settled on.


def _parse(**fields: object) -> GenRequest:
    body = {"query": "hello there", "user": "u1", "inputs": {}, **fields}
    return ChatMessages(DEFAULT_VOCAB).parse(orjson.dumps(body), lambda _: None)


@pytest.mark.parametrize("given", [{}, {"conversation_id": ""}, {"conversation_id": None}])
def test_no_conversation_id_asks_for_a_new_one(given: dict[str, object]) -> None:
    gen = _parse(**given)
    assert (gen.conversation, gen.user, gen.prompt) == ("", "u1", "hello there")


def test_a_conversation_id_is_passed_on_and_rendered() -> None:
    gen = _parse(conversation_id="abc", response_mode="streaming")
    assert gen.conversation == "abc"
    reply = Reply(dataclasses.replace(gen, conversation="issued-1"), 2, "stop", "r1", 0)
    events = ChatMessages(DEFAULT_VOCAB).stream(reply)
    rendered = b"".join(events.tokens + events.tail)
    assert rendered.count(b'"conversation_id":"issued-1"') == len(events.tokens) + 1
    assert b'"conversation_id":"issued-1"' in ChatMessages(DEFAULT_VOCAB).body(reply).body
