"""Prompt files, synthetic prompts and key rotation: pure, on files in tmp_path."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from llmbench.config import ConfigError
from llmbench.tokens import estimate_tokens
from llmbench.workload import (
    KeyRing,
    WorkloadItem,
    cycle_items,
    load_keys,
    load_prompts,
    parse_length,
    synthetic_items,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_one_prompt_per_line_blank_lines_skipped(tmp_path: Path) -> None:
    items = load_prompts(write(tmp_path, "p.txt", "first\n\n  \nsecond line\n"))
    assert [i.prompt for i in items] == ["first", "second line"]
    assert items[0].chat_messages() == [{"role": "user", "content": "first"}]


def test_jsonl_prompt_messages_max_tokens_and_extra_fields(tmp_path: Path) -> None:
    lines = [
        {"prompt": "p1", "max_tokens": 7, "temperature": 0.5},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
    ]
    items = load_prompts(write(tmp_path, "p.jsonl", "\n".join(json.dumps(x) for x in lines)))
    assert items[0] == WorkloadItem("p1", None, 7, {"temperature": 0.5})
    assert items[1].messages is not None
    assert items[1].chat_messages()[1] == {"role": "user", "content": "u"}
    assert items[1].prompt == "s\nu"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "a"}\n{oops', r"p\.jsonl:2: invalid JSON"),
        ('{"text": "a"}', r"p\.jsonl:1: needs a 'prompt' or 'messages' field"),
        ('{"prompt": "a", "max_tokens": 0}', "max_tokens must be a positive integer"),
        ('{"messages": "hi"}', "messages must be a list of objects"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_prompts(write(tmp_path, "p.jsonl", text))


def test_sharegpt_first_human_turn_and_reply_length_hint(tmp_path: Path) -> None:
    data = [
        {"conversations": [
            {"from": "system", "value": "ignored"},
            {"from": "human", "value": "question one"},
            {"from": "gpt", "value": "an answer of six words here"},
            {"from": "human", "value": "follow-up is ignored"},
        ]},
        {"conversations": [{"from": "human", "value": "no reply"}]},
        {"id": "no conversations"},
    ]  # fmt: skip
    items = load_prompts(write(tmp_path, "sg.json", json.dumps(data)))
    assert [(i.prompt, i.max_tokens) for i in items] == [("question one", 6), ("no reply", None)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.txt", "\n\n", "no prompts in it"),
        ("bad.json", "{", "invalid JSON"),
        ("obj.json", "{}", "expected a ShareGPT list"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_prompts(write(tmp_path, name, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--prompts-file .*nope\.txt: cannot read it"):
        load_prompts(tmp_path / "nope.txt")


def test_cycle_sequential_and_seeded_shuffle() -> None:
    items = [WorkloadItem(str(i)) for i in range(5)]
    seq = [i.prompt for i in itertools.islice(cycle_items(items, "sequential", 0), 7)]
    assert seq == ["0", "1", "2", "3", "4", "0", "1"]
    a = [i.prompt for i in itertools.islice(cycle_items(items, "shuffle", 1), 10)]
    b = [i.prompt for i in itertools.islice(cycle_items(items, "shuffle", 1), 10)]
    c = [i.prompt for i in itertools.islice(cycle_items(items, "shuffle", 2), 10)]
    assert a == b
    assert a != c
    assert sorted(a[:5]) == sorted(a[5:]) == ["0", "1", "2", "3", "4"]  # each pass whole


@pytest.mark.parametrize(
    ("text", "expected"), [("512", (512, 0)), ("512:64", (512, 64)), ("1:0", (1, 0))]
)
def test_parse_length(text: str, expected: tuple[int, int]) -> None:
    assert parse_length(text, "--input-tokens") == expected


@pytest.mark.parametrize("text", ["", "x", "0", "5:-1", "5:x", "-3"])
def test_parse_length_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--input-tokens"):
        parse_length(text, "--input-tokens")


def test_synthetic_prompts_have_the_target_length_and_differ() -> None:
    items = list(itertools.islice(synthetic_items((200, 0), 32, seed=3), 20))
    assert {estimate_tokens(i.prompt) for i in items} == {200}
    assert {i.max_tokens for i in items} == {32}
    assert len({i.prompt for i in items}) == 20


def test_synthetic_lengths_follow_mean_and_stddev() -> None:
    lengths = [
        estimate_tokens(i.prompt)
        for i in itertools.islice(synthetic_items((300, 50), None, seed=1), 2000)
    ]
    mean = sum(lengths) / len(lengths)
    sd = (sum((x - mean) ** 2 for x in lengths) / len(lengths)) ** 0.5
    assert abs(mean - 300) < 5  # standard error ~1.1
    assert 45 < sd < 55


def test_keys_file_round_robin_and_redaction(tmp_path: Path) -> None:
    keys = load_keys(write(tmp_path, "k.txt", "# team keys\nsk-one\n\nsk-two\n"))
    ring = KeyRing(keys)
    assert [ring.next() for _ in range(3)] == [(0, "sk-one"), (1, "sk-two"), (0, "sk-one")]
    assert ring.redact("bad key sk-two!") == "bad key <redacted>!"
    assert KeyRing([]).next() == (None, None)


def test_keys_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no keys in it"):
        load_keys(write(tmp_path, "k.txt", "# only a comment\n"))
    with pytest.raises(ConfigError, match="cannot read it"):
        load_keys(tmp_path / "missing")
