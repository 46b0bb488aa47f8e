"""A sweep step's verdict, figures, the answer and the knee, from summary values."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from llmbench.sweep_search import Point, bracket
from llmbench.sweep_steps import (
    CSV_COLUMNS,
    achieved_rate,
    answer_block,
    judge_step,
    knee_block,
    sending_window_s,
    step_line,
    step_record,
    sweep_csv,
)


def summary(
    *,
    rate: float = 40.0,
    seconds: int = 10,
    ttft_p95: float = 60.0,
    latency_p50: float = 700.0,
    slo_passed: bool = True,
    **run: Any,
) -> dict[str, Any]:
    """A step's summary.json, as much of it as the sweep reads."""
    rows = [
        {"t": t, "started": rate, "ok": rate, "output_tokens": rate * 64} for t in range(seconds)
    ]
    rows.append({"t": seconds, "started": 0, "ok": rate * 0.7, "output_tokens": 0})
    return {
        "run": {"stop_reason": "duration", "wall_time_s": seconds + 0.7, **run},
        "config": {"duration_s": float(seconds)},
        "requests": {"total": int(rate * seconds), "ok": int(rate * seconds)},
        "tokens": {"output": int(rate * seconds * 64)},
        "throughput": {"requests_per_s": rate * 0.9, "output_tokens_per_s": rate * 64 * 0.9},
        "ttft_ms": {"p50": 51.0, "p95": ttft_p95, "p99": ttft_p95 + 5},
        "tpot_ms": {"p50": 10.0, "p95": 10.5, "p99": 11.0},
        "itl_ms": {"p50": 10.0, "p95": 10.4, "p99": 11.0},
        "latency_ms": {"p50": latency_p50, "p95": latency_p50 + 20, "p99": latency_p50 + 40},
        "slo": {
            "passed": slo_passed,
            "checks": [
                {
                    "expr": "ttft_p95<=500ms",
                    "unit": "ms",
                    "measured": ttft_p95,
                    "passed": slo_passed,
                }
            ],
        },
        "client": {"saturated": False, "saturation_reasons": []},
        "timeseries": rows,
    }


def test_the_achieved_rate_counts_each_request_sent_once_over_the_sending_window() -> None:
    s = summary(rate=47.0)
    assert sending_window_s(s) == 10.0
    assert achieved_rate(s, "requests") == 47.0  # not the 42.3 the headline's wall time gives
    assert achieved_rate(s, "tokens") == 47.0 * 64


def test_requests_longer_than_the_step_still_count_at_their_rate() -> None:
    # 3 s requests in a 2 s step: every one finished in the drain, after the last send.
    s = summary(rate=5.0, seconds=2)
    s["timeseries"] = [
        {"t": 0, "started": 5, "ok": 0},
        {"t": 1, "started": 5, "ok": 0},
        {"t": 3, "started": 0, "ok": 5},
        {"t": 4, "started": 0, "ok": 5},
    ]
    assert achieved_rate(s, "requests") == 5.0
    assert judge_step(s, "rate", 5.0, None) == ("ok", [])


def test_without_per_second_rows_the_achieved_rate_is_the_headline() -> None:
    s = summary(rate=47.0)
    del s["timeseries"]
    assert achieved_rate(s, "requests") == pytest.approx(47.0 * 0.9)


def test_a_step_that_keeps_up_and_meets_the_slo_is_ok() -> None:
    assert judge_step(summary(rate=40), "rate", 40.0, None) == ("ok", [])


def test_a_step_where_many_requests_failed_or_were_cut_off_is_overloaded() -> None:
    s = summary(rate=40)
    s["requests"]["ok"] = 300  # of 400
    verdict, reasons = judge_step(s, "rate", 40.0, None)
    assert verdict == "overloaded"
    assert reasons[0].startswith("only 75% of the requests succeeded (100 failed or were cut off)")


def test_fewer_arrivals_than_the_nominal_rate_is_not_an_overload() -> None:
    # Poisson arrivals: 33 sent in a second at a nominal 40 req/s, all of them fine.
    s = summary(rate=33)
    assert judge_step(s, "rate", 40.0, None) == ("ok", [])


def test_a_step_stopped_at_its_own_cap_is_client_limited() -> None:
    s = summary(stop_reason="client cap", overload="all 20 request slots busy for 3 s ...")
    assert judge_step(s, "rate", 10.0, None) == (
        "client_limited",
        ["stopped early: all 20 request slots busy for 3 s ..."],
    )


