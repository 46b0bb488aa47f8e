"""report.html, CSV export and `llmbench report`, without a browser (see
tests/integration/test_report_browser.py for the page in real Chromium)."""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import random
import re
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmbench import cli, report_command
from llmbench.config import ConfigError
from llmbench.metrics import Recorder
from llmbench.output import report
from llmbench.output.csv_export import COLUMNS, write_csv
from llmbench.output.report import ReportError, build_report
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_BREAKER = "</script><script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(2)>"
DATA_RE = re.compile(
    r'<script type="application/json" id="llmbench-data">(.*?)</script>', re.DOTALL
)
PAGE_SCRIPTS = ("report_common.js", "report.js")  # in page order, after ECharts
# The page's own script element: the Server section's file, then report.js.
OWN_SCRIPTS = ("report_server.js", "report.js")


def ok_result(index: int, start_s: float, latency_ms: float = 200.0, **kw: Any) -> RequestResult:
    t0 = int(start_s * 1e9)
    latency = int(latency_ms * 1e6)
    fields: dict[str, Any] = {
        "ttfb_ns": 2_000_000,
        "ttft_ns": 50_000_000,
        "latency_ns": latency,
        "output_tokens": 16,
        "input_tokens": 10,
        "token_source": "usage",
        "icl_ns": (5_000_000,) * 15,
        "http_status": 200,
        "first_frame": '{"choices":[{"delta":{"content":"Hi"}}]}',
        "last_frame": "[DONE]",
    }
    fields.update(kw)
    return RequestResult(index, "measure", "ok", t0, t0 + latency, **fields)


def failed_result(
    index: int, start_s: float, status: str = "http_error", **kw: Any
) -> RequestResult:
    t0 = int(start_s * 1e9)
    fields: dict[str, Any] = {"http_status": 503, "error": "HTTP 503: overloaded"}
    fields.update(kw)
    return RequestResult(index, "measure", status, t0, t0 + 5_000_000, **fields)


