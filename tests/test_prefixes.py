"""Shared prefixes (issue 16): which group each position takes and whether it is the
group's first use, the same in every shard; the prefix texts (exact with a tokenizer);
how a prompt, a messages list and any item source get them; the flags."""

from __future__ import annotations

import argparse
import itertools
import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from llmbench import app, prefixes
from llmbench.cli import _build_parser, _with_config, main
from llmbench.config import ConfigError, RunConfig
from llmbench.prefixes import PrefixedItems, SharedPrefixes, prefixed_messages, shared_prefixes
from llmbench.prompt_text import WordText
from llmbench.providers.base import OptionSources
from llmbench.run_options import add_run_arguments, build_config
from llmbench.sharding import Positioned, Shard, item_position
from llmbench.synthetic import SyntheticItems
from llmbench.workload import WorkloadItem, cycle_items
from tiny_tokenizers import merging_bpe, text_of, word_level

URL = "http://127.0.0.1:9"


# -- which group, and its first use -----------------------------------------------------


def test_round_robin_takes_position_mod_groups() -> None:
    shared = SharedPrefixes(8, groups=3)
    assert [shared.group(p) for p in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [shared.first(p) for p in range(7)] == [True] * 3 + [False] * 4


def test_random_picks_are_seeded_by_position() -> None:
    a, b = SharedPrefixes(8, 5, "random", seed=7), SharedPrefixes(8, 5, "random", seed=7)
    picks = [a.group(p) for p in range(500)]
    assert picks == [b.group(p) for p in reversed(range(500))][::-1]  # order-free
    assert picks != [SharedPrefixes(8, 5, "random", seed=8).group(p) for p in range(500)]
    assert set(picks) == set(range(5))
    assert picks[:20] != [p % 5 for p in range(20)]


def naive_first(shared: SharedPrefixes, position: int) -> bool:
    return all(shared.group(q) != shared.group(position) for q in range(position))


@pytest.mark.parametrize("groups", [1, 3, 40])
def test_random_first_use_is_the_groups_earliest_position(groups: int) -> None:
    shared = SharedPrefixes(8, groups, "random", seed=3)
    truth = SharedPrefixes(8, groups, "random", seed=3)
    assert [shared.first(p) for p in range(300)] == [naive_first(truth, p) for p in range(300)]
    assert sum(shared.first(p) for p in range(300)) == groups  # 300 draws see every group


def test_a_shard_asking_its_own_positions_agrees_with_one_process() -> None:
    whole = SharedPrefixes(8, 25, "random", seed=11)
    single = [(whole.group(p), whole.first(p)) for p in range(400)]
    for index in range(3):
        shard = SharedPrefixes(8, 25, "random", seed=11)  # a fresh process
        mine = [(shard.group(p), shard.first(p)) for p in range(index, 400, 3)]
        assert mine == single[index::3]


def test_the_first_use_scan_stops_once_every_group_was_seen() -> None:
    shared = SharedPrefixes(8, 4, "random", seed=0)
    shared.first(100_000)
    assert shared._scanned < 100  # its group's first use comes early: the scan stops there


# -- the texts -----------------------------------------------------------------------------


def test_word_prefixes_are_p_words_distinct_per_group_and_the_same_everywhere() -> None:
    shared = SharedPrefixes(300, groups=4, seed=5)
    texts = [shared.text(g) for g in range(4)]
    assert {len(t.split()) for t in texts} == {300}
    assert len(set(texts)) == 4
    assert texts == [SharedPrefixes(300, groups=4, seed=5).text(g) for g in range(4)]
    assert texts[0] != SharedPrefixes(300, groups=4, seed=6).text(0)


@pytest.mark.parametrize("build", [merging_bpe, word_level])
def test_prefixes_are_exactly_p_tokens_with_a_tokenizer(
    build: Callable[[Path], Path], tmp_path: Path
) -> None:
    text = text_of(build(tmp_path / "tokenizer.json"))
    for tokens in (1, 2, 31, 2000):
        shared = SharedPrefixes(tokens, groups=3, seed=2, text=text)
        assert [text.count(shared.text(g)) for g in range(3)] == [tokens] * 3


def test_the_text_cache_is_bounded_and_a_miss_makes_the_same_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefixes, "_CACHE_CHARS", 2_000)
    shared = SharedPrefixes(200, groups=10, seed=1)
    first = [shared.text(g) for g in range(10)]
    assert shared._chars <= 2_000 + len(first[-1])
    assert len(shared._texts) < 10
    assert [shared.text(g) for g in range(10)] == first


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="out of bounds"):
        SharedPrefixes(0)
    with pytest.raises(ValueError, match="out of bounds"):
        SharedPrefixes(5, groups=100_001)
    with pytest.raises(ValueError, match="unknown pick 'lru'"):
        SharedPrefixes(5, pick="lru")


