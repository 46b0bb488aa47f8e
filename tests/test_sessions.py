"""The session state machine and the history each API gets (llmbench.sessions): pure."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmbench.config import ConfigError, RunConfig
from llmbench.providers import make_provider
from llmbench.sessions import (
    MAX_HISTORY_CHARS,
    MAX_REPLY_CHARS,
    MAX_TURNS,
    Session,
    SessionPlan,
    SessionState,
    Spread,
    Turn,
    history_style,
    parse_spread,
)

THREE = Session((Turn("hi", 10, "hello!"), Turn("how are you?", 20, "fine."), Turn("bye", None)))


def test_a_chat_api_gets_the_message_list_with_the_actual_replies() -> None:
    state = SessionState(THREE, 7, "messages")
    first = state.request()
    assert first.chat_messages() == [{"role": "user", "content": "hi"}]
    assert (first.session, first.turn, first.max_tokens) == (7, 1, 10)
    assert state.answered(True, "HEY", None)
    second = state.request()
    assert second.chat_messages() == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "HEY"},
        {"role": "user", "content": "how are you?"},
    ]
    assert (second.turn, second.max_tokens) == (2, 20)
    assert second.prompt == "hi\nHEY\nhow are you?"  # what an input estimate counts
    assert state.answered(True, "ok", None)
    third = state.request()
    assert [m["content"] for m in third.chat_messages()] == [
        "hi",
        "HEY",
        "how are you?",
        "ok",
        "bye",
    ]
    assert third.max_tokens is None  # the run's --max-tokens
    assert not state.answered(True, "bye!", None)
    assert (state.end, state.sent, state.ok) == ("completed", 3, 3)


def test_reference_history_sends_the_datasets_replies_whatever_the_server_said() -> None:
    state = SessionState(THREE, 0, "messages", reference=True)
    state.request()
    state.answered(True, "something else", None)
    second = state.request()
    assert [m["content"] for m in second.chat_messages()] == ["hi", "hello!", "how are you?"]


def test_a_completion_prompt_extends_the_last_one_so_a_prefix_cache_can_reuse_it() -> None:
    state = SessionState(THREE, 0, "text")
    assert state.request().prompt == "hi"
    state.answered(True, " there", None)
    second = state.request().prompt
    assert second == "hi there\n\nhow are you?"
    state.answered(True, " good", None)
    third = state.request().prompt
    assert third.startswith(second)
    assert third == second + " good\n\nbye"


def test_dify_sends_only_the_query_and_threads_the_conversation_id() -> None:
    state = SessionState(THREE, 0, "server")
    first = state.request()
    assert (first.prompt, first.conversation_id) == ("hi", "")  # "" starts a conversation
    assert state.answered(True, "hello", "c-1")
    second = state.request()
    assert (second.prompt, second.conversation_id, second.messages) == ("how are you?", "c-1", None)
    assert state.answered(True, "fine", "c-1")
    assert state.request().conversation_id == "c-1"


def test_a_dify_reply_without_a_conversation_id_fails_the_session() -> None:
    state = SessionState(THREE, 0, "server")
    state.request()
    assert not state.answered(True, "hello", None)
    assert state.end == "failed"
    assert "conversation_id" in state.failure


def test_a_failed_turn_ends_the_session_and_the_rest_is_unsent() -> None:
    state = SessionState(THREE, 0, "messages")
    state.request()
    state.answered(True, "a", None)
    state.request()
    assert not state.answered(False, None, None)
    assert (state.end, state.sent, state.ok, state.failure) == ("failed", 2, 1, "turn 2 failed")
    state.stop()  # the runner stops every session it leaves: a failure stays a failure
    assert state.end == "failed"


def test_an_endless_reply_is_cut_before_it_becomes_history() -> None:
    state = SessionState(THREE, 0, "messages")
    state.request()
    state.answered(True, "x" * (MAX_REPLY_CHARS + 5), None)
    assert len(state.request().chat_messages()[1]["content"]) == MAX_REPLY_CHARS


def test_a_session_whose_history_passes_its_bound_ends() -> None:
    turns = tuple(Turn("q") for _ in range(10))
    state = SessionState(Session(turns), 0, "messages")
    big = "x" * MAX_REPLY_CHARS
    sent = 0
    while state.end is None:
        state.request()
        sent += 1
        state.answered(True, big, None)
    assert (state.end, sent) == ("failed", MAX_HISTORY_CHARS // MAX_REPLY_CHARS)
    assert state.failure == "its history passed 4,000,000 characters"


def test_a_stopped_session_counts_what_it_sent() -> None:
    state = SessionState(THREE, 0, "messages")
    state.request()
    state.stop()
    assert (state.end, state.sent, state.ok) == ("stopped", 1, 0)


def test_a_shared_prefix_labels_the_first_turn_only() -> None:
    # a later turn's TTFT is its history's (the per-turn figures), not the prefix's
    session = Session(THREE.turns, prefix_group=2, prefix_first=True)
    state = SessionState(session, 0, "messages")
    first = state.request()
    state.answered(True, "x", None)
    second = state.request()
    assert (first.prefix_group, first.prefix_first) == (2, True)
    assert (second.prefix_group, second.prefix_first) == (None, None)
    plain = SessionState(THREE, 0, "messages").request()
    assert (plain.prefix_group, plain.prefix_first) == (None, None)


def test_extra_fields_and_the_prompt_id_go_with_every_turn() -> None:
    session = Session(THREE.turns, {"temperature": 0}, prompt_id=4)
    state = SessionState(session, 0, "messages")
    item = state.request()
    assert (dict(item.extra_body), item.prompt_id) == ({"temperature": 0}, 4)


def test_a_session_has_one_to_max_turns() -> None:
    with pytest.raises(ValueError, match=r"1\.\.1000 turns"):
        Session(())
    with pytest.raises(ValueError, match=r"1\.\.1000 turns"):
        Session(tuple(Turn("x") for _ in range(MAX_TURNS + 1)))


@pytest.mark.parametrize(
    ("provider", "style"),
    [
        ("openai-chat", "messages"),
        ("openai-completions", "text"),
        ("anthropic", "messages"),
        ("dashscope", "messages"),
        ("dify", "server"),
    ],
)
def test_each_api_says_how_it_carries_a_conversation(provider: str, style: str) -> None:
    assert history_style(make_provider(RunConfig(url="http://127.0.0.1:9", provider=provider))) == (
        style
    )


def test_a_plugin_without_a_history_style_gets_the_message_list() -> None:
    assert history_style(object()) == "messages"


def test_the_plan_keeps_replies_only_when_they_become_history() -> None:
    sessions = iter([THREE])
    assert SessionPlan(sessions, "messages").keeps_replies
    assert not SessionPlan(sessions, "messages", reference=True).keeps_replies
    assert not SessionPlan(sessions, "server").keeps_replies


# -- --turns and --think-time -----------------------------------------------------------


def test_a_spread_is_its_mean_without_a_stddev_and_seeded_with_one() -> None:
    assert Spread(2.0).draw(1, "a") == 2.0
    spread = Spread(2.0, 1.0, 0.0, 10.0)
    assert spread.draw(1, "think", 3, 1) == spread.draw(1, "think", 3, 1)
    draws = {spread.draw(1, "think", s, 1) for s in range(50)}
    assert len(draws) > 40
    assert all(0.0 <= d <= 10.0 for d in draws)


@given(st.floats(0, 60), st.floats(0, 100), st.integers(0, 10**6))
def test_a_draw_stays_in_its_bounds(mean: float, sd: float, key: int) -> None:
    assert 0.0 <= Spread(mean, sd, 0.0, 60.0).draw(0, key) <= 60.0


def test_spreads_parse_n_and_mean_stddev() -> None:
    assert parse_spread("3", "--turns", low=1, high=10, integer=True) == Spread(3, 0, 1, 10)
    assert parse_spread("3:1", "--turns", low=1, high=10, integer=True) == Spread(3, 1, 1, 10)
    assert parse_spread("0.5:0.25", "--think-time", low=0, high=60, integer=False) == Spread(
        0.5, 0.25, 0, 60
    )


@pytest.mark.parametrize(
    ("text", "integer", "message"),
    [
        ("x", True, "--f must be N or MEAN:STDDEV, got 'x'"),
        ("2.5", True, "must be N or MEAN:STDDEV"),
        ("3:", True, "must be N or MEAN:STDDEV"),
        ("0", True, "a mean in 1..10"),
        ("11", True, "a mean in 1..10"),
        ("3:-1", True, "a stddev in 0..10"),
        ("nan", False, "a mean in 1..10"),
        ("inf", False, "a mean in 1..10"),
        ("2:nan", False, "a stddev"),
    ],
)
def test_bad_spreads_name_the_flag(text: str, integer: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_spread(text, "--f", low=1, high=10, integer=integer)


def _second_turn_body(provider_name: str) -> dict[str, object]:
    provider = make_provider(RunConfig(url="http://127.0.0.1:9", provider=provider_name))
    state = SessionState(THREE, 0, history_style(provider))
    state.request()
    state.answered(True, "HEY", "conv-1")
    body: dict[str, object] = orjson.loads(provider.build_request(state.request(), None).body)
    return body


def test_each_provider_writes_the_history_into_its_own_body() -> None:
    history = ["hi", "HEY", "how are you?"]
    roles = ["user", "assistant", "user"]
    for name in ("openai-chat", "anthropic"):
        messages = _second_turn_body(name)["messages"]
        assert [m["content"] for m in messages] == history, name  # type: ignore[attr-defined]
        assert [m["role"] for m in messages] == roles, name  # type: ignore[attr-defined]
    dashscope = _second_turn_body("dashscope")["input"]["messages"]  # type: ignore[index]
    assert [m["content"] for m in dashscope] == history
    assert _second_turn_body("openai-completions")["prompt"] == "hiHEY\n\nhow are you?"
    dify = _second_turn_body("dify")
    assert (dify["query"], dify["conversation_id"]) == ("how are you?", "conv-1")
