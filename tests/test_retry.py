"""The --retries policy: what is retried, the back-off schedule, how attempts are named."""

from __future__ import annotations

import pytest

from llmbench.result import RequestResult
from llmbench.retry import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    attempt_error,
    backoff_s,
    retryable,
)


def result(status: str, http_status: int | None = None) -> RequestResult:
    return RequestResult(
        index=0,
        phase="measure",
        status=status,  # type: ignore[arg-type]
        t0_ns=0,
        end_ns=1,
        http_status=http_status,
    )


@pytest.mark.parametrize(
    ("status", "http_status", "expected"),
    [
        ("connect_error", None, True),
        ("http_error", 429, True),
        ("http_error", 503, True),
        ("http_error", 500, False),
        ("http_error", 401, False),
        ("timeout", None, False),
        ("stream_error", None, False),
        ("ok", 200, False),
    ],
)
def test_only_what_a_retry_can_fix_is_retried(
    status: str, http_status: int | None, expected: bool
) -> None:
    assert retryable(result(status, http_status)) is expected


def test_back_off_doubles_from_0_2_s_up_to_the_cap() -> None:
    assert [backoff_s(n) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert (BACKOFF_BASE_S, BACKOFF_CAP_S) == (0.1, 2.0)
    assert backoff_s(100) == BACKOFF_CAP_S  # --retries allows 100: no overflow


def test_a_failed_attempt_is_named_by_status_and_code() -> None:
    assert attempt_error(result("http_error", 503)) == "http_error 503"
    assert attempt_error(result("connect_error")) == "connect_error"