def test_the_note_says_what_was_made(tmp_path: Path) -> None:
    assert SharedPrefixes(2000, 4).note == "4 shared prefixes of about 2,000 tokens (round-robin)"
    exact = SharedPrefixes(5, 1, "random", text=text_of(word_level(tmp_path / "t.json")))
    assert exact.note == "a shared prefix of 5 tokens (random)"


# -- applying them ---------------------------------------------------------------------------


def test_apply_puts_the_prefix_before_the_prompt_and_labels_the_item() -> None:
    shared = SharedPrefixes(6, groups=2, seed=0)
    item = shared.apply(WorkloadItem("hello there", max_tokens=9, prompt_id=4), 3)
    assert item.prompt == f"{shared.text(1)} hello there"
    assert (item.prefix_group, item.prefix_first, item.max_tokens, item.prompt_id) == (
        1, False, 9, 4
    )  # fmt: skip
    assert item.chat_messages() == [{"role": "user", "content": item.prompt}]


def test_messages_get_the_prefix_at_the_start_of_the_first_message() -> None:
    system = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    assert prefixed_messages(system, "P P") == (
        {"role": "system", "content": "P P be brief"},
        {"role": "user", "content": "hi"},
    )
    user = ({"role": "user", "content": "hi", "name": "u1"},)
    assert prefixed_messages(user, "P") == ({"role": "user", "content": "P hi", "name": "u1"},)
    parts = ({"role": "user", "content": [{"type": "text", "text": "hi"}]},)
    assert prefixed_messages(parts, "P")[0]["content"] == [
        {"type": "text", "text": "P"},
        {"type": "text", "text": "hi"},
    ]
    assert prefixed_messages(({"role": "user"},), "P") == ({"role": "user", "content": "P"},)
    assert prefixed_messages((), "P") == ({"role": "user", "content": "P"},)
    assert system[0]["content"] == "be brief"  # the file's items are not changed


def test_apply_to_a_messages_item_changes_both_forms() -> None:
    shared = SharedPrefixes(3, seed=0)
    messages = ({"role": "system", "content": "sys"}, {"role": "user", "content": "q"})
    item = shared.apply(WorkloadItem("sys\nq", messages), 0)
    assert item.prompt.startswith(shared.text(0) + " sys")
    assert item.chat_messages()[0]["content"] == f"{shared.text(0)} sys"


def test_prefixed_items_from_a_file_cycle_iterate_and_answer_by_position() -> None:
    shared = SharedPrefixes(4, groups=2, seed=0)
    base = [WorkloadItem("a"), WorkloadItem("b"), WorkloadItem("c")]
    items = PrefixedItems(cycle_items(base, "sequential", 0), shared)
    first = items.at(0)  # the pre-flight asks position 0, then the run iterates from it
    got = list(itertools.islice(items, 5))
    assert got[0] == first
    assert [i.prompt.split()[-1] for i in got] == ["a", "b", "c", "a", "b"]
    assert [(i.prefix_group, i.prefix_first) for i in got] == [
        (0, True), (1, True), (0, False), (1, False), (0, False)
    ]  # fmt: skip
    assert [i.prompt_id for i in got] == [0, 1, 2, 0, 1]


