"""Tests for llmbench.error_body: an error response's body as one bounded message."""

from __future__ import annotations

import pytest

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.error_body import ErrorBody, json_error, one_line


def test_one_line_collapses_every_whitespace_run() -> None:
    assert one_line(b"<html>\r\n  <body>Bad\tGateway</body>\n</html>\n") == (
        "<html> <body>Bad Gateway</body> </html>"
    )
    assert one_line(b"caf\xc3") == "caf\ufffd"  # a cut character is replaced, not an error


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"error": {"message": "quota\\n  exceeded", "type": "billing"}}', "quota exceeded"),
        (b'{"error": "overloaded"}', "overloaded"),
        (b'{"error": null}', None),
        (b'{"choices": []}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_json_error(body: bytes, error: str | None) -> None:
    assert json_error(body) == error


def test_the_body_is_kept_up_to_the_cap() -> None:
    body = ErrorBody()
    for i in range(5):
        body.add(bytes([ord("a") + i]) * 700)
    status, message = body.failure(500)
    assert status == "http_error"
    assert message == "HTTP 500: " + "a" * 700 + "b" * 314  # the prefix is inside the cap
    assert len(message) == MAX_ERROR_BYTES


def test_an_http_error_reads_no_json() -> None:
    body = ErrorBody()
    body.add(b'{"error": {"message": "rate limited"}}')
    assert body.failure(429) == ("http_error", 'HTTP 429: {"error": {"message": "rate limited"}}')


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"error": "overloaded"}', ("http_error", "HTTP 200: overloaded")),
        (b"[1, 2]", ("parse_error", "expected text/event-stream, got application/json: [1, 2]")),
    ],
)
def test_a_json_body_where_a_stream_was_due(data: bytes, expected: tuple[str, str]) -> None:
    body = ErrorBody("expected text/event-stream, got application/json")
    body.add(data)
    assert body.failure(200) == expected
