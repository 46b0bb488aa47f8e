"""examples/ci-smoke.yml, run (issue 13, item 5): its `llmbench` commands and its
job-summary script, taken from the YAML as written, against a real mock, on a fresh
checkout (the run directory does not exist yet), with the exit codes the workflow expects.

Only what the test machine needs is changed: the mock gets port 0 and the benchmark the
mock's URL, `$RUN_DIR` is a temporary directory, and `--duration 30` becomes 2 s.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CI_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ci-smoke.yml"
MockServer = Callable[..., str]
SHORT_DURATION = "2"  # seconds; the workflow's 30 s would make this the slowest test


def _commands(workflow: str, program: str, env: dict[str, str]) -> list[list[str]]:
    """Every `llmbench PROGRAM ...` command, continuations joined, `$NAME` substituted
    (the workflow's only variables are its env block's), pipes and redirections dropped."""
    found = []
    for raw in workflow.replace("\\\n", " ").splitlines():
        line = re.split(r"\s[|>&]", raw, maxsplit=1)[0].strip().removeprefix("nohup ")
        if line.startswith(f"llmbench {program} "):
            for name, value in env.items():
                line = line.replace(f"${name}", value)
            found.append(shlex.split(line)[1:])
    return found


def _summary_script(workflow: str) -> str:
    """The job-summary step's Python, from its heredoc (YAML indentation removed)."""
    match = re.search(r"<<'EOF'\n(.*?)\n\s*EOF\n", workflow, re.DOTALL)
    assert match, "the job-summary heredoc is gone"
    lines = match.group(1).splitlines()
    indent = min(len(s) - len(s.lstrip()) for s in lines if s.strip())
    return "\n".join(s[indent:] for s in lines)


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_the_ci_example_runs_end_to_end(mock_server: MockServer, tmp_path: Path) -> None:
    workflow = CI_EXAMPLE.read_text(encoding="utf-8")
    run_dir = tmp_path / "runs" / "smoke"  # as on a fresh checkout: not there yet
    env = {"RUN_DIR": str(run_dir), "MOCK_PORT": "0"}
    (mock_argv,) = _commands(workflow, "mock", env)
    (run_argv,) = _commands(workflow, "run", env)
    (compare_argv,) = _commands(workflow, "compare", env)

    # The mock with the workflow's own timing flags, on a free port.
    port = mock_argv.index("--port")
    url = mock_server(*mock_argv[1:port], *mock_argv[port + 2 :])

    # The benchmark: exit 0 ("every SLO passed") is what the workflow expects.
    run_argv[run_argv.index("--url") + 1] = url
    assert _option(run_argv, "--duration") == "30"
    run_argv[run_argv.index("--duration") + 1] = SHORT_DURATION
    assert not run_dir.exists()
    bench = _cli(*run_argv, cwd=tmp_path)
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert Path(_option(run_argv, "--junit")).is_file()
    assert (run_dir / "summary.json").is_file()

    # The job-summary step's script, reading the run's summary.json.
    table = subprocess.run(
        [sys.executable, "-", str(run_dir / "summary.json")],
        input=_summary_script(workflow), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "### llmbench smoke: PASS" in table.stdout
    assert "| `error_rate<=1%` |" in table.stdout
    assert "**FAIL**" not in table.stdout

    # The compare step, against a committed baseline (here: this run, copied): exit 0.
    baseline = tmp_path / compare_argv[1]
    shutil.copytree(run_dir, baseline)
    compared = _cli(*compare_argv, cwd=tmp_path)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert Path(_option(compare_argv, "--junit")).is_file()
