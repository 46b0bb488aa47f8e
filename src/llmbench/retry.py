"""The retry policy of ``--retries``: which failed attempts are worth another try,
how long to wait before it, and how a failed attempt is named in results.jsonl.

Pure: the runner owns the loop that sends, sleeps and stops; this module only decides.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from llmbench.result import RequestResult

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "CONNECT_BACKOFF_BASE_S",
    "CONNECT_BACKOFF_CAP_S",
    "DEFAULT_MAX_ERROR_RATE",
    "ERROR_RATE_MIN_REQUESTS",
    "ERROR_RATE_WINDOW",
    "RETRYABLE_HTTP_STATUSES",
    "ErrorRateWindow",
    "attempt_error",
    "backoff_s",
    "connect_backoff_s",
    "retryable",
]

# Exponential back-off: 0.2, 0.4, 0.8, 1.6 s, then 2 s per retry. Short enough not to
# stretch a benchmark, long enough for a 429/503 burst or a refused connect to clear.
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
# A server asking the client to slow down (429 Too Many Requests, 503 Unavailable).
RETRYABLE_HTTP_STATUSES = frozenset({429, 503})

# A closed-loop worker whose request could not connect waits before its next one:
# 50 ms, doubling to 1 s, reset by the first request that connects. Without it a dead
# port is hammered: a refused connect takes microseconds, so 4 workers made 42,000
# requests in 3 s at 100% of a core (issue 13).
CONNECT_BACKOFF_BASE_S = 0.05
CONNECT_BACKOFF_CAP_S = 1.0

# --max-error-rate: the run stops when more than this share of the last
# ERROR_RATE_WINDOW finished requests failed, judged once at least
# ERROR_RATE_MIN_REQUESTS have finished (fewer are noise: one early 503 of 3 is 33%).
DEFAULT_MAX_ERROR_RATE = 0.5
ERROR_RATE_MIN_REQUESTS = 20
ERROR_RATE_WINDOW = 100


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


def connect_backoff_s(consecutive: int) -> float:
    """Seconds a worker waits after ``consecutive`` (>= 1) connect errors in a row."""
    return min(CONNECT_BACKOFF_CAP_S, CONNECT_BACKOFF_BASE_S * 2.0 ** (consecutive - 1))


class ErrorRateWindow:
    """The error rate over the last ``window`` finished requests, against ``threshold``
    (a fraction, 0..1). :meth:`add` says when the rate has passed it; a canceled
    request (the run stopping) is no verdict on the server and is not counted."""

    def __init__(
        self,
        threshold: float,
        window: int = ERROR_RATE_WINDOW,
        min_requests: int = ERROR_RATE_MIN_REQUESTS,
    ) -> None:
        self.threshold = threshold
        self._window = window
        self._min = min(min_requests, window)
        self._failed: deque[bool] = deque(maxlen=window)
        self._failures = 0

    def add(self, result: RequestResult) -> bool:
        """Count one finished request; True when the window's error rate passed the threshold."""
        if result.status == "canceled":
            return False
        if len(self._failed) == self._window:
            self._failures -= self._failed[0]
        failed = result.status != "ok"
        self._failed.append(failed)
        self._failures += failed
        return len(self._failed) >= self._min and self.observed > self.threshold

    @property
    def observed(self) -> float:
        return self._failures / len(self._failed) if self._failed else 0.0

    def statistics(self) -> dict[str, Any]:
        """summary.json's ``run.error_rate_stop``: the threshold, the rate seen, over how many."""
        return {
            "threshold": self.threshold,
            "observed": round(self.observed, 4),
            "window": len(self._failed),
        }
