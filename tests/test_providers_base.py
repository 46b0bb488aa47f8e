"""Tests for the helpers every provider shares (llmbench.providers.base): URL joining,
header and body merging, bearer auth, error lines."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import pytest

from llmbench import app
from llmbench.caps import MAX_ERROR_BYTES
from llmbench.providers import provider_names
from llmbench.providers.base import (
    accept_header,
    bearer,
    end_reason,
    error_text,
    join_url,
    merge_body,
    merge_headers,
)

DASH = "/api/v1/services/aigc/text-generation/generation"


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("https://h", DASH, "https://h" + DASH),
        ("https://h/api", DASH, "https://h" + DASH),
        ("https://h/api/v1", DASH, "https://h" + DASH),
        ("https://h/api/v1/services", DASH, "https://h" + DASH),
        ("https://h" + DASH, DASH, "https://h" + DASH),
        ("https://h/apis/v1", DASH, "https://h/apis/v1" + DASH),  # segments, not prefixes
        ("https://h/v1", "/v1/messages", "https://h/v1/messages"),
        ("https://h/gw/v1", "/v1/messages", "https://h/gw/v1/messages"),
        ("https://h/v1", "/api/chat", "https://h/v1/api/chat"),
        ("https://h:8080/", "/generate_stream", "https://h:8080/generate_stream"),
    ],
)
def test_join_url_does_not_repeat_what_the_url_ends_with(
    base: str, path: str, expected: str
) -> None:
    assert join_url(base, path, None) == expected


def test_join_url_endpoint_replaces_the_path() -> None:
    assert join_url("https://h/api/v1", DASH, "/x/y") == "https://h/x/y"


def test_merge_headers_later_layers_win_case_insensitively() -> None:
    merged = merge_headers(
        [("content-type", "application/json"), ("accept", "text/event-stream")],
        [("authorization", "Bearer k")],
        [("Authorization", "Basic u"), ("X-A", "1"), ("x-a", "2")],
    )
    assert merged == (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("Authorization", "Basic u"),
        ("x-a", "2"),
    )
    assert merge_headers() == ()


def test_merge_body_objects_merge_and_extras_stay_untouched() -> None:
    cfg_extra: dict[str, Any] = {"opts": {"a": 1, "deep": {"x": 1}}, "t": 0.5}
    item_extra: dict[str, Any] = {"opts": {"deep": {"y": 2}}, "t": 0.0, "list": [1]}
    body: dict[str, Any] = {"opts": {"keep": True}, "list": [0, 0], "stream": True}
    out = merge_body(body, cfg_extra, item_extra)
    assert out is body
    assert body == {
        "opts": {"keep": True, "a": 1, "deep": {"x": 1, "y": 2}},
        "list": [1],
        "stream": True,
        "t": 0.0,
    }
    assert cfg_extra == {"opts": {"a": 1, "deep": {"x": 1}}, "t": 0.5}
    assert item_extra == {"opts": {"deep": {"y": 2}}, "t": 0.0, "list": [1]}


def test_merge_body_object_replaces_a_non_object() -> None:
    assert merge_body({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert merge_body({"a": {"b": 2}}, {"a": None}) == {"a": None}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sk-1", (("authorization", "Bearer sk-1"),)),
        ("Bearer sk-1", (("authorization", "Bearer sk-1"),)),
        (None, ()),
        ("", ()),
    ],
)
def test_bearer(key: str | None, expected: tuple[tuple[str, str], ...]) -> None:
    assert bearer(key) == expected


def test_accept_header() -> None:
    assert accept_header("sse") == ("accept", "text/event-stream")
    assert accept_header("ndjson") == ("accept", "application/x-ndjson")
    assert accept_header("json") == ("accept", "application/json")


@pytest.mark.parametrize(
    ("error", "fields", "expected"),
    [
        ({"message": "boom"}, (), "boom"),
        ({"code": "E1", "message": "boom"}, ("code", "message"), "E1: boom"),
        ({"code": "", "message": "boom"}, ("code", "message"), "boom"),
        ({"code": 503}, (), "{'code': 503}"),
        ("plain", (), "plain"),
        (42, (), "42"),
    ],
)
def test_error_text(error: object, fields: tuple[str, ...], expected: str) -> None:
    assert error_text(error, *fields) == expected


def test_error_text_is_not_cut_before_redaction() -> None:
    """The exchange redacts credentials and then caps the message: a provider that cut
    it first could cut a key in two, and half a key escapes redaction (issue 12)."""
    assert error_text({"message": "e" * 5000}) == "e" * 5000
    assert len(error_text("x" * (MAX_ERROR_BYTES + 1))) == MAX_ERROR_BYTES + 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("stop", "stop"),
        ("", ""),
        (1, "1"),
        (2.5, "2.5"),
        (True, "true"),
        ({"type": "stop", "n": 1}, '{"type":"stop","n":1}'),
        (["length"], '["length"]'),
        (2**70, str(2**70)),  # past what JSON writers take: str() instead
    ],
)
def test_end_reason_is_always_a_string(value: object, expected: str) -> None:
    assert end_reason(value) == expected


# -- the README's copy-paste commands ----------------------------------------------------

ROOT = Path(__file__).parent.parent


def _readme_commands() -> list[list[str]]:
    """Every `llmbench run` command in the README's Providers section, joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Providers\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return [shlex.split(line)[2:] for line in block.splitlines() if line.startswith("llmbench run")]


def test_the_readme_has_a_command_for_every_provider() -> None:
    named = [argv[argv.index("--provider") + 1] for argv in _readme_commands()]
    assert sorted(set(named)) == provider_names()
    assert named.count("template") == 2  # both shipped examples


@pytest.mark.parametrize("argv", _readme_commands(), ids=lambda argv: " ".join(argv[:4]))
def test_the_readme_commands_prepare(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command passes every check `llmbench run` makes before sending anything."""
    monkeypatch.chdir(ROOT)  # the example paths are relative to the repository
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    prep = app.prepare(parser.parse_args(argv))
    assert prep.provider.name == prep.cfg.provider
    request = prep.provider.build_request(next(prep.items), "sk-x")
    assert request.url.startswith(prep.cfg.url.rstrip("/") + "/")
