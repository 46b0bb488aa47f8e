"""Tests for llmbench.console: what the final table says, in words a reader can act on."""

from __future__ import annotations

from typing import Any

from llmbench.console import live_line, summary_table
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
    summary = build_summary(rec, run={"token_unit": unit}, config={"url": "u"}, open_loop=open_loop)
    return summary_table(summary | extra)


def test_open_loop_table_says_which_rows_include_queueing_and_counts_late_starts() -> None:
    out = table(recorder(queue_ms=(0, 3, 25, 40)), open_loop=True)
    assert "TTFT from intended (ms)" in out
    assert "service time, from the moment each request was sent" in out
    assert "from the scheduled send time, client-side queueing included" in out
    assert "Late starts: 2 of 4 requests sent more than 10 ms after their scheduled time." in out


def test_closed_loop_table_has_no_open_loop_notes() -> None:
    out = table(recorder(), open_loop=False)
    assert "Late starts" not in out
    assert "from intended" not in out


def test_goodput_line() -> None:
    goodput = {"requests_per_s": 12.5, "ratio": 0.75, "good": 3, "total": 4,
               "criteria": {"ttft_ms": 500.0}}  # fmt: skip
    out = table(recorder(), open_loop=False, goodput=goodput)
    assert "Goodput: 12.50 req/s, 75.0% of requests (3/4) met {'ttft_ms': 500.0}" in out


def test_chars_mode_never_calls_the_counts_tokens() -> None:
    out = table(recorder(), open_loop=False, unit="chars")
    assert "Chars: 0 input, 40 output" in out
    assert "output chars/s" in out
    assert "tok/s" not in out
    assert "chars/s" in live_line(1.0, recorder(), 0, 4, "chars")
    assert "tok/s" in live_line(1.0, recorder(), 0, 4)
