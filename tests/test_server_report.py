"""The report's Server section, without a browser: its data (output.server_report) from
summary.json's server block, checked and merged; absent when nothing was scraped;
hostile strings reach the page only inside the escaped JSON document. The page in
Chromium: tests/integration/test_report_server_browser.py."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from llmbench.output.report import build_report
from llmbench.output.server_report import REPORT_POINTS, server_report

ROOT = Path(__file__).resolve().parents[1]
DATA_RE = re.compile(r'<script type="application/json" id="llmbench-data">(.*?)</script>', re.S)
XSS = "</script><img src=x onerror=alert(1)>"


def block(n: int = 3) -> dict[str, Any]:
    return {
        "interval_s": 1.0,
        "time_limit_s": 1.0,
        "targets": [
            {
                "url": "http://h:8000/metrics",
                "engines": ["vllm"],
                "scrapes": n, "ok": n, "failed": 0, "failures": {}, "first_error": None,
                "scrape_ms": {"mean": 1.5, "max": 3.0},
                "t": [float(i) for i in range(n)],
                "series": [{
                    "family": "vllm:num_requests_running", "label": "Running requests",
                    "engine": "vllm", "read_as": "gauge", "unit": "requests", "chart": "running",
                    "labels": {"model_name": "m"}, "values": [float(i % 7) for i in range(n)],
                    "measured": {"min": 0, "mean": 3, "max": 6, "points": n},
                }],
                "dropped_series": 0,
            }
        ],
        "cross_check": {"families": ["vllm:generation_tokens"], "server_tokens_per_s": 10.0,
                        "client_tokens_per_s": 10.0, "client_unit": "tokens", "ratio": 1.0,
                        "tolerance": 0.1, "verdict": "agree", "note": "fine"},
    }  # fmt: skip


def test_no_block_no_section() -> None:
    for absent in (None, [], "x", {"targets": "nope"}, {}):
        assert server_report(absent) is None


def test_a_block_passes_through_as_drawn() -> None:
    data = server_report(block())
    assert data is not None
    target = data["targets"][0]
    assert target["t"] == [0.0, 1.0, 2.0]
    assert target["series"][0]["values"] == [0.0, 1.0, 2.0]
    assert target["series"][0]["chart"] == "running"
    assert data["cross_check"]["verdict"] == "agree"


def test_long_runs_are_merged_to_a_drawable_number_of_points() -> None:
    n = REPORT_POINTS * 3 + 5
    data = server_report(block(n))
    assert data is not None
    target = data["targets"][0]
    assert len(target["t"]) == len(target["series"][0]["values"]) <= REPORT_POINTS
    assert target["t"][1] == 4.0  # chunks of 4 points, each at its first time
    assert target["series"][0]["values"][0] == 1.5  # the mean of 0, 1, 2, 3


def test_merging_huge_values_does_not_overflow() -> None:
    raw = block(REPORT_POINTS * 2)
    raw["targets"][0]["series"][0]["values"] = [1.7e308] * (REPORT_POINTS * 2)
    data = server_report(raw)
    assert data is not None
    assert data["targets"][0]["series"][0]["values"][0] == 1.7e308


def test_resets_pass_through_and_stray_ones_are_dropped() -> None:
    raw = block()
    raw["targets"][0]["series"][0]["resets"] = 2
    raw["cross_check"]["counter_resets"] = 2
    data = server_report(raw)
    assert data is not None
    assert data["targets"][0]["series"][0]["resets"] == 2
    assert data["cross_check"]["counter_resets"] == 2
    raw["targets"][0]["series"][0]["resets"] = "many"
    data = server_report(raw)
    assert data is not None
    assert data["targets"][0]["series"][0]["resets"] is None


def test_stray_values_of_a_hand_edited_summary_are_dropped() -> None:
    bad = block()
    target = bad["targets"][0]
    target["t"] = [0, "1", None, float("nan"), True]
    target["series"][0]["values"] = ["x", {"a": 1}, 2]
    target["series"][0]["labels"] = ["not", "a", "dict"]
    target["failures"] = "timeout"
    target["url"] = {"not": "text"}
    bad["targets"].append("not a target")
    bad["cross_check"] = ["nope"]
    data = server_report(bad)
    assert data is not None
    (target,) = data["targets"]
    assert target["t"] == [0, None, None, None, None]
    assert target["series"][0]["values"] == [None, None, 2]
    assert target["series"][0]["labels"] == {}
    assert target["failures"] == {}
    assert target["url"] is None
    assert data["cross_check"] is None


def test_hostile_strings_stay_inside_the_data_document(tmp_path: Path) -> None:
    hostile = block()
    target = hostile["targets"][0]
    target["url"] = f"http://h/{XSS}"
    target["first_error"] = XSS
    target["series"][0]["family"] = XSS
    target["series"][0]["labels"] = {XSS: XSS}
    (tmp_path / "summary.json").write_text(
        json.dumps({"requests": {"total": 0, "ok": 0, "failed": 0}, "server": hostile})
    )
    html = build_report(tmp_path).read_text(encoding="utf-8")
    document = DATA_RE.search(html)
    assert document is not None
    assert XSS not in html  # every "<" of the data is escaped inside the document
    data = json.loads(document.group(1))
    assert data["server"]["targets"][0]["first_error"] == XSS


def test_a_summary_without_a_server_block_has_no_server_data(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"requests": {"total": 0, "ok": 0}}))
    html = build_report(tmp_path).read_text(encoding="utf-8")
    document = DATA_RE.search(html)
    assert document is not None
    assert json.loads(document.group(1))["server"] is None


def test_the_server_script_ships_with_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "report_server.js" in project["tool"]["setuptools"]["package-data"]["llmbench.output"]
    deps = project["project"]["dependencies"]
    assert any(d.startswith("prometheus-client") for d in deps)
