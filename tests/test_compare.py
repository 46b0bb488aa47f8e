"""Tests for llmbench.compare: verdicts, tolerances, formats and the command's exit codes."""

from __future__ import annotations

import argparse
import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from llmbench.compare import (
    COMPARED,
    CompareError,
    Row,
    Tolerances,
    add_arguments,
    compare_summaries,
    config_differences,
    junit_cases,
    load_summary,
    parse_tolerances,
    render,
    run,
)
from llmbench.config import RunConfig

STATS = ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p99_9", "max")


def stats(p50: float) -> dict[str, float]:
    """A latency block as metrics.histogram_stats writes it."""
    scale = (0.5, 1.0, 1.0, 1.1, 1.2, 1.3, 1.5, 1.8, 2.0)
    return {"count": 100} | {s: p50 * k for s, k in zip(STATS, scale, strict=True)}


def summary(
    *, ttft: float = 100.0, rps: float = 50.0, failed: int = 0, total: int = 100
) -> dict[str, Any]:
    """A closed-loop summary with the keys output.summary.build_summary produces."""
    return {
        "schema": 1,
        "run": {"llmbench_version": "0.1.0", "interrupted": False, "wall_time_s": 10.0},
        "config": {"url": "http://127.0.0.1:8000"},
        "requests": {"total": total, "ok": total - failed, "failed": failed, "by_status": {}},
        "ttft_ms": stats(ttft),
        "latency_ms": stats(1000.0),
        "ttfb_ms": stats(20.0),
        "tpot_ms": stats(10.0),
        "itl_ms": stats(10.0),
        "throughput": {
            "requests_per_s": rps,
            "output_tokens_per_s": rps * 64,
            "total_tokens_per_s": rps * 80,
        },
        "tokens": {"input": 1600, "output": 6400, "sources": {"usage": 100}},
        "errors": [],
        "samples": {"first_frame": None, "last_frame": None},
        "timeseries": [],
        "definitions": {},
    }


def rows_by_name(rows: list[Row]) -> dict[str, Row]:
    return {r.metric: r for r in rows}


def judge(base: dict[str, Any], new: dict[str, Any], *tol: str) -> dict[str, Row]:
    return rows_by_name(compare_summaries(base, new, parse_tolerances(list(tol))))


# -- verdicts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "key", "base", "new", "verdict"),
    [
        ("ttft_ms", "p95", 100.0, 120.0, "REGRESSION"),  # latency up: worse
        ("ttft_ms", "p95", 100.0, 80.0, "better"),
        ("ttft_ms", "p95", 100.0, 110.0, "ok"),  # exactly at the tolerance
        ("ttft_ms", "p95", 100.0, 110.001, "REGRESSION"),
        ("ttft_ms", "p95", 100.0, 90.0, "ok"),
        ("ttft_ms", "p95", 100.0, 89.999, "better"),
        ("ttft_ms", "p95", 0.30, 0.33, "ok"),  # +10% in decimal, not +10.000000000000009%
        ("throughput", "requests_per_s", 50.0, 40.0, "REGRESSION"),  # throughput down: worse
        ("throughput", "requests_per_s", 50.0, 60.0, "better"),
        ("throughput", "requests_per_s", 50.0, 45.0, "ok"),  # exactly -10%
        ("throughput", "output_tokens_per_s", 2000.0, 1799.0, "REGRESSION"),
        ("throughput", "total_tokens_per_s", 2000.0, 2300.0, "better"),
    ],
)
def test_direction_aware_verdicts(
    block: str, key: str, base: float, new: float, verdict: str
) -> None:
    a, b = summary(), summary()
    a[block][key] = base
    b[block][key] = new
    name = key if block == "throughput" else f"{block.removesuffix('_ms')}_{key}"
    row = judge(a, b)[name]
    assert row.verdict == verdict
    assert row.change == pytest.approx((new - base) / base)


def test_identical_runs_are_all_ok() -> None:
    rows = compare_summaries(summary(), summary(), Tolerances())
    assert {r.verdict for r in rows} == {"ok"}
    latency = [
        f"{f}_{s}"
        for f in ("ttft", "latency", "ttfb", "tpot", "itl")
        for s in ("p50", "p90", "p95", "p99")
    ]
    assert [r.metric for r in rows] == [
        *latency,
        "requests_per_s",
        "output_tokens_per_s",
        "total_tokens_per_s",
        "error_rate",
    ]


