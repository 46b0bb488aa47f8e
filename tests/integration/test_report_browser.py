"""report.html in real headless Chromium, from a real run against the mock.

Chromium is Debian's (`make chromium` installs it when missing), driven by Playwright
with no browser download. Every request the page makes is routed here: the report file
itself is served, anything else is aborted and recorded, and the context is offline.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmbench.metrics import Recorder
from llmbench.output import report
from llmbench.output.report import build_report
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make chromium` installs it (Debian, as root)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT_BREAKER = "</script><script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(2)>"
MockServer = Callable[..., str]
PAGE_TIMEOUT_MS = 90_000
# A browser start, a run and a page load, each slow on a loaded two-core machine.
pytestmark = pytest.mark.timeout(300)

# Each chart container's first canvas: how many pixels were painted (alpha > 0).
PAINTED_JS = """() => Array.from(
  document.querySelectorAll("div[_echarts_instance_]")
).map((div) => {
  const canvas = div.querySelector("canvas");
  if (!canvas) return -1;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
})"""


@dataclass
class Visit:
    """One page load, with everything the page tried to do besides drawing."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def visit(context: Any, html: Path) -> Visit:
    page = context.new_page()
    seen = Visit(page)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))

    def route(r: Any) -> None:
        seen.requests.append(r.request.url)
        if r.request.url == html.as_uri():
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    # Generous: two shared cores and other test runs make a slow machine.
    page.goto(html.as_uri(), timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector("html[data-ready='1']", timeout=PAGE_TIMEOUT_MS)
    return seen


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args], capture_output=True, text=True, timeout=180
    )


def rebuild_report(run_dir: Path) -> Path:
    """`llmbench report RUN_DIR`, over the report the run itself wrote."""
    assert (run_dir / "report.html").is_file()  # every run writes one
    (run_dir / "report.html").unlink()
    proc = run_cli("report", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    return run_dir / "report.html"


def assert_clean(seen: Visit, html: Path) -> None:
    assert seen.errors == []
    assert seen.requests == [html.as_uri()]  # nothing but the file itself
    assert seen.dialogs == []


def test_real_run_report_draws_every_chart_offline(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "20", "--itl-ms", "2", "--jitter-ms", "2", "--tokens", "16")
    run_dir = tmp_path / "run"
    proc = run_cli(
        "run", "--url", url, "--concurrency", "8", "--requests", "120",
        "--out", str(run_dir), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    html = rebuild_report(run_dir)
    seen = visit(browser_context, html)
    page = seen.page
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert_clean(seen, html)
    painted = page.evaluate(PAINTED_JS)
    assert len(painted) == 7  # 4 histograms, time series, scatter, pie
    assert min(painted) > 500, painted
    assert url in page.locator("#header").inner_text()
    assert "120" in page.locator("#cards").inner_text()
    assert page.locator("#percentiles td").first.inner_text() == "TTFT"
    assert (tmp_path / "report.png").stat().st_size > 20_000


def hostile_run(run_dir: Path) -> None:
    """A run whose server replies, errors and config all carry markup."""
    run_dir.mkdir()
    hostile = f"{SCRIPT_BREAKER} {IMG_XSS}"
    results = [
        RequestResult(0, "measure", "ok", 0, 90_000_000, ttft_ns=40_000_000,
                      latency_ns=90_000_000, output_tokens=4, first_frame=hostile,
                      last_frame=IMG_XSS),
        RequestResult(1, "measure", "stream_error", 10_000_000, 60_000_000,
                      http_status=200, error=hostile),
        RequestResult(2, "measure", IMG_XSS, 20_000_000, 30_000_000, error=SCRIPT_BREAKER),
        RequestResult(3, "measure", "__proto__", 30_000_000, 40_000_000, error="constructor"),
    ]  # fmt: skip
    rec = Recorder()
    rec.set_origin(0)
    for r in results:
        rec.on_start(r.t0_ns)
    with (run_dir / "results.jsonl").open("wb") as fh:
        for r in results:
            rec.record(r)
            fh.write(orjson.dumps(r.to_json(0)) + b"\n")
    summary = build_summary(
        rec.freeze(),
        run={"llmbench_version": "0.1.0", "started_at": hostile, "interrupted": True,
             "stop_reason": SCRIPT_BREAKER},
        config={"url": f"http://h/{SCRIPT_BREAKER}", "provider": IMG_XSS, "model": hostile},
        open_loop=False,
    )  # fmt: skip
    summary["client"] = {"saturated": True, "saturation_reasons": [IMG_XSS]}
    summary["definitions"] = {IMG_XSS: SCRIPT_BREAKER, "constructor": "__proto__"}
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary))


