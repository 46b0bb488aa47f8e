"""report.html's Workload section (issue 16) in real headless Chromium, loaded as
test_report_browser.py loads a run's report: Debian's Chromium through Playwright,
offline, every request routed and all but the report itself aborted and recorded.

The runs are tests/test_report_workload.py's: 12 sessions over 3 shared prefixes (turn 1
slow, later turns fast), a plain run with no workload data, and a summary whose workload
blocks carry markup and the names of JavaScript builtins everywhere."""

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

from llmbench.output.report import build_report
from test_report_workload import (
    IMG_XSS,
    SCRIPT_BREAKER,
    SESSIONS,
    TURN_TTFT_MS,
    hostile_run,
    plain_run,
    session_run,
)

pytestmark = pytest.mark.timeout(300)

# The per-turn chart as ECharts holds it: what the page drew, not what it was given.
TURN_CHART_JS = """() => Array.from(document.querySelectorAll("#workload div[_echarts_instance_]"))
  .map((div) => {
    const o = echarts.getInstanceByDom(div).getOption();
    return { title: o.title[0].text, x: o.xAxis[0].data,
             series: Object.fromEntries(o.series.map((s) => [s.name, s.data])) };
  })"""
# Hover turn ``i`` of the per-turn chart's p99 line (ECharts' own showTip).
HOVER_JS = """(i) => {
  const c = echarts.getInstanceByDom(document.querySelector("#workload div[_echarts_instance_]"));
  c.dispatchAction({ type: "showTip", seriesIndex: 1, dataIndex: i });
}"""
# Whether the chart's tooltip (a div ECharts adds beside the canvas) shows ``text``.
TOOLTIP_JS = """(text) => Array.from(
  document.querySelectorAll("#workload div[_echarts_instance_] > div")
).some((d) => d.innerText.includes(text))"""
# Every table of the section, as rows of cell texts.
TABLES_JS = """() => Array.from(document.querySelectorAll("#workload table")).map((t) =>
  Array.from(t.querySelectorAll("tr")).map((tr) =>
    Array.from(tr.children).map((c) => c.textContent)))"""


def test_the_workload_section_draws_turns_prefixes_sessions_and_lengths(
    browser_context: Any, tmp_path: Path
) -> None:
    summary = session_run(tmp_path)
    html = build_report(tmp_path)
    seen = visit(browser_context, html)
    page = seen.page
    page.locator("#workload").screenshot(path=str(tmp_path / "workload.png"))
    assert_clean(seen, html)
    section = page.locator("#workload").inner_text()
    for heading in ("Workload", "Per turn", "Shared prefixes", "Sessions", "Input lengths"):
        assert heading in section
    # The chart: TTFT p50 and p99 per turn, turn 1 well above the rest, and painted.
    (chart,) = page.evaluate(TURN_CHART_JS)
    assert chart["title"] == "TTFT by turn"
    assert chart["x"] == ["1", "2", "3", "4"]
    p50 = chart["series"]["TTFT p50"]
    assert p50 == [row["ttft_ms"]["p50"] for row in summary["turns"]["rows"]]
    assert p50[0] >= TURN_TTFT_MS[1] > 4 * max(p50[1:])  # the cache's effect, drawn
    assert min(page.evaluate(PAINTED_JS)) > 500
    turns, first_reuse, groups, lengths = page.evaluate(TABLES_JS)
    assert [row[0] for row in turns[1:]] == ["1", "2", "3", "4", "2+"]
    assert turns[1][1:3] == [str(SESSIONS), str(SESSIONS)]  # turn 1: every session, all ok
    assert turns[2][1:3] == [str(SESSIONS), str(SESSIONS - 1)]  # one turn-2 timeout
    assert turns[1][-1] == "128"  # the server's mean prompt count
    assert [row[0] for row in first_reuse[1:]] == ["first use", "reuse"]
    assert first_reuse[1][1] == "3"  # one first use per group
    assert [row[0] for row in groups[1:]] == ["0", "1", "2"]
    assert "Reuse TTFT p50 is" in section
    cards = page.locator("#workload .card").all_inner_texts()
    assert "10 completed · 1 failed · 1 stopped" in cards[0]
    assert lengths[1][0] == "server usage"
    assert lengths[1][-1] == "--input-tokens 128 ± 16 + --prefix-tokens 64"
    assert (tmp_path / "workload.png").stat().st_size > 20_000


def test_a_run_without_workload_data_has_no_section(browser_context: Any, tmp_path: Path) -> None:
    plain_run(tmp_path)
    html = build_report(tmp_path)
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    page = seen.page
    assert page.locator("#workload *").count() == 0
    assert page.locator("h2", has_text="Workload").count() == 0
    assert len(page.evaluate(PAINTED_JS)) == 6  # 3 histograms (no ITL), time, scatter, pie


def test_markup_in_the_workload_blocks_is_inert(browser_context: Any, tmp_path: Path) -> None:
    hostile_run(tmp_path)
    html = build_report(tmp_path)
    seen = visit(browser_context, html)
    assert_clean(seen, html)  # no dialog: no alert() ran; nothing fetched; no page error
    page = seen.page
    assert page.locator("img").count() == 0  # no element came from the data
    assert page.locator("script").count() == 4
    section = page.locator("#workload").inner_text()
    assert "could not be drawn" not in section  # the section copes, it does not give up
    assert "[native code]" not in section  # no data key found a JavaScript builtin
    assert IMG_XSS in section  # shown as text: the turn label, the group, asked
    assert SCRIPT_BREAKER in section
    # The chart's categories are canvas text; its tooltip escapes the label it shows.
    page.evaluate(HOVER_JS, 0)  # turn 1: its p50 is text (no point), its p99 12.5 ms
    page.wait_for_function(TOOLTIP_JS, arg=f"turn {IMG_XSS}", timeout=10_000)
    assert page.locator("img").count() == 0
    assert seen.dialogs == []