def test_shards_of_prefixed_items_send_what_one_process_sends() -> None:
    def make() -> PrefixedItems:
        base = [WorkloadItem(str(i)) for i in range(7)]
        return PrefixedItems(cycle_items(base, "shuffle", 3), SharedPrefixes(4, 3, "random", 3))

    single = list(itertools.islice(make(), 60))
    for index in range(4):
        shard = Shard(index, 4)
        items = Positioned(make())
        mine = [items.at(item_position(shard, 0, k)) for k in range(shard.share(60))]
        assert mine == single[index::4]


def test_synthetic_items_with_prefixes_shard_the_same_way() -> None:
    def make() -> SyntheticItems:
        return SyntheticItems((10, 3), 5, 2, WordText(), SharedPrefixes(12, 4, "random", 2))

    single = list(itertools.islice(make(), 40))
    items = Positioned(make())
    assert [items.at(p) for p in range(1, 40, 2)] == single[1::2]


# -- flags and config ------------------------------------------------------------------------


def config(*argv: str) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(["--url", URL, *argv]), OptionSources())


def test_prefix_flags_reach_the_config() -> None:
    cfg = config("--prefix-tokens", "2000", "--prefix-groups", "4", "--prefix-pick", "random")
    assert (cfg.prefix_tokens, cfg.prefix_groups, cfg.prefix_pick) == (2000, 4, "random")
    assert config().prefix_tokens is None
    assert (config("--prefix-tokens", "5").prefix_groups, config().prefix_pick) == (
        1, "round-robin"
    )  # fmt: skip
    public = cfg.public()
    assert (public["prefix_tokens"], public["prefix_groups"], public["prefix_pick"]) == (
        2000, 4, "random"
    )  # fmt: skip
    shared = shared_prefixes(cfg, WordText())
    assert shared is not None
    assert (shared.tokens, shared.groups, shared.pick) == (2000, 4, "random")
    assert shared_prefixes(config(), WordText()) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prefix-groups", "4"], r"^--prefix-groups needs --prefix-tokens P"),
        (["--prefix-groups", "1"], r"^--prefix-groups needs --prefix-tokens P"),  # given is given
        (["--prefix-pick", "round-robin"], r"^--prefix-pick needs --prefix-tokens P"),
        (
            ["--prefix-groups", "2", "--prefix-pick", "random"],
            r"^--prefix-groups and --prefix-pick need --prefix-tokens P",
        ),
        (["--prefix-tokens", "0"], r"^--prefix-tokens must be >= 1, got 0"),
        (["--prefix-tokens", "1000001"], r"^--prefix-tokens must be <= 1000000"),
        (["--prefix-tokens", "5", "--prefix-groups", "0"], r"^--prefix-groups must be >= 1"),
        (
            ["--prefix-tokens", "5", "--prefix-groups", "100001"],
            r"^--prefix-groups must be <= 100000",
        ),
        (
            ["--prefix-tokens", "5", "--trace", "t.jsonl"],
            r"^--trace and --prefix-tokens are alternatives: the trace's hash_ids",
        ),
    ],
)
def test_bad_prefix_flags(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(*argv)


def test_a_config_built_in_code_is_held_to_the_same_rules() -> None:
    with pytest.raises(ConfigError, match="--prefix-groups and --prefix-pick need"):
        RunConfig(url=URL, prefix_groups=3)
    with pytest.raises(ConfigError, match="--prefix-pick must be round-robin or random"):
        RunConfig(url=URL, prefix_tokens=3, prefix_pick="lru")


def test_prefix_flags_in_a_config_file_and_print_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'url = "{URL}"\nprefix-tokens = 2000\nprefix_groups = 4\nprefix-pick = "random"\n'
    )
    argv = _with_config(["run", "--config", str(path)])
    cfg = build_config(_build_parser(argv).parse_args(argv), OptionSources())
    assert (cfg.prefix_tokens, cfg.prefix_groups, cfg.prefix_pick) == (2000, 4, "random")
    code = main(["run", "--config", str(path), "--print-config"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    table = tomllib.loads(out)
    assert (table["prefix-tokens"], table["prefix-groups"], table["prefix-pick"]) == (
        2000, 4, "random"
    )  # fmt: skip
    assert "arrival" not in table
    assert "order" not in table


# -- the run's workload (prepare) ---------------------------------------------------------------


def prepared(*argv: str) -> app.Prepared:
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    return app.prepare(parser.parse_args(["--url", URL, "--model", "m", *argv]))


def test_a_run_with_prefixes_and_synthetic_prompts(tmp_path: Path) -> None:
    tok = word_level(tmp_path / "tokenizer.json")
    prep = prepared(
        "--prefix-tokens", "50", "--prefix-groups", "2", "--input-tokens", "10",
        "--tokenizer", str(tok),
    )  # fmt: skip
    assert "prompts: 2 shared prefixes of 50 tokens (round-robin)" in prep.note
    text = text_of(tok)
    items = list(itertools.islice(prep.items, 4))
    assert [text.count(i.prompt) for i in items] == [60] * 4  # exact: 50 + 10
    assert [(i.prefix_group, i.prefix_first) for i in items] == [
        (0, True), (1, True), (0, False), (1, False)
    ]  # fmt: skip
    assert prep.tokens.mode == "auto"  # --tokenizer alone: counting follows --token-mode


def test_a_run_with_prefixes_and_a_prompts_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q1"}]}) + "\n")
    prep = prepared("--prefix-tokens", "3", "--prompts-file", str(path))
    item = next(prep.items)
    assert item.chat_messages()[0]["content"].endswith(" q1")
    assert len(item.chat_messages()[0]["content"].split()) == 4
    assert (item.prefix_group, item.prefix_first) == (0, True)
    assert "a shared prefix of about 3 tokens (round-robin)" in prep.note


def test_a_run_with_prefixes_and_the_default_prompt() -> None:
    items = prepared("--prefix-tokens", "3", "--prefix-groups", "2").items
    first, second, third = itertools.islice(items, 3)
    assert first.prompt.endswith(" Explain in a few sentences why the sky is blue.")
    assert (third.prefix_group, third.prefix_first) == (0, False)
    assert first.prompt != second.prompt
    assert first.prompt == third.prompt


def test_no_prefixes_no_labels_and_no_note() -> None:
    prep = prepared("--input-tokens", "5")
    assert next(prep.items).prefix_group is None
    assert prep.note == ""


def test_random_picks_from_one_run_match_a_brute_force(tmp_path: Path) -> None:
    items = prepared("--prefix-tokens", "2", "--prefix-groups", "6", "--prefix-pick", "random",
                     "--input-tokens", "3", "--seed", "4").items  # fmt: skip
    truth = SharedPrefixes(2, 6, "random", 4)
    labels = [(i.prefix_group, i.prefix_first) for i in itertools.islice(items, 80)]
    assert labels == [(truth.group(p), naive_first(truth, p)) for p in range(80)]


def test_the_preflight_takes_a_prefix_no_request_takes() -> None:
    for pick in ("round-robin", "random"):
        prefixes = SharedPrefixes(10, 4, pick, seed=2)
        assert (prefixes.group(-1), prefixes.first(-1)) == (4, False)
        assert {prefixes.group(p) for p in range(200)} == {0, 1, 2, 3}
    items = PrefixedItems(iter([WorkloadItem("own")] * 3), SharedPrefixes(10, 2))
    unsent = items.unsent()
    assert unsent.prefix_group == 2
    assert unsent.prompt.endswith("own")
    assert [items.at(p).prefix_group for p in range(3)] == [0, 1, 0]  # item 0 still sent