def test_per_metric_tolerance_overrides_the_default() -> None:
    rows = judge(summary(ttft=100.0), summary(ttft=108.0), "ttft_p95=5%")
    assert rows["ttft_p95"].verdict == "REGRESSION"
    assert rows["ttft_p95"].tolerance == 0.05
    assert rows["ttft_p50"].verdict == "ok"  # +8% under the default 10%
    assert rows["ttft_p50"].tolerance == 0.1


def test_default_tolerance_and_last_one_wins() -> None:
    base, new = summary(ttft=100.0), summary(ttft=115.0)
    assert judge(base, new)["ttft_p50"].verdict == "REGRESSION"
    assert judge(base, new, "20%")["ttft_p50"].verdict == "ok"
    assert judge(base, new, "20%", "10%")["ttft_p50"].verdict == "REGRESSION"
    assert judge(base, new, "ttft_p50=1%", "ttft_p50=50%")["ttft_p50"].verdict == "ok"
    assert judge(base, new, "TTFT_P99=16%")["ttft_p99"].verdict == "ok"


@pytest.mark.parametrize(
    ("base_failed", "new_failed", "tol", "verdict"),
    [
        (0, 0, [], "ok"),
        (0, 1, [], "REGRESSION"),  # errors appeared: default tolerance is 0 points
        (0, 2, ["error_rate=2%"], "ok"),  # 2 points allowed, in absolute terms
        (0, 3, ["error_rate=2%"], "REGRESSION"),
        (5, 3, [], "better"),
        (1, 1, ["50%"], "ok"),
        (1, 30, ["50%"], "REGRESSION"),  # the general default does not apply to error_rate
    ],
)
def test_error_rate_is_judged_in_points(
    base_failed: int, new_failed: int, tol: list[str], verdict: str
) -> None:
    row = judge(summary(failed=base_failed), summary(failed=new_failed), *tol)["error_rate"]
    assert row.verdict == verdict
    assert row.change == pytest.approx((new_failed - base_failed) / 100)


def test_zero_or_missing_values_are_shown_not_judged() -> None:
    base, new = summary(), summary(rps=0.0)
    base["itl_ms"] = None  # e.g. single-token responses: no gaps
    new["ttft_ms"] = None
    base["tpot_ms"] = new["tpot_ms"] = None
    rows = judge(base, new)
    assert (rows["itl_p50"].verdict, rows["itl_p50"].note) == (
        "not judged",
        "no value in the baseline",
    )
    assert rows["ttft_p95"].note == "no value in the new run"
    assert rows["tpot_p99"].note == "no value in both runs"
    assert rows["ttft_p95"].baseline == 130.0


def test_throughput_falling_to_zero_is_a_full_regression() -> None:
    row = judge(summary(), summary(rps=0.0))["requests_per_s"]
    assert (row.baseline, row.new, row.change, row.verdict) == (50.0, 0.0, -1.0, "REGRESSION")


def test_latency_falling_to_zero_is_not_judged() -> None:
    base, new = summary(), summary()
    new["ttfb_ms"]["p50"] = 0.0
    row = judge(base, new)["ttfb_p50"]
    assert (row.verdict, row.note) == ("not judged", "0 in the new run: no relative change")


@pytest.mark.parametrize(
    ("base", "new", "floor", "verdict"),
    [
        (0.666, 0.916, None, "ok"),  # +37.5% but 0.25 ms: localhost jitter, not a regression
        (0.666, 0.916, "0ms", "REGRESSION"),  # floor off
        (0.666, 0.916, "0.2ms", "REGRESSION"),
        (2.0, 3.5, None, "REGRESSION"),  # 1.5 ms is past the default 1 ms floor
        (2.0, 3.5, "2ms", "ok"),
        (2.0, 3.5, "0.002s", "ok"),
        (3.5, 2.0, "2ms", "ok"),  # the floor also keeps noise from reading as "better"
    ],
)
def test_latency_noise_floor(base: float, new: float, floor: str | None, verdict: str) -> None:
    a, b = summary(), summary()
    a["ttfb_ms"]["p50"], b["ttfb_ms"]["p50"] = base, new
    rows = rows_by_name(compare_summaries(a, b, parse_tolerances([], floor)))
    row = rows["ttfb_p50"]
    assert row.verdict == verdict
    assert row.change == pytest.approx((new - base) / base)
    if verdict == "ok":
        assert row.note.startswith("within the")


