"""Tests for llmbench.selfcheck.judge: the client-saturation verdict at its limits."""

from __future__ import annotations

import dataclasses

import pytest

from llmbench.selfcheck import (
    CPU_LIMIT_PCT,
    DISPATCH_LIMIT_MS,
    LOOP_LAG_LIMIT_MS,
    MIN_EVIDENCE,
    Verdict,
    judge,
)


def verdict(
    lag: float | None = None,
    cpu: float | None = None,
    dispatch: float | None = None,
    over: int = 100,
) -> Verdict:
    return judge(
        loop_lag_p99_ms=lag,
        loop_lag_over=over,
        cpu_pct=cpu,
        dispatch_lateness_p99_ms=dispatch,
        dispatch_over=over,
    )


@pytest.mark.parametrize(("over", "saturated"), [(0, False), (4, False), (5, True), (50, True)])
def test_a_p99_over_the_limit_needs_sustained_evidence(over: int, saturated: bool) -> None:
    assert MIN_EVIDENCE == 5
    assert verdict(lag=25.0, over=over).saturated is saturated
    assert verdict(dispatch=15.6, over=over).saturated is saturated


def test_cpu_needs_no_sample_count() -> None:
    assert verdict(cpu=95.0, over=0).saturated is True


def test_limits() -> None:
    assert (LOOP_LAG_LIMIT_MS, CPU_LIMIT_PCT, DISPATCH_LIMIT_MS) == (10.0, 90.0, 10.0)


def test_nothing_measured_is_not_saturated() -> None:
    assert verdict() == Verdict(False, ())


def test_healthy_figures() -> None:
    assert verdict(lag=0.4, cpu=35.0, dispatch=0.1) == Verdict(False, ())


@pytest.mark.parametrize(
    ("lag", "saturated"),
    [(9.99, False), (10.0, False), (10.01, True), (250.0, True)],
)
def test_loop_lag_boundary_is_strict(lag: float, saturated: bool) -> None:
    assert verdict(lag=lag).saturated is saturated


@pytest.mark.parametrize(
    ("cpu", "saturated"),
    [(89.9, False), (90.0, True), (90.1, True), (100.0, True)],
)
def test_cpu_boundary_is_inclusive(cpu: float, saturated: bool) -> None:
    assert verdict(cpu=cpu).saturated is saturated


@pytest.mark.parametrize(
    ("dispatch", "saturated"),
    [(9.99, False), (10.0, False), (10.01, True)],
)
def test_dispatch_boundary_is_strict(dispatch: float, saturated: bool) -> None:
    assert verdict(dispatch=dispatch).saturated is saturated


def test_each_reason_names_the_figure_and_the_limit() -> None:
    assert verdict(lag=12.34).reasons == ("event-loop lag p99 12.3 ms > 10 ms (100 ticks over)",)
    assert verdict(cpu=97.6).reasons == ("client CPU 98% of one core >= 90%",)
    assert verdict(dispatch=55.0).reasons == (
        "dispatch lateness p99 55.0 ms > 10 ms (100 requests over)",
    )


def test_all_reasons_in_order() -> None:
    assert verdict(lag=11.0, cpu=90.0, dispatch=10.5) == Verdict(
        True,
        (
            "event-loop lag p99 11.0 ms > 10 ms (100 ticks over)",
            "client CPU 90% of one core >= 90%",
            "dispatch lateness p99 10.5 ms > 10 ms (100 requests over)",
        ),
    )


def test_one_bad_figure_is_enough() -> None:
    assert verdict(lag=1.0, cpu=10.0, dispatch=11.0) == Verdict(
        True, ("dispatch lateness p99 11.0 ms > 10 ms (100 requests over)",)
    )


def test_verdict_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict().saturated = True  # type: ignore[misc]
