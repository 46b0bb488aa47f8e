"""`llmbench run` flags to RunConfig: aliases, defaults and one-line errors."""

from __future__ import annotations

import argparse

import pytest

from llmbench.config import ConfigError, RunConfig
from llmbench.run_options import DEFAULT_REQUESTS, add_run_arguments, build_config, parse_header


def config(*argv: str) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(list(argv)))


def test_defaults_closed_loop_smoke_run() -> None:
    cfg = config("--url", "http://127.0.0.1:8000")
    assert (cfg.concurrency, cfg.requests, cfg.duration_s) == (1, DEFAULT_REQUESTS, None)
    assert (cfg.provider, cfg.transport, cfg.token_mode, cfg.stream) == (
        "openai-chat", "fast", "auto", True
    )  # fmt: skip


def test_open_loop_default_cap_is_1000() -> None:
    cfg = config("--url", "http://h", "--rps", "50", "--duration", "10")
    assert (cfg.concurrency, cfg.rps, cfg.requests, cfg.duration_s) == (1000, 50.0, None, 10.0)


def test_seed_tool_aliases() -> None:
    cfg = config(
        "--host", "10.0.0.5", "--port", "8080", "--threads", "7", "--execution-time", "30",
        "--model-name", "qwen",
    )  # fmt: skip
    assert cfg.url == "http://10.0.0.5:8080"
    assert (cfg.concurrency, cfg.duration_s, cfg.model, cfg.requests) == (7, 30.0, "qwen", None)
    assert config("--host", "::1", "--port", "1").url == "http://[::1]:1"


def test_headers_extra_body_and_inputs() -> None:
    cfg = config(
        "--url", "http://h", "-H", "X-Team: infra", "--header", "Authorization: Bearer s3cret",
        "--extra-body", '{"temperature": 0}', "--inputs", '{"lang": "en"}',
    )  # fmt: skip
    assert cfg.headers == (("X-Team", "infra"), ("Authorization", "Bearer s3cret"))
    assert cfg.extra_body == {"temperature": 0}
    assert cfg.inputs == {"lang": "en"}
    assert "s3cret" not in str(cfg.public())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--url \\(or --host and --port\\) is required"),
        (["--url", "http://h", "--prompt", "a", "--input-tokens", "5"], "are alternatives"),
        (["--url", "http://h", "--extra-body", "{"], "--extra-body is not valid JSON"),
        (["--url", "http://h", "--inputs", "[1]"], "--inputs must be a JSON object, got list"),
        (["--url", "http://h", "-H", "no-colon"], "-H/--header must be 'Name: value'"),
        (["--url", "http://h", "--http2"], "--http2 needs --transport httpx"),
        (["--url", "http://h", "--token-mode", "tokenizer"], "go together"),
        (["--url", "http://h", "--client-key", "k.pem"], "--client-key needs --client-cert"),
    ],
)
def test_bad_combinations(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(*argv)


def test_parse_header_keeps_colons_in_the_value() -> None:
    assert parse_header("X-Url:  http://a:1/ ") == ("X-Url", "http://a:1/")