def test_noise_floor_does_not_apply_to_throughput() -> None:
    row = judge(summary(rps=1.0), summary(rps=0.5))["requests_per_s"]
    assert row.verdict == "REGRESSION"


@pytest.mark.parametrize("value", ["1", "ms", "-1ms", "1 min", "5%"])
def test_bad_min_delta(value: str) -> None:
    with pytest.raises(CompareError, match="--min-delta must be a duration like 1ms"):
        parse_tolerances([], value)


def test_zero_baseline_is_not_judged() -> None:
    base, new = summary(), summary()
    base["throughput"]["total_tokens_per_s"] = 0
    row = judge(base, new)["total_tokens_per_s"]
    assert (row.verdict, row.note) == ("not judged", "0 in the baseline: no relative change")


def test_optional_blocks_appear_when_either_run_has_them() -> None:
    plain = [r.metric for r in compare_summaries(summary(), summary(), Tolerances())]
    assert not any(m.startswith(("goodput", "ttft_from", "latency_from", "icl")) for m in plain)
    base, new = summary(), summary()
    for s in (base, new):
        s["ttft_from_intended_ms"] = stats(100.0)
        s["latency_from_intended_ms"] = None
        s["queue_ms"] = stats(0.1)
    new["icl_ms"] = stats(30.0)  # only the new run has inter-chunk latency
    base["goodput"] = {"requests_per_s": 40.0, "ratio": 0.9}
    new["goodput"] = {"requests_per_s": 30.0, "ratio": 0.8}
    rows = judge(base, new)
    assert rows["ttft_from_intended_p99"].verdict == "ok"
    assert rows["latency_from_intended_p50"].verdict == "not judged"
    assert not any(m.startswith("queue") for m in rows)  # sub-ms noise, never compared
    assert (rows["icl_p95"].new, rows["icl_p95"].note) == (39.0, "no value in the baseline")
    assert rows["goodput_ratio"].verdict == "REGRESSION"  # 0.9 -> 0.8 is -11%
    assert rows["goodput_requests_per_s"].verdict == "REGRESSION"
    del new["goodput"]
    assert judge(base, new)["goodput_ratio"].note == "no value in the new run"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("10", r"--tolerance must be a percentage like 10% or METRIC=5%, got '10'"),
        ("0.1", "must be a percentage"),
        ("-5%", "must be a percentage"),
        ("ttft_p95=5", "must be a percentage"),
        ("ttft_p95=", "must be a percentage"),
        ("ttft_p96=5%", r"unknown metric 'ttft_p96'; valid: ttft_p50, ttft_p90, .*error_rate"),
        ("queue_p99=5%", r"unknown metric 'queue_p99'"),
        ("ttft_p99.9=5%", r"unknown metric 'ttft_p99.9'"),  # only p50..p99 are compared
    ],
)
def test_bad_tolerances(value: str, match: str) -> None:
    with pytest.raises(CompareError, match=match):
        parse_tolerances([value])


def test_tolerance_names_are_the_compared_metrics() -> None:
    for name in COMPARED:
        assert parse_tolerances([f"{name}=1.5%"]).for_metric(name) == 0.015


# -- rendering -------------------------------------------------------------------------


def regressed_rows() -> list[Row]:
    base, new = summary(), summary(ttft=150.0, failed=2)
    new["itl_ms"] = None
    return compare_summaries(base, new, parse_tolerances(["ttft_p50=60%"]))


