"""Scale-out through the real CLI (issue 14): ``run --workers N`` (a coordinator and N
worker processes merged into one run directory), ``run --shard I/N --start-at`` plus
``llmbench merge``, the merge's refusals, a worker killed mid-run, a signal to the
coordinator, and the scale-out flags' usage errors. Every run is small and bounded."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MockServer = Callable[..., str]

RUN_TIMEOUT_S = 60.0
# A killed worker or a signal must end the whole run this fast (the grace period is
# canceled; the outputs are small).
STOP_WITHIN_S = 15.0


def llmbench(*args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmbench", "run", "--quiet", *args]


def results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def summary(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


def closed_port() -> str:
    """A URL nothing listens on: a port bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def processes_mentioning(text: str) -> dict[int, list[str]]:
    """Live processes (not this one) with ``text`` in an argument or in the path of a
    file they hold open (a worker's flags come on its stdin, not its command line, but
    it holds its results.jsonl open): PID -> the paths and arguments that matched."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            paths = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue  # gone meanwhile
        matched = [x for x in (*argv, *paths) if text in x]
        if matched:
            found[int(entry.name)] = matched
    return found


def worker_pid(run_dir: Path, index: int) -> int:
    """The PID of the coordinator's worker ``index``: the one writing its results."""
    results = str(run_dir / "workers" / str(index) / "results.jsonl")
    pids = [pid for pid, seen in processes_mentioning(results).items() if results in seen]
    assert len(pids) == 1, pids
    return pids[0]