def test_a_failed_slo_is_named_with_what_was_measured() -> None:
    verdict, reasons = judge_step(summary(ttft_p95=612.0, slo_passed=False), "rate", 40.0, None)
    assert verdict == "slo_failed"
    assert reasons == ["ttft_p95<=500ms: measured 612 ms"]


def test_goodput_below_the_target_fails_the_step() -> None:
    s = summary()
    s["goodput"] = {"ratio": 0.9}
    verdict, reasons = judge_step(s, "rate", 40.0, 95.0)
    assert verdict == "slo_failed"
    assert reasons == ["goodput 90.0% < --goodput-target 95%"]
    assert judge_step(s, "rate", 40.0, 90.0)[0] == "ok"


def test_an_early_stop_is_overloaded_with_its_reason() -> None:
    s = summary(stop_reason="overloaded", overload="TTFT p50 rose every second")
    assert judge_step(s, "rate", 40.0, None) == (
        "overloaded",
        ["stopped early: TTFT p50 rose every second"],
    )


def test_the_error_rate_stop_is_overloaded() -> None:
    s = summary(error_rate_stop={"threshold": 0.5, "observed": 0.75, "window": 20})
    assert judge_step(s, "rate", 40.0, None) == (
        "overloaded",
        ["stopped at --max-error-rate: 75% of the last 20 failed"],
    )


def test_nothing_succeeded_is_overloaded() -> None:
    s = summary()
    s["requests"]["ok"] = 0
    assert judge_step(s, "concurrency", 8.0, None) == ("overloaded", ["no request succeeded"])


def test_a_saturated_client_outranks_every_server_verdict() -> None:
    s = summary(ttft_p95=900, slo_passed=False, stop_reason="overloaded")
    s["client"] = {"saturated": True, "saturation_reasons": ["event-loop lag p99 40 ms > 10 ms"]}
    verdict, reasons = judge_step(s, "rate", 100.0, None)
    assert verdict == "client_limited"
    assert "event-loop lag p99 40 ms" in reasons[0]


def test_a_step_record_holds_the_figures_the_report_draws() -> None:
    record = step_record(
        3, "search", 40.0, "step-04-40", summary(), mode="rate", goodput_target=None
    )
    assert record["verdict"] == "ok"
    assert record["index"] == 3
    assert record["dir"] == "step-04-40"
    assert record["achieved_rps"] == 40.0
    assert record["ttft_ms"] == {"p50": 51.0, "p95": 60.0, "p99": 65.0}
    assert record["per_user_tokens_per_s"] == 100.0  # 1000 / TPOT p50 of 10 ms
    assert record["requests"] == {"ok": 400, "failed": 0, "canceled": 0}


def test_requests_an_early_stop_cut_off_are_canceled_not_failed() -> None:
    s = summary(stop_reason="overloaded", overload="x")
    s["requests"] = {
        "total": 100,
        "ok": 60,
        "by_status": {"ok": 60, "canceled": 30, "http_error": 10},
    }
    record = step_record(0, "search", 40.0, "d", s, mode="rate", goodput_target=None)
    assert record["requests"] == {"ok": 60, "failed": 10, "canceled": 30}
    assert record["goodput_percent"] is None


def test_a_damaged_summary_still_makes_a_record() -> None:
    damaged = {"run": "x", "ttft_ms": {"p50": float("nan"), "p95": True}, "timeseries": [1, None]}
    record = step_record(0, "list", 10.0, "d", damaged, mode="rate", goodput_target=95.0)
    assert record["verdict"] == "overloaded"
    assert record["ttft_ms"] == {"p50": None, "p95": None, "p99": None}
    assert record["tpot_ms"] is None
    assert record["per_user_tokens_per_s"] is None


def _steps(
    *pairs: tuple[float, str], latencies: dict[float, float] | None = None
) -> list[dict[str, Any]]:
    out = []
    for i, (load, verdict) in enumerate(pairs):
        lat = (latencies or {}).get(load, 700.0)
        rec = step_record(i, "search", load, f"s{i}", summary(rate=load, latency_p50=lat),
                          mode="rate", goodput_target=None)  # fmt: skip
        rec["verdict"] = verdict
        rec["reasons"] = [] if verdict == "ok" else [f"why {load:g}"]
        out.append(rec)
    return out