def make_run(
    run_dir: Path, results: list[RequestResult], origin_s: float = 0.0, **summary_extra: Any
) -> dict[str, Any]:
    """A run directory as `llmbench run` leaves it, through the real Recorder; the
    measured phase starts ``origin_s`` after the run (after a warm-up)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    rec.set_origin(int(origin_s * 1e9))
    with (run_dir / "results.jsonl").open("wb") as fh:
        for r in sorted(results, key=lambda r: r.t0_ns):
            rec.on_start(r.t0_ns)
        for r in sorted(results, key=lambda r: r.end_ns):
            rec.record(r)
            fh.write(orjson.dumps(r.to_json(0)) + b"\n")
    summary = build_summary(
        rec.freeze(),
        run={
            "llmbench_version": "0.1.0",
            "started_at": "2026-01-01T00:00:00+00:00",
            "interrupted": False,
            "stop_reason": "done",
            "token_unit": "tokens",
        },
        config={
            "url": "http://127.0.0.1:1",
            "provider": "openai-chat",
            "model": "m",
            "concurrency": 4,
            "requests": len(results),
            "prompt": "SECRET-PROMPT",
            "headers": [["Authorization", "<redacted>"]],
        },
        open_loop=False,
    )
    summary["client"] = {"cpu_pct": 3.0, "saturated": False, "saturation_reasons": []}
    summary.update(summary_extra)
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary))
    return summary


def page_data(html: str) -> dict[str, Any]:
    match = DATA_RE.search(html)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def read_page_file(name: str) -> str:
    return (ROOT / "src/llmbench/output" / name).read_text(encoding="utf-8")


def script_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    results = [ok_result(i, i * 0.05, 200 + i) for i in range(40)]
    results += [failed_result(40, 0.5), failed_result(41, 1.2, "timeout", http_status=None)]
    make_run(tmp_path / "run", results)
    return tmp_path / "run"


# ---- safety ------------------------------------------------------------------------


def test_hostile_strings_cannot_end_the_data_element_and_round_trip(tmp_path: Path) -> None:
    hostile = f"{SCRIPT_BREAKER} {IMG_XSS} a&b \u2028line\u2029para <!-- -->"
    results = [ok_result(0, 0.0, first_frame=hostile, last_frame=hostile)]
    results.append(failed_result(1, 0.1, error=hostile))
    make_run(tmp_path, results)
    html = build_report(tmp_path).read_text(encoding="utf-8")
    # The template's four scripts (data, ECharts, report_common.js, report.js), no more.
    assert html.count("<script") == 4
    assert html.lower().count("</script") == 4
    raw = DATA_RE.search(html)
    assert raw is not None
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        assert char not in raw.group(1)
    data = page_data(html)
    assert data["samples"] == {"first_frame": hostile, "last_frame": hostile}
    assert data["errors"][0]["example"] == hostile


@given(st.text())
def test_embedded_json_escapes_every_dangerous_character(text: str) -> None:
    embedded = report._embed_json({"s": text})
    assert not set(embedded) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(embedded) == {"s": text}


def test_no_network_reference_and_a_locking_csp(run_dir: Path) -> None:
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html, re.I)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    assert "default-src 'none'" in csp.group(1)
    script_src = csp.group(1).split("script-src")[1].split(";")[0]
    # ECharts, report_common.js and the page's own (report_server.js then report.js),
    # each inlined exactly as hashed; nothing else.
    own = "\n".join(read_page_file(n) for n in OWN_SCRIPTS)
    scripts = [report.echarts_source(), read_page_file("report_common.js"), own]
    assert script_src.split() == [script_hash(code) for code in scripts]
    for code in scripts:
        assert f"<script>{code}</script>" in html


# The only URLs in the ECharts build: XML namespace names and license comments, which
# are identifiers, not fetches (and the page's CSP would block any fetch anyway).
ECHARTS_URLS = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.apache.org/licenses/LICENSE-2.0",
    "https://github.com/ecomfe/zrender/blob/master/LICENSE",
}
NETWORK_RE = re.compile(r"https?://|src\s*=|url\(|@import", re.I)


def test_nothing_outside_the_data_and_echarts_refers_to_the_network(run_dir: Path) -> None:
    html = build_report(run_dir).read_text(encoding="utf-8")
    echarts = report.echarts_source()
    assert echarts in html
    page = DATA_RE.sub("", html.replace(echarts, ""))
    assert NETWORK_RE.findall(page) == []
    assert set(re.findall(r"https?://[^\s\"'()]+", echarts)) == ECHARTS_URLS


def test_credentials_in_a_hand_made_summary_url_are_stripped(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(0, 0.0)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["config"]["url"] = "http://alice:s3cret@10.0.0.1:8000/v1?api_key=k3y&x=1"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = build_report(tmp_path).read_text(encoding="utf-8")
    assert "s3cret" not in html
    assert "k3y" not in html
    assert page_data(html)["config"]["url"].startswith("http://10.0.0.1:8000/v1?")


@pytest.mark.parametrize("name", [*PAGE_SCRIPTS, "report_server.js"])
def test_report_js_never_parses_data_as_html(name: str) -> None:
    script = read_page_file(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_only_the_shown_config_reaches_the_page(run_dir: Path) -> None:
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert "SECRET-PROMPT" not in html
    assert "Authorization" not in html


# ---- content -----------------------------------------------------------------------


def test_data_matches_the_summary(run_dir: Path) -> None:
    data = page_data(build_report(run_dir).read_text(encoding="utf-8"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert data["requests"] == summary["requests"]
    assert set(data["stats"]) == {"ttft_ms", "latency_ms", "ttfb_ms", "tpot_ms", "itl_ms", "icl_ms"}
    assert data["definitions"] == summary["definitions"]
    assert [e["kind"] for e in data["errors"]] == ["http_error", "timeout"]
    latency = data["histograms"]["latency_ms"]
    assert sum(latency["counts"]) == latency["total"] == 40
    assert latency["marks"]["p99"] == summary["latency_ms"]["p99"]
    assert latency["edges"][0] <= summary["latency_ms"]["p50"] <= latency["edges"][-1]
    assert data["timeseries"]["t"] == [0, 1, 2]
    assert data["scatter"]["ok_total"] == 40
    assert data["scatter"]["failed_total"] == 2


def test_html_path_and_atomic_replace(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.html"
    assert build_report(run_dir, target) == target
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not (run_dir / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_scatter_caps_points_keeps_every_failure_and_the_slowest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "SCATTER_CAP", 100)
    monkeypatch.setattr(report, "SLOWEST_KEPT", 10)
    results = [ok_result(i, i * 0.01, 100 + (i * 7919) % 1000) for i in range(2000)]
    results += [failed_result(2000 + i, i * 0.3) for i in range(60)]
    make_run(tmp_path, results)
    scatter = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["scatter"]
    assert len(scatter["ok"]) == 100
    assert scatter["ok_total"] == 2000
    slowest = sorted((r.latency_ns or 0) / 1e6 for r in results if r.ok)[-10:]
    assert set(slowest) <= {y for _, y in scatter["ok"]}
    assert sorted(x for x, _, _ in scatter["failed"]) == [round(i * 0.3, 3) for i in range(60)]
    assert scatter["kinds"] == ["http_error"]


def test_the_reservoir_sample_is_uniform() -> None:
    rng = random.Random(1)
    deciles = [0] * 10
    for _ in range(400):
        sample = report._Reservoir(50, rng)
        for i in range(1000):
            sample.offer(i)
        assert len(set(sample.items)) == 50
        for i in sample.items:
            deciles[i // 100] += 1
    assert all(abs(d - 2000) < 300 for d in deciles), deciles  # 2,000 expected; 6 sigma


def test_scatter_under_the_cap_keeps_everything(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(i, i * 0.01) for i in range(300)])
    scatter = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["scatter"]
    assert len(scatter["ok"]) == 300


def test_failures_beyond_the_cap_are_sampled_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "SCATTER_CAP", 50)
    make_run(tmp_path, [failed_result(i, i * 0.01) for i in range(500)])
    scatter = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["scatter"]
    assert len(scatter["failed"]) == 50
    assert scatter["failed_total"] == 500


def test_nothing_succeeded_and_no_results_file(tmp_path: Path) -> None:
    make_run(tmp_path, [failed_result(i, i * 0.1, "connect_error") for i in range(5)])
    (tmp_path / "results.jsonl").unlink()
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["histograms"] == {}
    assert data["stats"] == {}
    assert data["scatter"]["ok"] == []
    assert data["scatter"]["failed"] == []
    assert data["samples"] == {"first_frame": None, "last_frame": None}


def test_a_minimal_summary_still_renders(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"requests": {"total": 0, "ok": 0, "failed": 0}}')
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["timeseries"] is None
    assert data["histograms"] == {}
    assert data["run"] is None
    assert data["goodput"] is None


def test_blocks_of_the_wrong_shape_are_left_out(tmp_path: Path) -> None:
    summary = {
        "requests": {"total": 1, "ok": 1, "failed": 0},
        "config": ["not", "a", "dict"],
        "errors": ["oops", {"kind": "timeout", "count": 1}],
        "samples": "x",
        "hdr_us": {"ttft_ms": "not base64 hdr"},
        "timeseries": [1, {"t": 0, "ok": 1, "started": 1, "in_flight": 1}],
    }
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    (tmp_path / "results.jsonl").write_bytes(b'[1]\n{"status": "ok", "start_s": "x"}\n')
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["errors"] == [{"kind": "timeout", "http_status": None, "count": 1, "example": None}]
    assert data["histograms"] == {}
    assert data["timeseries"]["t"] == [0]
    assert data["scatter"]["ok_total"] == 0


def test_torn_last_line_and_warmup_lines_are_skipped(run_dir: Path) -> None:
    with (run_dir / "results.jsonl").open("ab") as fh:
        fh.write(orjson.dumps({**ok_result(99, 9.0).to_json(0), "phase": "warmup"}) + b"\n")
        fh.write(b'{"index": 100, "phase": "meas')
    scatter = page_data(build_report(run_dir).read_text(encoding="utf-8"))["scatter"]
    assert scatter["ok_total"] == 40


def test_long_runs_are_bucketed_and_the_last_partial_second_scaled() -> None:
    rows = [
        {"t": t, "ok": 10, "failed": 1, "in_flight": t % 7, "output_tokens": 100}
        for t in range(5000)
    ]
    ts = report._timeseries(rows, 4999.5)
    assert ts is not None
    assert ts["width_s"] == 3
    assert len(ts["t"]) == 1667 <= report._TIMESERIES_CAP
    assert (ts["rps"][0], ts["errors_per_s"][0], ts["in_flight"][0]) == (10, 1, 2)
    assert ts["tokens_per_s"][-1] == pytest.approx(100 * 2 / 1.5, abs=0.1)  # 2 rows in 1.5 s
    short = report._timeseries([{"t": 0, "ok": 5}, {"t": 1, "ok": 2}], 1.5)
    assert short is not None
    assert short["rps"] == [5, 4]


def test_in_flight_is_unknown_not_zero_in_a_second_with_no_start() -> None:
    rows = [{"t": 0, "started": 5, "in_flight": 5}, {"t": 1, "started": 0, "in_flight": 0}]
    ts = report._timeseries(rows, 2.0)
    assert ts is not None
    assert ts["in_flight"] == [5, None]


def test_a_second_with_no_start_has_the_level_it_opened_with() -> None:
    """The run's last second (requests only finish) drew no in-flight point: the series
    ended a second before the others."""
    rows = [
        {"t": 0, "started": 8, "finished": 0, "in_flight": 8},
        {"t": 1, "started": 4, "finished": 4, "in_flight": 8},
        {"t": 2, "started": 0, "finished": 8, "in_flight": 0},
    ]
    ts = report._timeseries(rows, 2.5)
    assert ts is not None
    assert ts["in_flight"] == [8, 8, 8]
    merged = report._timeseries(rows * 1000, None)  # 3,000 rows in buckets of 2
    assert merged is not None
    assert None not in merged["in_flight"]


def test_every_over_time_series_reaches_the_last_second(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(i, i * 0.1, 1500) for i in range(10)])  # ends at 2.4 s
    ts = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["timeseries"]
    assert ts["t"] == [0, 1, 2]
    assert ts["in_flight"][-1] is not None
    assert all(len(ts[key]) == 3 for key in report._SERIES)


def gappy_result(index: int, start_s: float) -> RequestResult:
    """15 gaps: 5 of 0 (tokens that came in one read), 10 of 4-13 ms."""
    gaps = (0,) * 5 + tuple((4 + i) * 1_000_000 for i in range(10))
    return ok_result(index, start_s, icl_ns=gaps)


def test_same_read_gaps_are_counted_apart_and_the_axis_starts_at_the_real_gaps(
    tmp_path: Path,
) -> None:
    make_run(tmp_path, [gappy_result(i, i * 0.01) for i in range(100)])
    itl = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["histograms"]["itl_ms"]
    assert itl["same_read"] == 500
    assert itl["total"] == 1500
    assert sum(itl["counts"]) == 1000
    assert 3.9 <= itl["edges"][0] <= 4.0  # not 0.001 ms
    assert itl["log"] is False  # 4..13 ms spans less than 20x
    assert itl["marks"]["p50"] is not None


def test_only_same_read_gaps_leave_nothing_to_bin(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(i, i * 0.1, icl_ns=(0, 0, 0)) for i in range(4)])
    itl = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["histograms"]["itl_ms"]
    assert (itl["same_read"], itl["total"], itl["counts"], itl["edges"]) == (12, 12, [], [])


def test_a_latency_of_one_microsecond_is_a_value_not_a_same_read_gap(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(0, 0.0, ttft_ns=1000)])
    hist = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["histograms"]
    assert hist["ttft_ms"]["same_read"] == 0  # only gap metrics have same-read values
    assert hist["ttft_ms"]["edges"][0] == 0.001


def test_the_scatter_starts_where_the_over_time_charts_do(tmp_path: Path) -> None:
    """results.jsonl's start_s counts from the run's start, the time series from the
    measured start: after a 2 s warm-up the scatter began at 2 s, the charts at 0."""
    results = [ok_result(i, 2.0 + i * 0.1) for i in range(20)]
    make_run(tmp_path, results, origin_s=2.0)
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["timeseries"]["t"][0] == 0
    xs = [x for x, _ in data["scatter"]["ok"]]
    assert (min(xs), max(xs)) == (0.0, 1.9)
    assert data["scatter"]["origin_from"] == "first request"
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["run"]["measured_start_s"] = 1.5  # a summary that says where it starts
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    scatter = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["scatter"]
    assert (scatter["ok"][0][0], scatter["origin_from"]) == (0.5, "summary")


def test_the_workload_line_says_what_was_sent_without_the_prompt(tmp_path: Path) -> None:
    summary = make_run(tmp_path, [ok_result(i, i * 0.1) for i in range(4)])
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["workload"] == (
        "one prompt of 13 characters; measured per request: 10 input, 16 output tokens"
    )
    summary["config"].update(
        prompts_file="chat.jsonl", order="shuffle", max_tokens=256, ignore_eos=True
    )
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["workload"].startswith(
        "prompts from chat.jsonl (shuffle); max_tokens 256, ignore_eos; measured"
    )
    del summary["config"]["prompts_file"]
    summary["config"].update(input_tokens="512:64", output_tokens=128)
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["workload"].startswith(
        "synthetic prompts of 512 ± 64 tokens; max_tokens 128, ignore_eos; measured"
    )
    summary["config"].update(turns="4:1", think_time="2", prefix_tokens=200, prefix_groups=3)
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["workload"].startswith(  # issue 16: sessions and shared prefixes are said
        "synthetic prompts of 512 ± 64 tokens; sessions of 4 ± 1 turns, think time 2 s; "
        "3 shared prefixes of 200 tokens; max_tokens 128"
    )
    (tmp_path / "summary.json").write_text('{"requests": {"total": 0, "ok": 0, "failed": 0}}')
    assert page_data(build_report(tmp_path).read_text(encoding="utf-8"))["workload"] is None


def test_histogram_bins_follow_the_sample_size(tmp_path: Path) -> None:
    make_run(tmp_path, [ok_result(i, i * 0.01, 100 + i) for i in range(1000)])
    latency = page_data(build_report(tmp_path).read_text(encoding="utf-8"))["histograms"]
    assert len(latency["latency_ms"]["counts"]) == 20  # Rice: 2 * 1000 ** (1/3)
    assert len(latency["itl_ms"]["counts"]) == report._HIST_BINS  # 15,000 gaps


@pytest.mark.parametrize("stream", [True, False])
def test_the_page_knows_whether_the_run_streamed(tmp_path: Path, stream: bool) -> None:
    make_run(tmp_path, [ok_result(0, 0.0)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["config"]["stream"] = stream
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert page_data(build_report(tmp_path).read_text(encoding="utf-8"))["config"]["stream"] is (
        stream
    )


def test_goodput_and_slo_blocks_pass_through(tmp_path: Path) -> None:
    goodput = {"requests_per_s": 1.5, "ratio": 0.75, "good": 3, "total": 4, "criteria": {}}
    slo = {"passed": False, "checks": [{"expr": "ttft_p95<=1ms", "passed": False}]}
    make_run(tmp_path, [ok_result(i, i * 0.1) for i in range(4)], goodput=goodput, slo=slo)
    data = page_data(build_report(tmp_path).read_text(encoding="utf-8"))
    assert data["goodput"] == goodput
    assert data["slo"] == slo


# ---- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found: .* is not a run directory"),
        ("{x", "is not valid JSON"),
        ("[1, 2]", "is not an llmbench summary"),
    ],
)
def test_bad_run_dirs_raise_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "summary.json").write_text(content)
    with pytest.raises(ReportError, match=message):
        build_report(tmp_path)


def test_missing_echarts_build_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="ECharts build is missing"):
        report._read_echarts([tmp_path / "echarts.min.js"])
    (tmp_path / "echarts.min.js").write_text("var a = '</SCRIPT>';")
    with pytest.raises(ReportError, match="cannot be inlined"):
        report._read_echarts([tmp_path / "echarts.min.js"])


def test_the_vendored_build_is_found() -> None:
    source = report.echarts_source()
    assert len(source) > 500_000
    assert "</script" not in source.lower()


# ---- CSV ---------------------------------------------------------------------------


def test_csv_has_one_row_per_line_and_the_jsonl_fields(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    assert write_csv(run_dir / "results.jsonl", out) == 42
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    first_line = json.loads((run_dir / "results.jsonl").read_text().splitlines()[0])
    assert tuple(rows[0]) == COLUMNS == tuple(first_line)
    assert rows[0]["index"] == str(first_line["index"])
    assert rows[0]["queue_ms"] == ""  # null
    assert rows[0]["retry_errors"] == "[]"


def test_csv_defuses_formulas_keeps_extra_fields_and_skips_torn_lines(tmp_path: Path) -> None:
    src = tmp_path / "results.jsonl"
    line = {**failed_result(0, 0.0, error='=HYPERLINK("http://x")').to_json(0), "new_field": 7}
    src.write_bytes(orjson.dumps(line) + b"\n" + b'{"index": 1, "sta')
    out = tmp_path / "r.csv"
    assert write_csv(src, out) == 1
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["error"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["new_field"] == "7"


def test_csv_of_an_empty_run_has_the_header(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_bytes(b"")
    assert write_csv(tmp_path / "results.jsonl", tmp_path / "r.csv") == 0
    assert (tmp_path / "r.csv").read_text().strip() == ",".join(COLUMNS)


# ---- the command -------------------------------------------------------------------


def command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    return report_command.run(parser.parse_args(list(argv)))


def test_command_writes_report_and_csv(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    html, out = tmp_path / "new" / "r.html", tmp_path / "deep" / "r.csv"
    assert command(str(run_dir), "--html-report", str(html), "--csv", str(out)) == 0
    assert html.is_file()
    assert out.is_file()
    assert capsys.readouterr().out.splitlines() == [f"report: {html}", f"csv: {out} (42 rows)"]


@pytest.mark.parametrize("case", ["missing", "file", "own-results", "own-summary"])
def test_command_bad_input_is_one_line_and_exit_2(
    run_dir: Path, tmp_path: Path, capsys: Any, case: str
) -> None:
    before = (run_dir / "results.jsonl").read_bytes()
    argv = {
        "missing": [str(tmp_path / "nope")],
        "file": [str(run_dir / "summary.json")],
        "own-results": [str(run_dir), "--csv", str(run_dir / "results.jsonl")],
        "own-summary": [str(run_dir), "--html-report", str(run_dir / "summary.json")],
    }[case]
    assert command(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench report: error: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "nope").exists()  # a bad RUN_DIR is not created
    assert (run_dir / "results.jsonl").read_bytes() == before
    assert json.loads((run_dir / "summary.json").read_text())["requests"]["total"] == 42


@pytest.mark.parametrize("flag", ["--html-report", "--csv"])
def test_output_paths_are_checked_before_anything_runs(tmp_path: Path, flag: str) -> None:
    (tmp_path / "afile").write_text("")
    html, csv_ = (flag == "--html-report"), (flag == "--csv")
    for bad, message in (
        (tmp_path, "is a directory; give a file path"),
        (tmp_path / "afile" / "x", "afile is a file, not a directory"),
        (tmp_path / "afile" / "deeper" / "x", "afile is a file, not a directory"),
    ):
        paths = (str(bad) if html else None, str(bad) if csv_ else None)
        with pytest.raises(ConfigError, match=f"^{flag} .*{message}$"):
            report_command.check_output_paths(*paths)
    report_command.check_output_paths(str(tmp_path / "new" / "dir" / "r"), None)


def test_the_cli_knows_report_and_rejects_a_bad_dir_with_exit_2(
    tmp_path: Path, capsys: Any
) -> None:
    assert cli.main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["report", str(tmp_path), "--html-report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench report: error: --html-report ")
    assert err.count("\n") == 1


def test_after_a_run_a_failing_report_is_one_warning_not_a_traceback(
    run_dir: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Path:
        raise KeyError("boom")

    monkeypatch.setattr(report_command, "build_report", broken)
    out = tmp_path / "r.csv"
    lines = report_command.write_after_run(run_dir, None, str(out))
    assert lines == [f"csv: {out} (42 rows)"]  # the CSV still written
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "KeyError" in err
    assert f"llmbench report {run_dir}" in err
    assert (run_dir / "results.jsonl").is_file()
    assert (run_dir / "summary.json").is_file()


def test_after_a_run_the_default_report_goes_into_the_run_dir(run_dir: Path) -> None:
    assert report_command.write_after_run(run_dir, None, None) == [
        f"report: {run_dir / 'report.html'}"
    ]
    assert (run_dir / "report.html").is_file()


# ---- packaging ---------------------------------------------------------------------


def test_every_package_under_src_is_listed_for_the_wheel() -> None:
    """pyproject lists packages (to map vendor/echarts in); a new one must be added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT / "src").parts)
        for p in (ROOT / "src").rglob("__init__.py")
    }
    assert found <= set(config["packages"])
    assert config["package-dir"]["llmbench._vendor.echarts"] == "vendor/echarts"
    assert (ROOT / "vendor/echarts/echarts.min.js").is_file()


def test_the_ramp_and_the_offered_rate_reach_the_page(tmp_path: Path) -> None:
    # Issue 13 item 2: offered vs achieved rate, and the ramp kept apart, in the report.
    results = [ok_result(i, i * 0.05) for i in range(10)]
    summary = make_run(
        tmp_path / "run", results, ramp={"duration_s": 3.0, "requests": 60, "ok": 60}
    )
    summary["throughput"]["offered_rps"] = 40.0
    (tmp_path / "run" / "summary.json").write_bytes(orjson.dumps(summary))
    data = page_data(build_report(tmp_path / "run").read_text(encoding="utf-8"))
    assert data["throughput"]["offered_rps"] == 40.0
    assert data["ramp"] == {"duration_s": 3.0, "requests": 60, "ok": 60}
    js = (Path(report.__file__).parent / "report.js").read_text(encoding="utf-8")
    assert "offered_rps" in js
    assert "D.ramp" in js
