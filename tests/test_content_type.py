"""Tests for llmbench.content_type: which label a 200 may carry for each framing."""

from __future__ import annotations

import pytest

from llmbench.content_type import is_json, media_type, mismatch


def test_media_type_drops_parameters_and_case() -> None:
    assert media_type(" Text/Event-Stream ; charset=utf-8") == "text/event-stream"
    assert media_type("application/json") == "application/json"


@pytest.mark.parametrize(
    ("framing", "content_type", "problem"),
    [
        ("sse", "text/event-stream", None),
        ("sse", "TEXT/EVENT-STREAM; charset=utf-8", None),
        ("sse", None, None),  # unlabelled: the body decides
        ("sse", "", None),
        ("sse", "text/html", "expected text/event-stream, got text/html"),
        ("sse", "application/json", "expected text/event-stream, got application/json"),
        ("ndjson", "application/x-ndjson", None),
        ("ndjson", "application/jsonl", None),
        ("ndjson", "text/plain", "expected an NDJSON type, got text/plain"),
        ("json", "application/json", None),
        ("json", "application/problem+json", None),
        ("json", "text/html; charset=utf-8", "expected a JSON type, got text/html"),
    ],
)
def test_mismatch(framing: str, content_type: str | None, problem: str | None) -> None:
    assert mismatch(framing, content_type) == problem


def test_a_long_media_type_is_cut_in_the_message() -> None:
    problem = mismatch("sse", "x/" + "y" * 5000)
    assert problem is not None
    assert problem == "expected text/event-stream, got x/" + "y" * 198


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [("application/json", True), ("Application/Problem+JSON; q=1", True), ("text/html", False)],
)
def test_is_json(content_type: str, expected: bool) -> None:
    assert is_json(content_type) is expected