def test_the_answer_names_the_load_its_figures_and_what_bounds_it() -> None:
    steps = _steps((40, "ok"), (50, "slo_failed"), (45, "ok"), (47, "overloaded"))
    b = bracket([Point(s["load"], s["verdict"]) for s in steps])
    answer = answer_block(steps, b, "rate", None)
    assert answer["lower_bound"] is False
    assert (answer["found"], answer["load"], answer["step"], answer["bound_load"]) == (
        True,
        45,
        2,
        47,
    )
    assert answer["bounded_by"] == ["why 47"]
    assert answer["text"].startswith("max sustainable load: 45 req/s (TTFT p95 60 ms")
    assert answer["text"].endswith("bounded at 47 req/s by why 47")


def test_no_answer_when_even_the_lowest_load_fails() -> None:
    steps = _steps((10, "slo_failed"), (5, "slo_failed"))
    b = bracket([Point(s["load"], s["verdict"]) for s in steps])
    answer = answer_block(steps, b, "concurrency", None)
    assert not answer["found"]
    assert answer["load"] is None
    assert answer["text"] == "no load met the SLOs: even concurrency 5 failed (why 5)"


def test_a_client_limit_makes_the_answer_a_lower_bound() -> None:
    steps = _steps((40, "ok"), (50, "client_limited"))
    b = bracket([Point(s["load"], s["verdict"]) for s in steps])
    answer = answer_block(steps, b, "rate", None)
    assert answer["found"]
    assert answer["lower_bound"] is True
    assert answer["client_limited_at"] == 50
    assert "the client saturated at 50 req/s (why 50); rerun with --workers N" in answer["text"]


def test_a_full_client_cap_says_to_raise_the_cap() -> None:
    steps = _steps((40, "ok"), (50, "client_limited"))
    steps[1]["reasons"] = ["stopped early: all 20 request slots busy: the --concurrency cap ..."]
    b = bracket([Point(s["load"], s["verdict"]) for s in steps])
    text = answer_block(steps, b, "rate", None)["text"]
    assert "at 50 req/s the --concurrency cap held the load back" in text


def test_everything_passing_says_the_limit_was_the_sweeps() -> None:
    steps = _steps((40, "ok"), (80, "ok"))
    b = bracket([Point(s["load"], s["verdict"]) for s in steps])
    answer = answer_block(steps, b, "rate", 80.0)
    assert answer["lower_bound"] is True
    assert answer["text"].endswith(
        "at least that: every SLO held up to the highest load tried (--max 80)"
    )


def test_the_knee_is_the_load_of_highest_power() -> None:
    # throughput / median latency: 10/0.7, 20/0.71, 30/0.8, 40/2.0 -> highest at 30
    steps = _steps((10, "ok"), (20, "ok"), (30, "ok"), (40, "slo_failed"),
                   latencies={10: 700, 20: 710, 30: 800, 40: 2000})  # fmt: skip
    assert knee_block(steps, "rate") == {"load": 30, "step": 2}


def test_a_client_limited_step_is_not_the_knee() -> None:
    steps = _steps((10, "ok"), (20, "ok"), (30, "client_limited"), (40, "slo_failed"),
                   latencies={10: 700, 20: 710, 30: 700, 40: 2000})  # fmt: skip
    assert knee_block(steps, "rate") == {"load": 20, "step": 1}


def test_no_knee_from_too_few_steps_or_a_curve_that_never_bends() -> None:
    assert knee_block(_steps((10, "ok"), (20, "ok")), "rate") is None
    assert knee_block(_steps((10, "ok"), (20, "ok"), (30, "ok")), "rate") is None


def test_the_console_line_says_load_figures_and_verdict() -> None:
    (step,) = _steps((50, "slo_failed"))
    line = step_line(step, "rate")
    assert "50 req/s" in line
    assert "TTFT p50/p95 51/60 ms" in line
    assert line.endswith("SLO_FAILED: why 50")


def test_the_csv_has_one_row_per_step_and_no_formula_cells() -> None:
    steps = _steps((40, "ok"), (50, "slo_failed"))
    steps[1]["reasons"] = ["=HYPERLINK(1)"]
    rows = list(csv.DictReader(io.StringIO(sweep_csv(steps))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["load"] for r in rows] == ["40", "50"]
    assert rows[0]["ttft_p95_ms"] == "60.0"
    assert rows[1]["reasons"] == "'=HYPERLINK(1)"
