"""Multi-turn sessions end to end (issue 16): the real CLI against the real mock, whose
simulated prefix cache (``--prefix-cache``) makes a later turn's TTFT fall (its history
was seen before) and whose Dify API keeps conversations by ``conversation_id``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MockServer = Callable[..., str]


def run(url: str, out: Path, *args: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--quiet", "--out", str(out),
         "--model", "mock", *args],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return lines, json.loads((out / "summary.json").read_text())


def test_a_later_turn_reuses_the_cached_history(mock_server: MockServer, tmp_path: Path) -> None:
    # 200-word turns, 40-token replies: turn 2's prompt is mostly turn 1's prompt and
    # reply, which the mock's cache has seen, so its TTFT is a fraction of turn 1's.
    url = mock_server("--ttft-ms", "200", "--itl-ms", "1", "--tokens", "40", "--prefix-cache")
    lines, summary = run(
        url, tmp_path / "run", "--turns", "3", "--input-tokens", "200", "--concurrency", "4",
        "--requests", "4", "--think-time", "0.05",
    )  # fmt: skip
    assert summary["requests"]["total"] == 12
    assert {line["status"] for line in lines} == {"ok"}
    assert sorted((line["session"], line["turn"]) for line in lines) == [
        (s, t) for s in range(4) for t in (1, 2, 3)
    ]
    by_turn: dict[int, list[float]] = {}
    for line in lines:
        by_turn.setdefault(line["turn"], []).append(line["ttft_ms"])
    # nothing cached: the mock's full 200 ms (the pre-flight sent a session the run
    # never sends, so it warmed none of its prompts)
    assert min(by_turn[1]) > 150
    assert max(by_turn[2]) < 0.6 * min(by_turn[1])
    # the server saw the history: turn k's prompt holds every turn and reply before it
    inputs = {line["turn"]: line["server_input_tokens"] for line in lines if line["session"] == 0}
    assert inputs[1] < inputs[2] < inputs[3]
    assert inputs[2] >= inputs[1] + 40 + 200


def test_dify_sessions_thread_the_servers_conversation(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8", "--format", "dify")
    sessions = tmp_path / "chats.jsonl"
    sessions.write_text(
        json.dumps({"turns": ["hello there", "and then?", "thanks"]}) + "\n"
        + json.dumps({"turns": ["one question only"]}) + "\n"
    )  # fmt: skip
    lines, _ = run(
        url, tmp_path / "run", "--provider", "dify", "--prompts-file", str(sessions),
        "--requests", "4", "--concurrency", "2",
    )  # fmt: skip
    assert {line["status"] for line in lines} == {"ok"}
    assert len(lines) == 8  # sessions 0 and 2 have 3 turns, 1 and 3 one
    for session in range(4):
        ids = {line["conversation_id"] for line in lines if line["session"] == session}
        assert len(ids) == 1  # every turn in the conversation turn 1 started
    assert len({line["conversation_id"] for line in lines}) == 4


def test_a_shared_prefix_starts_every_session(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server("--ttft-ms", "150", "--itl-ms", "1", "--tokens", "4", "--prefix-cache")
    lines, summary = run(
        url, tmp_path / "run", "--turns", "2", "--input-tokens", "20", "--prefix-tokens", "200",
        "--prefix-groups", "2", "--requests", "6",
    )  # fmt: skip
    firsts = sorted((line["session"], line["prefix_group"], line["prefix_first"])
                    for line in lines if line["turn"] == 1)  # fmt: skip
    assert firsts == [(s, s % 2, s < 2) for s in range(6)]
    later = [line for line in lines if line["turn"] == 2]
    assert not any("prefix_group" in line for line in later)  # measured on turn 1 only
    cold = [line["ttft_ms"] for line in lines if line.get("prefix_first")]
    warm = [line["ttft_ms"] for line in lines if line["turn"] == 1 and not line["prefix_first"]]
    assert min(cold) > 120
    assert max(warm) < 0.5 * min(cold)
    assert summary["prefixes"]["first_use"]["requests"] == 2