def assert_shown_as_text(seen: Visit, html: Path, texts: list[str]) -> None:
    assert_clean(seen, html)  # no dialog: no alert() ran
    page = seen.page
    assert page.locator("img").count() == 0  # no element came from the data
    assert page.locator("script").count() == 4  # data, ECharts, common, page
    body = page.locator("body").inner_text()
    assert "[native code]" not in body  # a data key ("constructor") found a JS builtin
    for text in texts:
        assert text in body


def test_markup_from_the_server_is_shown_literally(browser_context: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    hostile_run(run_dir)
    html = build_report(run_dir)
    seen = visit(browser_context, html)
    assert_shown_as_text(seen, html, [SCRIPT_BREAKER, IMG_XSS, "__proto__", "constructor"])
    samples = seen.page.locator("#samples pre")
    assert samples.nth(0).inner_text() == f"{SCRIPT_BREAKER} {IMG_XSS}"
    assert samples.nth(1).inner_text() == IMG_XSS
    errors = seen.page.locator("#errors").inner_text()
    assert SCRIPT_BREAKER in errors
    assert IMG_XSS in errors
    assert "saturated" in seen.page.locator("#header").inner_text()


def test_markup_streamed_by_the_mock_is_shown_literally(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    text = f"{SCRIPT_BREAKER} {IMG_XSS}"
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "12", "--text", text)
    run_dir = tmp_path / "run"
    proc = run_cli("run", "--url", url, "--requests", "4", "--out", str(run_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    html = rebuild_report(run_dir)
    seen = visit(browser_context, html)
    first_frame = seen.page.locator("#samples pre").nth(0).inner_text()
    assert_shown_as_text(seen, html, [])
    assert "<script>" in first_frame or "<img" in first_frame  # a token of the text, raw


def test_a_no_stream_run_says_ttft_is_the_whole_response(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")
    run_dir = tmp_path / "run"
    proc = run_cli("run", "--url", url, "--no-stream", "--requests", "6", "--out", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    html = run_dir / "report.html"
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    assert "TTFT is the whole response" in seen.page.locator("#header").inner_text()


def test_a_run_where_nothing_succeeded_renders_cleanly(
    browser_context: Any, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(
        '{"requests": {"total": 3, "ok": 0, "failed": 3, "by_status": {"timeout": 3}}}'
    )
    html = build_report(run_dir)
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    assert len(seen.page.evaluate(PAINTED_JS)) == 1  # the outcome pie only
    assert "No request succeeded" in seen.page.locator("#header").inner_text()


# Reads a chart's option from ECharts itself: what the page drew, not what it was given.
OPTION_JS = """(sel) => Array.from(document.querySelectorAll(sel + " div[_echarts_instance_]"))
  .map((div) => {
    const o = echarts.getInstanceByDom(div).getOption(), title = (o.title || [])[0] || {};
    return { title: title.text, xAxis: o.xAxis, series: o.series.map((s) => s.data) };
  })"""


def gappy(index: int, start_ns: int) -> RequestResult:
    """A success whose 15 gaps are 5 same-read ones (0) and 10 of 4-13 ms."""
    gaps = (0,) * 5 + tuple((4 + i) * 1_000_000 for i in range(10))
    return RequestResult(index, "measure", "ok", start_ns, start_ns + 200_000_000,
                         ttft_ns=40_000_000, latency_ns=200_000_000, output_tokens=16,
                         chunks=16, token_source="usage", icl_ns=gaps)  # fmt: skip


def failing_run(run_dir: Path) -> None:
    """3 successes in 2,000 requests; one failure kind is 1 in 2,000 (0.05 %)."""
    run_dir.mkdir()
    results = [gappy(i, i * 1_000_000) for i in range(3)]
    results += [
        RequestResult(3 + i, "measure", "http_error" if i else "timeout", (3 + i) * 1_000_000,
                      (4 + i) * 1_000_000, http_status=503 if i else None, error="busy")
        for i in range(1997)
    ]  # fmt: skip
    rec = Recorder()
    rec.set_origin(0)
    for r in results:
        rec.on_start(r.t0_ns)
    with (run_dir / "results.jsonl").open("wb") as fh:
        for r in results:
            rec.record(r)
            fh.write(orjson.dumps(r.to_json(0)) + b"\n")
    config = {"url": "http://h", "provider": "openai-chat", "concurrency": 4,
              "prompts_file": "chat.jsonl", "order": "shuffle", "max_tokens": 128}  # fmt: skip
    summary = build_summary(
        rec.freeze(), run={"token_unit": "tokens"}, config=config, open_loop=False
    )
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary))


def test_a_failing_run_reads_right(
    browser_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    failing_run(run_dir)
    monkeypatch.setattr(report, "SCATTER_CAP", 100)  # the failures are sampled
    html = build_report(run_dir)
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    page = seen.page
    head = page.locator("#header").inner_text()
    assert "Failures dominate: 99.85 % of 2,000 measured requests failed" in head
    assert "Tokens counted from the server's usage (3 requests)" in head
    assert "prompts from chat.jsonl (shuffle); max_tokens 128" in head
    timeout_row = page.locator("#errors tr", has_text="timeout").inner_text().split("\t")
    assert timeout_row[3] == "<0.1 %"  # 1 of 2,000, not "0.0 %"
    caption = page.locator("#scatter .caption").inner_text()
    assert "100 of 1,997 failures shown (sampled); failures with no duration" in caption
    assert ".;" not in caption
    itl = next(c for c in page.evaluate(OPTION_JS, "#histograms") if c["title"] == "ITL")
    assert itl["xAxis"][0]["min"] >= 3.9  # the real gaps, not 0.001 ms


def test_one_origin_the_whole_in_flight_series_and_a_recovered_run(
    mock_server: MockServer, browser_context: Any, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "10", "--itl-ms", "5", "--tokens", "20")
    run_dir = tmp_path / "run"
    proc = run_cli(
        "run", "--url", url, "--concurrency", "4", "--warmup-s", "1.5", "--duration", "2",
        "--out", str(run_dir), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    html = rebuild_report(run_dir)
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    over_time = seen.page.evaluate(OPTION_JS, "#timeseries")[0]
    scatter = seen.page.evaluate(OPTION_JS, "#scatter")[0]
    starts = [point[0] for point in scatter["series"][0]]
    assert 0 <= min(starts) < 0.2  # measured from the measured start, not the run's (1.5 s)
    assert scatter["xAxis"][0]["min"] == over_time["xAxis"][0]["min"] == 0
    assert scatter["xAxis"][0]["max"] == over_time["xAxis"][0]["max"]
    in_flight = over_time["series"][0]
    assert in_flight[-1][0] == over_time["series"][1][-1][0]  # as far as requests/s
    assert in_flight[-1][1] is not None
    # The same run as a crash leaves it: results.jsonl only.
    (run_dir / "summary.json").unlink()
    html = rebuild_report(run_dir)
    seen = visit(browser_context, html)
    assert_clean(seen, html)
    assert "Recovered from results.jsonl" in seen.page.locator("#header").inner_text()
    assert len(seen.page.evaluate(PAINTED_JS)) == 6  # 3 histograms (no ITL), time, scatter, pie
