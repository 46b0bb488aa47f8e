"""report.html's Workload section without a browser: what reaches the page's data, and
what a hand-made summary cannot make it carry (see
tests/integration/test_report_workload_browser.py for the section in real Chromium).
The run directories made here are that test's fixtures too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

from llmbench.breakdowns import GROUPS_KEPT, TURNS_KEPT
from llmbench.metrics import Recorder
from llmbench.output.report import build_report
from llmbench.output.summary import build_summary
from llmbench.result import RequestResult, SessionEnd, SessionResult, Status

MS = 1_000_000
S = 1_000_000_000
SCRIPT_BREAKER = "</script><script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(2)>"
DATA_RE = re.compile(
    r'<script type="application/json" id="llmbench-data">(.*?)</script>', re.DOTALL
)
# Turn 1 slow (a cold prompt), later turns fast (a warm prefix cache); TTFT in ms.
TURN_TTFT_MS = {1: 400, 2: 60, 3: 50, 4: 45}
SESSIONS = 12
GROUPS = 3


def write_run(
    run_dir: Path,
    results: list[RequestResult],
    sessions: list[SessionResult],
    config: dict[str, Any],
) -> dict[str, Any]:
    """A run directory as `llmbench run` leaves it, through the real Recorder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    rec.set_origin(0)
    for r in sorted(results, key=lambda r: r.t0_ns):
        rec.on_start(r.t0_ns)
    with (run_dir / "results.jsonl").open("wb") as fh:
        for r in sorted(results, key=lambda r: r.end_ns):
            rec.record(r)
            fh.write(orjson.dumps(r.to_json(0)) + b"\n")
    for s in sessions:
        rec.record_session(s)
    summary = build_summary(
        rec.freeze(),
        run={"llmbench_version": "0.1.0", "started_at": "2026-01-01T00:00:00+00:00",
             "interrupted": False, "stop_reason": "done", "token_unit": "tokens"},
        config={"url": "http://127.0.0.1:1", "provider": "openai-chat", "model": "m",
                "concurrency": 4, **config},
        open_loop=False,
    )  # fmt: skip
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary))
    return summary


def session_run(run_dir: Path) -> dict[str, Any]:
    """12 sessions of 4 turns over 3 shared prefixes; the last session stopped after
    two turns; one turn-2 request timed out (its session failed). Every request but
    the failure carries the server's prompt count."""
    results: list[RequestResult] = []
    sessions: list[SessionResult] = []
    index = 0
    for number in range(SESSIONS):
        t = start = number * 100 * MS
        turns = 2 if number == SESSIONS - 1 else 4
        failed = number == 5
        sent = 0
        for turn in range(1, turns + 1):
            ttft = (TURN_TTFT_MS[turn] + number) * MS
            status: Status = "timeout" if failed and turn == 2 else "ok"
            results.append(RequestResult(
                index, "measure", status, t, t + ttft + 200 * MS, ttft_ns=ttft,
                latency_ns=ttft + 200 * MS, output_tokens=20, input_tokens=90 * turn,
                token_source="usage", chunks=20, session=number, turn=turn,
                server_input_tokens=None if status != "ok" else 100 * turn + 28,
                prefix_group=number % GROUPS, prefix_first=number < GROUPS and turn == 1,
            ))  # fmt: skip
            index += 1
            sent += 1
            t += ttft + 250 * MS
            if status != "ok":
                break
        end: SessionEnd = "failed" if failed else "stopped" if turns == 2 else "completed"
        ok = sent - 1 if failed else sent
        sessions.append(SessionResult(number, "measure", 4, sent, ok, start, t, end))
    return write_run(run_dir, results, sessions, {"input_tokens": "128:16", "prefix_tokens": 64})


def plain_run(run_dir: Path) -> dict[str, Any]:
    """Single requests, and a server that sends no usage: no workload block at all."""
    results = [
        RequestResult(i, "measure", "ok", i * 50 * MS, i * 50 * MS + 300 * MS,
                      ttft_ns=80 * MS, latency_ns=300 * MS, output_tokens=16, chunks=16)
        for i in range(20)
    ]  # fmt: skip
    return write_run(run_dir, results, [], {})