def wait_for_lines(path: Path, timeout: float = 20.0) -> None:
    """Until ``path`` holds at least one whole line (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and b"\n" in path.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError(f"no line in {path} after {timeout} s")


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts `llmbench run` in the background; on the way out, kills (by PID) the
    coordinator and any worker of its run directory still alive after a failed test."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            run_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in processes_mentioning(str(tmp_path)):  # the tests assert there are none
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def fast_url(mock_server_module: MockServer) -> str:
    return mock_server_module("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8")


@pytest.fixture(scope="module")
def slow_url(mock_server_module: MockServer) -> str:
    # About 120 ms a request: a 20-30 s run is still sending when it is killed.
    return mock_server_module("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "20")


# ---- --workers N ----------------------------------------------------------------------

CLOSED = ("--requests", "101", "--concurrency", "6", "--seed", "7")


def test_two_workers_make_one_closed_loop_run(fast_url: str, tmp_path: Path) -> None:
    two, one = tmp_path / "two", tmp_path / "one"
    flags = ("--url", fast_url, *CLOSED, "--input-tokens", "20")
    proc = llmbench("run", *flags, "--workers", "2", "--quiet", "--out", str(two))
    assert proc.returncode == 0, proc.stderr
    single = llmbench("run", *flags, "--workers", "1", "--quiet", "--out", str(one))
    assert single.returncode == 0, single.stderr

    lines = results(two)
    assert len(lines) == 101
    assert sorted(line["index"] for line in lines) == list(range(101))
    assert Counter(line["worker"] for line in lines) == {0: 51, 1: 50}
    assert all(line["index"] % 2 == line["worker"] for line in lines)  # shard I owns j%N == I
    merged = summary(two)
    assert merged["run"]["workers"] == 2
    assert merged["requests"]["total"] == 101
    assert merged["requests"]["ok"] == 101
    assert merged["ttft_ms"]["count"] == 101
    assert merged["tokens"]["output"] == summary(one)["tokens"]["output"]
    assert merged["tokens"]["input"] == summary(one)["tokens"]["input"] == 101 * 20
    rows = merged["workers"]
    assert [row["worker"] for row in rows] == [0, 1]
    assert [row["requests"] for row in rows] == [51, 50]
    assert {row["exit"] for row in rows} == {"finished"}
    assert (two / "report.html").is_file()
    for i in (0, 1):  # each worker's own run directory, under the merged one
        assert len(results(two / "workers" / str(i))) == (51, 50)[i]


def test_two_workers_send_the_single_run_s_workload(fast_url: str, tmp_path: Path) -> None:
    # Prompt lengths drawn from --seed: request j gets the same prompt whichever
    # process sends it, so the per-index input tokens match the one-process run's.
    flags = ("--url", fast_url, *CLOSED, "--input-tokens", "20:5")
    for n in ("1", "2"):
        proc = llmbench("run", *flags, "--workers", n, "--quiet", "--out", str(tmp_path / n))
        assert proc.returncode == 0, proc.stderr
    one = {line["index"]: line["input_tokens"] for line in results(tmp_path / "1")}
    two = {line["index"]: line["input_tokens"] for line in results(tmp_path / "2")}
    assert len(set(one.values())) > 3  # the lengths do vary: the check means something
    assert two == one


def test_two_workers_split_one_open_loop_schedule(fast_url: str, tmp_path: Path) -> None:
    flags = ("--url", fast_url, "--rps", "100", "--requests", "60", "--seed", "3",
             "--arrival", "poisson")  # fmt: skip
    for n in ("1", "2"):
        proc = llmbench("run", *flags, "--workers", n, "--quiet", "--out", str(tmp_path / n))
        assert proc.returncode == 0, proc.stderr
    one, two = results(tmp_path / "1"), results(tmp_path / "2")
    assert len(one) == len(two) == 60
    assert sorted(line["index"] for line in two) == list(range(60))
    assert Counter(line["worker"] for line in two) == {0: 30, 1: 30}
    for n in ("1", "2"):
        assert summary(tmp_path / n)["throughput"]["offered_rps"] == 100
        assert summary(tmp_path / n)["requests"]["total"] == 60

    # The intended send time of request j (its start less its queueing) is the single
    # run's, moved by a constant per worker: its origin on the merged timeline. Within
    # a worker the only error is the µs rounding of start_s and queue_ms (1 ms allowed);
    # between workers, how far apart the two began (50 ms allowed).
    def intended(lines: list[dict[str, Any]]) -> dict[int, float]:
        return {line["index"]: line["start_s"] - line["queue_ms"] / 1000 for line in lines}

    single, split = intended(one), intended(two)
    shifts: dict[int, list[float]] = {0: [], 1: []}
    for line in two:
        shifts[line["worker"]].append(split[line["index"]] - single[line["index"]])
    for moved in shifts.values():
        assert max(moved) - min(moved) < 0.001, moved
    assert abs(shifts[0][0] - shifts[1][0]) < 0.05


# ---- --shard I/N and llmbench merge ---------------------------------------------------

SHARD_FLAGS = ("--requests", "40", "--concurrency", "4", "--seed", "5")


def run_shards(url: str, dirs: list[Path], *extra: str) -> float:
    """Shards 0..N-1 of one run, at once, with one --start-at 2.5 s ahead (Unix
    seconds); returns that instant."""
    at = time.time() + 2.5
    common = ("--url", url, *SHARD_FLAGS, *extra, "--start-at", f"{at:.3f}")
    procs = [
        subprocess.Popen(
            run_cmd(*common, "--shard", f"{i}/{len(dirs)}", "--out", str(d)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, d in enumerate(dirs)
    ]
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode in (0, 1), err  # 1: an --slo failed on the shard alone
    return at


@pytest.fixture(scope="module")
def shards(fast_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    base = tmp_path_factory.mktemp("shards")
    s0, s1 = base / "s0", base / "s1"
    at = run_shards(fast_url, [s0, s1])
    return s0, s1, at


def test_shards_start_together_and_merge_into_one_run(
    shards: tuple[Path, Path, float], tmp_path: Path
) -> None:
    s0, s1, at = shards
    for i, shard in enumerate((s0, s1)):
        part = summary(shard)
        assert part["config"]["shard"] == i
        assert part["config"]["shards"] == 2
        assert part["requests"]["total"] == 20
        assert "partial" in part
        # Its measured phase began at --start-at, not when the process started.
        began = part["partial"]["run_start_ns"] / 1e9 + part["run"]["measured_start_s"]
        assert abs(began - at) < 0.5, (began, at)
    out = tmp_path / "m"
    junit = out / "junit.xml"
    proc = llmbench("merge", str(s0), str(s1), "--out", str(out), "--junit", str(junit))
    assert proc.returncode == 0, proc.stderr
    lines = results(out)
    assert len(lines) == 40
    assert sorted(line["index"] for line in lines) == list(range(40))
    merged = summary(out)
    assert merged["run"]["workers"] == 2
    assert merged["requests"]["total"] == 40
    assert merged["ttft_ms"]["count"] == 40
    assert [row["requests"] for row in merged["workers"]] == [20, 20]
    assert (out / "report.html").is_file()
    assert junit.read_text().startswith("<?xml")


def test_a_merge_judges_the_shards_slo_on_the_merged_figures(
    mock_server: MockServer, tmp_path: Path
) -> None:
    url = mock_server("--ttft-ms", "50", "--itl-ms", "1", "--tokens", "8")
    s0, s1, out = tmp_path / "s0", tmp_path / "s1", tmp_path / "m"
    run_shards(url, [s0, s1], "--slo", "ttft_p50<=1ms")
    junit = out / "junit.xml"
    proc = llmbench("merge", str(s0), str(s1), "--out", str(out), "--junit", str(junit))
    assert proc.returncode == 1, proc.stderr
    merged = summary(out)
    (check,) = merged["slo"]["checks"]
    assert check["expr"] == "ttft_p50<=1ms"
    assert check["passed"] is False
    assert check["measured"] == pytest.approx(merged["ttft_ms"]["p50"], abs=0.01)
    assert check["measured"] >= 50
    assert 'failures="1"' in junit.read_text()


def refusal_cases(
    s0: Path, s1: Path, other_seed: Path, plain: Path, empty: Path, out: Path
) -> dict[str, tuple[list[str], str]]:
    """A refused merge's arguments and a fragment of its one error line."""
    judged, no_results = other_seed.parent / "judged", other_seed.parent / "no-results"
    return {
        "missing shard": ([str(s0), "--out", str(out)], "missing shard(s) [1] of 2"),
        "the same shard twice": ([str(s0), str(s0), "--out", str(out)], "[0] given twice of 2"),
        "a shard given twice": ([str(s0), str(s0), str(s1), "--out", str(out)], "given twice"),
        "another seed": ([str(s0), str(other_seed), "--out", str(out)], "seed"),
        "a plain run": ([str(s0), str(plain), "--out", str(out)], "no partial block"),
        "no summary.json": ([str(s0), str(empty), "--out", str(out)], "no summary.json"),
        "--out is a shard": ([str(s0), str(s1), "--out", str(s1)], "is in shard"),
        "--out in a shard": ([str(s0), str(s1), "--out", str(s1 / "m")], "is in shard"),
        "judged otherwise": (
            [str(s0), str(judged), "--out", str(out)],
            "its --slo, --goodput or --allow-char-slo differ",
        ),
        "no results.jsonl": ([str(s0), str(no_results), "--out", str(out)], "no results.jsonl"),
    }


