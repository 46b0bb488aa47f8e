"""`--ray local --workers 2`: the workers as Ray actors on a throwaway local Ray
(127.0.0.1, started and stopped by the run), through the real CLI against the real
mock; and the one line a user without Ray gets. Ray is in the dev extras."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is in the dev extras: `make test` installs it")


def llmbench(
    *args: str, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.mark.slow
def test_ray_actors_run_the_shards_and_the_run_is_merged(
    mock_server: Callable[..., str], tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")
    out = tmp_path / "run"
    # a relative prompts file: the actors' workers run where the coordinator does
    (tmp_path / "prompts.txt").write_text("".join(f"prompt {i}\n" for i in range(41)))
    proc = llmbench(
        "run", "--url", url, "--requests", "41", "--concurrency", "4", "--seed", "5",
        "--prompts-file", "prompts.txt", "--save-detailed",
        "--workers", "2", "--ray", "local", "--quiet", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(line["index"] for line in lines) == list(range(41))
    assert {line["index"]: line["prompt_id"] for line in lines} == {i: i for i in range(41)}
    assert {line["worker"] for line in lines} == {0, 1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["workers"] == 2
    assert [(w["worker"], w["requests"], w["exit"]) for w in summary["workers"]] == [
        (0, 21, "finished"),
        (1, 20, "finished"),
    ]
    # each actor's run directory came back through Ray
    for i in (0, 1):
        assert (out / "workers" / str(i) / "summary.json").is_file()
    assert (out / "report.html").is_file()


def test_without_ray_the_flag_says_what_to_install(tmp_path: Path) -> None:
    # Ray made unimportable in a fresh interpreter: the run stops before anything.
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from llmbench.cli import main\n"
        f"raise SystemExit(main(['run', '--url', 'http://127.0.0.1:9', '--workers', '2',"
        f" '--ray', 'local', '--out', {str(tmp_path / 'run')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "llmbench run: error: --ray needs Ray: pip install 'llmbench[ray]'"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ray", "local"], "--ray needs --workers N (2 or more)"),
        (["--ray", "local", "--workers", "auto"], "--ray needs --workers N (2 or more)"),
        (["--ray", "local", "--shard", "0/2"], "--ray runs the shards itself"),
        (["--ray", "a b", "--workers", "2"], "--ray: not an address"),
    ],
)
def test_bad_ray_flags_are_one_line(flags: list[str], message: str, tmp_path: Path) -> None:
    proc = llmbench("run", "--url", "http://127.0.0.1:9", *flags, "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert message in line, line
    assert not (tmp_path / "r").exists()


_SHARD_DIRS = f"{tempfile.gettempdir()}/llmbench-shard-*"


def _actor_pids() -> list[int]:
    """The PIDs of live ShardActor processes (Ray names its worker processes so)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if argv.startswith(b"ray::ShardActor"):
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def shard_dirs() -> Iterator[None]:
    """Removes the node-side directories of actors a test kills (on this one-node Ray,
    this machine's /tmp): a lost actor's worker leaves its files there."""
    before = set(glob.glob(_SHARD_DIRS))
    yield
    for path in set(glob.glob(_SHARD_DIRS)) - before:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def measuring_ray_run(url: str, out: Path, duration_s: int) -> Iterator[subprocess.Popen[str]]:
    """A `--ray local --workers 2` run in the background, yielded once both actors are
    up and measuring; killed by PID if a test leaves it running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmbench", "run", "--url", url, "--duration", str(duration_s),
         "--concurrency", "4", "--workers", "2", "--ray", "local", "--quiet", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(_actor_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # measuring by now
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.usefixtures("shard_dirs")
def test_an_actor_that_dies_stops_the_run_and_nothing_hangs(
    mock_server: Callable[..., str], tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "20")
    out = tmp_path / "run"
    with measuring_ray_run(url, out, 30) as proc:
        os.kill(max(_actor_pids()), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "died (its Ray actor was lost" in err
    rows = json.loads((out / "summary.json").read_text())["workers"]
    assert sorted(row["exit"] == "finished" for row in rows) == [False, True]
    (lost,) = [row for row in rows if row["exit"] != "finished"]
    # its results streamed in while it ran: they are merged, not lost with the actor
    assert lost["requests"] > 0
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sum(line["worker"] == lost["worker"] for line in lines) == lost["requests"]
    assert _actor_pids() == []


@pytest.mark.slow
def test_ctrl_c_reaches_the_workers_of_a_ray_run(
    mock_server: Callable[..., str], tmp_path: Path
) -> None:
    # An actor's thread may start its worker with SIGINT blocked: the worker unblocks it.
    url = mock_server("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "20")
    out = tmp_path / "run"
    with measuring_ray_run(url, out, 60) as proc:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=45)  # far less than the 60 s asked for
    assert proc.returncode == 130, err
    run = json.loads((out / "summary.json").read_text())["run"]
    assert (run["interrupted"], run["signal"]) == (True, "SIGINT")
    assert run["wall_time_s"] < 30
