"""`llmbench sweep` flags: every bad one is one line and exit 2, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.cli import main
from llmbench.sweep_options import run_tokens

URL = "http://127.0.0.1:9"  # never contacted: each case stops before the first step


def sweep(capsys: pytest.CaptureFixture[str], tmp_path: Path, *flags: str) -> tuple[int, str]:
    code = main(["sweep", "--url", URL, "--out", str(tmp_path / "sw"), *flags])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "give at least one --slo or --goodput"),
        (("--slo", "ttft_p95<=1s", "--rps", "5"), "--rps: the sweep sets each step's rate"),
        (("--slo", "ttft_p95<=1s", "--duration", "5"), "--duration: give --step-duration"),
        (("--slo", "ttft_p95<=1s", "--requests", "5"), "--requests: give --step-requests"),
        (("--slo", "ttft_p95<=1s", "--shard", "0/2"), "--shard: a sweep is one process"),
        (("--slo", "ttft_p95<=1s", "--junit", "j.xml"), "--junit:"),
        (("--slo", "ttft_p95<=1s", "--csv"), "--csv:"),
        (
            ("--slo", "ttft_p95<=1s", "--mode", "concurrency", "--concurrency", "4"),
            "--concurrency: the sweep sets each step's",
        ),
        (("--slo", "ttft_p95<=1s", "--goodput-target", "90"), "--goodput-target needs --goodput"),
        (
            ("--goodput", "ttft:1s", "--goodput-target", "0"),
            "--goodput-target: a percentage above 0",
        ),
        (
            ("--slo", "ttft_p95<=1s", "--step-duration", "5", "--step-requests", "9"),
            "--step-duration and --step-requests are alternatives",
        ),
        (("--slo", "ttft_p95<=1s", "--step-duration", "0.5"), "--step-duration: from 1"),
        (("--slo", "ttft_p95<=1s", "--steps", "1"), "--steps: from 2 to 50"),
        (("--slo", "ttft_p95<=1s", "--tolerance", "0.1%"), "--tolerance: from 0.5 to 50"),
        (("--slo", "ttft_p95<=1s", "--min", "10", "--max", "5"), "--min 10 must be below --max 5"),
        (("--slo", "ttft_p95<=1s", "--max", "0"), "--max: a rate from"),
        (
            ("--slo", "ttft_p95<=1s", "--mode", "concurrency", "--max", "2.5"),
            "--max: a concurrency",
        ),
        (("--slo", "ttft_p95<=1s", "--loads", "10,x"), "--loads: not a number: 'x'"),
        (("--slo", "ttft_p95<=1s", "--loads", "10,10"), "--loads: a load is given twice"),
        (("--slo", "ttft_p95<=1s", "--loads", "10,-1"), "--loads: a rate from"),
        (("--slo", "ttft_p95<=1s", "--loads", "10", "--steps", "4"), "drop --steps"),
        (("--slo", "ttft_p95<=1s", "--probe-concurrency", "0"), "--probe-concurrency: from 1"),
        (("--slo", "ttft_nope<=1s"), "unknown SLO metric"),
        (
            ("--mode", "concurrency", "--slo", "queue_p95<=1s"),
            "measured only in open loop",
        ),
        (("--slo", "ttft_p95<=1s", "--extra-body", "[1]"), "--extra-body"),
        (("--slo", "ttft_p95<=1s", "--mode", "concurrency", "--loads", "inf"), "a concurrency"),
        (("--slo", "ttft_p95<=1s", "--mode", "concurrency", "--loads", "1e400"), "a concurrency"),
        (("--slo", "ttft_p95<=1s", "--coordinated"), "--coordinated: not a sweep flag"),
        (("--slo", "ttft_p95<=1s", "--trace", "t.jsonl"), "--trace: a trace sets its own load"),
        (("--slo", "ttft_p95<=1s", "--stop-overloaded"), "--stop-overloaded: not a sweep flag"),
        (("--slo", "ttft_p95<=1s", "--turns", "3"), "--turns: the sweep steps request rates"),
        (("--slo", "ttft_p95<=1s", "--think-time", "1"), "--think-time: the sweep steps"),
    ],
)
def test_bad_sweep_flags_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    code, err = sweep(capsys, tmp_path, *flags)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "sw").exists()  # nothing created before the checks passed


def test_a_non_finite_load_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exc:
        sweep(capsys, tmp_path, "--slo", "ttft_p95<=1s", "--max", "inf")
    assert exc.value.code == 2
    assert "not a finite number: 'inf'" in capsys.readouterr().err


def test_the_sweeps_own_flags_never_reach_a_step() -> None:
    argv = ["--url", "u", "--mode", "rate", "--min=5", "--max", "9", "--slo", "x<=1",
            "--loads", "1,2", "--step-duration", "3", "--out", "d", "--concurrency", "64",
            "--goodput-target", "90", "--probe-concurrency", "8", "--probe-duration", "2",
            "--tolerance", "5", "--steps", "4", "--step-requests", "7"]  # fmt: skip
    assert run_tokens(argv) == ["--url", "u", "--slo", "x<=1", "--concurrency", "64"]


def test_print_config_lints_as_the_sweep_would(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "s.toml"
    config.write_text('url = "http://127.0.0.1:9"\nslo = "ttft_p95<=1s"\nloads = "1,2"\nmin = 1\n')
    assert main(["sweep", "--config", str(config), "--print-config"]) == 2
    assert "--loads runs exactly those loads: drop --min" in capsys.readouterr().err
    config.write_text('url = "http://127.0.0.1:9"\nslo = "ttft_p95<=1s"\nloads = "1,2"\n')
    assert main(["sweep", "--config", str(config), "--print-config"]) == 0
    assert 'loads = "1,2"' in capsys.readouterr().out


def test_listed_loads_run_as_given() -> None:
    from llmbench.sweep_options import _loads

    assert _loads("1234.5,0.125", "rate") == (1234.5, 0.125)


def test_a_prompts_file_of_sessions_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chats = tmp_path / "chats.jsonl"
    chats.write_text('{"turns": ["a", "b"]}\n')
    code, err = sweep(capsys, tmp_path, "--slo", "ttft_p95<=1s", "--prompts-file", str(chats))
    assert code == 2
    assert "holds sessions: the sweep steps request rates" in err
