"""Per-request time limits: pure arithmetic over instants."""

from __future__ import annotations

import pytest

from llmbench.http.deadlines import Timeouts

S = 1_000_000_000
T0 = 50 * S


def check(t: Timeouts, now: float, *, token: bool = False, head: float | None = None,
          rx: float = 0) -> tuple[str | None, int]:  # fmt: skip
    head_at = None if head is None else T0 + int(head * S)
    return t.check(
        T0, T0 + int(now * S), has_token=token, head_at=head_at, last_rx=T0 + int(rx * S)
    )


def test_total_only() -> None:
    t = Timeouts(total_s=10)
    assert check(t, 1) == (None, T0 + 10 * S)
    assert check(t, 10) == ("total", T0 + 10 * S)


def test_ttft_applies_until_the_first_token() -> None:
    t = Timeouts(total_s=10, ttft_s=2)
    assert check(t, 1) == (None, T0 + 2 * S)
    assert check(t, 2)[0] == "ttft"
    assert check(t, 5, token=True) == (None, T0 + 10 * S)


def test_stall_moves_with_the_last_bytes_and_starts_at_the_head() -> None:
    t = Timeouts(total_s=100, stall_s=3)
    assert check(t, 5) == (None, T0 + 100 * S)  # no head yet: only ttft/total apply
    assert check(t, 5, head=1, rx=4) == (None, T0 + 7 * S)
    assert check(t, 7, head=1, rx=4) == ("stall", T0 + 7 * S)
    assert check(t, 3.9, head=1, rx=0) == (None, T0 + 4 * S)  # the head counts as bytes
    assert check(t, 4, head=1, rx=0) == ("stall", T0 + 4 * S)


def test_earliest_limit_wins() -> None:
    t = Timeouts(total_s=3, ttft_s=5, stall_s=1)
    assert check(t, 2.5, head=1, rx=1.25) == ("stall", T0 + int(2.25 * S))
    assert check(t, 2, head=1.5) == (None, T0 + int(2.5 * S))
    assert check(t, 3, head=2.5, rx=2.9) == ("total", T0 + 3 * S)


@pytest.mark.parametrize(
    ("which", "text"),
    [
        ("total", "timeout:total: no complete response within 600 s"),
        ("ttft", "timeout:ttft: no first token within 1.5 s"),
        ("stall", "timeout:stall: no bytes mid-stream for 2 s"),
        ("connect", "timeout:connect: no connection within 10 s"),
    ],
)
def test_messages(which: str, text: str) -> None:
    assert Timeouts(ttft_s=1.5, stall_s=2).message(which) == text


def test_a_late_check_names_the_limit_passed_first() -> None:
    # A timer that fires late (a blocked loop) still reports the earliest deadline.
    t = Timeouts(total_s=3, ttft_s=2, stall_s=0.5)
    assert check(t, 10) == ("ttft", T0 + 2 * S)
    assert check(t, 10, head=1) == ("stall", T0 + int(1.5 * S))
    assert check(t, 10, head=1, rx=2.9, token=True) == ("total", T0 + 3 * S)


def test_equal_deadlines_name_total_then_ttft() -> None:
    assert check(Timeouts(total_s=2, ttft_s=2), 2)[0] == "total"
    assert check(Timeouts(total_s=9, ttft_s=2, stall_s=1), 2, head=1)[0] == "ttft"


@pytest.mark.parametrize(
    ("limits", "now", "expected"),
    [
        ({"connect_s": 3}, 1, (None, T0 + 3 * S)),
        ({"connect_s": 3}, 3, ("connect", T0 + 3 * S)),
        ({"connect_s": 3, "ttft_s": 2}, 2, ("ttft", T0 + 2 * S)),
        ({"connect_s": 3, "total_s": 1}, 1, ("total", T0 + 1 * S)),
        ({"connect_s": 3, "stall_s": 1}, 1, (None, T0 + 3 * S)),  # no head: no stall
    ],
)
def test_check_connect(
    limits: dict[str, float], now: float, expected: tuple[str | None, int]
) -> None:
    t = Timeouts(**limits)
    assert t.check_connect(T0, T0, T0 + int(now * S)) == expected


def test_the_connect_limit_counts_from_the_connect() -> None:
    t = Timeouts(connect_s=3, ttft_s=10)
    assert t.check_connect(T0, T0 + 4 * S, T0 + 6 * S) == (None, T0 + 7 * S)


@pytest.mark.parametrize("huge", [1e300, float("inf"), float("nan"), 1e9, 2e9])
def test_a_huge_limit_is_far_away_not_an_overflow(huge: float) -> None:
    t = Timeouts(total_s=huge, connect_s=huge, ttft_s=huge, stall_s=huge)
    which, due = check(t, 1e6, head=1)
    assert which is None
    assert due == T0 + 10**18  # 1e9 s: about 31 years
    assert t.check_connect(T0, T0, T0 + 1)[0] is None
