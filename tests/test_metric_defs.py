"""The metric table: one entry per metric, and every consumer reads it.

Each test takes the table as the truth and checks one consumer against it, so a
metric added to the table shows up in the Recorder, summary.json, the SLO names,
compare, the console, the report and the README without a second list to edit.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmbench import compare, console, slo
from llmbench.metric_defs import (
    HISTOGRAM_METRICS,
    METRICS,
    RUN_METRICS,
    STATS,
    console_rows,
    definitions,
    definitions_markdown,
    metric,
    results_fields,
)
from llmbench.metrics import HISTOGRAMS, Recorder
from llmbench.output import csv_export, report
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult

README = Path(__file__).resolve().parents[1] / "README.md"
MS = 1_000_000


def _result(**fields: object) -> RequestResult:
    base: dict[str, object] = dict(index=0, phase="measure", status="ok", t0_ns=0, end_ns=50 * MS)
    return RequestResult(**(base | fields))  # type: ignore[arg-type]


def test_names_and_keys_are_unique() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    assert len({m.key for m in METRICS}) == len(METRICS)
    assert metric("ttft").key == "ttft_ms"
    assert metric("requests_per_s").key == "requests_per_s"
    with pytest.raises(KeyError):
        metric("nope")


def test_every_descriptor_is_complete() -> None:
    for m in METRICS:
        assert m.label, m.name
        assert m.definition, m.name
        assert m.unit, m.name
        if m.source == "request":
            assert m.value is not None, m.name
        else:
            assert m.value is None, m.name
        if m.source == "run" and m.name != "error_rate":  # error_rate is computed
            assert m.path, m.name
            assert m.console_row is None, m.name
            assert not m.report_histogram, m.name
            assert m.results_column is None, m.name


def test_stats_follow_the_percentiles() -> None:
    assert STATS == ("min", "mean", "p50", "p75", "p90", "p95", "p99", "p99_9", "max")


def test_the_recorder_keeps_a_histogram_per_histogram_metric() -> None:
    assert tuple(m.key for m in HISTOGRAM_METRICS) == HISTOGRAMS
    assert set(Recorder().hist) == set(HISTOGRAMS)


def test_request_values_come_from_the_table() -> None:
    r = _result(
        intended_ns=-2 * MS, ttfb_ns=3 * MS, ttft_ns=5 * MS, latency_ns=25 * MS, output_tokens=5
    )
    values = {m.name: m.value(r) for m in HISTOGRAM_METRICS if m.value is not None}
    assert values == {
        "ttft": 5 * MS,
        "latency": 25 * MS,
        "ttfb": 3 * MS,
        "tpot": 5 * MS,
        "queue": 2 * MS,
        "ttft_from_intended": 7 * MS,
        "latency_from_intended": 27 * MS,
    }
    closed = _result(ttft_ns=5 * MS)
    assert metric("ttft_from_intended").value(closed) is None  # type: ignore[misc]


def test_the_recorder_records_each_request_metric() -> None:
    rec = Recorder()
    rec.record(
        _result(
            intended_ns=-2 * MS, ttfb_ns=3 * MS, ttft_ns=5 * MS, latency_ns=25 * MS,
            output_tokens=5, icl_ns=(5 * MS,) * 4,
        )
    )  # fmt: skip
    rec.record(_result(status="timeout", intended_ns=-40 * MS))
    hist = rec.hist
    for m in HISTOGRAM_METRICS:
        expected = 2 if m.failures_too else (4 if m.source == "gaps" else 1)
        assert hist[m.key].get_total_count() == expected, m.name
    assert rec.late_starts == 1


def test_results_lines_hold_the_table_fields_in_column_order() -> None:
    line = _result(ttft_ns=5 * MS, latency_ns=25 * MS, output_tokens=5).to_json(0)
    for m in HISTOGRAM_METRICS:
        assert (m.key in line) is (m.results_column is not None), m.name
    assert line["tpot_ms"] == 5.0
    figures = [key for key in line if key.endswith("_ms")]
    assert figures == [m.key for m in results_fields()]
    # The CSV's columns follow results.jsonl: a reader by position must not break.
    assert figures == ["queue_ms", "ttfb_ms", "ttft_ms", "latency_ms", "tpot_ms"]
    assert [c for c in csv_export.COLUMNS if c.endswith("_ms")] == figures


@pytest.mark.parametrize("open_loop", [False, True])
def test_the_summary_has_a_block_per_metric(open_loop: bool) -> None:
    rec = Recorder()
    rec.record(_result(ttft_ns=5 * MS, latency_ns=25 * MS, output_tokens=2, icl_ns=(20 * MS,)))
    summary = build_summary(rec.freeze(), run={}, config={}, open_loop=open_loop)
    for m in HISTOGRAM_METRICS:
        assert (m.key in summary) is (open_loop or not m.open_loop_only), m.name
    for m in RUN_METRICS:
        if m.path[:1] != ("goodput",):
            assert slo.METRICS[m.name].read(summary) is not None, m.name
    assert summary["definitions"] == definitions()
    assert set(definitions()) >= {m.key for m in METRICS} | {"t0", "wall_time"}


def test_slo_names_are_the_table_names() -> None:
    expected = {f"{m.name}_{s}" for m in HISTOGRAM_METRICS for s in STATS}
    expected |= {m.name for m in RUN_METRICS}
    assert set(slo.METRICS) == expected
    for m in RUN_METRICS:
        assert slo.METRICS[m.name].higher_is_better is m.higher_is_better
    assert tuple(m.name for m in HISTOGRAM_METRICS if m.goodput) == slo.GOODPUT_KEYS


def test_compare_judges_the_table_metrics() -> None:
    families = {name.rsplit("_", 1)[0] for name in compare.COMPARED if name in slo.METRICS}
    assert {m.name for m in HISTOGRAM_METRICS if m.compare != "never"} <= families
    assert {m.name for m in RUN_METRICS} <= set(compare.COMPARED)
    assert "queue_p50" not in compare.COMPARED  # compare: never


def test_console_rows_and_report_labels_come_from_the_table() -> None:
    assert tuple((m.label, m.key) for m in console_rows()) == console._ROWS
    assert [key for _, key in console._ROWS] == [
        "ttfb_ms", "ttft_ms", "tpot_ms", "itl_ms", "latency_ms",
        "queue_ms", "ttft_from_intended_ms", "latency_from_intended_ms",
    ]  # fmt: skip
    assert tuple(m.key for m in HISTOGRAM_METRICS if m.report_histogram) == report._HISTOGRAMS
    assert {m.key: m.label for m in METRICS} == report._LABELS


def test_the_readme_prints_the_table() -> None:
    """README's metric table is generated: paste `definitions_markdown()` when it changes."""
    text = README.read_text(encoding="utf-8")
    assert definitions_markdown() in text
    for m in METRICS:
        assert re.search(rf"\| `{m.key}` \|", text), m.key
