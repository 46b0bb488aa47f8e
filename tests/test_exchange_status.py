"""Which HTTP statuses are a stream and which an ``http_error`` (issue 12, item 10).

Only a 2xx that can carry a body is read as a stream. Every other final status is an
``http_error`` with its code: a redirect is never followed (a benchmark must not
silently measure another URL), 204 and 205 have no body by definition (RFC 9110
§15.3.5-6), and a 1xx given as the final status is not a response to read.
"""

from __future__ import annotations

import pytest

from llmbench.config import RunConfig
from llmbench.error_body import is_error_status
from llmbench.exchange import Exchange
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult

T0 = 1_000_000_000
PROVIDER = OpenAIChat(RunConfig(url="http://127.0.0.1:8000"))
STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def respond(status: int, body: bytes = b"", **head: str | None) -> RequestResult:
    ex = Exchange(PROVIDER, index=0, phase="measure", t0_ns=T0, max_line_bytes=1 << 20)
    ex.on_head(status, T0 + 5, **head)
    if body:
        ex.on_data(body, T0 + 6)
    return ex.finish(T0 + 7)


@pytest.mark.parametrize("status", range(100, 600))
def test_only_a_2xx_with_a_body_is_a_stream(status: int) -> None:
    """Every status code: the stream is read for 200-203 and 206-299, else http_error."""
    r = respond(status, STREAM, content_type="text/event-stream")
    streamed = 200 <= status < 300 and status not in (204, 205)
    assert is_error_status(status) is not streamed
    assert r.status == ("ok" if streamed else "http_error")
    assert r.http_status == status
    if not streamed:
        assert r.error is not None
        assert r.error.startswith(f"HTTP {status}: ")
        assert (r.ttft_ns, r.latency_ns, r.chunks) == (None, None, 0)


@pytest.mark.parametrize("status", [204, 205])
def test_no_content_is_an_http_error(status: int) -> None:
    r = respond(status)
    assert (r.status, r.error) == ("http_error", f"HTTP {status}: no content")
    # A body the status forbids is not read either.
    assert respond(status, STREAM).error == f"HTTP {status}: no content"


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_a_redirect_is_named_and_not_followed(status: int) -> None:
    r = respond(status, b"<html>moved</html>", location="https://other.example/v1/chat")
    assert (r.status, r.http_status) == ("http_error", status)
    assert r.error == f"HTTP {status}: redirect to https://other.example/v1/chat not followed"
    assert respond(status).error == f"HTTP {status}: redirect not followed"  # no Location given


def test_a_redirect_location_shows_no_credentials() -> None:
    r = respond(302, location="https://user:pw@other.example/x?api_key=sk-123&page=2")
    assert r.error is not None
    assert "pw" not in r.error
    assert "sk-123" not in r.error
    assert "other.example/x" in r.error
    assert "page=2" in r.error


def test_a_304_without_location() -> None:
    assert respond(304).error == "HTTP 304: redirect not followed"


def test_an_interim_status_as_final_is_an_http_error() -> None:
    r = respond(101, b"")
    assert (r.status, r.error) == ("http_error", "HTTP 101: ")


def test_4xx_and_5xx_keep_the_body() -> None:
    assert respond(418, b"I'm a teapot").error == "HTTP 418: I'm a teapot"
    assert respond(503, b'{"error": "busy"}').error == 'HTTP 503: {"error": "busy"}'


def test_an_error_status_never_ends_early() -> None:
    ex = Exchange(PROVIDER, index=0, phase="measure", t0_ns=T0, max_line_bytes=1 << 20)
    ex.on_head(302, T0 + 5, location="/elsewhere")
    assert ex.on_data(STREAM, T0 + 6) is False
    assert not ex.ended  # the transport reads the body to its end, then finishes
