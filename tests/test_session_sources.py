"""Session files, ShareGPT conversations and synthetic sessions (llmbench.session_sources),
and the run-level checks of llmbench.session_plan: every bad input is one line, exit 2."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from llmbench import app
from llmbench.config import ConfigError, RunConfig
from llmbench.providers import make_provider
from llmbench.session_plan import first_turn, session_plan, session_source
from llmbench.session_sources import (
    PrefixedSessions,
    SyntheticSessions,
    cycle_sessions,
    is_session_file,
    load_sessions,
)
from llmbench.sessions import MAX_TURNS, Session, Spread, Turn
from llmbench.workload import WorkloadItem
from tiny_tokenizers import mute, text_of, word_level


def write(tmp_path: Path, name: str, lines: list[object]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_turns_lines_are_sessions_and_prompt_lines_one_turn_sessions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.jsonl",
        [
            {"turns": ["a", {"content": "b", "max_tokens": 5, "reference": "B!"}], "max_tokens": 9},
            {"prompt": "solo", "temperature": 0.5},
        ],
    )
    assert is_session_file(path, sharegpt_sessions=False)
    loaded = load_sessions(path, reference=False)
    first, second = loaded.sessions
    assert first.turns == (Turn("a", 9), Turn("b", 5, "B!"))
    assert second.turns == (Turn("solo"),)
    assert dict(second.extra_body) == {"temperature": 0.5}
    assert loaded.turns == 3


def test_a_file_without_turns_lines_is_a_prompts_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    assert not is_session_file(path, sharegpt_sessions=False)
    assert not is_session_file(tmp_path / "missing.jsonl", sharegpt_sessions=False)
    assert not is_session_file(tmp_path / "x.txt", sharegpt_sessions=True)


def test_the_word_turns_inside_a_prompt_does_not_make_a_sessions_file(tmp_path: Path) -> None:
    inside = write(tmp_path, "a.jsonl", [{"messages": [{"role": "user", "content": "turns"}]}])
    nested = write(tmp_path, "b.jsonl", [{"prompt": "x", "meta": {"turns": 3}}])
    assert not is_session_file(inside, sharegpt_sessions=False)
    assert not is_session_file(nested, sharegpt_sessions=False)


def test_a_line_separator_inside_a_json_string_is_not_a_line_break(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"turns": ["a\u2028b\u0085c", "d"]}\n{"turns": ["e"]}\n', encoding="utf-8")
    first, second = load_sessions(path, reference=False).sessions
    assert first.turns[0].text == "a\u2028b\u0085c"
    assert second.turns == (Turn("e"),)


def test_a_utf8_bom_does_not_break_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"turns": ["a", "b"]}).encode() + b"\n")
    assert load_sessions(path, reference=False).sessions[0].turns == (Turn("a"), Turn("b"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"s\.jsonl:2: invalid JSON"),
        (json.dumps([1]), r"s\.jsonl:2: a file with sessions takes 'turns' lines"),
        (json.dumps({"turns": "ab"}), r"s\.jsonl:2: turns must be a list of 1\.\.1000 turns"),
        (json.dumps({"turns": []}), r"s\.jsonl:2: turns must be a list"),
        (json.dumps({"turns": ["x"] * (MAX_TURNS + 1)}), r"s\.jsonl:2: turns must be a list"),
        (json.dumps({"turns": [3]}), r"s\.jsonl:2: turns\[0\]: a turn is a string or an object"),
        (json.dumps({"turns": [{"text": "x"}]}), r"turns\[0\]: a turn is a string or an object"),
        (
            json.dumps({"turns": [{"content": "x", "role": "u"}]}),
            r"turns\[0\]: unknown field 'role'",
        ),
        (
            json.dumps({"turns": ["a", {"content": "x", "max_tokens": 0}]}),
            r"turns\[1\]: max_tokens",
        ),
        (
            json.dumps({"turns": ["a", {"content": "x", "max_tokens": True}]}),
            r"turns\[1\]: max_tokens",
        ),
        (json.dumps({"turns": [{"content": "x", "reference": 5}]}), r"reference must be a string"),
        (json.dumps({"turns": ["a"], "max_tokens": "9"}), r"s\.jsonl:2: max_tokens must be"),
        (json.dumps({"messages": [], "turns": ["a"]}), r"'messages' cannot be given on a session"),
        (json.dumps({"prompt": "x", "messages": []}), r"'messages' cannot be given"),
        (json.dumps({"turns": ["a"], "query": "q"}), r"'query' cannot be given"),
        (json.dumps({"turns": ["a"], "conversation_id": "c"}), r"'conversation_id' cannot be"),
        (json.dumps({"turns": ["a"], "prompt": "b"}), r"'turns' and 'prompt' are alternatives"),
        (json.dumps({"prompt": None}), r"s\.jsonl:2: prompt must be a string"),
        (json.dumps({"turns": None}), r"turns must be a list"),
        ('{"turns": ["\\ud800"]}', r"s\.jsonl:2"),
    ],
)
def test_a_bad_session_line_names_the_file_the_line_and_the_field(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"turns": ["ok"]}) + "\n" + line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_sessions(path, reference=False)


def test_reference_history_needs_a_reply_for_every_turn_but_the_last(tmp_path: Path) -> None:
    path = write(tmp_path, "s.jsonl", [{"turns": [{"content": "a", "reference": "A"}, "b"]}])
    assert load_sessions(path, reference=True).sessions[0].turns[0].reference == "A"
    bad = write(tmp_path, "t.jsonl", [{"turns": ["a", "b"]}])
    with pytest.raises(ConfigError, match=r"session 1, turn 1 has no reference reply"):
        load_sessions(bad, reference=True)


def test_an_empty_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(ConfigError, match="no sessions in it"):
        load_sessions(empty, reference=False)
    latin = tmp_path / "l.jsonl"
    latin.write_bytes(b'{"turns": ["\xff"]}\n')
    with pytest.raises(ConfigError, match="cannot read it"):
        load_sessions(latin, reference=False)


# -- ShareGPT -------------------------------------------------------------------------------


def sharegpt(tmp_path: Path, convos: list[object]) -> Path:
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(convos))
    return path


def test_sharegpt_conversations_become_sessions_with_their_replies_as_references(
    tmp_path: Path,
) -> None:
    path = sharegpt(
        tmp_path,
        [
            {
                "conversations": [
                    {"from": "system", "value": "be nice"},
                    {"from": "human", "value": "q1"},
                    {"from": "gpt", "value": "one two three"},
                    {"from": "human", "value": "q2"},
                    {"from": "gpt", "value": "four"},
                    {"from": "human", "value": "q3 never answered"},
                ]
            },
            {"conversations": [{"from": "gpt", "value": "nobody asked"}]},
            {"conversations": [{"from": "human", "value": "q"}, {"from": "human", "value": "q"}]},
            "junk",
        ],
    )
    assert is_session_file(path, sharegpt_sessions=True)
    assert not is_session_file(path, sharegpt_sessions=False)
    loaded = load_sessions(path, reference=True)
    (session,) = loaded.sessions
    assert session.turns == (Turn("q1", 3, "one two three"), Turn("q2", 1, "four"))
    assert loaded.note == "sessions: 1 of 4 ShareGPT entries (3 had no answered human turn)"


def test_odd_sharegpt_messages_end_a_session_instead_of_crashing(tmp_path: Path) -> None:
    path = sharegpt(
        tmp_path,
        [
            {"conversations": [{"from": "human", "value": "hi"}, "oops"]},
            {"conversations": [{"from": "human", "value": "hi"}, 7]},
            {"conversations": [{"from": "human", "value": "hi"}, {"from": "system", "value": "s"}]},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "chatgpt", "value": "b"},
                               {"from": "human", "value": "c"}, ["x"]]},
        ],
    )  # fmt: skip
    loaded = load_sessions(path, reference=False)
    assert [s.turns for s in loaded.sessions] == [(Turn("a", 1, "b"),)]
    assert loaded.note == "sessions: 1 of 4 ShareGPT entries (3 had no answered human turn)"


def test_a_sharegpt_conversation_past_the_turn_limit_is_cut_and_said(tmp_path: Path) -> None:
    pair = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    path = sharegpt(tmp_path, [{"conversations": pair * (MAX_TURNS + 5)}])
    loaded = load_sessions(path, reference=False)
    assert len(loaded.sessions[0].turns) == MAX_TURNS
    assert loaded.note == "1 conversations cut at 1,000 turns"


def test_a_sharegpt_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a ShareGPT list"):
        load_sessions(sharegpt(tmp_path, {"a": 1}), reference=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no sessions in it: sessions: 0 of 1"):
        load_sessions(sharegpt(tmp_path, [{"conversations": []}]), reference=False)


# -- handing sessions out ---------------------------------------------------------------------


def test_sessions_cycle_in_order_or_reshuffled_with_their_positions() -> None:
    sessions = [Session((Turn(str(i)),)) for i in range(3)]
    in_order = list(itertools.islice(cycle_sessions(sessions, "sequential", 0), 6))
    assert [s.prompt_id for s in in_order] == [0, 1, 2, 0, 1, 2]
    shuffled = list(itertools.islice(cycle_sessions(sessions, "shuffle", 1), 6))
    assert sorted(s.prompt_id or 0 for s in shuffled[:3]) == [0, 1, 2]
    assert shuffled == list(itertools.islice(cycle_sessions(sessions, "shuffle", 1), 6))


def prompt_at(position: int) -> WorkloadItem:
    return WorkloadItem(f"p{position}", max_tokens=position % 7 + 1)


def test_synthetic_sessions_are_the_same_whatever_asks_for_them() -> None:
    source = SyntheticSessions(prompt_at, Spread(3, 1, 1, MAX_TURNS), seed=5)
    firsts = [next(source) for _ in range(20)]
    assert firsts == [source.at(p) for p in range(20)]
    assert len({len(s.turns) for s in firsts}) > 1  # a stddev draws different lengths
    fixed = SyntheticSessions(prompt_at, Spread(2), seed=5).at(3)
    assert [t.text for t in fixed.turns] == [f"p{3 * MAX_TURNS}", f"p{3 * MAX_TURNS + 1}"]
    assert fixed.prompt_id == 3


def labelled(item: WorkloadItem, position: int) -> WorkloadItem:
    return WorkloadItem(
        "PREFIX " + item.prompt, max_tokens=item.max_tokens, prefix_group=position % 2,
        prefix_first=position < 2,
    )  # fmt: skip


def test_a_shared_prefix_starts_only_the_first_turn() -> None:
    synthetic = SyntheticSessions(prompt_at, Spread(2), seed=0, first_turn=labelled).at(3)
    assert synthetic.turns[0].text.startswith("PREFIX ")
    assert not synthetic.turns[1].text.startswith("PREFIX ")
    assert (synthetic.prefix_group, synthetic.prefix_first) == (1, False)
    from_file = [Session((Turn("a"), Turn("b")))] * 3
    prefixed = list(PrefixedSessions(iter(from_file), labelled))
    assert [s.turns[0].text for s in prefixed] == ["PREFIX a"] * 3
    assert [s.turns[1].text for s in prefixed] == ["b"] * 3
    assert [(s.prefix_group, s.prefix_first) for s in prefixed] == [
        (0, True),
        (1, True),
        (0, False),
    ]


# -- the run's checks (llmbench.session_plan) ---------------------------------------------------


def cfg(**fields: object) -> RunConfig:
    return RunConfig(url="http://127.0.0.1:9", **fields)  # type: ignore[arg-type]


def test_a_run_without_sessions_refuses_session_only_flags() -> None:
    assert session_source(cfg(), prompt_at, None) is None
    for fields, flag in (
        ({"think_time": "1"}, "--think-time"),
        ({"history": "reference"}, "--history"),
    ):
        with pytest.raises(ConfigError, match=f"{flag} applies to sessions"):
            session_source(cfg(**fields), prompt_at, None)


def test_synthetic_sessions_from_turns(tmp_path: Path) -> None:
    run = cfg(turns="2", think_time="0.5:0.1")
    source = session_source(run, prompt_at, None)
    assert source is not None
    assert source.note == "sessions: synthetic, 2 turns each"
    plan = session_plan(run, source, make_provider(run))
    assert (plan.style, plan.think) == ("messages", Spread(0.5, 0.1, 0.0, 3600.0))
    assert first_turn(plan, next(plan.sessions)).chat_messages() == [
        {"role": "user", "content": "p0"}
    ]


def test_a_file_of_sessions_is_read_with_its_note(tmp_path: Path) -> None:
    path = write(tmp_path, "s.jsonl", [{"turns": ["a", "b", "c"]}, {"turns": ["d"]}])
    source = session_source(cfg(prompts_file=path), prompt_at, labelled)
    assert source is not None
    assert source.note == "sessions: 2 in the file, 2.0 turns each on average"
    assert next(source.sessions).turns[0].text == "PREFIX a"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"turns": "x"}, "--turns must be N or MEAN:STDDEV"),
        ({"turns": "0"}, r"--turns needs a mean in 1\.\.1000"),
        ({"turns": "2", "think_time": "-1"}, "--think-time needs a mean in 0..3600"),
        ({"turns": "2", "think_time": "soon"}, "--think-time must be N or MEAN:STDDEV"),
    ],
)
def test_bad_session_flags_name_the_flag(fields: dict[str, object], message: str) -> None:
    run = cfg(**fields)

    def plan() -> None:
        source = session_source(run, prompt_at, None)
        assert source is not None
        session_plan(run, source, make_provider(run))

    with pytest.raises(ConfigError, match=message):
        plan()


def test_reference_history_is_refused_where_the_server_keeps_the_history(tmp_path: Path) -> None:
    path = write(tmp_path, "s.jsonl", [{"turns": [{"content": "a", "reference": "A"}, "b"]}])
    run = cfg(prompts_file=path, history="reference", provider="dify")
    source = session_source(run, prompt_at, None)
    assert source is not None
    with pytest.raises(ConfigError, match="--provider dify keeps the history itself"):
        session_plan(run, source, make_provider(run))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"turns": "2", "prompts_file": Path("p.jsonl")}, "--turns makes synthetic sessions"),
        ({"turns": "2", "history": "reference"}, "synthetic sessions .--turns. have none"),
        ({"sessions": True}, "--sessions reads a ShareGPT .json"),
        ({"sessions": True, "prompts_file": Path("p.jsonl")}, "--sessions reads a ShareGPT"),
        ({"history": "mine"}, "--history must be actual or reference"),
        ({"trace": Path("t.jsonl"), "turns": "2"}, "--trace and --turns are alternatives"),
        ({"trace": Path("t.jsonl"), "think_time": "1"}, "--trace and --think-time"),
    ],
)
def test_contradicting_session_flags_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cfg(**fields)


def test_the_preflights_session_is_one_the_run_never_sends() -> None:
    source = SyntheticSessions(prompt_at, Spread(2), seed=0, first_turn=labelled)
    unsent = source.unsent()
    sent = {s.turns[0].text for s in (source.at(p) for p in range(20))}
    assert unsent.turns[0].text not in sent
    assert unsent.prompt_id == -1


# -- through llmbench run's own checks (prepare) ------------------------------------------------


def prepared(*argv: str) -> Any:
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    return app.prepare(parser.parse_args(["--url", "http://127.0.0.1:9", "--model", "m", *argv]))


def test_a_run_of_synthetic_sessions_says_what_its_counts_count(tmp_path: Path) -> None:
    tok = word_level(tmp_path / "tokenizer.json")
    prep = prepared(
        "--turns", "3", "--input-tokens", "12", "--prefix-tokens", "20", "--prefix-groups", "2",
        "--tokenizer", str(tok), "--requests", "10", "--warmup", "2", "--rps", "1",
    )  # fmt: skip
    assert prep.note.startswith(
        "sessions: synthetic, 3 turns each; first turns: 2 shared prefixes of 20 tokens "
        "(round-robin); --requests 10 counts sessions"
    )
    assert "--warmup 2 counts sessions; --rps 1 starts sessions" in prep.note
    assert prep.sessions is not None
    session = prep.sessions.sessions.at(0)
    assert (session.prefix_group, session.prefix_first) == (0, True)
    # exact lengths with --tokenizer: a later turn is its 12 tokens, the first 20 + 12
    count = text_of(tok).count
    assert [count(t.text) for t in session.turns] == [32, 12, 12]


def test_a_file_sessions_preflight_takes_a_prefix_no_session_takes() -> None:
    files = [Session((Turn(f"s{i}"), Turn("b"))) for i in range(3)]
    prefixed = PrefixedSessions(iter(files), labelled)
    unsent = prefixed.unsent()  # position -1 (labelled() here is a stand-in rewrite)
    assert (unsent.turns[0].text, unsent.prefix_group) == ("PREFIX s0", 1)
    sent = list(prefixed)  # session 0 is still the run's first
    assert [(s.turns[0].text, s.prefix_group) for s in sent] == [
        ("PREFIX s0", 0),
        ("PREFIX s1", 1),
        ("PREFIX s2", 0),
    ]


def test_conversation_id_is_refused_with_sessions(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--conversation-id: each session starts its own"):
        prepared("--provider", "dify", "--turns", "2", "--conversation-id", "c-1")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_prompts_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"zero\.jsonl: not a regular file"):
        prepared("--prompts-file", str(link))


@pytest.mark.parametrize(
    "flags", [("--input-tokens", "5"), ("--turns", "2"), ("--prefix-tokens", "5")]
)
def test_a_tokenizer_that_makes_no_text_is_refused_before_the_run(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    tok = mute(tmp_path / "tokenizer.json")
    with pytest.raises(ConfigError, match=r"tokenizer\.json: it makes no prompt text"):
        prepared(*flags, "--tokenizer", str(tok))