def test_merge_refuses_what_is_not_one_run_s_shards(
    shards: tuple[Path, Path, float], fast_url: str, tmp_path: Path
) -> None:
    s0, s1, _ = shards
    other_seed, plain, empty = tmp_path / "seed9", tmp_path / "plain", tmp_path / "empty"
    flags = ("run", "--quiet", "--url", fast_url, "--requests", "40", "--concurrency", "4")
    proc = llmbench(*flags, "--seed", "9", "--shard", "1/2", "--out", str(other_seed))
    assert proc.returncode == 0, proc.stderr
    proc = llmbench(*flags, "--seed", "5", "--out", str(plain))
    assert proc.returncode == 0, proc.stderr
    empty.mkdir()
    # shard 1 of the same run, judged by an SLO shard 0 was not
    judged = tmp_path / "judged"
    proc = llmbench(*flags, "--seed", "5", "--shard", "1/2", "--slo", "ttft_p99<=60s",
                    "--out", str(judged))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shutil.copytree(s1, tmp_path / "no-results")
    (tmp_path / "no-results" / "results.jsonl").unlink()
    before = {p: p.stat().st_mtime_ns for p in (s1 / "summary.json", s1 / "results.jsonl")}
    out = tmp_path / "merged"
    for name, (args, says) in refusal_cases(s0, s1, other_seed, plain, empty, out).items():
        proc = llmbench("merge", *args)
        assert proc.returncode == 2, (name, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith("llmbench merge: error: "), (name, line)
        assert says in line, (name, line)
        assert not out.exists(), name
    assert {p: p.stat().st_mtime_ns for p in before} == before  # --out s1 wrote nothing


# ---- a worker killed, a signal to the coordinator -------------------------------------


@pytest.mark.slow
def test_a_killed_worker_stops_the_run_and_its_lines_are_kept(
    slow_url: str, tmp_path: Path, coordinator: Callable[..., subprocess.Popen[str]]
) -> None:
    # Tolerance: the run must end within STOP_WITHIN_S of the kill (it takes ~1 s).
    run_dir = tmp_path / "run"
    proc = coordinator("--url", slow_url, "--workers", "2", "--duration", "20",
                       "--concurrency", "4", "--out", str(run_dir))  # fmt: skip
    wait_for_lines(run_dir / "workers" / "1" / "results.jsonl")
    os.kill(worker_pid(run_dir, 1), signal.SIGKILL)
    killed_at = time.monotonic()
    _, stderr = proc.communicate(timeout=STOP_WITHIN_S + 5)
    assert time.monotonic() - killed_at < STOP_WITHIN_S
    assert proc.returncode == 3, stderr
    assert "worker 1 died (killed by SIGKILL)" in stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(run_dir)) == {}  # no orphan worker

    merged = summary(run_dir)
    rows = {row["worker"]: row for row in merged["workers"]}
    assert "SIGKILL" in rows[1]["exit"]
    assert rows[0]["exit"] == "finished"
    lines = results(run_dir)
    by_worker = Counter(line["worker"] for line in lines)
    assert by_worker[1] > 0
    assert by_worker[1] == rows[1]["requests"]  # its flushed lines, recovered
    assert by_worker[0] == rows[0]["requests"]
    assert merged["requests"]["total"] == len(lines)
    assert len({line["index"] for line in lines}) == len(lines)  # no request twice


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_to_the_coordinator_reaches_every_worker(
    sig: signal.Signals,
    code: int,
    slow_url: str,
    tmp_path: Path,
    coordinator: Callable[..., subprocess.Popen[str]],
) -> None:
    # Sent once both workers are measuring (they report within ~1 s of the start);
    # the run must end within STOP_WITHIN_S with every output written.
    run_dir = tmp_path / "run"
    began = time.monotonic()
    proc = coordinator("--url", slow_url, "--workers", "2", "--duration", "30",
                       "--concurrency", "4", "--out", str(run_dir))  # fmt: skip
    for i in (0, 1):
        wait_for_lines(run_dir / "workers" / str(i) / "results.jsonl")
    time.sleep(max(0.0, 2.0 - (time.monotonic() - began)))
    proc.send_signal(sig)
    sent_at = time.monotonic()
    _, stderr = proc.communicate(timeout=STOP_WITHIN_S + 5)
    assert time.monotonic() - sent_at < STOP_WITHIN_S
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(run_dir)) == {}  # no orphan worker

    merged = summary(run_dir)
    assert merged["run"]["interrupted"] is True
    assert merged["run"]["signal"] == sig.name
    assert [row["exit"] for row in merged["workers"]] == ["finished", "finished"]
    lines = results(run_dir)
    assert lines
    assert {line["worker"] for line in lines} == {0, 1}
    assert merged["requests"]["total"] == len(lines)
    assert (run_dir / "report.html").is_file()


