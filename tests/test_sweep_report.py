"""The sweep's report.html, without a browser (tests/integration/
test_sweep_report_browser.py loads it in real Chromium)."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmbench.output import report, sweep_report
from llmbench.output.report import ReportError
from llmbench.output.sweep_report import build_sweep_report, write_sweep_report
from test_report import DATA_RE, page_data, read_page_file, script_hash

ROOT = Path(__file__).resolve().parents[1]
PAGE_SCRIPTS = ("report_common.js", "sweep_report.js")  # in page order, after ECharts
# A payload that ends the data element and, parsed as HTML, would run a script.
XSS = "</script><img src=x onerror=window.__xss=1>"
LS = "\u2028"  # ends a JS string literal in pre-ES2019 parsers


# ---- fixtures (also used by the browser test) --------------------------------------


def stats(p50: float | None, spread: float = 1.3) -> dict[str, float | None] | None:
    if p50 is None:
        return None
    return {"p50": p50, "p95": round(p50 * spread, 2), "p99": round(p50 * spread**2, 2)}


def step(index: int, load: float, verdict: str = "ok", **kw: Any) -> dict[str, Any]:
    """A step of a server that keeps up to 48 req/s (or concurrency 24), its latency
    climbing as the load nears that; ``ok=False`` makes one with no successes."""
    capacity = 24.0 if kw.pop("concurrency", False) else 48.0
    ok = kw.pop("ok", True)
    busy = min(load / capacity, 1.6)
    ttft = 40 + 400 * busy**4
    tpot = 10 + 30 * busy**3
    achieved = round(min(load, capacity) * 0.995, 2)
    row: dict[str, Any] = {
        "index": index,
        "role": "search",
        "load": load,
        "dir": f"step-{index + 1:02d}-{load:g}",
        "verdict": verdict,
        "reasons": [] if verdict == "ok" else [f"ttft_p95 {ttft * 1.3:.0f} ms > 500 ms"],
        "stop_reason": "done" if verdict != "overloaded" else "overloaded",
        "duration_s": 10.0,
        "requests": {"ok": int(achieved * 10), "failed": 0},
        "achieved_rps": achieved,
        "output_tokens_per_s": round(achieved * 64, 1),
        "ttft_ms": stats(ttft),
        "tpot_ms": stats(tpot, 1.15),
        "itl_ms": stats(tpot * 0.9, 1.6),
        "latency_ms": stats(ttft + 63 * tpot),
        "goodput_percent": round(max(0.0, 100 - 60 * max(0.0, busy - 0.9)), 1),
        "per_user_tokens_per_s": round(1000 / tpot, 2),
    }
    if not ok:
        row.update(
            achieved_rps=0.0, output_tokens_per_s=None, goodput_percent=None,
            per_user_tokens_per_s=None, ttft_ms=None, tpot_ms=None, itl_ms=None,
            latency_ms={"p50": None, "p95": None, "p99": None},
            requests={"ok": 0, "failed": 120}, reasons=["no request succeeded"],
        )  # fmt: skip
    row.update(kw)
    return row


def threshold(family: str, stat: str, value: float) -> dict[str, Any]:
    """A parsed ``{family}_{stat}<={value}ms``, as the sweep writes it."""
    metric = f"{family}_{stat}"
    return {"expr": f"{metric}<={value:g}ms", "metric": metric, "family": family,
            "stat": stat, "op": "<=", "value": value, "unit": "ms"}  # fmt: skip


def rate_sweep() -> dict[str, Any]:
    """8 steps in the order a search runs them, not by load; the answer is 45.3 req/s."""
    order = [
        (20.0, "ok", {"role": "curve"}),
        (80.0, "client_limited", {"reasons": ["client CPU 98 %"]}),
        (40.0, "ok", {}),
        (55.0, "overloaded", {"reasons": ["queue grew for 5 s"]}),
        (45.3, "ok", {}),
        (47.6, "slo_failed", {}),
        (10.0, "ok", {"role": "curve"}),
        (65.0, "overloaded", {"ok": False}),
    ]
    steps = [step(i, load, verdict, **kw) for i, (load, verdict, kw) in enumerate(order)]
    return {
        "schema": "llmbench.sweep/1",
        "llmbench_version": "0.1.0",
        "started_at": "2026-12-05T08:30:00+00:00",
        "url": "http://127.0.0.1:8000",
        "model": "m",
        "provider": "openai-chat",
        "mode": "rate",
        "load_unit": "req/s",
        "slos": ["ttft_p95<=500ms", "tpot_p95<=50ms", "itl_p99<=80ms"],
        "slo_thresholds": [
            threshold("ttft", "p95", 500.0),
            threshold("tpot", "p95", 50.0),
            threshold("itl", "p99", 80.0),
        ],
        "goodput": {"criteria": {"ttft_ms": 500.0, "tpot_ms": 50.0}, "target_percent": 95.0},
        "tolerance_percent": 5.0,
        "step_duration_s": 10.0,
        "step_requests": 500,
        "interrupted": False,
        "probe": {
            "concurrency": 256,
            "achieved_rps": 48.2,
            "output_tokens_per_s": 3085.0,
            "dir": "probe",
        },
        "answer": {
            "found": True,
            "load": 45.3,
            "step": 4,
            "bounded_by": ["ttft_p95 612 ms > 500 ms"],
            "bound_load": 47.6,
            "client_limited_at": 80.0,
            "text": "max sustainable load: 45.3 req/s (ttft_p95 and tpot_p95 held; 47.6 failed)",
        },
        "knee": {"load": 40.0, "step": 2},
        "steps": steps,
    }


def concurrency_sweep() -> dict[str, Any]:
    """A closed-loop sweep: a probe, then concurrency 1..64, the answer at 16."""
    loads = [1, 2, 4, 8, 16, 32, 64]
    verdicts = ["ok", "ok", "ok", "ok", "ok", "slo_failed", "overloaded"]
    steps = [
        step(i + 1, float(c), v, concurrency=True, dir=f"step-{i + 2:02d}-c{c}")
        for i, (c, v) in enumerate(zip(loads, verdicts, strict=True))
    ]
    steps.insert(0, step(0, 256.0, "overloaded", concurrency=True, role="probe", dir="probe"))
    sweep = rate_sweep()
    sweep.update(
        mode="concurrency", load_unit="concurrency", steps=steps, goodput=None,
        slos=["ttft_p95<=500ms"], slo_thresholds=sweep["slo_thresholds"][:1],
        knee={"load": 8.0, "step": 4},
        answer={"found": True, "load": 16.0, "step": 5, "bounded_by": ["ttft_p95 > 500 ms"],
                "bound_load": 32.0, "client_limited_at": None,
                "text": "max sustainable load: concurrency 16"},
    )  # fmt: skip
    return sweep


def hostile_sweep() -> dict[str, Any]:
    """Markup and line separators in every string the page shows."""
    sweep = rate_sweep()
    evil = f"{XSS} a&b {LS}line\u2029para"
    sweep.update(
        url=f"http://127.0.0.1:8000/{XSS}", model=evil, provider=XSS, started_at=evil,
        slos=[evil], llmbench_version=XSS,
    )  # fmt: skip
    sweep["slo_thresholds"][0]["expr"] = evil
    sweep["goodput"]["criteria"] = {evil: 500.0, "constructor": 50.0}
    sweep["answer"].update(text=evil, bounded_by=[evil])
    sweep["probe"]["dir"] = XSS
    first, second = sweep["steps"][0], sweep["steps"][1]
    first.update(dir=XSS, reasons=[evil, "__proto__"], role=evil, stop_reason=XSS)
    second.update(dir="javascript:window.__xss=1", verdict=XSS)
    return sweep


# ---- safety ------------------------------------------------------------------------


def test_hostile_strings_cannot_end_the_data_element_and_round_trip() -> None:
    sweep = hostile_sweep()
    html = build_sweep_report(sweep)
    assert html.count("<script") == 4  # the data, ECharts, report_common.js, sweep_report.js
    assert html.lower().count("</script") == 4
    own = html.replace(report.echarts_source(), "")  # the markup ECharts itself holds
    assert "<img" not in own
    assert LS not in html
    assert "\u2029" not in html
    raw = DATA_RE.search(html)
    assert raw is not None
    assert not set(raw.group(1)) & {"<", ">", "&", "\u2028", "\u2029"}
    data = page_data(html)
    assert data["model"] == sweep["model"]
    assert data["slos"] == sweep["slos"]
    assert data["answer"]["text"] == sweep["answer"]["text"]
    assert data["slo_thresholds"][0]["expr"] == sweep["slo_thresholds"][0]["expr"]
    by_index = {s["index"]: s for s in data["steps"]}
    assert by_index[0]["dir"] == XSS
    assert by_index[0]["reasons"] == sweep["steps"][0]["reasons"]
    assert by_index[1]["verdict"] == XSS


def test_the_csp_runs_exactly_echarts_and_the_page_scripts() -> None:
    html = build_sweep_report(rate_sweep())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    script_src = csp.group(1).split("script-src")[1].split(";")[0]
    scripts = [report.echarts_source(), *map(read_page_file, PAGE_SCRIPTS)]
    assert script_src.split() == [script_hash(code) for code in scripts]
    assert "default-src 'none'" in csp.group(1)
    for code in scripts:
        assert f"<script>{code}</script>" in html  # inlined exactly as hashed


def test_nothing_outside_the_data_and_echarts_refers_to_the_network() -> None:
    html = build_sweep_report(rate_sweep())
    page = DATA_RE.sub("", html.replace(report.echarts_source(), ""))
    assert re.findall(r"https?://|src\s*=|url\(|@import", page, re.I) == []


@pytest.mark.parametrize("name", PAGE_SCRIPTS)
def test_the_page_scripts_never_parse_data_as_html(name: str) -> None:
    script = read_page_file(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_the_run_reports_look_is_shared() -> None:
    html = build_sweep_report(rate_sweep())
    css, own = read_page_file("report.css"), read_page_file("sweep_report.css")
    assert f"<style>\n{css}{own}</style>" in html  # the run's rules, then the sweep's
    assert "<title>llmbench sweep report</title>" in html
    assert "@@" not in html.replace(report.echarts_source(), "")  # every slot filled


@pytest.mark.parametrize(
    ("name", "href"),
    [
        ("step-01-45.3", "step-01-45.3/report.html"),
        ("probe", "probe/report.html"),
        ("step #1?x=%", "step%20%231%3Fx%3D%25/report.html"),
        ("étape-1", "%C3%A9tape-1/report.html"),
        ("a/b", None),
        ("..", None),
        ("step..1", None),
        (".", None),
        ("", None),
        ("a\\b", None),
        ("/etc", None),
        ("javascript:alert(1)", None),
        ("JavaScript:x", None),
        ("data:text/html,x", None),
        ("c:", None),
        ("step\n1", None),
        ("step\x00", None),
        ("step\x7f", None),
        ("step\u202e1", None),  # a bidi override: the name would not read as it is
        (" step", None),
        ("x" * 256, None),
    ],
)
def test_step_links_only_for_plain_names(name: str, href: str | None) -> None:
    assert sweep_report._step_href(name) == href


def test_unsafe_dirs_are_shown_unlinked() -> None:
    sweep = hostile_sweep()
    sweep["steps"][2]["dir"] = "../../etc"
    sweep["steps"][3]["dir"] = 7
    data = page_data(build_sweep_report(sweep))
    by_index = {s["index"]: s for s in data["steps"]}
    assert [by_index[i]["href"] for i in range(4)] == [None, None, None, None]
    assert (by_index[2]["dir"], by_index[3]["dir"]) == ("../../etc", None)
    assert by_index[4]["href"] == "step-05-45.3/report.html"
    assert data["probe"]["href"] is None


def test_credentials_in_a_hand_made_url_are_stripped() -> None:
    sweep = rate_sweep()
    sweep["url"] = "http://alice:s3cret@10.0.0.1:8000/v1?api_key=k3y&x=1"
    html = build_sweep_report(sweep)
    assert "s3cret" not in html
    assert "k3y" not in html
    assert page_data(html)["url"].startswith("http://10.0.0.1:8000/v1?")
    sweep["url"] = "http://[::1"  # unparseable: left out, not shown unredacted
    assert page_data(build_sweep_report(sweep))["url"] is None


# ---- content -----------------------------------------------------------------------


def test_steps_are_sorted_by_load_and_the_answer_and_knee_flagged() -> None:
    data = page_data(build_sweep_report(rate_sweep()))
    loads = [s["load"] for s in data["steps"]]
    assert loads == [10.0, 20.0, 40.0, 45.3, 47.6, 55.0, 65.0, 80.0]
    assert [s["load"] for s in data["steps"] if s["answer"]] == [45.3]
    assert [s["load"] for s in data["steps"] if s["knee"]] == [40.0]
    assert [s["pos"] for s in data["steps"]] == [6, 0, 2, 4, 5, 3, 7, 1]
    assert data["mode"] == "rate"
    assert data["load_unit"] == "req/s"
    assert data["answer"]["client_limited_at"] == 80.0
    assert (data["step_duration_s"], data["step_requests"], data["interrupted"]) == (10, 500, False)


def test_a_step_with_no_successes_keeps_its_nulls() -> None:
    data = page_data(build_sweep_report(rate_sweep()))
    failed = next(s for s in data["steps"] if s["load"] == 65.0)
    assert failed["ttft_ms"] is None
    assert failed["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert failed["per_user_tokens_per_s"] is None
    assert failed["achieved_rps"] == 0.0  # a real zero stays a zero


def test_per_user_speed_defaults_to_its_definition() -> None:
    sweep = rate_sweep()
    sweep["steps"][0]["per_user_tokens_per_s"] = None
    sweep["steps"][0]["tpot_ms"] = {"p50": 20.0, "p95": 25.0, "p99": 30.0}
    data = page_data(build_sweep_report(sweep))
    assert next(s for s in data["steps"] if s["pos"] == 0)["per_user_tokens_per_s"] == 50.0


def test_write_is_atomic_and_returns_the_path(tmp_path: Path) -> None:
    out = write_sweep_report(tmp_path / "sweep", rate_sweep())
    assert out == tmp_path / "sweep" / "report.html"
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    out.write_text("old")
    write_sweep_report(tmp_path / "sweep", concurrency_sweep())
    assert page_data(out.read_text(encoding="utf-8"))["mode"] == "concurrency"


def test_a_write_that_fails_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ReportError, match=r"^cannot write .*report\.html: "):
        write_sweep_report(tmp_path / "file", rate_sweep())


# ---- damaged input -----------------------------------------------------------------


DAMAGED: list[Any] = [
    {},
    {"steps": []},
    {"steps": "nope", "answer": "yes", "knee": [1], "goodput": 3, "probe": "p"},
    {"steps": [None, 1, "x", [], {}]},
    {"mode": "sideways", "load_unit": 5, "slos": "ttft", "slo_thresholds": [1, {"op": "=="}]},
    {"answer": {"found": "yes", "load": float("nan"), "step": True, "bounded_by": [1, None]}},
    {"answer": {"found": True, "load": 1.0, "step": 99}, "knee": {"step": -1, "load": "x"}},
    {"tolerance_percent": float("inf"), "goodput": {"criteria": {"ttft_ms": "500"}}},
    {"url": 12, "model": ["m"], "started_at": {"a": 1}, "llmbench_version": None},
    {"interrupted": "yes", "step_duration_s": True, "step_requests": 1.5},
    {"steps": [{"load": float("-inf"), "ttft_ms": {"p50": "1", "p95": True, "p99": 10**400}}]},
    {"steps": [{"load": 10**400, "requests": {"ok": 2**70, "failed": -1}, "index": 1.5}]},
    {"steps": [{"load": 1.0, "reasons": "slow", "tpot_ms": [1, 2], "latency_ms": "x"}]},
    {"steps": [{"load": 1.0, "dir": "\ud800", "verdict": "\udfff", "tpot_ms": {"p50": 0}}]},
]


@pytest.mark.parametrize("sweep", DAMAGED)
def test_damaged_sweeps_still_build(sweep: Any) -> None:
    data = page_data(build_sweep_report(sweep))
    assert isinstance(data["steps"], list)
    assert isinstance(data["slos"], list)
    assert_clean_numbers(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


def assert_clean_numbers(node: Any) -> None:
    """Every number the page gets is finite and no bool stands in for one."""
    if isinstance(node, dict):
        for value in node.values():
            assert_clean_numbers(value)
    elif isinstance(node, list):
        for value in node:
            assert_clean_numbers(value)
    elif isinstance(node, float):
        assert math.isfinite(node)


def test_wrong_types_are_dropped_field_by_field() -> None:
    sweep = rate_sweep()
    bad = sweep["steps"][0]
    bad.update(load="20", achieved_rps=True, ttft_ms={"p50": "1", "p95": float("nan"), "p99": 9})
    bad.update(reasons=["ok", 3, None], requests={"ok": True, "failed": 2}, dir=None)
    sweep["answer"]["found"] = 1  # only true is true
    sweep["steps"].append("not a step")
    data = page_data(build_sweep_report(sweep))
    row = next(s for s in data["steps"] if s["pos"] == 0)
    assert row["load"] is None
    assert row["achieved_rps"] is None
    assert row["ttft_ms"] == {"p50": None, "p95": None, "p99": 9.0}
    assert row["reasons"] == ["ok"]
    assert row["requests"] == {"ok": None, "failed": 2}
    assert (row["dir"], row["href"]) == (None, None)
    assert data["steps"][-1] is row  # no load: last
    assert len(data["steps"]) == 8
    assert data["answer"]["found"] is False


def test_a_damaged_mode_is_taken_from_the_unit() -> None:
    sweep = concurrency_sweep()
    sweep["mode"] = None
    assert page_data(build_sweep_report(sweep))["mode"] == "concurrency"
    sweep["load_unit"] = None
    sweep["mode"] = "rate"
    assert page_data(build_sweep_report(sweep))["load_unit"] == "req/s"


def test_sizes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_report, "STEPS_CAP", 5)
    sweep = rate_sweep()
    sweep["steps"][0]["reasons"] = ["r" * 10_000] * 500
    data = page_data(build_sweep_report(sweep))
    assert len(data["steps"]) == 5
    reasons = next(s for s in data["steps"] if s["pos"] == 0)["reasons"]
    assert len(reasons) == sweep_report._LIST_CAP
    assert len(reasons[0]) == sweep_report._TEXT_CAP


def test_the_input_is_not_changed() -> None:
    sweep = hostile_sweep()
    before = copy.deepcopy(sweep)
    build_sweep_report(sweep)
    assert sweep == before


@given(JSON_VALUES)
def test_any_json_shaped_value_builds(value: Any) -> None:
    sweep = rate_sweep()
    sweep["steps"][0]["ttft_ms"] = value
    sweep["answer"] = value
    sweep["steps"].append(value)
    data = sweep_report._sweep_data(sweep)
    assert_clean_numbers(json.loads(report._embed_json(data)))


# ---- packaging ---------------------------------------------------------------------


def test_the_page_files_are_package_data() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = set(config["package-data"]["llmbench.output"])
    pages = {"report_template.html", "report.css", "report_common.js"}
    assert pages | {"sweep_report_body.html", "sweep_report.js", "sweep_report.css"} <= data
    for name in data:
        assert (ROOT / "src/llmbench/output" / name).is_file()
