"""Tests for llmbench.redaction.redact_result: a result's error never carries a key,
and stays within the error cap after "<redacted>" replaced a shorter key. (The name
and URL helpers are tested in test_config_secrets.py and test_config.py.)"""

from __future__ import annotations

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.redaction import REDACTED, redact_result
from llmbench.result import RequestResult, Status
from llmbench.workload import KeyRing


def result(error: str | None) -> RequestResult:
    status: Status = "ok" if error is None else "http_error"
    return RequestResult(index=0, phase="measure", status=status, t0_ns=0, end_ns=1, error=error)


def test_a_key_in_the_error_is_redacted() -> None:
    out = redact_result(result("HTTP 401: bad key sk-live-123 for org"), KeyRing(["sk-live-123"]))
    assert out.error == f"HTTP 401: bad key {REDACTED} for org"
    assert out.status == "http_error"


def test_nothing_to_scrub_returns_the_same_result() -> None:
    keys = KeyRing(["sk-live-123"], ["Bearer tok-9"])
    for r in (result(None), result(""), result("HTTP 500: upstream down")):
        assert redact_result(r, keys) is r


def test_the_redacted_error_stays_within_the_cap() -> None:
    key = "abcd"  # shorter than "<redacted>": replacing it makes the text longer
    error = (key + " ") * (MAX_ERROR_BYTES // 5)
    assert len(error.encode()) <= MAX_ERROR_BYTES
    out = redact_result(result(error), KeyRing([key]))
    assert out.error is not None
    assert key not in out.error
    assert out.error.startswith(REDACTED)
    assert len(out.error.encode()) <= MAX_ERROR_BYTES


def test_secrets_besides_keys_are_redacted() -> None:
    keys = KeyRing([], ["Bearer tok-secret-9", "tok-secret-9"])
    out = redact_result(result("echo: Authorization: Bearer tok-secret-9"), keys)
    assert out.error == f"echo: Authorization: {REDACTED}"
