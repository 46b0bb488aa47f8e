"""report.html's Server section (issue 17) in real headless Chromium, loaded as
test_report_browser.py loads a run's report: Debian's Chromium through Playwright,
offline, every request routed and all but the report itself aborted and recorded.

A real run against the mock with --server-metrics: the section, its charts on the
client's x axis with the zoom linked both ways, the cross-check and the targets; a run
without it: no section; a summary whose server block carries markup everywhere: shown
as text, nothing run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The fixtures live beside the unit tests (tests/), which pytest puts on sys.path only
# when it collects a module there; this file may run alone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Skips this module as it skips that one when Chromium or Playwright is missing.
from test_report_browser import PAINTED_JS, assert_clean, visit

from llmbench.output.report import build_report

MockServer = Callable[..., str]
SCRIPT_BREAKER = "</script><script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(2)>"
pytestmark = pytest.mark.timeout(300)

# Zoom one over-time chart (client or server) to 20-60 %, read both charts' x ranges.
ZOOM_JS = """(which) => {
  const inst = (sel) => echarts.getInstanceByDom(
    document.querySelector(sel + " div[_echarts_instance_]"));
  const client = inst("#timeseries"), server = inst("#server");
  (which === "client" ? client : server).dispatchAction({ type: "dataZoom", start: 20, end: 60 });
  const x = (c) => c.getModel().getComponent("xAxis", 0).axis.scale.getExtent();
  return { client: x(client), server: x(server) };
}"""
# The server chart's panels and series, as ECharts holds them.
OPTION_JS = """() => {
  const div = document.querySelector("#server div[_echarts_instance_]");
  const o = echarts.getInstanceByDom(div).getOption();
  return { titles: o.title.map((t) => t.text), series: o.series.map((s) => [s.name, s.data.length]),
           x: [o.xAxis[0].min, o.xAxis[0].max] };
}"""


def run(url: str, out: Path, *flags: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--model", "m",
         "--concurrency", "12", "--duration", "4", "--out", str(out), "--quiet", *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_the_server_section_shares_the_clients_time_axis(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "24", "--slots", "6")
    out = tmp_path / "run"
    run(url, out, "--server-metrics", url + "/metrics", "--server-metrics-interval", "0.5")
    html = out / "report.html"
    seen = visit(browser_context, html)
    page = seen.page
    page.locator("#server").screenshot(path=str(tmp_path / "server.png"))
    assert_clean(seen, html)
    section = page.locator("#server").inner_text()
    assert section.startswith("Server")
    assert "Cross-check: Server" in section
    assert url + "/metrics" in section
    painted = page.evaluate(PAINTED_JS)
    assert len(painted) == 8  # the 7 charts of a run, and the server's
    assert min(painted) > 500, painted
    drawn = page.evaluate(OPTION_JS)
    assert drawn["titles"] == [
        "Requests running (server) vs in flight (client)",
        "Requests waiting (server queue)",
        "KV-cache use (%)",
        "Preemptions per second",
        "Generated tokens/s (server) vs output/s (client)",
    ]
    names = [name for name, _ in drawn["series"]]
    assert names.count("client: in flight") == names.count("client: output/s") == 1
    assert all(n > 3 for _, n in drawn["series"])
    # one axis: the server chart's range is the client's; zoom either, both follow
    for which in ("client", "server"):
        seen = visit(browser_context, html)
        zoomed = seen.page.evaluate(ZOOM_JS, which)
        assert zoomed["client"] == zoomed["server"], which
        assert zoomed["client"][0] > 0
    assert (tmp_path / "server.png").stat().st_size > 10_000


def test_no_scrape_no_server_section(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")
    out = tmp_path / "run"
    run(url, out)
    seen = visit(browser_context, out / "report.html")
    assert_clean(seen, out / "report.html")
    assert seen.page.locator("#server").inner_text() == ""
    assert seen.page.locator("#server *").count() == 0
    assert len(seen.page.evaluate(PAINTED_JS)) == 7


def hostile_summary(run_dir: Path) -> None:
    """A hand-made summary whose server block carries markup in every string."""
    run_dir.mkdir()
    hostile = f"{SCRIPT_BREAKER} {IMG_XSS}"
    series = [
        {"family": hostile, "label": hostile, "engine": None, "read_as": "gauge", "unit": hostile,
         "chart": None, "labels": {IMG_XSS: hostile, "constructor": "__proto__"},
         "values": [1, 2, 3], "measured": {"min": 1, "mean": 2, "max": 3, "points": 3}},
        {"family": "vllm:num_requests_running", "label": IMG_XSS, "engine": "vllm",
         "read_as": "gauge", "unit": "requests", "chart": "running", "labels": {"gpu": IMG_XSS},
         "values": [4, 5, 6], "measured": None},
    ]  # fmt: skip
    server = {
        "interval_s": 1.0, "time_limit_s": 0.8,
        "targets": [{"url": f"http://h/{hostile}", "engines": [IMG_XSS], "scrapes": 4, "ok": 3,
                     "failed": 1, "failures": {IMG_XSS: 1}, "first_error": hostile,
                     "scrape_ms": {"mean": 1, "max": 2}, "t": [0.0, 1.0, 2.0],
                     "series": series, "dropped_series": 0}],
        "cross_check": {"families": [hostile], "server_tokens_per_s": 1.0,
                        "client_tokens_per_s": 2.0, "client_unit": IMG_XSS, "ratio": 0.5,
                        "tolerance": 0.1, "verdict": "constructor", "note": hostile},
    }  # fmt: skip
    summary = {"requests": {"total": 0, "ok": 0, "failed": 0}, "server": server}
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_markup_in_the_server_block_is_shown_literally(
    browser_context: Any, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    hostile_summary(run_dir)
    html = build_report(run_dir)
    seen = visit(browser_context, html)
    assert_clean(seen, html)  # no dialog: no alert() ran
    page = seen.page
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 4  # data, ECharts, common, page
    section = page.locator("#server").inner_text()
    assert "[native code]" not in section
    for text in (SCRIPT_BREAKER, IMG_XSS, "__proto__", "constructor"):
        assert text in section
    drawn = page.evaluate(OPTION_JS)  # the regex-chosen family's panel, titled as text
    assert f"{SCRIPT_BREAKER} {IMG_XSS}" in drawn["titles"]
