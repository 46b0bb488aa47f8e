"""Prompt files and key rotation: pure, on files in tmp_path (synthetic prompts:
test_synthetic.py)."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from pathlib import Path

import pytest

from llmbench import app
from llmbench.config import ConfigError
from llmbench.workload import (
    KeyRing,
    Prompts,
    WorkloadItem,
    check_key,
    cycle_items,
    load_keys,
    load_prompts,
    strip_line_ending,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_one_prompt_per_line_blank_lines_skipped(tmp_path: Path) -> None:
    items = load_prompts(write(tmp_path, "p.txt", "first\n\n  \nsecond line\n")).items
    assert [i.prompt for i in items] == ["first", "second line"]
    assert items[0].chat_messages() == [{"role": "user", "content": "first"}]


def test_jsonl_prompt_messages_max_tokens_and_extra_fields(tmp_path: Path) -> None:
    lines = [
        {"prompt": "p1", "max_tokens": 7, "temperature": 0.5},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
    ]
    prompts = load_prompts(write(tmp_path, "p.jsonl", "\n".join(json.dumps(x) for x in lines)))
    assert prompts.note == ""
    items = prompts.items
    assert items[0] == WorkloadItem("p1", None, 7, {"temperature": 0.5})
    assert items[1].messages is not None
    assert items[1].chat_messages()[1] == {"role": "user", "content": "u"}
    assert items[1].prompt == "s\nu"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "a"}\n{oops', r"p\.jsonl:2: invalid JSON"),
        ('{"text": "a"}', r"p\.jsonl:1: needs a 'prompt' or 'messages' field"),
        ('{"prompt": "a", "max_tokens": 0}', "max_tokens must be an integer in 1..10000000"),
        ('{"prompt": "a", "max_tokens": 10000001}', "max_tokens must be an integer in 1..10000000"),
        ('{"prompt": "a", "max_tokens": 1.5}', "max_tokens must be an integer in 1..10000000"),
        # integers orjson cannot write, numbers that are not JSON, nesting past any body
        ('{"prompt": "a", "seed": 18446744073709551617}', r"p\.jsonl:1 has an integer outside"),
        ('{"prompt": "a", "temperature": NaN}', r"p\.jsonl:1 has a number that is NaN"),
        ('{"prompt": "a", "x": 1e999}', r"p\.jsonl:1 has a number that is NaN or infinite"),
        ('{"prompt": "a", "x": ' + "[" * 70 + "]" * 70 + "}", "nests deeper than 64 levels"),
        ('{"prompt": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", r"p\.jsonl:1: invalid"),
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
        {"conversations": [{"from": "human", "value": "empty"}, {"from": "gpt", "value": ""}]},
        {"id": "no conversations"},
    ]  # fmt: skip
    prompts = load_prompts(write(tmp_path, "sg.json", json.dumps(data)))
    # issue 13, item 9: an entry with no reply has no output length: skipped, and counted.
    assert [(i.prompt, i.max_tokens) for i in prompts.items] == [("question one", 6)]
    assert prompts.note == "prompts: 1 of 4 ShareGPT entries (2 had no reply, 1 had no human turn)"


def test_sharegpt_with_every_entry_answered_says_nothing(tmp_path: Path) -> None:
    data = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a b"}]}]
    prompts = load_prompts(write(tmp_path, "sg.json", json.dumps(data)))
    assert prompts == Prompts((WorkloadItem("q", max_tokens=2),))


def test_sharegpt_with_no_reply_anywhere_says_why_nothing_is_left(tmp_path: Path) -> None:
    data = [{"conversations": [{"from": "human", "value": "q"}]}] * 3
    message = r"no prompts in it: 0 of 3 ShareGPT entries \(3 had no reply\)$"
    with pytest.raises(ConfigError, match=message):
        load_prompts(write(tmp_path, "sg.json", json.dumps(data)))


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


# -- keys: one line ending stripped, every other control character refused -----------------


def test_crlf_key_files_and_a_bom_work(tmp_path: Path) -> None:
    path = tmp_path / "k.txt"
    path.write_bytes(b"\xef\xbb\xbf# team keys\r\nsk-one\r\n\r\n  sk-two  \r\nsk-three")
    assert load_keys(path) == ["sk-one", "sk-two", "sk-three"]


@pytest.mark.parametrize("ch", [chr(c) for c in [*range(0x20), 0x7F] if c != 0x0A])
def test_a_control_character_in_a_key_line_is_named_not_shown(tmp_path: Path, ch: str) -> None:
    path = tmp_path / "k.txt"
    path.write_bytes(f"sk-one\nsk-SECRET{ch}tail\r\n".encode())
    with pytest.raises(
        ConfigError, match=f"^--api-key-file {re.escape(str(path))} line 2: "
    ) as info:
        load_keys(path)
    assert "the key contains a control character" in str(info.value)
    assert "keys must be printable ASCII" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_a_vertical_tab_no_longer_splits_a_key_in_two(tmp_path: Path) -> None:
    # str.splitlines() splits on VT, FF, FS, GS, RS, NEL, LS and PS too
    path = write(tmp_path, "k.txt", "sk-SECRET\x0bhalf\n")
    with pytest.raises(ConfigError, match=r"line 1: the key contains a control character \(0x0b\)"):
        load_keys(path)
    with pytest.raises(ConfigError, match="line 1: the key contains a non-ASCII character"):
        load_keys(write(tmp_path, "k2.txt", "sk-SECRET\u2028half\n"))


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "k.txt"
    path.write_bytes(b"sk-\xff\n")
    with pytest.raises(ConfigError, match=r"cannot read it \(UnicodeDecodeError\)"):
        load_keys(path)


@pytest.mark.parametrize(
    ("text", "stripped"),
    [("k\n", "k"), ("k\r\n", "k"), ("k\r", "k"), ("k\n\n", "k\n"), ("k\r\r\n", "k\r"), ("k", "k")],
)
def test_strip_line_ending_strips_one(text: str, stripped: str) -> None:
    assert strip_line_ending(text) == stripped


def test_a_keyring_cannot_hold_a_key_http_cannot_carry() -> None:
    with pytest.raises(
        ConfigError, match=r"^an API key: the key contains a control character \(LF\)"
    ):
        KeyRing(["sk-1\nX-Injected: 1"])
    with pytest.raises(ConfigError, match=r"^--api-key: the key contains a non-ASCII character"):
        check_key("sk-é", "--api-key")


def test_the_run_announces_the_skipped_sharegpt_entries(tmp_path: Path) -> None:
    data = [
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"conversations": [{"from": "human", "value": "unanswered"}]},
    ]
    path = write(tmp_path, "sg.json", json.dumps(data))
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    args = parser.parse_args(["--url", "http://127.0.0.1:9", "--prompts-file", str(path)])
    prep = app.prepare(args)
    assert "prompts: 1 of 2 ShareGPT entries (1 had no reply)" in prep.note
    assert next(prep.items).prompt == "q"


def test_items_carry_their_index_in_the_prompt_source() -> None:
    # issue 13, item 8: results.jsonl's prompt_id with --save-detailed
    items = [WorkloadItem("a"), WorkloadItem("b"), WorkloadItem("c")]
    shuffled = list(itertools.islice(cycle_items(items, "shuffle", 5), 6))
    assert {(i.prompt, i.prompt_id) for i in shuffled} == {("a", 0), ("b", 1), ("c", 2)}


def test_a_line_separator_inside_a_prompt_is_not_a_line_break(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a\u2028b"}\r\n{"prompt": "c\u0085d"}\n', encoding="utf-8")
    assert [i.prompt for i in load_prompts(jsonl).items] == ["a\u2028b", "c\u0085d"]
    txt = tmp_path / "p.txt"
    txt.write_text("one\u2028still one\r\ntwo\n", encoding="utf-8")
    assert [i.prompt for i in load_prompts(txt).items] == ["one\u2028still one", "two"]


@pytest.mark.parametrize("prompt", [None, 3, {"x": 1}, ["a"]])
def test_a_prompt_that_is_not_a_string_is_refused(tmp_path: Path, prompt: object) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": prompt}) + "\n")
    with pytest.raises(ConfigError, match=r"p\.jsonl:1: prompt must be a string"):
        load_prompts(path)
