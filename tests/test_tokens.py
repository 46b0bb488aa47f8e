"""Token counting modes."""

from __future__ import annotations

import pytest

from llmbench.tokens import TokenPolicy, count_input, count_output, estimate_tokens, unit_label


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("", 0),
        ("hello world", 2),
        ("你好世界", 4),
        ("hello 世界 again", 4),
        ("  spaced\tout\nwords ", 3),
        ("こんにちは", 5),
    ],
)
def test_estimate_is_cjk_characters_plus_words(text: str, n: int) -> None:
    assert estimate_tokens(text) == n


@pytest.mark.parametrize(
    ("mode", "usage", "expected"),
    [
        ("auto", 7, (7, "usage")),
        ("auto", None, (11, "chars")),
        ("usage", 7, (7, "usage")),
        ("usage", None, (None, "none")),
        ("chars", 7, (11, "chars")),
        ("estimate", 7, (2, "estimate")),
        ("disabled", 7, (None, "disabled")),
    ],
)
def test_count_output_modes(mode: str, usage: int | None, expected: tuple[int | None, str]) -> None:
    assert count_output(mode, usage, "hello world", 11, None) == expected


def test_tokenizer_mode_uses_the_counter() -> None:
    def counter(text: str) -> int:
        return len(text)

    assert count_output("tokenizer", 99, "abc", 3, counter) == (3, "tokenizer")
    assert count_input("tokenizer", 99, "abcd", counter) == 4


def test_count_input_modes() -> None:
    assert count_input("auto", 12, "a b", None) == 12
    assert count_input("auto", None, "a b", None) == 3
    assert count_input("usage", None, "a b", None) is None
    assert count_input("estimate", None, "a b", None) == 2
    assert count_input("disabled", 5, "a b", None) is None


def test_labels() -> None:
    assert unit_label("chars") == "chars"
    assert TokenPolicy("chars").unit == "chars"
    assert TokenPolicy("auto").unit == "tokens"
    assert TokenPolicy("estimate").keeps_text
    assert not TokenPolicy("auto").keeps_text