# ---- usage errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--workers", "0"], "--workers: expected 1 to 4096, got 0"),
        (["--workers", "x"], "--workers: expected a count or auto, got 'x'"),
        (["--shard", "3/2"], "--shard: shard 3/2"),
        (["--shard", "1/2", "--workers", "2"], "--shard and --workers are alternatives"),
        (["--start-at", "garbage"], "--start-at: expected ISO 8601 or Unix seconds"),
        (["--start-at", "2026-01-01T00:00:00"], "has no time zone"),
        (["--workers", "4", "--concurrency", "2"], "--concurrency 2 is less than the 4 shards"),
    ],
)
def test_bad_scale_out_flags_are_one_line_and_write_nothing(
    flags: list[str], says: str, tmp_path: Path
) -> None:
    # A closed port: the flags are refused before anything is sent (else exit 3).
    out = tmp_path / "run"
    proc = llmbench("run", "--url", closed_port(), "--requests", "10", *flags, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("llmbench run: error: "), line
    assert says in line, line
    assert proc.stdout == ""
    assert not out.exists()


# ---- what the independent review found (each failed before its fix) -------------------


def test_a_ctrl_c_before_the_workers_start_is_130_and_one_line(
    coordinator: Callable[..., subprocess.Popen[str]], slow_url: str, tmp_path: Path
) -> None:
    # Before the start the workers are importing or in their pre-flight: they are
    # stopped outright (no traceback from them), and nothing is called a death.
    run_dir = tmp_path / "run"
    proc = coordinator("--url", slow_url, "--workers", "2", "--duration", "15",
                       "--concurrency", "4", "--out", str(run_dir))  # fmt: skip
    # The run directory is made once every check passed, as the workers are started
    # (a signal before Python has set up its handlers would be the OS's to act on).
    deadline = time.monotonic() + 30
    while not run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=STOP_WITHIN_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "died" not in err
    assert len(err.splitlines()) <= 1, err
    assert processes_mentioning(str(run_dir)) == {}


def test_workers_honour_start_at(fast_url: str, tmp_path: Path) -> None:
    at = time.time() + 4
    out = tmp_path / "run"
    proc = llmbench("run", "--quiet", "--url", fast_url, "--requests", "10", "--concurrency", "2",
                    "--workers", "2", "--start-at", repr(at), "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert time.time() >= at
    run = summary(out)["run"]
    assert 0 <= run["start_late_s"] < 1.0  # the latest worker's lateness after the instant


def test_a_count_warm_up_is_refused_with_shards_and_a_timed_one_is_common(
    fast_url: str, tmp_path: Path
) -> None:
    refused = llmbench("run", "--url", fast_url, "--requests", "10", "--concurrency", "2",
                       "--workers", "2", "--warmup", "4", "--out", str(tmp_path / "r"))  # fmt: skip
    assert refused.returncode == 2
    assert "use --warmup-s S" in refused.stderr
    assert not (tmp_path / "r").exists()
    out = tmp_path / "run"
    proc = llmbench("run", "--quiet", "--url", fast_url, "--duration", "2", "--concurrency", "4",
                    "--workers", "2", "--warmup-s", "1", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    starts = []
    for i in (0, 1):
        part = summary(out / "workers" / str(i))
        starts.append(part["partial"]["run_start_ns"] / 1e9 + part["run"]["measured_start_s"])
    assert abs(starts[0] - starts[1]) < 0.05  # one measured start, to the clocks' accuracy


def test_allow_char_slo_reaches_the_merged_verdict(fast_url: str, tmp_path: Path) -> None:
    flags = ("run", "--quiet", "--url", fast_url, "--requests", "10", "--concurrency", "2",
             "--token-mode", "chars", "--slo", "tpot_p95<=500ms", "--allow-char-slo")  # fmt: skip
    one = llmbench(*flags, "--out", str(tmp_path / "one"))
    gate = tmp_path / "two" / "gate" / "junit.xml"  # its directory made as a run makes it
    two = llmbench(*flags, "--workers", "2", "--out", str(tmp_path / "two"), "--junit", str(gate))
    assert (one.returncode, two.returncode) == (0, 0), two.stderr
    assert summary(tmp_path / "two")["run"]["allow_char_slo"] is True
    assert 'failures="0"' in gate.read_text()


def test_no_key_is_on_a_worker_s_command_line(
    coordinator: Callable[..., subprocess.Popen[str]], slow_url: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    key = "sk-scaleout-SECRET-4242"
    proc = coordinator(
        "--url", slow_url, "--workers", "2", "--duration", "4", "--concurrency", "2",
        "--api-key", key, "-H", f"X-Token: {key}x", "--out", str(run_dir),
    )  # fmt: skip
    wait_for_lines(run_dir / "workers" / "1" / "results.jsonl")
    for i in (0, 1):
        pid = worker_pid(run_dir, i)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert key not in argv, argv
    _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, err
    assert key not in (run_dir / "summary.json").read_text()


def test_a_worker_stopped_by_the_error_rate_stops_the_run_with_exit_5(
    mock_server: MockServer, tmp_path: Path
) -> None:
    # Nine requests in ten fail (HTTP 503): a worker stops at --max-error-rate, and the
    # run is not "interrupted" by the SIGTERM the coordinator sent to the other. The
    # mock's faults are seeded: with seed 23 the first request it serves succeeds (so the
    # run measured something, and 5 is the code, not 3) and 2 of its first 20 do.
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4", "--seed", "23",
                      "--fault", "status:503", "--fault-rate", "0.9")  # fmt: skip
    out = tmp_path / "run"
    proc = llmbench("run", "--quiet", "--url", url, "--duration", "20", "--concurrency", "4",
                    "--workers", "2", "--no-preflight", "--max-error-rate", "50%",
                    "--out", str(out))  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    run = summary(out)["run"]
    assert run["interrupted"] is False
    assert run["stop_reason"] == "error rate"
    assert run["error_rate_stop"]["observed"] > 0.5


def test_a_synthetic_workload_is_the_same_whoever_sends_it(fast_url: str, tmp_path: Path) -> None:
    # Items by position: a shard makes only its own, and each is the one-process run's.
    flags = ("run", "--quiet", "--url", fast_url, "--requests", "12", "--concurrency", "3",
             "--input-tokens", "30:10", "--save-detailed", "--seed", "4")  # fmt: skip
    one = llmbench(*flags, "--out", str(tmp_path / "one"))
    three = llmbench(*flags, "--workers", "3", "--out", str(tmp_path / "three"))
    assert (one.returncode, three.returncode) == (0, 0), three.stderr

    def prompt_ids(out: Path) -> dict[int, int]:
        return {r["index"]: r["prompt_id"] for r in results(out)}

    assert (
        prompt_ids(tmp_path / "three") == prompt_ids(tmp_path / "one") == {i: i for i in range(12)}
    )
    inputs = {r["index"]: r["input_tokens"] for r in results(tmp_path / "one")}
    assert {r["index"]: r["input_tokens"] for r in results(tmp_path / "three")} == inputs


def test_a_merged_output_that_cannot_be_written_is_named_and_exit_4(
    shards: tuple[Path, Path, float], tmp_path: Path
) -> None:
    s0, s1, _ = shards
    out = tmp_path / "m"
    (out / "results.jsonl").mkdir(parents=True)  # in the way of the merged results
    proc = llmbench("merge", str(s0), str(s1), "--out", str(out))
    assert proc.returncode == 4, proc.stderr
    first, *rest = proc.stderr.splitlines()  # then the report, which needs the file too
    assert first == f"llmbench run: error: could not write {out / 'results.jsonl'}: Is a directory"
    assert "Traceback" not in proc.stderr
    assert len(rest) <= 1
    assert (out / "summary.json").is_file()  # the other outputs still came