def test_text_format() -> None:
    out = render(regressed_rows(), "text", "runs/a", "runs/b")
    lines = out.splitlines()
    assert lines[:2] == ["baseline: runs/a", "new:      runs/b"]
    assert lines[3].split() == ["metric", "baseline", "new", "change", "tolerance", "verdict"]
    assert lines[4].split() == ["ttft_p50", "100", "ms", "150", "ms", "+50.0%", "60%", "ok"]
    assert lines[5].split()[-1] == "REGRESSION"
    assert "itl_p50" in out
    assert "not judged: no value in the new run" in out
    assert [line.split() for line in lines if line.startswith("error_rate")] == [
        ["error_rate", "0.00%", "2.00%", "+2.00", "pt", "0", "pt", "REGRESSION"]
    ]
    assert lines[-1] == (
        "REGRESSION in 4 metric(s) beyond tolerance: ttft_p90, ttft_p95, ttft_p99, error_rate "
        "(20 judged, 4 not judged)"
    )


def test_text_format_without_regression() -> None:
    out = render(compare_summaries(summary(), summary(), Tolerances()), "text", "a", "b")
    assert out.splitlines()[-1] == "no regression beyond tolerance (24 judged, 0 not judged)"
    assert "REGRESSION" not in out


def test_markdown_format() -> None:
    out = render(regressed_rows(), "markdown", "runs/a|x", "runs/`b`")
    lines = out.splitlines()
    assert lines[0] == "### llmbench compare"
    assert lines[2].startswith("**REGRESSION in 4 metric(s)")
    assert "baseline: runs/a\\|x  " in lines
    assert "new: runs/\\`b\\`" in lines
    header = lines.index("| metric | baseline | new | change | tolerance | verdict |")
    assert lines[header + 1] == "|---|---:|---:|---:|---:|---|"
    table = lines[header + 2 :]
    assert len(table) == 24
    assert all(line.startswith("| ") and line.endswith(" |") for line in table)
    assert "| ttft_p90 | 120 ms | 180 ms | +50.0% | 10% | **REGRESSION** |" in table
    assert "| itl_p50 | 10.00 ms | - | - | 10% | not judged: no value in the new run |" in table


def test_json_format() -> None:
    doc = json.loads(render(regressed_rows(), "json", "a", "b"))
    assert (doc["baseline"], doc["new"], doc["passed"]) == ("a", "b", False)
    assert doc["regressions"] == ["ttft_p90", "ttft_p95", "ttft_p99", "error_rate"]
    assert len(doc["rows"]) == 24
    assert doc["rows"][0] == {
        "metric": "ttft_p50",
        "unit": "ms",
        "higher_is_better": False,
        "baseline": 100.0,
        "new": 150.0,
        "change": 0.5,
        "tolerance": 0.6,
        "verdict": "ok",
        "note": "",
    }
    ok = json.loads(render(compare_summaries(summary(), summary(), Tolerances()), "json", "a", "b"))
    assert (ok["passed"], ok["regressions"]) == (True, [])


def test_junit_cases() -> None:
    cases = {c.name: c for c in junit_cases(regressed_rows())}
    assert len(cases) == 24
    assert (cases["ttft_p90"].passed, cases["ttft_p90"].skipped) == (False, False)
    assert (cases["ttft_p50"].passed, cases["ttft_p50"].skipped) == (True, False)
    assert (cases["itl_p50"].passed, cases["itl_p50"].skipped) == (True, True)
    assert cases["ttft_p90"].message == (
        "baseline 120 ms, new 180 ms, change +50.0%, tolerance 10%: REGRESSION"
    )


# -- the command -----------------------------------------------------------------------


def write(path: Path, obj: Any) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").write_text(json.dumps(obj), encoding="utf-8")
    return path


