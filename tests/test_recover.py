"""Tests for llmbench.output.recover: a killed run's summary, rebuilt from results.jsonl
through the real Recorder and build_summary, agrees with the one the run would have written."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmbench.metric_defs import HISTOGRAM_METRICS
from llmbench.metrics import Recorder
from llmbench.output.recover import STOP_REASON, recover_summary, result_from_line
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult

MS = 1_000_000
S = 1_000_000_000
WARMUP_S = 2  # the measured phase starts this long after the run (and results.jsonl's t=0)


def ok(index: int, t0_ms: int, latency_ms: int = 300, **kw: Any) -> RequestResult:
    fields: dict[str, Any] = {
        "ttfb_ns": 5 * MS, "ttft_ns": 40 * MS, "latency_ns": latency_ms * MS,
        "output_tokens": 26, "input_tokens": 12, "token_source": "usage", "chunks": 26,
        "http_status": 200, "end_reason": "stop",
    } | kw  # fmt: skip
    t0 = WARMUP_S * S + t0_ms * MS
    return RequestResult(index, "measure", "ok", t0, t0 + latency_ms * MS, **fields)


def failed(index: int, t0_ms: int, status: str = "http_error", **kw: Any) -> RequestResult:
    t0 = WARMUP_S * S + t0_ms * MS
    fields: dict[str, Any] = {"http_status": 503, "error": "HTTP 503: busy"} | kw
    return RequestResult(index, "measure", status, t0, t0 + 2 * MS, **fields)  # type: ignore[arg-type]


def live(results: list[RequestResult], open_loop: bool = False) -> tuple[dict[str, Any], list[Any]]:
    """What the run computed (starts and ends interleaved in time, as they happened)
    and the results.jsonl lines it wrote (in the order requests ended)."""
    rec = Recorder()
    rec.set_origin(min(r.t0_ns for r in results))
    events = sorted(
        [(r.t0_ns, 0, r) for r in results] + [(r.end_ns, 1, r) for r in results],
        key=lambda e: (e[0], e[1]),
    )
    lines = []
    for _, kind, r in events:
        if kind == 0:
            rec.on_start(r.t0_ns)
        else:
            rec.record(r)
            lines.append(orjson.loads(orjson.dumps(r.to_json(0))))
    summary = build_summary(rec.freeze(), run={}, config={"url": "u"}, open_loop=open_loop)
    return summary, lines


def recovered(lines: list[Any]) -> dict[str, Any]:
    return recover_summary(iter(lines), iter(lines))


def steady_run() -> list[RequestResult]:
    """8 in flight for 3 s, then a tail; every duration a whole number of milliseconds."""
    results = [ok(i, (i // 8) * 310 + i % 8, 300 + (i * 37) % 200) for i in range(80)]
    results += [failed(80 + i, 500 * i) for i in range(5)]
    return results


def test_the_figures_equal_the_live_runs() -> None:
    truth, lines = live(steady_run())
    got = recovered(lines)
    for key in ("requests", "throughput", "errors", "timeseries"):
        assert got[key] == truth[key], key
    assert got["tokens"] == truth["tokens"] | {"mode": "unknown"}  # --token-mode is config
    for m in HISTOGRAM_METRICS:
        if m.source == "request" and not m.open_loop_only:
            assert got[m.key] == truth[m.key], m.key
    assert got["run"]["wall_time_s"] == truth["run"]["wall_time_s"]


def test_it_says_it_was_recovered_and_what_is_missing() -> None:
    _, lines = live(steady_run())
    got = recovered(lines)
    run = got["run"]
    assert (run["recovered"], run["interrupted"], run["stop_reason"]) == (True, True, STOP_REASON)
    assert run["recovery"]["lines"] == 85
    assert run["measured_start_s"] == WARMUP_S  # where the over-time series start
    assert got["config"] == {}
    assert got["itl_ms"] is None
    assert got["icl_ms"] is None
    assert any("no per-token gaps" in note for note in run["recovery"]["notes"])
    assert got["samples"] == {"first_frame": None, "last_frame": None}
    assert "goodput" not in got
    assert got["slo"] is None


def test_warmup_torn_and_startless_lines_are_left_out() -> None:
    _, lines = live(steady_run())
    warm = {**lines[0], "phase": "warmup", "start_s": 0.1}
    got = recovered([warm, *lines, {"index": 99, "status": "ok"}, {"start_s": "x"}])
    assert got["requests"]["total"] == 85


def test_open_loop_is_recognised_by_its_queue_times() -> None:
    results = [
        ok(i, i * 25, intended_ns=WARMUP_S * S + i * 25 * MS - (i % 3) * MS) for i in range(40)
    ]
    truth, lines = live(results, open_loop=True)
    got = recovered(lines)
    assert got["queue_ms"] == truth["queue_ms"]
    assert got["ttft_from_intended_ms"] == truth["ttft_from_intended_ms"]
    assert got["late_starts"] == truth["late_starts"]
    assert "queue_ms" not in recovered(live(steady_run())[1])


def test_a_failure_with_no_duration_ends_no_earlier_than_the_line_before_it() -> None:
    line = failed(5, 100).to_json(0)
    assert line["latency_ms"] is None
    alone = result_from_line(line)
    assert alone is not None
    assert alone.end_ns == alone.t0_ns == (WARMUP_S * S + 100 * MS)
    after = result_from_line(line, not_before_ns=WARMUP_S * S + 900 * MS)
    assert after is not None
    assert after.end_ns == WARMUP_S * S + 900 * MS


def test_a_line_round_trips_to_its_request() -> None:
    original = ok(3, 120, 450, key_index=2, attempts=2, retry_errors=("timeout",), meta_events=1)
    back = result_from_line(original.to_json(0))
    assert back is not None
    assert back.to_json(0) == original.to_json(0)
    assert back.tpot_ns == pytest.approx(original.tpot_ns)


def test_listed_gaps_are_used_when_a_line_has_them() -> None:
    line = {**ok(0, 0).to_json(0), "itl_ms": [10.0, 0.0, 12.5]}
    result = result_from_line(line)
    assert result is not None
    assert result.icl_ns == (10 * MS, 0, 12_500_000)
    got = recovered([line])
    assert got["itl_ms"]["count"] == 3
    assert not any("no per-token gaps" in note for note in got["run"]["recovery"]["notes"])


def test_an_empty_or_warmup_only_file_recovers_to_nothing_measured() -> None:
    got = recovered([])
    assert got["requests"]["total"] == 0
    assert got["run"]["measured_start_s"] is None
    assert got["timeseries"] == []


def test_chars_only_counts_say_chars() -> None:
    _, lines = live([ok(i, i * 10, token_source="chars") for i in range(3)])
    assert recovered(lines)["run"]["token_unit"] == "chars"


def test_the_workload_figures_are_recovered_too() -> None:
    # issue 16: per-turn, per-prefix and server input-length figures come from the lines
    results = [
        ok(i, i * 400, session=i // 2, turn=i % 2 + 1, prefix_group=i % 3,
           prefix_first=i < 3, server_input_tokens=100 + 50 * (i % 2))
        for i in range(12)
    ]  # fmt: skip
    truth, lines = live(results)
    got = recovered(lines)
    for key in ("turns", "prefixes", "input_lengths"):
        assert got[key] == truth[key], key
    assert "sessions" not in got  # a session's outcome has no line of its own


def test_hostile_workload_labels_are_dropped_not_trusted() -> None:
    line = ok(0, 0).to_json(0) | {
        "server_input_tokens": 10**30, "turn": True, "prefix_group": "1", "prefix_first": 1,
    }  # fmt: skip
    result = result_from_line(line)
    assert result is not None
    assert (result.server_input_tokens, result.turn, result.prefix_group) == (None, None, None)
    assert result.prefix_first is None
