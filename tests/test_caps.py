"""Tests for llmbench.caps: the one cap on kept error text."""

from __future__ import annotations

from llmbench.caps import MAX_ERROR_BYTES, bounded


def test_the_cap_is_1_kib() -> None:
    assert MAX_ERROR_BYTES == 1024


def test_short_text_is_kept_as_it_is() -> None:
    text = "x" * MAX_ERROR_BYTES
    assert bounded(text) is text


def test_bounded_counts_utf8_bytes_and_never_cuts_a_character() -> None:
    assert bounded("你" * 2000) == "你" * (MAX_ERROR_BYTES // 3)
    assert bounded("ab€", 4) == "ab"  # the euro sign is 3 bytes: dropped whole
    assert bounded("ab€", 5) == "ab€"