def hostile_blocks() -> dict[str, Any]:
    """Workload blocks as a hand-edited summary may have them: markup in every string,
    keys that name JavaScript builtins, text where numbers go, rows that are not rows."""
    stats = {"p50": SCRIPT_BREAKER, "p99": 12.5, "mean": "1e9", "__proto__": {"p50": 1}}
    return {
        "turns": {
            "kept": IMG_XSS,
            "rows": [
                {"turn": IMG_XSS, "requests": "5", "ok": 3, "ttft_ms": stats,
                 "latency_ms": [1, 2], "input_tokens_mean": SCRIPT_BREAKER,
                 "input_tokens_from": IMG_XSS},
                {"turn": {"constructor": 1}, "ttft_ms": {"p50": 10, "p99": 20}},
                "not a row", 7, None,
                {"turn": "__proto__", "ttft_ms": {"p50": 11, "p99": 21}},
            ],
            "later": {"turn": SCRIPT_BREAKER},
        },
        "prefixes": {
            "groups": [{"group": SCRIPT_BREAKER, "requests": 1}, {"group": "constructor"}],
            "first_use": {"ttft_ms": {"p50": IMG_XSS}},
            "reuse": "text",
        },
        "sessions": {
            "total": SCRIPT_BREAKER, "ended": {"completed": IMG_XSS, "__proto__": 3},
            "turns": [1, 2], "turns_ok_per_session": {"mean": "x"}, "duration_s": IMG_XSS,
        },
        "input_lengths": {
            "source": SCRIPT_BREAKER, "requests": 3, "p50": IMG_XSS,
            "asked": {"input_tokens": f"{IMG_XSS}:{SCRIPT_BREAKER}", "prefix_tokens": ["x"]},
        },
    }  # fmt: skip


def hostile_run(run_dir: Path) -> None:
    plain_run(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(hostile_blocks())
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary))


def page_data(html: Path) -> dict[str, Any]:
    match = DATA_RE.search(html.read_text(encoding="utf-8"))
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


# -- what reaches the page ----------------------------------------------------------------


def test_the_workload_blocks_reach_the_page_as_the_summary_has_them(tmp_path: Path) -> None:
    summary = session_run(tmp_path)
    data = page_data(build_report(tmp_path))
    blocks = data["breakdowns"]
    assert set(blocks) == {"turns", "prefixes", "sessions", "input_lengths"}
    for name, block in blocks.items():
        assert block == summary[name], name
    assert [r["turn"] for r in blocks["turns"]["rows"]] == [1, 2, 3, 4]
    assert blocks["sessions"]["ended"] == {"completed": 10, "failed": 1, "stopped": 1}
    assert blocks["input_lengths"]["asked"] == {"input_tokens": "128:16", "prefix_tokens": 64}


def test_a_plain_run_has_no_workload_data(tmp_path: Path) -> None:
    plain_run(tmp_path)
    assert page_data(build_report(tmp_path))["breakdowns"] == {}


def test_a_hand_made_summary_cannot_make_the_page_large(tmp_path: Path) -> None:
    plain_run(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["turns"] = {"rows": [{"turn": i} for i in range(10_000)]}
    summary["prefixes"] = {"groups": [{"group": i} for i in range(50_000)] + ["x"]}
    summary["sessions"] = ["not", "an", "object"]
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    blocks = page_data(build_report(tmp_path))["breakdowns"]
    assert len(blocks["turns"]["rows"]) == TURNS_KEPT + 1
    assert len(blocks["prefixes"]["groups"]) == GROUPS_KEPT + 1
    assert "sessions" not in blocks


def test_hostile_strings_in_the_blocks_stay_inside_the_data_element(tmp_path: Path) -> None:
    hostile_run(tmp_path)
    html = build_report(tmp_path)
    text = html.read_text(encoding="utf-8")
    assert text.count("<script") == 4  # data, ECharts, report_common.js, report.js
    assert text.lower().count("</script") == 4
    data = page_data(html)
    assert data["breakdowns"]["turns"]["rows"][0]["turn"] == IMG_XSS
    assert data["breakdowns"]["input_lengths"]["source"] == SCRIPT_BREAKER