def call(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def test_run_exit_0_within_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a", summary(ttft=100.0))
    b = write(tmp_path / "b", summary(ttft=105.0))
    assert call(a, b / "summary.json") == 0  # a run dir and a summary.json path
    assert "no regression beyond tolerance" in capsys.readouterr().out


def test_run_exit_1_on_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a", summary(ttft=100.0))
    b = write(tmp_path / "b", summary(ttft=150.0))
    assert call(a, b) == 1
    assert "REGRESSION in 4 metric(s)" in capsys.readouterr().out
    assert call(a, b, "--tolerance", "50%") == 0
    assert call(a, b, "--tolerance", "50%", "--tolerance", "ttft_p95=49%") == 1


def test_run_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a", summary())
    b = write(tmp_path / "b", summary(rps=30.0))
    assert call(a, b, "--format", "markdown") == 1
    assert "| requests_per_s | 50.00 req/s | 30.00 req/s | -40.0% | 10% | **REGRESSION** |" in (
        capsys.readouterr().out
    )
    assert call(a, b, "--format", "json") == 1
    assert json.loads(capsys.readouterr().out)["regressions"] == [
        "requests_per_s",
        "output_tokens_per_s",
        "total_tokens_per_s",
    ]


def test_run_writes_junit(tmp_path: Path) -> None:
    a = write(tmp_path / "a", summary())
    b = write(tmp_path / "b", summary(ttft=150.0))
    out = tmp_path / "reports" / "compare.xml"
    assert call(a, b, "--junit", out) == 1
    root = ET.parse(out).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("24", "4", "0")
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["ttft_p50", "ttft_p90", "ttft_p95", "ttft_p99"]


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str | Path], str]]:
    good = write(tmp_path / "good", summary())
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"foo": 1}', encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"schema": 1', encoding="utf-8")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    return {
        "missing": ([good, tmp_path / "nope"], r"nope: no such file \(give a run directory"),
        "dir without summary": ([tmp_path / "empty", good], r"empty/summary.json: no such file"),
        "not an object": ([good, tmp_path / "list.json"], "not an llmbench summary.json"),
        "not a summary": ([tmp_path / "other.json", good], "not an llmbench summary.json"),
        "invalid json": ([good, tmp_path / "broken.json"], "broken.json: not valid JSON"),
        "not utf-8": ([good, tmp_path / "binary.json"], "binary.json: cannot read"),
        "bad tolerance": ([good, good, "--tolerance", "ten"], "must be a percentage"),
        "unwritable junit": (
            [good, good, "--junit", tmp_path / "afile" / "x.xml"],
            "cannot write .*x.xml",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "dir without summary",
        "not an object",
        "not a summary",
        "invalid json",
        "not utf-8",
        "bad tolerance",
        "unwritable junit",
    ],
)
def test_run_exit_2_on_bad_input(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, match = bad_inputs(tmp_path)[case]
    assert call(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench compare: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert re.search(match, err), err


def test_load_summary_accepts_dir_and_file(tmp_path: Path) -> None:
    s = summary()
    d = write(tmp_path / "run", s)
    assert load_summary(d) == load_summary(d / "summary.json") == json.loads(json.dumps(s))


def test_compare_does_not_mutate_its_inputs() -> None:
    base, new = summary(), summary(ttft=150.0)
    before = copy.deepcopy((base, new))
    compare_summaries(base, new, Tolerances())
    assert (base, new) == before


# -- load and workload ---------------------------------------------------------------------


def configured(**config: Any) -> dict[str, Any]:
    """A summary whose config is a real run's (RunConfig.public()) with these fields."""
    s = summary()
    s["config"] = RunConfig(url="http://127.0.0.1:8000", duration_s=10.0, **config).public()
    return s


CLOSED_16 = {"concurrency": 16}
OPEN_40 = {"rps": 40.0, "concurrency": 64, "arrival": "poisson"}


def test_a_closed_and_an_open_loop_run_differ_in_load() -> None:
    assert config_differences(configured(**CLOSED_16), configured(**OPEN_40)) == [
        "load differs: baseline closed loop, new open loop",
        "concurrency differs: baseline 16, new 64",
        "rps differs: baseline none, new 40.0",
    ]


def test_every_load_and_workload_field_is_compared() -> None:
    base = configured(
        **OPEN_40, ramp_up_s=0.0, model="a", max_tokens=128, stream=True, prompt="Hi?"
    )
    new = configured(
        rps=40.0, concurrency=64, arrival="gamma", burstiness=0.5, ramp_up_s=3.0,
        model="b", max_tokens=256, stream=False, token_mode="chars", prompt="x" * 100,
    )  # fmt: skip
    assert config_differences(base, new) == [
        'arrival differs: baseline "poisson", new "gamma"',
        "burstiness differs: baseline 1.0, new 0.5",
        "ramp_up_s differs: baseline 0.0, new 3.0",
        'model differs: baseline "a", new "b"',
        "max_tokens differs: baseline 128, new 256",
        "stream differs: baseline true, new false",
        'token_mode differs: baseline "auto", new "chars"',
        'prompt differs: baseline "Hi?", new a 100-character value',
    ]


def test_the_same_load_url_and_length_of_run_aside_is_no_difference() -> None:
    base, new = configured(**CLOSED_16), configured(**CLOSED_16)
    new["config"].update(url="http://10.0.0.2:9000", duration_s=60.0, seed=7, warmup_requests=5)
    assert config_differences(base, new) == []
    # Open-loop-only fields do not count in a closed loop.
    assert config_differences(configured(arrival="poisson"), configured(arrival="gamma")) == []


def test_fields_an_older_summary_lacks_are_not_compared() -> None:
    base, new = configured(**CLOSED_16), configured(**CLOSED_16)
    del base["config"]["prompts_file"], new["config"]["input_tokens"]  # older summaries
    base["config"]["input_tokens"] = "512"
    new["config"]["prompts_file"] = "chat.jsonl"
    assert config_differences(base, new) == []
    new["config"]["input_tokens"] = "1024:64"
    assert config_differences(base, new) == ['input_tokens differs: baseline "512", new "1024:64"']


def test_an_unknown_config_is_said_once_per_side() -> None:
    recovered = configured(**CLOSED_16)
    recovered["run"]["recovered"] = True
    assert config_differences(recovered, summary() | {"config": {}}) == [
        "the baseline's config is unknown (a run recovered from results.jsonl, or a hand-made "
        "summary): load and workload cannot be checked",
        "the new run's config is unknown (a run recovered from results.jsonl, or a hand-made "
        "summary): load and workload cannot be checked",
    ]


def test_run_warns_once_per_difference_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a", configured(**CLOSED_16))
    b = write(tmp_path / "b", configured(**OPEN_40))
    assert call(a, b) == 0  # a warning, not a verdict: the figures are equal
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "llmbench compare: warning: load differs: baseline closed loop, new open loop",
        "llmbench compare: warning: concurrency differs: baseline 16, new 64",
        "llmbench compare: warning: rps differs: baseline none, new 40.0",
    ]
    assert "no regression beyond tolerance" in out
    assert call(a, b, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["warnings"][0] == "load differs: baseline closed loop, new open loop"
    assert len(doc["warnings"]) == 3
    assert call(a, b, "--format", "markdown") == 0
    assert "> **warning:** load differs: baseline closed loop, new open loop  " in (
        capsys.readouterr().out.splitlines()
    )
    assert call(a, a) == 0
    assert capsys.readouterr().err == ""
    assert json.loads(render([], "json", "a", "b"))["warnings"] == []


def test_strict_refuses_different_runs_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a", configured(**CLOSED_16))
    b = write(tmp_path / "b", configured(**OPEN_40))
    assert call(a, b, "--strict") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "llmbench compare: error: the runs' load or workload differ (--strict): load differs: "
        "baseline closed loop, new open loop; concurrency differs: baseline 16, new 64; "
        "rps differs: baseline none, new 40.0\n"
    )
    assert call(a, a, "--strict") == 0
    # An unknown config cannot be shown to differ: a warning, even with --strict.
    recovered = configured(**CLOSED_16)
    recovered["run"]["recovered"] = True
    assert call(write(tmp_path / "r", recovered), a, "--strict") == 0
    assert "the baseline's config is unknown" in capsys.readouterr().err


def test_sessions_and_shared_prefixes_are_part_of_the_workload() -> None:
    base = configured(**CLOSED_16, turns="2")
    new = configured(**CLOSED_16, turns="4", think_time="1", prefix_tokens=100, prefix_groups=2)
    assert config_differences(base, new) == [
        "prefix_tokens differs: baseline none, new 100",
        "prefix_groups differs: baseline 1, new 2",
        'turns differs: baseline "2", new "4"',
        'think_time differs: baseline none, new "1"',
    ]
