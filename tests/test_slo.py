"""Tests for llmbench.slo: the --slo grammar, the evaluator and per-request goodput."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmbench import slo
from llmbench.cli import _build_parser, main
from llmbench.result import RequestResult
from llmbench.slo import (
    METRICS,
    GoodputSpec,
    SloError,
    evaluate,
    format_table,
    goodput_block,
    parse_goodput,
    parse_slo,
    parse_slos,
    require_goodput,
    require_open_loop,
    slo_block,
)

FAMILIES = (
    "ttft",
    "latency",
    "ttfb",
    "tpot",
    "itl",
    "icl",
    "ttft_from_intended",
    "latency_from_intended",
    "queue",
)
STATS = ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p99_9", "max")
OTHERS = (
    "error_rate",
    "requests_per_s",
    "output_tokens_per_s",
    "total_tokens_per_s",
    "goodput_ratio",
    "goodput_requests_per_s",
)
ALL_NAMES = [f"{f}_{s}" for f in FAMILIES for s in STATS] + list(OTHERS)


def full_summary() -> dict[str, Any]:
    """Every block filled, each figure a distinct number, so a wrong lookup shows."""
    out: dict[str, Any] = {
        "schema": 1,
        "requests": {"total": 200, "ok": 197, "failed": 3, "by_status": {}},
        "throughput": {
            "requests_per_s": 45.5,
            "output_tokens_per_s": 2100.25,
            "total_tokens_per_s": 3000.5,
        },
        "goodput": {"requests_per_s": 40.125, "ratio": 0.925, "good": 185, "criteria": {}},
    }
    for i, fam in enumerate(FAMILIES):
        out[f"{fam}_ms"] = {"count": 10} | {s: 1000.0 * i + j for j, s in enumerate(STATS)}
    return out


def expected_value(name: str) -> float:
    fixed = {
        "error_rate": 3 / 200,
        "requests_per_s": 45.5,
        "output_tokens_per_s": 2100.25,
        "total_tokens_per_s": 3000.5,
        "goodput_ratio": 0.925,
        "goodput_requests_per_s": 40.125,
    }
    if name in fixed:
        return fixed[name]
    fam, stat = next((f, s) for f in FAMILIES for s in STATS if name == f"{f}_{s}")
    return 1000.0 * FAMILIES.index(fam) + STATS.index(stat)


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "metric", "op", "threshold", "unit"),
    [
        ("ttft_p95<=500ms", "ttft_p95", "<=", 500.0, "ms"),
        ("latency_p99<=8s", "latency_p99", "<=", 8000.0, "ms"),
        ("latency_p50<=0.25s", "latency_p50", "<=", 250.0, "ms"),
        ("tpot_p50<=40", "tpot_p50", "<=", 40.0, "ms"),  # bare number: the summary's ms
        ("itl_p99<100ms", "itl_p99", "<", 100.0, "ms"),
        ("ttfb_max>1.5ms", "ttfb_max", ">", 1.5, "ms"),
        ("ttft_p99.9<=2s", "ttft_p99_9", "<=", 2000.0, "ms"),
        ("error_rate<=1%", "error_rate", "<=", 0.01, "fraction"),
        ("error_rate<=0.1%", "error_rate", "<=", 0.001, "fraction"),
        ("error_rate<0.01", "error_rate", "<", 0.01, "fraction"),
        ("output_tokens_per_s>=2000", "output_tokens_per_s", ">=", 2000.0, "tok/s"),
        ("requests_per_s>=45", "requests_per_s", ">=", 45.0, "req/s"),
        ("goodput_ratio>=95%", "goodput_ratio", ">=", 0.95, "fraction"),
        ("goodput_requests_per_s>10", "goodput_requests_per_s", ">", 10.0, "req/s"),
        ("  TTFT_P95 <= 500 MS ", "ttft_p95", "<=", 500.0, "ms"),
        ("ttft_p95<=1e3", "ttft_p95", "<=", 1000.0, "ms"),
    ],
)
def test_parse_units_and_operators(
    expr: str, metric: str, op: str, threshold: float, unit: str
) -> None:
    check = parse_slo(expr)
    assert (check.metric, check.op, check.threshold, check.unit) == (metric, op, threshold, unit)
    assert check.expr == expr.strip()


def test_metric_table_is_exactly_the_documented_names() -> None:
    assert sorted(METRICS) == sorted(ALL_NAMES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_metric_name_parses_and_reads_its_own_figure(name: str) -> None:
    kind = METRICS[name].kind
    value = "1%" if kind == "fraction" else "1"
    [result] = evaluate([parse_slo(f"{name}>={value}")], full_summary())
    assert result.measured == expected_value(name)


def test_comma_separated_and_repeated_keep_order() -> None:
    checks = parse_slos(["ttft_p95<=500ms,error_rate<=1%", "requests_per_s>=45", " itl_p99<1s "])
    assert [c.metric for c in checks] == ["ttft_p95", "error_rate", "requests_per_s", "itl_p99"]


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        ("ttft_p95=500ms", r"malformed SLO 'ttft_p95=500ms'.*<=, <, >=, >"),
        ("ttft_p95==500ms", "malformed SLO"),
        ("ttft_p95<=", "malformed SLO"),
        ("<=500ms", "malformed SLO"),
        ("ttft_p95<=abc", "malformed SLO"),
        ("ttft_p95<=-5ms", "malformed SLO"),
        ("ttft_p95<=nan", "malformed SLO"),
        ("ttft_p95<=inf", "malformed SLO"),
        ("ttft_p95<=1_000", "malformed SLO"),
        ("ttft_p95<=5min", "malformed SLO"),
        ("ttft_p96<=5ms", r"unknown SLO metric 'ttft_p96'"),
        ("throughput>=5", r"unknown SLO metric 'throughput'"),
        ("ttft_p95<=5%", r"unit '%' does not fit ttft_p95; use ms, s or none"),
        ("requests_per_s>=5s", r"unit 's' does not fit requests_per_s"),
        ("error_rate<=5ms", r"unit 'ms' does not fit error_rate"),
        ("error_rate<=2", r"error_rate is a fraction in 0\.\.1; write it as e\.g\. 5%"),
        ("goodput_ratio>=101%", r"goodput_ratio is a fraction"),
        ("", "empty SLO expression"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expr: str, match: str) -> None:
    with pytest.raises(SloError, match=match) as info:
        parse_slo(expr)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("expr", ["nope<1", "ttft_p95 500", ""])
def test_malformed_and_unknown_list_the_valid_names(expr: str) -> None:
    with pytest.raises(
        SloError, match=r"valid metrics: \{ttft\|latency\|.*\}_\{min\|.*p99_9\|max\}"
    ):
        parse_slo(expr)
    with pytest.raises(ValueError, match="error_rate, requests_per_s, output_tokens_per_s"):
        parse_slo(expr)


def test_empty_part_of_a_comma_list_is_an_error() -> None:
    with pytest.raises(SloError, match="empty SLO expression"):
        parse_slos(["ttft_p95<=500ms,"])


# -- evaluation ------------------------------------------------------------------------


def summary_with(**blocks: Any) -> dict[str, Any]:
    out = full_summary()
    out.update(blocks)
    return out


@pytest.mark.parametrize(
    ("expr", "blocks", "passed"),
    [
        ("ttft_p95<=500ms", {"ttft_ms": {"p95": 500.0}}, True),
        ("ttft_p95<=500ms", {"ttft_ms": {"p95": 500.001}}, False),
        ("ttft_p95<500ms", {"ttft_ms": {"p95": 500.0}}, False),
        ("ttft_p95<500ms", {"ttft_ms": {"p95": 499.999}}, True),
        ("latency_p99<=8s", {"latency_ms": {"p99": 8000.0}}, True),
        ("latency_p99<=8s", {"latency_ms": {"p99": 8000.001}}, False),
        ("error_rate<=1%", {"requests": {"total": 100, "failed": 1}}, True),
        ("error_rate<=1%", {"requests": {"total": 700, "failed": 7}}, True),
        ("error_rate<=1%", {"requests": {"total": 100, "failed": 2}}, False),
        ("error_rate<=0.1%", {"requests": {"total": 1000, "failed": 1}}, True),
        ("error_rate<1%", {"requests": {"total": 100, "failed": 1}}, False),
        ("error_rate<=0%", {"requests": {"total": 100, "failed": 0}}, True),
        ("requests_per_s>=45", {"throughput": {"requests_per_s": 45.0}}, True),
        ("requests_per_s>45", {"throughput": {"requests_per_s": 45.0}}, False),
        ("requests_per_s>=45", {"throughput": {"requests_per_s": 44.999}}, False),
        ("goodput_ratio>=95%", {"goodput": {"ratio": 19 / 20}}, True),
        ("goodput_ratio>95%", {"goodput": {"ratio": 19 / 20}}, False),
        ("goodput_ratio>=95%", {"goodput": {"ratio": 18 / 20}}, False),
    ],
)
def test_boundaries(expr: str, blocks: dict[str, Any], passed: bool) -> None:
    [result] = evaluate([parse_slo(expr)], summary_with(**blocks))
    assert result.passed is passed


@pytest.mark.parametrize(
    ("expr", "blocks"),
    [
        ("ttft_p95<=500ms", {"ttft_ms": None}),  # no successful request
        ("ttft_p95>=0ms", {"ttft_ms": {"p50": 1.0}}),  # stat missing from the block
        ("error_rate<=100%", {"requests": {"total": 0, "ok": 0, "failed": 0}}),
        ("requests_per_s>=0", {"throughput": {"requests_per_s": "fast"}}),
        ("requests_per_s>=0", {"throughput": {"requests_per_s": True}}),
        ("requests_per_s>=0", {"throughput": {"requests_per_s": math.nan}}),
        ("goodput_ratio>=0%", {"goodput": {"ratio": None}}),
    ],
)
def test_a_metric_with_no_value_fails_with_null(expr: str, blocks: dict[str, Any]) -> None:
    [result] = evaluate([parse_slo(expr)], summary_with(**blocks))
    assert (result.measured, result.passed) == (None, False)


@pytest.mark.parametrize(
    ("expr", "key"),
    [
        ("queue_p99<=10ms", "queue_ms"),  # closed loop: no open-loop blocks at all
        ("ttft_from_intended_p95<=1s", "ttft_from_intended_ms"),
        ("goodput_ratio>=0%", "goodput"),
    ],
)
def test_a_block_absent_from_the_summary_fails(expr: str, key: str) -> None:
    summary = full_summary()
    del summary[key]
    [result] = evaluate([parse_slo(expr)], summary)
    assert (result.measured, result.passed) == (None, False)


def test_slo_block_shape_and_overall_verdict() -> None:
    checks = parse_slos(["ttft_p95<=500ms,error_rate<=1%"])
    summary = summary_with(ttft_ms={"p95": 412.5}, requests={"total": 100, "failed": 3})
    block = slo_block(evaluate(checks, summary))
    assert block == {
        "passed": False,
        "checks": [
            {
                "expr": "ttft_p95<=500ms",
                "metric": "ttft_p95",
                "op": "<=",
                "threshold": 500.0,
                "unit": "ms",
                "measured": 412.5,
                "passed": True,
            },
            {
                "expr": "error_rate<=1%",
                "metric": "error_rate",
                "op": "<=",
                "threshold": 0.01,
                "unit": "fraction",
                "measured": 0.03,
                "passed": False,
            },
        ],
    }
    assert slo_block(evaluate(checks[:1], summary))["passed"] is True


def test_format_table_shows_pass_fail_and_missing_values() -> None:
    checks = parse_slos(["ttft_p95<=500ms", "error_rate<=1%", "itl_p99<=1s"])
    summary = summary_with(
        ttft_ms={"p95": 412.5}, requests={"total": 200, "failed": 3}, itl_ms=None
    )
    lines = format_table(evaluate(checks, summary)).splitlines()
    assert lines[0].split() == ["SLO", "measured", "threshold", "result"]
    assert lines[1].split() == ["ttft_p95<=500ms", "412.5", "ms", "<=", "500", "ms", "PASS"]
    assert lines[2].split() == ["error_rate<=1%", "1.5", "%", "<=", "1", "%", "FAIL"]
    assert lines[3].split() == ["itl_p99<=1s", "no", "value", "<=", "1,000", "ms", "FAIL"]
    assert lines[4] == "SLO: 1 passed, 2 failed"


def test_goodput_slos_need_goodput_criteria() -> None:
    checks = parse_slos(["ttft_p95<=1s,goodput_ratio>=95%"])
    with pytest.raises(SloError, match=r"'goodput_ratio>=95%' needs --goodput criteria"):
        require_goodput(checks, None)
    require_goodput(checks, parse_goodput("ttft:1s"))
    require_goodput(checks[:1], None)


@pytest.mark.parametrize(
    "expr", ["queue_p95<=10ms", "ttft_from_intended_p99<=1s", "latency_from_intended_max<5s"]
)
def test_open_loop_only_slos_are_refused_in_a_closed_loop_run(expr: str) -> None:
    checks = parse_slos([f"ttft_p95<=1s,{expr}"])
    name = expr.split("<")[0]
    with pytest.raises(SloError, match=rf"^'{expr}': {name} is measured only in open loop"):
        require_open_loop(checks, open_loop=False)
    require_open_loop(checks, open_loop=True)
    require_open_loop(checks[:1], open_loop=False)


def test_slo_module_is_sans_io() -> None:
    code = (
        "import sys, llmbench.slo, llmbench.junit, llmbench.compare;"
        "bad = {'asyncio', 'httpx', 'anyio', 'socket', 'hdrh'} & set(sys.modules);"
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- goodput ---------------------------------------------------------------------------

MS = 1_000_000


def result(**kw: Any) -> RequestResult:
    base: dict[str, Any] = {
        "index": 0,
        "phase": "measure",
        "status": "ok",
        "t0_ns": 0,
        "end_ns": 2_000 * MS,
        "ttfb_ns": 50 * MS,
        "ttft_ns": 200 * MS,
        "latency_ns": 1_100 * MS,
        "output_tokens": 10,
        "icl_ns": (100 * MS,) * 9,
    }
    base.update(kw)
    return RequestResult(**base)


@pytest.mark.parametrize(
    ("text", "criteria"),
    [
        (
            "ttft:500ms,tpot:50ms,latency:10s",
            {"ttft_ms": 500.0, "tpot_ms": 50.0, "latency_ms": 10000.0},
        ),
        ("ttft:500", {"ttft_ms": 500.0}),
        (" TTFB = 0.2s , itl:100ms ", {"ttfb_ms": 200.0, "itl_ms": 100.0}),
        ("ttft:500,e2el:8000", {"ttft_ms": 500.0, "latency_ms": 8000.0}),  # vLLM's spelling
        ("ttft<=500ms, tpot <= 50ms", {"ttft_ms": 500.0, "tpot_ms": 50.0}),  # as an --slo reads
    ],
)
def test_parse_goodput(text: str, criteria: dict[str, float]) -> None:
    assert parse_goodput(text).criteria() == criteria


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"malformed --goodput part ''"),
        ("ttft", r"malformed --goodput part 'ttft': expected KEY:VALUE"),
        ("ttft:", "malformed --goodput part"),
        ("ttft:fast", "malformed --goodput part"),
        ("ttft:5%", "malformed --goodput part"),
        ("ttft>=5ms", "malformed --goodput part"),  # a bound is an upper bound
        ("ttft<5ms", "malformed --goodput part"),
        ("ttft:-5ms", "malformed --goodput part"),
        ("e2e:5s", r"unknown --goodput key 'e2e'.*keys: ttft, latency, ttfb, tpot, itl"),
        ("ttft:1s,e2el:5s,latency:6s", r"--goodput key 'latency' given twice"),
        ("ttft:5ms,ttft:6ms", r"--goodput key 'ttft' given twice"),
    ],
)
def test_bad_goodput(text: str, match: str) -> None:
    with pytest.raises(SloError, match=match):
        parse_goodput(text)


@pytest.mark.parametrize(
    ("spec", "kw", "good"),
    [
        ("ttft:200ms", {}, True),  # exactly at the bound
        ("ttft:200ms", {"ttft_ns": 200 * MS + 1}, False),
        ("ttft:200ms", {"ttft_ns": None}, False),
        ("ttft:200ms", {"status": "timeout"}, False),  # failed requests are never good
        ("ttft:10s,latency:10s", {"status": "incomplete"}, False),
        ("latency:1.1s", {}, True),
        ("latency:1s", {}, False),
        ("latency:1s", {"latency_ns": None}, False),
        ("ttfb:50ms", {}, True),
        ("ttfb:49ms", {}, False),
        ("tpot:100ms", {}, True),  # (1100 - 200) / 9 = 100 ms
        ("tpot:99ms", {}, False),
        ("tpot:1ms", {"output_tokens": 1}, True),  # one token: no TPOT to miss
        ("tpot:1ms", {"output_tokens": None}, True),
        ("tpot:1ms", {"chunks": 1}, True),  # all tokens in one event: nothing to time
        ("tpot:1ms", {"chunks": 2}, False),
        ("tpot:1s", {"latency_ns": None}, False),  # >= 2 tokens but no TPOT
        ("itl:100ms", {}, True),
        ("itl:100ms", {"icl_ns": (1, 100 * MS + 1)}, False),
        ("itl:1ms", {"icl_ns": ()}, True),
        # A 300 ms gap before a 3-token chunk is 100 ms per token.
        ("itl:100ms", {"icl_ns": (300 * MS,), "chunk_tokens": (1, 3)}, True),
        ("itl:99ms", {"icl_ns": (300 * MS,), "chunk_tokens": (1, 3)}, False),
        ("ttft:10ms", {"latency_ns": 99_000 * MS, "ttft_ns": 1}, True),  # unbounded keys ignored
        ("ttft:500ms,tpot:100ms,latency:2s", {}, True),
        ("ttft:500ms,tpot:100ms,latency:1s", {}, False),  # one bound missed is enough
    ],
)
def test_is_good(spec: str, kw: dict[str, Any], good: bool) -> None:
    assert parse_goodput(spec).is_good(result(**kw)) is good


def test_goodput_block() -> None:
    spec = parse_goodput("ttft:500ms,latency:2s")
    assert goodput_block(spec, good=19, total=20, wall_s=10.0) == {
        "requests_per_s": 1.9,
        "ratio": 0.95,
        "good": 19,
        "total": 20,
        "criteria": {"ttft_ms": 500.0, "latency_ms": 2000.0},
    }
    empty = goodput_block(GoodputSpec(()), good=0, total=0, wall_s=0.0)
    assert (empty["requests_per_s"], empty["ratio"]) == (0.0, None)


def test_goodput_block_feeds_the_goodput_slos() -> None:
    summary = full_summary()
    summary["goodput"] = goodput_block(parse_goodput("ttft:1s"), good=19, total=20, wall_s=2.0)
    checks = parse_slos(["goodput_ratio>=95%,goodput_requests_per_s>=9.5"])
    assert [r.passed for r in evaluate(checks, summary)] == [True, True]


# -- per-token criteria need a token unit (issue 13, item 1) ---------------------------


@pytest.mark.parametrize("expr", ["tpot_p95<=50ms", "itl_p99<=20ms", "output_tokens_per_s>=100"])
def test_a_per_token_slo_is_refused_when_the_run_counts_chars(expr: str) -> None:
    checks = slo.parse_slos([expr])
    with pytest.raises(slo.SloError, match=r"this run counts chars, not tokens.*--allow-char-slo"):
        slo.refuse_per_token_criteria(checks, None, "chars")
    slo.refuse_per_token_criteria(checks, None, "tokens")  # real tokens: accepted


def test_a_per_token_goodput_bound_is_refused_and_other_figures_pass() -> None:
    goodput = slo.parse_goodput("ttft:500ms,tpot:50ms")
    with pytest.raises(slo.SloError, match=r"--goodput tpot: this run counts estimated tokens"):
        slo.refuse_per_token_criteria([], goodput, "estimated tokens")
    ttft_only = slo.parse_slos(["ttft_p95<=500ms", "requests_per_s>=1"])
    slo.refuse_per_token_criteria(ttft_only, slo.parse_goodput("ttft:500ms"), "chars")


@pytest.mark.parametrize(
    "flags",
    [["--token-mode", "chars"], ["--token-mode", "estimate"], ["--no-usage"]],
)
def test_llmbench_run_refuses_a_tpot_slo_it_cannot_judge_in_tokens(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["run", "--url", "http://127.0.0.1:9", "--out", str(out), *flags]
    assert main([*argv, "--slo", "tpot_p95<=50ms"]) == 2
    assert "not tokens" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was sent or written


def test_allow_char_slo_opts_in() -> None:
    from llmbench import app

    args = ["run", "--url", "http://127.0.0.1:9", "--token-mode", "chars", "--allow-char-slo"]
    prep = app.prepare(_build_parser(args).parse_args([*args, "--slo", "tpot_p95<=50ms"]))
    assert [c.metric for c in prep.checks] == ["tpot_p95"]


def test_a_per_token_criterion_fails_on_a_run_that_counted_characters() -> None:
    checks = slo.parse_slos(["tpot_p50<=50ms", "ttft_p50<=500ms", "goodput_ratio>=0.9"])
    summary: dict[str, Any] = {
        "run": {"token_unit": "chars"},
        "tpot_ms": {"p50": 1.26},
        "ttft_ms": {"p50": 10.0},
        "goodput": {"ratio": 1.0},
    }
    per_token_goodput = slo.parse_goodput("ttft:500ms,tpot:50ms")
    judged, results = slo.judge(summary, checks, per_token_goodput)
    reason = "counted in chars, not tokens (--allow-char-slo judges it anyway)"
    assert [(r.passed, r.reason) for r in results] == [
        (False, reason),  # 1.26 ms of characters is not a TPOT under 50 ms
        (True, ""),
        (False, reason),  # the goodput criteria bound TPOT too
    ]
    assert judged["slo"]["passed"] is False
    assert judged["slo"]["checks"][0]["reason"] == reason
    assert "reason" not in judged["slo"]["checks"][1]
    assert "FAIL: counted in chars" in slo.format_table(results)
    # Goodput on TTFT alone does not depend on the unit.
    _, ttft_only = slo.judge(summary, checks, slo.parse_goodput("ttft:500ms"))
    assert [r.passed for r in ttft_only] == [False, True, True]
    # Opted in, or in real tokens, the measured value decides.
    _, allowed = slo.judge(summary, checks, per_token_goodput, any_unit=True)
    _, in_tokens = slo.judge({**summary, "run": {"token_unit": "tokens"}}, checks)
    assert [r.passed for r in allowed] == [r.passed for r in in_tokens] == [True, True, True]
