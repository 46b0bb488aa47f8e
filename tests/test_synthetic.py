"""Synthetic prompts (--input-tokens): lengths, seeding by position, exact lengths with a
tokenizer (tiny real ones built here), and the shared prefixes they may start with."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from llmbench.config import MAX_INPUT_TOKENS, ConfigError
from llmbench.prefixes import SharedPrefixes
from llmbench.prompt_text import WORDS, PromptLengthError, TokenizerText, WordText, join
from llmbench.synthetic import SyntheticItems, parse_length, synthetic_items
from llmbench.tokens import estimate_tokens
from tiny_tokenizers import merging_bpe, text_of, word_level


@pytest.fixture(scope="module")
def bpe(tmp_path_factory: pytest.TempPathFactory) -> TokenizerText:
    return text_of(merging_bpe(tmp_path_factory.mktemp("bpe") / "tokenizer.json"))


@pytest.mark.parametrize(
    ("text", "expected"), [("512", (512, 0)), ("512:64", (512, 64)), ("1:0", (1, 0))]
)
def test_parse_length(text: str, expected: tuple[int, int]) -> None:
    assert parse_length(text, "--input-tokens") == expected


@pytest.mark.parametrize(
    "text", ["", "x", "0", "5:-1", "5:x", "-3", "1e9", "1000001", "5:1000001", str(2**64 + 1)]
)
def test_parse_length_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--input-tokens"):
        parse_length(text, "--input-tokens")


def test_input_tokens_are_bounded_and_say_so() -> None:
    # 10**9 tokens built a 2.6 GB prompt, then a MemoryError
    message = (
        r"^--input-tokens must be at most 1000000 tokens \(mean and stddev\), got '1000000000'$"
    )
    with pytest.raises(ConfigError, match=message):
        parse_length("1000000000", "--input-tokens")
    assert parse_length("1000000:1000000", "--input-tokens") == (1_000_000, 1_000_000)


# -- words (no tokenizer): about a token a word, as before ----------------------------


def test_synthetic_prompts_have_the_target_length_and_differ() -> None:
    items = list(itertools.islice(synthetic_items((200, 0), 32, seed=3), 20))
    assert {estimate_tokens(i.prompt) for i in items} == {200}
    assert {i.max_tokens for i in items} == {32}
    assert len({i.prompt for i in items}) == 20
    assert [i.prompt_id for i in items[:3]] == [0, 1, 2]
    assert {i.prefix_group for i in items} == {None}


def test_position_seeding_is_unchanged() -> None:
    # item i comes from random.Random(f"{seed}/{i}"): shards and older runs agree
    rng = random.Random("3/5")
    assert synthetic_items((40, 0), None, seed=3).at(5).prompt == " ".join(rng.choices(WORDS, k=40))


def test_synthetic_lengths_follow_mean_and_stddev() -> None:
    lengths = [
        estimate_tokens(i.prompt)
        for i in itertools.islice(synthetic_items((300, 50), None, seed=1), 2000)
    ]
    mean = sum(lengths) / len(lengths)
    sd = (sum((x - mean) ** 2 for x in lengths) / len(lengths)) ** 0.5
    assert abs(mean - 300) < 5  # standard error ~1.1
    assert 45 < sd < 55


def test_a_drawn_length_never_passes_the_bound() -> None:
    items = itertools.islice(synthetic_items((MAX_INPUT_TOKENS, MAX_INPUT_TOKENS), None, 1), 8)
    assert max(len(i.prompt.split()) for i in items) <= MAX_INPUT_TOKENS


def test_at_is_the_iteration_and_does_not_move_it() -> None:
    items = synthetic_items((20, 5), 16, seed=3)
    by_position = [items.at(p) for p in (4, 0, 7)]
    in_order = list(itertools.islice(items, 8))
    assert by_position == [in_order[4], in_order[0], in_order[7]]


# -- a tokenizer: exactly the drawn length --------------------------------------------


@pytest.mark.parametrize("length", [(1, 0), (7, 0), (300, 0), (200, 80)])
def test_exact_lengths_with_a_merging_bpe(bpe: TokenizerText, length: tuple[int, int]) -> None:
    words = synthetic_items(length, None, seed=2)
    exact = synthetic_items(length, None, seed=2, text=bpe)
    for position in range(30):
        drawn = len(words.at(position).prompt.split())  # the same draw of the length
        assert bpe.count(exact.at(position).prompt) == drawn


def test_exact_lengths_with_a_word_level_tokenizer(tmp_path: Path) -> None:
    text = text_of(word_level(tmp_path / "tokenizer.json"))
    items = synthetic_items((64, 16), 8, seed=9, text=text)
    for item in itertools.islice(items, 40):
        assert text.count(item.prompt) == len(
            synthetic_items((64, 16), 8, 9).at(item.prompt_id or 0).prompt.split()
        )


# -- with shared prefixes: the prefix, then the prompt's own part ----------------------


def test_words_after_a_prefix_are_the_prompt_without_it() -> None:
    prefixes = SharedPrefixes(50, groups=3, seed=4)
    plain = synthetic_items((20, 0), None, seed=4)
    prefixed = synthetic_items((20, 0), None, seed=4, prefixes=prefixes)
    for position in range(7):
        item = prefixed.at(position)
        group = position % 3
        assert item.prompt == f"{prefixes.text(group)} {plain.at(position).prompt}"
        assert (item.prefix_group, item.prefix_first) == (group, position < 3)
        assert item.prompt_id == position


@pytest.mark.parametrize("length", [(1, 0), (2, 0), (20, 0), (300, 100)])
def test_prefix_and_own_part_are_exact_with_a_tokenizer(
    bpe: TokenizerText, length: tuple[int, int]
) -> None:
    prefixes = SharedPrefixes(200, groups=2, seed=1, text=bpe)
    words = synthetic_items(length, None, seed=1)
    items = synthetic_items(length, None, seed=1, text=bpe, prefixes=prefixes)
    for position in range(20):
        prompt, head = items.at(position).prompt, prefixes.text(position % 2)
        assert bpe.count(head) == 200
        assert prompt.startswith(head)
        drawn = len(words.at(position).prompt.split())
        total = bpe.count(prompt)
        # exact, unless this BPE cannot add 1 or 2 tokens after that prefix's end: then
        # the own part alone is exact (see SyntheticItems)
        assert total == 200 + drawn or (drawn <= 2 and bpe.count(prompt[len(head) :]) > 0)


def test_when_no_own_part_fits_the_prefix_stays_and_the_part_is_exact_alone(
    bpe: TokenizerText,
) -> None:
    class NoFit(TokenizerText):
        """Nothing fits after a head (as a tokenizer that re-splits every head's end)."""

        def fill(self, head: str, total: int, rng: random.Random, **kw: int | str | None) -> str:
            if head:
                raise PromptLengthError("no")
            return super().fill(head, total, rng)

    text = NoFit(bpe._encode, bpe._decode)
    prefixes = SharedPrefixes(30, seed=0, text=text)
    item = SyntheticItems((12, 0), None, 0, text, prefixes).at(3)
    head = prefixes.text(0)
    own = text.make(12, random.Random("0/3/own"))
    assert item.prompt == join(head, own)
    assert bpe.count(own) == 12
    assert item.prefix_group == 0


def test_the_default_text_is_words() -> None:
    assert isinstance(SyntheticItems((5, 0), None, 0)._text, WordText)


def test_the_preflights_item_is_one_the_run_never_sends() -> None:
    # llmbench.app's pre-flight: same shape, but no request of the run has its prompt or
    # its prefix, so it warms no server cache the run measures
    prefixes = SharedPrefixes(30, 3, seed=1)
    items = SyntheticItems((20, 0), 8, seed=1, prefixes=prefixes)
    unsent = items.unsent()
    sent = [items.at(p) for p in range(50)]
    assert unsent.prompt not in {item.prompt for item in sent}
    assert unsent.prefix_group == 3  # a group no request takes
    assert not any(item.prompt.startswith(prefixes.text(3)) for item in sent)
    assert unsent.max_tokens == 8
    assert [item.prompt for item in sent] == [items.at(p).prompt for p in range(50)]
