"""`--help` documents the exit codes and every provider's flags, and the shipped CI
example's commands are valid."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from llmbench import app, compare, config
from llmbench.cli import EXIT_CODES, EXIT_USAGE, _build_parser, main
from llmbench.run_options import build_config
from llmbench.slo import parse_goodput, parse_slos

CI_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci-smoke.yml"


@pytest.mark.parametrize("argv", [[], ["run"], ["compare"]])
def test_help_lists_every_exit_code(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert EXIT_CODES in out
    for code in (0, 1, 2, 3, 130, 143):
        assert re.search(rf"(^|\s){code}\s", EXIT_CODES), code


def test_the_documented_codes_are_the_ones_returned() -> None:
    documented = dict(re.findall(r"^\s+(\d+)\s+(.*)$", EXIT_CODES, re.MULTILINE))
    assert next(iter(documented)) == str(compare.EXIT_OK) == "0"
    assert app.EXIT_SLO_FAILED == compare.EXIT_REGRESSION == 1
    assert EXIT_USAGE == compare.EXIT_USAGE == 2
    assert EXIT_USAGE is config.EXIT_USAGE  # one definition, beside ConfigError
    assert app.EXIT_NOTHING_MEASURED == 3
    assert "143 by SIGTERM" in documented["130"]


def _commands(workflow: str, program: str) -> list[list[str]]:
    """Every `llmbench PROGRAM ...` shell command in the workflow, continuations joined."""
    text = workflow.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = re.split(r"\s[|>]", line, maxsplit=1)[0].strip()  # drop `| tee`, `> log`
        line = line.removeprefix("nohup ")
        if line.startswith(f"llmbench {program} "):
            env = {"$MOCK_PORT": "8000", "$RUN_DIR": "runs/smoke"}
            for name, value in env.items():
                line = line.replace(f'"{name}', f'"{value}').replace(name, value)
            found.append(shlex.split(line)[1:])
    return found


def test_the_ci_example_commands_parse_and_validate() -> None:
    workflow = CI_EXAMPLE.read_text(encoding="utf-8")
    (run_argv,) = _commands(workflow, "run")
    (mock_argv,) = _commands(workflow, "mock")
    (compare_argv,) = _commands(workflow, "compare")
    parser = _build_parser()
    run_args = parser.parse_args(run_argv)
    cfg = build_config(run_args)  # the same validation `llmbench run` does first
    assert (cfg.duration_s, cfg.warmup_requests) == (30.0, 10)
    checks = parse_slos(run_args.slo)
    assert {c.metric for c in checks} >= {"ttft_p95", "error_rate", "goodput_ratio"}
    assert parse_goodput(run_args.goodput) is not None
    assert run_args.junit == "runs/smoke/junit.xml"
    parser.parse_args(mock_argv)
    compare_args = parser.parse_args(compare_argv)
    assert compare.parse_tolerances(compare_args.tolerance).for_metric("ttft_p95") == 0.10


def test_the_ci_example_handles_every_exit_code() -> None:
    workflow = CI_EXAMPLE.read_text(encoding="utf-8")
    for code in ("0)", "1)", "2)", "3)", "*)"):
        assert f"            {code} " in workflow, code


# Every built-in provider's flags, with their defaults, under a group naming the provider.
PROVIDER_FLAGS = {
    "--provider openai-chat | openai-completions:": ["--no-usage", "--continuous-usage"],
    "--provider dify:": ["--user USER", "(default llmbench)", "--conversation-id", "--inputs"],
    "--provider anthropic:": ["--anthropic-version", "(default 2023-06-01)"],
    "--provider template:": ["--provider-config"],
}


def test_run_help_lists_every_providers_flags_in_its_group(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    sections = re.split(r"\n\n", out)
    for title, flags in PROVIDER_FLAGS.items():
        (section,) = [s for s in sections if s.startswith(title)]
        for flag in flags:
            assert flag in section, (title, flag)
    assert "--provider dashscope" not in out  # no flags of its own: no empty group


def test_provider_flag_defaults_are_kept() -> None:
    args = _build_parser().parse_args(["run"])
    assert (args.include_usage, args.continuous_usage) == (True, False)
    assert (args.user, args.conversation_id, args.inputs) == ("llmbench", "", None)
    assert (args.anthropic_version, args.provider_config) == ("2023-06-01", None)


def test_an_unknown_provider_is_reported_after_parsing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--url", "http://127.0.0.1:9", "--provider", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench run: error: unknown --provider 'nope'; known: ")
    assert err.count("\n") == 1
