"""`llmbench sweep` end to end: the real CLI against the real mock, with a known capacity.

`llmbench mock --slots 32 --ttft-ms 50 --itl-ms 10 --tokens 64` holds a slot for
50 + 63 x 10 = 680 ms a request, so it sustains 32 / 0.68 = 47.06 req/s and queues
without bound past that: the ground truth the sweep's answer is checked against.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MockServer = Callable[..., str]

CAPACITY_RPS = 32 / (0.050 + 63 * 0.010)
SLOTS_MOCK = ("--slots", "32", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "64")
FAST_MOCK = ("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")
SWEEP_TIMEOUT_S = 240.0


def llmbench(*args: str, timeout: float = SWEEP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args], capture_output=True, text=True, timeout=timeout
    )


def sweep_json(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "sweep.json").read_text())
    return loaded


@pytest.mark.slow
def test_the_sweep_finds_the_capacity_of_a_server_with_32_slots(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server(*SLOTS_MOCK)
    out = tmp_path / "sweep"
    proc = llmbench("sweep", "--url", url, "--slo", "ttft_p95<=200ms", "--step-duration", "5",
                    "--probe-duration", "4", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sweep = sweep_json(out)
    answer = sweep["answer"]
    assert answer["found"] is True
    assert abs(answer["load"] - CAPACITY_RPS) <= 0.10 * CAPACITY_RPS, answer
    assert answer["text"] in proc.stdout
    steps = sweep["steps"]
    assert len(steps) == 8  # the default --steps: search and curve together
    verdicts = {s["verdict"] for s in steps}
    assert "ok" in verdicts
    assert verdicts & {"overloaded", "slo_failed"}
    # A step well past capacity (the search's first step up is 25% over) is cut short:
    # shorter than any step that ran its whole 5 s (and its requests' drain).
    early = [s["duration_s"] for s in steps if s["stop_reason"] == "overloaded"]
    full = [s["duration_s"] for s in steps if s["stop_reason"] == "duration"]
    assert early, steps
    assert full, steps
    assert max(early) < min(full), steps
    # The same seed for every step; each a complete run directory of its own.
    seeds = set()
    for step in steps:
        run_dir = out / step["dir"]
        assert (run_dir / "results.jsonl").is_file()
        assert (run_dir / "report.html").is_file()
        step_summary = json.loads((run_dir / "summary.json").read_text())
        seeds.add(step_summary["config"]["seed"])
        assert step_summary["config"]["rps"] == step["load"]
    assert seeds == {0}
    assert sweep["probe"]["achieved_rps"] == pytest.approx(CAPACITY_RPS, rel=0.15)
    rows = (out / "sweep.csv").read_text().splitlines()
    assert len(rows) == 1 + len(steps)
    assert (out / "report.html").read_text().lower().startswith("<!doctype html>")
    # One line per step as it finished, then the answer.
    assert (
        sum(1 for line in proc.stdout.splitlines() if line.strip().startswith(("search", "curve")))
        == 8
    )


def test_a_listed_sweep_runs_each_load_with_workers(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server(*FAST_MOCK)
    out = tmp_path / "sweep"
    proc = llmbench(
        "sweep",
        "--url",
        url,
        "--slo",
        "ttft_p95<=2s",
        "--loads",
        "5,10",
        "--step-duration",
        "2",
        "--workers",
        "2",
        "--quiet",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    sweep = sweep_json(out)
    assert [(s["load"], s["role"], s["verdict"]) for s in sweep["steps"]] == [
        (5, "list", "ok"),
        (10, "list", "ok"),
    ]
    assert sweep["probe"] is None  # a list needs no estimate
    for step in sweep["steps"]:
        merged = json.loads((out / step["dir"] / "summary.json").read_text())
        assert merged["run"]["workers"] == 2
    assert sweep["answer"]["load"] == 10
    assert proc.stdout.splitlines()[0] == sweep["answer"]["text"]  # --quiet: the answer only


def test_a_concurrency_sweep_where_nothing_passes_exits_1(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server(*FAST_MOCK)
    out = tmp_path / "sweep"
    proc = llmbench(
        "sweep",
        "--url",
        url,
        "--mode",
        "concurrency",
        "--slo",
        "ttft_p95<=0.001ms",
        "--step-requests",
        "20",
        "--min",
        "1",
        "--max",
        "4",
        "--out",
        str(out),
    )
    assert proc.returncode == 1, proc.stderr
    sweep = sweep_json(out)
    assert sweep["answer"]["found"] is False
    assert [s["load"] for s in sweep["steps"]] == [4, 2, 1]  # from the guess down to --min
    assert all(s["verdict"] == "slo_failed" for s in sweep["steps"])
    assert "no load met the SLOs: even concurrency 1 failed" in proc.stdout


def test_a_dead_server_stops_the_sweep_at_the_probe_with_exit_3(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "sweep"
    proc = llmbench("sweep", "--url", f"http://127.0.0.1:{port}", "--model", "m",
                    "--slo", "ttft_p95<=1s", "--out", str(out))  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "pre-flight request failed: connect_error" in proc.stderr
    assert sweep_json(out)["steps"] == []


def test_ctrl_c_keeps_the_finished_steps(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server(*FAST_MOCK)
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "llmbench", "sweep", "--url", url, "--slo", "ttft_p95<=2s",
           "--loads", "5,6,7,8", "--step-duration", "3", "--out", str(out)]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        began = time.monotonic()
        for line in proc.stdout:  # the first step's line: one finished, the next under way
            if line.strip().startswith("list"):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - began < 30
    sweep = sweep_json(out)
    assert sweep["interrupted"] == "SIGINT"
    assert [s["load"] for s in sweep["steps"]] == [5]  # the cut step is not a measurement
    assert (out / "report.html").is_file()
    assert (out / "sweep.csv").is_file()
    assert "max sustainable load: 5 req/s" in stdout


def test_an_overloaded_step_on_workers_ends_early_for_all_of_them(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # 90 req/s against a capacity of 47: each worker sees its queue grow (or TTFT p95 far
    # past twice the bound) within seconds, stops itself, and the merged step says so.
    url = mock_server(*SLOTS_MOCK)
    out = tmp_path / "sweep"
    proc = llmbench("sweep", "--url", url, "--slo", "ttft_p95<=200ms", "--loads", "90",
                    "--step-duration", "10", "--workers", "2", "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the one load failed: no answer
    (step,) = sweep_json(out)["steps"]
    assert step["verdict"] == "overloaded"
    assert step["stop_reason"] == "overloaded"
    assert step["duration_s"] < 8
    # whichever rule saw it first: the SLO missed by far, or the queue growing
    assert step["reasons"][0].startswith("stopped early: ")
    assert "ttft_p95 already" in step["reasons"][0] or "queue growing" in step["reasons"][0]
    merged = json.loads((out / step["dir"] / "summary.json").read_text())
    assert merged["run"]["overload"]
    assert merged["run"]["interrupted"] is False
    # the others get SIGTERM then SIGINT from the coordinator; pending together, Linux
    # delivers the lower-numbered SIGINT first, so either may name their stop
    assert {w["stop_reason"] for w in merged["workers"]} <= {"overloaded", "SIGTERM", "SIGINT"}


def test_a_run_given_the_sweeps_hidden_flag_stops_overloaded_with_exit_6(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server(*SLOTS_MOCK)
    out = tmp_path / "run"
    proc = llmbench(
        "run",
        "--url",
        url,
        "--rps",
        "90",
        "--duration",
        "10",
        "--slo",
        "ttft_p95<=200ms",
        "--stop-overloaded",
        "--quiet",
        "--out",
        str(out),
    )
    assert proc.returncode == 6, proc.stderr
    run = json.loads((out / "summary.json").read_text())["run"]
    assert run["stop_reason"] == "overloaded"
    assert run["wall_time_s"] < 8
    assert run["overload"].startswith(("ttft_p95 already", "TTFT p50 rose every second"))
    assert "--stop-overloaded" not in llmbench("run", "--help").stdout  # not for users


def test_a_sweep_kept_in_a_config_file_gives_its_steps_the_files_values(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server(*FAST_MOCK)
    config = tmp_path / "sweep.toml"
    config.write_text(
        f'url = "{url}"\nslo = ["ttft_p95<=2s"]\nloads = "4,8"\nstep-duration = 2\n'
        'seed = 7\noutput-tokens = 5\nmode = "rate"\n'
    )
    out = tmp_path / "sweep"
    proc = llmbench("sweep", "--config", str(config), "--seed", "9", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    steps = sweep_json(out)["steps"]
    assert [s["load"] for s in steps] == [4, 8]
    for step in steps:
        config_block = json.loads((out / step["dir"] / "summary.json").read_text())["config"]
        assert config_block["seed"] == 9  # the command line over the file
        assert config_block["output_tokens"] == 5  # the file's own value


def test_requests_longer_than_a_step_are_not_mistaken_for_an_overload(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # 3 s streams (300 tokens at 10 ms) in 2 s steps, against a mock with no limit: every
    # request finishes after its step stopped sending, and every load is sustained.
    url = mock_server("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "300")
    out = tmp_path / "sweep"
    proc = llmbench("sweep", "--url", url, "--slo", "ttft_p95<=500ms", "--loads", "2,5",
                    "--step-duration", "2", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = sweep_json(out)["steps"]
    assert [s["verdict"] for s in steps] == ["ok", "ok"]
    assert [s["achieved_rps"] for s in steps] == [
        pytest.approx(2, rel=0.3),
        pytest.approx(5, rel=0.3),
    ]


def test_sigterm_during_the_probes_pre_flight_ends_the_sweep_with_143(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # The pre-flight takes a second (TTFT 1 s): SIGTERM lands while the probe's event
    # loop waits for it, before the run's own signal handlers are in place.
    url = mock_server("--ttft-ms", "1000", "--itl-ms", "1", "--tokens", "4")
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "llmbench", "sweep", "--url", url, "--slo", "ttft_p95<=2s",
           "--step-duration", "2", "--out", str(out)]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("llmbench sweep")  # its handler is in
        time.sleep(0.6)  # the probe is preparing or in its 1 s pre-flight
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stdout + stderr
    assert "Traceback" not in stderr
    sweep = sweep_json(out)
    assert sweep["interrupted"] == "SIGTERM"
    assert sweep["steps"] == []
