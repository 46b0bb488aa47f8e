"""The retry policy of ``--retries``: which failed attempts are worth another try,
how long to wait before it, and how a failed attempt is named in results.jsonl.

Pure: the runner owns the loop that sends, sleeps and stops; this module only decides.
"""

from __future__ import annotations

from llmbench.result import RequestResult

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "RETRYABLE_HTTP_STATUSES",
    "attempt_error",
    "backoff_s",
    "retryable",
]

# Exponential back-off: 0.2, 0.4, 0.8, 1.6 s, then 2 s per retry. Short enough not to
# stretch a benchmark, long enough for a 429/503 burst or a refused connect to clear.
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
# A server asking the client to slow down (429 Too Many Requests, 503 Unavailable).
RETRYABLE_HTTP_STATUSES = frozenset({429, 503})


def retryable(result: RequestResult) -> bool:
    """--retries covers what a retry can fix: no connection, or a server asking to back off."""
    if result.status == "connect_error":
        return True
    return result.status == "http_error" and result.http_status in RETRYABLE_HTTP_STATUSES


def backoff_s(failed_attempts: int) -> float:
    """Seconds to wait before the next attempt, after ``failed_attempts`` (>= 1) failed."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**failed_attempts)


def attempt_error(result: RequestResult) -> str:
    """A failed attempt as results.jsonl's ``retry_errors`` lists it: ``http_error 503``."""
    code = f" {result.http_status}" if result.http_status else ""
    return f"{result.status}{code}"
