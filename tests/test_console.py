"""Tests for llmbench.console: what the final table says, in words a reader can act on."""

from __future__ import annotations

import itertools
from typing import Any

from llmbench.console import live_line, summary_table, unmeasured_line
from llmbench.metrics import Recorder
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult

MS = 1_000_000


def recorder(queue_ms: tuple[int, ...] = ()) -> Recorder:
    rec = Recorder()
    rec.set_origin(0)
    for i, q in enumerate(queue_ms or (0, 0, 0, 0)):
        intended = i * 10 * MS - q * MS if queue_ms else None
        rec.on_start(i * 10 * MS)
        rec.record(
            RequestResult(
                index=i, phase="measure", status="ok", t0_ns=i * 10 * MS,
                end_ns=i * 10 * MS + 200 * MS, intended_ns=intended,
                ttft_ns=50 * MS, latency_ns=200 * MS, output_tokens=10, token_source="usage",
            )
        )  # fmt: skip
    return rec


def table(rec: Recorder, *, open_loop: bool, unit: str = "tokens", **extra: Any) -> str:
    summary = build_summary(
        rec.freeze(), run={"token_unit": unit}, config={"url": "u"}, open_loop=open_loop
    )
    return summary_table(summary | extra)


def test_open_loop_table_says_which_rows_include_queueing_and_counts_late_starts() -> None:
    out = table(recorder(queue_ms=(0, 3, 25, 40)), open_loop=True)
    assert "TTFT from intended (ms)" in out
    assert "service time, from the moment each request was sent" in out
    assert "from the scheduled send time, client-side queueing included" in out
    assert "Late starts: 2 of 4 requests sent more than 10 ms after their scheduled time." in out


def test_open_loop_throughput_line_shows_the_offered_rate_and_arrival_process() -> None:
    rec = recorder(queue_ms=(0, 3, 25, 40))
    summary = build_summary(
        rec.freeze(), run={}, config={"arrival": "constant"}, open_loop=True, offered_rps=40.0
    )
    line = summary_table(summary).splitlines()[1]
    assert line.startswith("Throughput: ")
    assert line.endswith(" (offered 40.0 req/s, constant arrivals)")


def test_an_open_loop_of_sessions_offers_new_sessions_a_second() -> None:
    # issue 16: --rps starts sessions, and the cap holds back sessions, not requests
    rec = recorder(queue_ms=(0, 3, 25, 40))
    summary = build_summary(
        rec.freeze(), run={}, config={"arrival": "poisson"}, open_loop=True, offered_rps=2.0,
        never_sent=3,
    )  # fmt: skip
    summary["sessions"] = {
        "total": 4, "ended": {"completed": 4, "failed": 0, "stopped": 0},
        "turns": {"planned": 8, "sent": 8, "unsent": 0, "ok": 8},
    }  # fmt: skip
    out = summary_table(summary)
    assert out.splitlines()[1].endswith(" (offered 2.0 new sessions/s, poisson arrivals)")
    assert "Never sent: 3 sessions were due before the run stopped" in out


def test_closed_loop_throughput_line_offers_nothing() -> None:
    assert "offered" not in table(recorder(), open_loop=False)


def test_closed_loop_table_has_no_open_loop_notes() -> None:
    out = table(recorder(), open_loop=False)
    assert "Late starts" not in out
    assert "from intended" not in out


def test_goodput_line() -> None:
    goodput = {"requests_per_s": 12.5, "ratio": 0.75, "good": 3, "total": 4,
               "criteria": {"ttft_ms": 500.0}}  # fmt: skip
    out = table(recorder(), open_loop=False, goodput=goodput)
    assert "Goodput: 12.50 req/s, 75.0% of requests (3/4) met ttft ≤ 500 ms" in out


def test_goodput_criteria_read_as_bounds_not_a_python_dict() -> None:
    goodput = {"requests_per_s": 1.0, "ratio": 0.5, "good": 2, "total": 4,
               "criteria": {"ttft_ms": 500.0, "tpot_ms": 50.0, "latency_ms": 10000.0}}  # fmt: skip
    out = table(recorder(), open_loop=False, goodput=goodput)
    assert out.splitlines()[-1].endswith("met ttft ≤ 500 ms, tpot ≤ 50 ms, latency ≤ 10000 ms")
    assert "{" not in out


def test_every_number_stays_under_its_heading_with_the_longest_label() -> None:
    out = table(recorder(queue_ms=(0, 3, 25, 40)), open_loop=True)
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    rows = [lines[head], *itertools.takewhile(lambda line: "(ms)" in line, lines[head + 1 :])]
    assert rows[-1].startswith("Latency from intended (ms)")
    assert len(rows) > 5
    assert len({len(line) for line in rows}) == 1  # every row as wide as the heading
    for column in ("p50", "p90", "p95", "p99", "max"):
        end = rows[0].index(column) + len(column)
        assert all(row[end - 1].isdigit() for row in rows[1:]), column


def test_a_run_where_nothing_succeeded_says_so_instead_of_an_empty_table() -> None:
    rec = Recorder()
    rec.set_origin(0)
    rec.on_start(0)
    rec.record(RequestResult(0, "measure", "connect_error", 0, 0, error="refused"))
    out = table(rec, open_loop=False)
    assert "no request succeeded: no latency figures" in out
    assert "metric" not in out
    assert "p50" not in out


def test_chars_mode_never_calls_the_counts_tokens() -> None:
    out = table(recorder(), open_loop=False, unit="chars")
    assert "Chars: 0 input, 40 output" in out
    assert "output chars/s" in out
    assert "tok/s" not in out
    assert "chars/s" in live_line(1.0, recorder(), 0, 4, "chars")
    assert "tok/s" in live_line(1.0, recorder(), 0, 4)


def test_live_line_rates_are_of_the_last_full_second_and_the_average_is_labelled() -> None:
    # The demo's shape: 14 requests in second 0, then 50 a second.
    rec = Recorder()
    rec.set_origin(0)
    lines = []
    for second, count in enumerate((14, 50, 50)):
        for i in range(count):
            end_ns = second * 1_000 * MS + 500 * MS
            rec.on_start(0)
            rec.record(
                RequestResult(
                    index=i, phase="measure", status="ok", t0_ns=0, end_ns=end_ns,
                    ttft_ns=50 * MS, latency_ns=end_ns, output_tokens=10, token_source="usage",
                )
            )  # fmt: skip
        lines.append(live_line(second + 1.0, rec, 0, 4))
    assert "| 14.0 req/s (avg 14.0) | 140 tok/s (avg 140) |" in lines[0]
    assert "| 50.0 req/s (avg 32.0) | 500 tok/s (avg 320) |" in lines[1]
    assert "| 50.0 req/s (avg 38.0) | 500 tok/s (avg 380) |" in lines[2]
    assert "| - req/s (avg 0.0) | - tok/s (avg 0) |" in live_line(0.5, Recorder(), 0, 4)


def test_an_unmeasured_phase_has_a_line_without_figures() -> None:
    assert unmeasured_line(2.0, "warmup", 1234, 8, 16) == (
        "[   2.0s] warm-up (not measured) | in-flight 8/16 | sent 1,234"
    )
    assert unmeasured_line(0.5, "ramp", 3, 3, 16).startswith("[   0.5s] ramp-up (not measured)")
