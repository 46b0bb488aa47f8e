"""Tests for llmbench.usage: which token counts to believe, and how updates combine."""

from __future__ import annotations

import pytest

from llmbench.events import Usage
from llmbench.usage import MAX_COUNT, merge_usage, token_count


@pytest.mark.parametrize("value", [0, 1, 42, MAX_COUNT])
def test_a_count_is_a_json_integer_in_range(value: int) -> None:
    assert token_count(value) == value


@pytest.mark.parametrize("value", [None, "7", 2.5, 3.0, True, -1, MAX_COUNT + 1, 10**26, [1]])
def test_anything_else_is_no_count(value: object) -> None:
    assert token_count(value) is None


def test_an_update_keeps_what_it_does_not_say() -> None:
    start = merge_usage(None, Usage(prompt=11))  # Anthropic's message_start
    assert start == Usage(11, None)
    assert merge_usage(start, Usage(completion=42)) == Usage(11, 42)  # its message_delta
    assert merge_usage(Usage(11, 42), Usage(12, 43)) == Usage(12, 43)


def test_a_bad_count_in_an_update_keeps_the_old_one() -> None:
    assert merge_usage(Usage(11, 42), Usage("7", 2.5)) == Usage(11, 42)  # type: ignore[arg-type]
    assert merge_usage(None, Usage(-1, 10**26)) == Usage(None, None)
