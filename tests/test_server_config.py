"""--server-metrics, --server-metrics-interval and --server-metric: flags to RunConfig,
each rule with a message that names the flag (and never a URL's credentials), the
TOML file's keys, --print-config's redaction and the summary's config."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from llmbench.cli import _build_parser, _with_config
from llmbench.config import ConfigError, RunConfig
from llmbench.config_file import subcommand
from llmbench.config_print import render
from llmbench.providers.base import OptionSources
from llmbench.run_options import add_run_arguments, build_config

URL = "http://127.0.0.1:8000"
SECRET = "hunter2hunter2"


def config(*argv: str) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(["--url", URL, *argv]), OptionSources())


def test_defaults_scrape_nothing() -> None:
    cfg = config()
    assert (cfg.server_metrics, cfg.server_metrics_interval_s, cfg.server_metric_patterns) == (
        (), 1.0, ()
    )  # fmt: skip


def test_the_flags_repeat() -> None:
    cfg = config(
        "--server-metrics", "http://gpu-1:8000/metrics",
        "--server-metrics", "https://gpu-1:9400/metrics",
        "--server-metrics-interval", "0.5",
        "--server-metric", "vllm:time_to_first_token_seconds",
        "--server-metric", "DCGM_FI_DEV_GPU_TEMP",
    )  # fmt: skip
    assert cfg.server_metrics == ("http://gpu-1:8000/metrics", "https://gpu-1:9400/metrics")
    assert cfg.server_metrics_interval_s == 0.5
    assert cfg.server_metric_patterns == (
        "vllm:time_to_first_token_seconds",
        "DCGM_FI_DEV_GPU_TEMP",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server-metrics", "ftp://h/metrics"],
         "--server-metrics must be an http:// or https:// URL with a host, got 'ftp://h/metrics'"),
        (["--server-metrics", "localhost:9090/metrics"], "must be an http:// or https:// URL"),
        (["--server-metrics", "http:///metrics"], "must be an http:// or https:// URL with a host"),
        (["--server-metrics", "http://h:0/metrics"], "must be an http:// or https:// URL"),
        (["--server-metrics", "http://h:99999/metrics"], "--server-metrics: not a valid URL"),
        (["--server-metrics", "http://[::1/metrics"], "--server-metrics: not a valid URL"),
        (["--server-metrics", "http://h/\r\nX: 1"],
         "--server-metrics contains a control character"),
        (["--server-metrics", "http://h/m", "--server-metrics-interval", "0.01"],
         "--server-metrics-interval must be in 0.1..31536000 seconds, got 0.01"),
        (["--server-metrics", "http://h/m", "--server-metrics-interval", "nan"],
         "--server-metrics-interval must be in"),
        (["--server-metric", "vllm:.*"], "--server-metric REGEX picks families of the "
         "--server-metrics URL's page: give one"),
        (["--server-metrics", "http://h/m", "--server-metric", "vllm:("],
         "--server-metric 'vllm:(': not a regular expression: missing \\), unterminated"),
        (["--server-metrics", "http://h/m", "--server-metric", "x" * 1001],
         "--server-metric: a pattern of at most 1000 characters"),
        ([arg for i in range(17) for arg in ("--server-metrics", f"http://h{i}/m")],
         "--server-metrics: at most 16, got 17"),
        (["--server-metrics", "http://H:80/m/", "--server-metrics", "http://h/m"],
         "--server-metrics: a URL is given twice"),
        # exponential-time regexes (nothing can stop a match once it runs)
        (["--server-metrics", "http://h/m", "--server-metric", "(a+)+b"],
         "a repetition or alternation inside a repetition can take exponential time"),
        (["--server-metrics", "http://h/m", "--server-metric", "([a-z_:]+)+_seconds"],
         "a repetition or alternation inside a repetition"),
        (["--server-metrics", "http://h/m", "--server-metric", "(a|aa)*"],
         "a repetition or alternation inside a repetition"),
    ],
)  # fmt: skip
def test_each_rule_names_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        config(*argv)


def test_safe_patterns_are_kept() -> None:
    patterns = ("(vllm|sglang):num_.*", "DCGM_FI_DEV_[A-Z_]+", "vllm:.*_seconds")
    cfg = config(
        "--server-metrics", "http://h/m", *(a for p in patterns for a in ("--server-metric", p))
    )
    assert len(cfg.server_metric_patterns) == 3


@pytest.mark.parametrize("flag", ["--server-metrics", "--url"])
def test_credentials_of_a_url_without_a_scheme_are_never_echoed(flag: str) -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    given = f"u:{SECRET}@h:9400/metrics"
    argv = ["--url", given] if flag == "--url" else ["--url", URL, flag, given]
    with pytest.raises(ConfigError) as err:
        build_config(parser.parse_args(argv), OptionSources())
    assert SECRET not in str(err.value)
    assert "@h:9400/" in str(err.value)


def test_a_refused_url_is_shown_without_its_credentials() -> None:
    with pytest.raises(ConfigError) as err:
        config("--server-metrics", f"ftp://user:{SECRET}@h/metrics?token={SECRET}")
    assert SECRET not in str(err.value)
    assert "ftp://h/metrics?token=" in str(err.value)


def test_the_summary_config_has_the_urls_without_credentials() -> None:
    cfg = config("--server-metrics", f"http://prom:{SECRET}@gpu-1:9400/metrics")
    assert cfg.public()["server_metrics"] == ["http://gpu-1:9400/metrics"]
    assert SECRET not in repr(cfg.public())


def run_args(argv: list[str]) -> argparse.Namespace:
    full = _with_config(["run", *argv])
    return _build_parser(full).parse_args(full)


def test_a_config_file_gives_the_repeatable_flags(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'url = "{URL}"\n'
        'server-metrics = ["http://gpu-1:8000/metrics", "http://gpu-1:9400/metrics"]\n'
        "server-metrics-interval = 2\n"
        'server-metric = ["vllm:time_to_first_token_seconds"]\n'
    )
    args = run_args(["--config", str(path)])
    cfg = build_config(args, OptionSources())
    assert cfg.server_metrics == ("http://gpu-1:8000/metrics", "http://gpu-1:9400/metrics")
    assert cfg.server_metrics_interval_s == 2.0
    assert cfg.server_metric_patterns == ("vllm:time_to_first_token_seconds",)
    # the command line replaces the file's list, as for every repeatable flag
    again = run_args(["--config", str(path), "--server-metrics", "http://other/metrics"])
    assert again.server_metrics == ["http://other/metrics"]


def test_print_config_redacts_the_scrape_urls_credentials() -> None:
    argv = [
        "--url", URL,
        "--server-metrics", f"http://prom:{SECRET}@gpu-1:9400/metrics",
        "--server-metrics", f"http://gpu-2:8000/metrics?api_key={SECRET}",
        "--server-metric", "vllm:.*",
    ]  # fmt: skip
    parser = subcommand(_build_parser(["run", *argv]), "run")
    text = render(parser, argv, "llmbench run")
    assert SECRET not in text
    assert 'server-metrics = ["http://gpu-1:9400/metrics", ' in text
    assert "gpu-2:8000/metrics?api_key=" in text
    assert 'server-metric = ["vllm:.*"]' in text


def test_a_shard_run_refuses_to_scrape_before_writing_anything(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--url", "http://127.0.0.1:9", "--model", "m",
         "--shard", "0/2", "--concurrency", "2", "--no-preflight", "--server-metrics",
         "http://127.0.0.1:9/metrics", "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--server-metrics with --shard I/N" in proc.stderr
    assert "use --workers N" in proc.stderr
    assert not out.exists()
