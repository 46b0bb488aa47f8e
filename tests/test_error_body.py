"""Tests for llmbench.error_body: an error response's body as one bounded message."""

from __future__ import annotations

import pytest

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.error_body import SECRET_ROOM, ErrorBody, is_error_status, json_error, one_line


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
        (b'{"error": false}', None),
        (b'{"error": ""}', None),
        (b'{"error": {}}', None),
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


# -- issue 12: which statuses are errors, redaction before the cut ---------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (100, True),
        (101, True),
        (199, True),
        (200, False),
        (201, False),
        (203, False),
        (204, True),
        (205, True),
        (206, False),
        (299, False),
        (300, True),
        (302, True),
        (304, True),
        (399, True),
        (400, True),
        (500, True),
        (599, True),
    ],
)
def test_is_error_status(status: int, error: bool) -> None:
    assert is_error_status(status) is error


def test_redirect_and_no_content_messages() -> None:
    body = ErrorBody(location="https://u:p@elsewhere/v1?token=t0k3n")
    body.add(b"<html>Moved</html>")
    status, message = body.failure(301)
    assert (status, message) == (
        "http_error",
        "HTTP 301: redirect to https://elsewhere/v1?token=%3Credacted%3E not followed",
    )
    assert ErrorBody().failure(307) == ("http_error", "HTTP 307: redirect not followed")
    assert ErrorBody().failure(204) == ("http_error", "HTTP 204: no content")


def test_redaction_runs_before_the_cut() -> None:
    key = "k" * 40
    body = ErrorBody()
    body.add(b"a" * (MAX_ERROR_BYTES - 20) + key.encode())
    _, message = body.failure(401, lambda text: text.replace(key, "<redacted>"))
    # Cut first, "HTTP 401: " would have left 10 characters of the key at the end.
    assert message == "HTTP 401: " + "a" * (MAX_ERROR_BYTES - 20) + "<redacted>"


def test_a_truncated_body_drops_the_tail_where_a_key_may_be_cut() -> None:
    """The kept bytes end inside a key: whitespace then collapses and would pull the
    cut key inside the cap, so the kept tail that may hold it is dropped."""
    key = "s" * 51
    body = ErrorBody()
    body.add(b"x" * 100 + b" " * (MAX_ERROR_BYTES + SECRET_ROOM - 120) + key.encode() + b"!" * 99)
    _, message = body.failure(500, lambda text: text.replace(key, "<redacted>"))
    assert message == "HTTP 500: " + "x" * 100
    whole = ErrorBody()
    whole.add(b"x" * 100 + b" " * 3000 + key.encode())  # kept whole: redacted, not dropped
    assert whole.failure(500, lambda t: t.replace(key, "<R>")) == (
        "http_error",
        "HTTP 500: " + "x" * 100 + " <R>",
    )
