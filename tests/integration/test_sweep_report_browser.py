"""The sweep's report.html in real headless Chromium, as test_report_browser.py loads a
run's: Debian's Chromium through Playwright, offline, every request routed and all but
the report itself aborted and recorded. The sweeps are the fixtures of
tests/test_sweep_report.py: 8 steps in rate mode, 8 in concurrency mode, and one with
markup in every string."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The fixtures live beside the unit tests (tests/), which pytest puts on sys.path only
# when it collects a module there; this file may run alone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Skips this module as it skips that one when Chromium or Playwright is missing.
from test_report_browser import PAINTED_JS, assert_clean, visit

from llmbench.output.sweep_report import write_sweep_report
from test_sweep_report import XSS, concurrency_sweep, hostile_sweep, rate_sweep, step

pytestmark = pytest.mark.timeout(300)

# What each chart drew, read back from ECharts: the page's result, not its input.
CHARTS_JS = """() => Array.from(document.querySelectorAll("#charts div[_echarts_instance_]"))
  .map((div) => {
    const o = echarts.getInstanceByDom(div).getOption();
    const marks = o.series.filter((s) => s.markLine).flatMap((s) => s.markLine.data);
    return {
      title: o.title[0].text,
      xType: o.xAxis[0].type,
      names: o.series.map((s) => s.name),
      series: Object.fromEntries(o.series.map((s) => [s.name, s.data])),
      markX: marks.filter((m) => m.xAxis !== undefined).map((m) => m.xAxis),
      markY: marks.filter((m) => m.yAxis !== undefined).map((m) => m.yAxis),
    };
  })"""
# Hover the marker of the step at load ``x`` on chart ``i`` (ECharts' own showTip).
HOVER_JS = """([i, x]) => {
  const div = document.querySelectorAll("#charts div[_echarts_instance_]")[i];
  const c = echarts.getInstanceByDom(div);
  const series = c.getOption().series;
  const si = series.findIndex((s) => s.type === "scatter" && s.data.some((d) => d.value[0] === x));
  const di = series[si].data.findIndex((d) => d.value[0] === x);
  c.dispatchAction({ type: "showTip", seriesIndex: si, dataIndex: di });
}"""
LINKS_JS = (
    """() => Array.from(document.querySelectorAll("#steps a")).map((a) => a.getAttribute("href"))"""
)
LOAD_CHARTS = 6  # throughput, TTFT, TPOT, E2E, ITL (an ITL SLO) and goodput; then Pareto


def open_sweep(context: Any, sweep_dir: Path, sweep: dict[str, Any]) -> Any:
    html = write_sweep_report(sweep_dir, sweep)
    seen = visit(context, html)
    assert_clean(seen, html)
    return seen.page


def test_a_rate_sweep_draws_every_chart_offline(browser_context: Any, tmp_path: Path) -> None:
    sweep = rate_sweep()
    page = open_sweep(browser_context, tmp_path / "sweep", sweep)
    page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
    painted = page.evaluate(PAINTED_JS)
    assert len(painted) == LOAD_CHARTS + 1
    assert min(painted) > 500, painted
    charts = page.evaluate(CHARTS_JS)
    for chart in charts[:LOAD_CHARTS]:
        assert {45.3, 40.0, 80.0} <= set(chart["markX"]), chart["title"]  # answer, knee, client
    throughput, ttft, tpot, _, itl, goodput, pareto = charts
    assert throughput["names"][:2] == ["achieved req/s", "ok"]
    assert "ideal (achieved = offered)" in throughput["names"]
    assert 48.2 in throughput["markY"]  # the probe's ceiling
    assert (ttft["markY"], tpot["markY"], itl["markY"], goodput["markY"]) == (
        [500],
        [50],
        [80],
        [95],
    )
    assert [65.0, None] in ttft["series"]["p50"]  # no successes: a gap, not a zero
    assert [x for x, _ in ttft["series"]["p50"]] == sorted(s["load"] for s in sweep["steps"])
    assert len(pareto["series"]["max sustainable"]) == 1
    assert {"ok", "SLO failed", "overloaded", "client-limited"} <= set(pareto["names"])
    head = page.locator("#header").inner_text()
    assert sweep["answer"]["text"] in head
    assert "The client saturated at 80 req/s" in head
    assert "rerun with --workers" in head.lower()
    assert "No sustainable load found" not in head
    assert "Interrupted" not in head
    assert "Each step\n10 s or 500 requests" in head
    assert page.locator("#steps tbody tr").count() == 8
    links = page.evaluate(LINKS_JS)
    assert len(links) == 8
    assert all(not h.startswith(("/", "file:", "http")) for h in links)
    assert "step-05-45.3/report.html" in links
    row = page.locator("#steps tr.answer").inner_text()
    assert row.startswith("45.3")
    assert "max sustainable" in row
    assert (tmp_path / "sweep.png").stat().st_size > 20_000


def test_a_concurrency_sweep_uses_a_log_axis_and_no_ideal_line(
    browser_context: Any, tmp_path: Path
) -> None:
    page = open_sweep(browser_context, tmp_path / "sweep", concurrency_sweep())
    painted = page.evaluate(PAINTED_JS)
    assert len(painted) == 5  # no goodput, no ITL SLO
    assert min(painted) > 500, painted
    charts = page.evaluate(CHARTS_JS)
    assert charts[0]["title"] == "Throughput vs concurrency"
    assert not any(n.startswith("ideal") for n in charts[0]["names"])
    for chart in charts[:4]:
        assert chart["xType"] == "log"
        assert {16, 8} <= set(chart["markX"])
    assert page.locator("#steps tbody tr").count() == 8
    assert "probe/report.html" in page.evaluate(LINKS_JS)
    assert "max sustainable load: concurrency 16" in page.locator("#header").inner_text()


def test_markup_in_sweep_json_is_shown_as_text(browser_context: Any, tmp_path: Path) -> None:
    sweep = hostile_sweep()
    page = open_sweep(browser_context, tmp_path / "sweep", sweep)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 4  # data, ECharts, common, page
    body = page.locator("body").inner_text()
    assert XSS in body
    assert "constructor ≤ 50.00 ms" in body  # a data key finds no JS builtin
    assert "[native code]" not in body
    links = page.evaluate(LINKS_JS)
    assert len(links) == 6  # the XSS and javascript: dirs have none
    assert all(h.endswith("/report.html") and ":" not in h for h in links)
    assert XSS in page.locator("#steps tbody tr").nth(1).inner_text()  # load 20: its dir as text
    page.evaluate(HOVER_JS, [1, 20.0])  # TTFT chart, the step whose strings are markup
    page.wait_for_function(
        "() => document.querySelector('#charts').innerText.includes('__proto__')"
    )
    assert XSS in page.locator("#charts").inner_text()
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.__xss") is None


def test_a_sweep_that_found_nothing_says_so(browser_context: Any, tmp_path: Path) -> None:
    sweep = rate_sweep()
    sweep["steps"] = [step(i, load, "slo_failed") for i, load in enumerate((5.0, 10.0, 20.0))]
    sweep["answer"] = {"found": False, "load": None, "step": None, "bounded_by": ["ttft_p95"],
                       "bound_load": 5.0, "client_limited_at": None,
                       "text": "no load held the SLOs (lowest tried: 5 req/s)"}  # fmt: skip
    sweep["knee"] = None
    sweep["interrupted"] = True
    page = open_sweep(browser_context, tmp_path / "sweep", sweep)
    head = page.locator("#header").inner_text()
    assert "No sustainable load found: no load tested held the SLOs (ttft_p95)" in head
    assert "Interrupted: the sweep stopped" in head
    assert "client saturated" not in head
    assert all(chart["markX"] == [] for chart in page.evaluate(CHARTS_JS))
    assert page.locator("#steps tr.answer").count() == 0


@pytest.mark.parametrize(
    "sweep",
    [
        {},
        {"steps": [{"load": 1.0}]},
        {"mode": "concurrency", "steps": [{"load": 0.0, "verdict": "weird"}, {"load": None}]},
        {
            "answer": {"found": True, "load": 3.0},
            "goodput": {},
            "slo_thresholds": [{}],
            "steps": [{"load": 3.0, "ttft_ms": {"p50": 1.0}, "output_tokens_per_s": 5.0}],
        },
    ],
    ids=["empty", "bare-step", "odd-steps", "partial"],
)
def test_damaged_sweeps_render_without_errors(
    browser_context: Any, tmp_path: Path, sweep: dict[str, Any]
) -> None:
    page = open_sweep(browser_context, tmp_path / "sweep", sweep)  # no console/page error
    assert "could not be drawn" not in page.locator("body").inner_text()
