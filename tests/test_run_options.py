"""`llmbench run` flags to RunConfig: aliases, defaults, each provider's own flags
and one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from llmbench.config import ConfigError, RunConfig
from llmbench.providers.anthropic import AnthropicOptions
from llmbench.providers.base import NoOptions, OptionSources
from llmbench.providers.dify import DifyOptions
from llmbench.providers.openai import OpenAIOptions
from llmbench.providers.template import TemplateOptions
from llmbench.run_options import DEFAULT_REQUESTS, add_run_arguments, build_config, parse_header


def config(*argv: str) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(list(argv)), OptionSources())


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
        "--extra-body", '{"temperature": 0}', "--provider", "dify", "--inputs", '{"lang": "en"}',
    )  # fmt: skip
    assert cfg.headers == (("X-Team", "infra"), ("Authorization", "Bearer s3cret"))
    assert cfg.extra_body == {"temperature": 0}
    assert isinstance(cfg.provider_options, DifyOptions)
    assert cfg.provider_options.inputs == {"lang": "en"}
    assert cfg.public()["provider_options"]["inputs"] == {"lang": "en"}
    assert "s3cret" not in str(cfg.public())


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        ([], OpenAIOptions(include_usage=True, continuous_usage=False)),
        (["--no-usage"], OpenAIOptions(include_usage=False)),
        (["--provider", "openai-completions", "--continuous-usage"], OpenAIOptions(True, True)),
        (["--provider", "dify"], DifyOptions("llmbench", "", {})),
        (
            ["--provider", "dify", "--user", "u7", "--conversation-id", "c-1", "--inputs", "{}"],
            DifyOptions("u7", "c-1", {}),
        ),
        (["--provider", "anthropic"], AnthropicOptions("2023-06-01")),
        (
            ["--provider", "anthropic", "--anthropic-version", "2024-01-01"],
            AnthropicOptions("2024-01-01"),
        ),
        (["--provider", "dashscope"], NoOptions()),
        (["--provider", "template"], TemplateOptions(None, None)),
    ],
)
def test_each_provider_reads_its_own_flags(argv: list[str], options: object) -> None:
    assert config("--url", "http://h", *argv).provider_options == options


def test_another_providers_flags_are_harmless() -> None:
    # Flags of a provider not chosen are accepted and read by nobody (not even checked):
    # a script that passes --user to every provider still runs.
    cfg = config(
        "--url", "http://h", "--user", "u7", "--inputs", "[not json", "--anthropic-version", "x",
        "--provider-config", "/no/such/file.toml",
    )  # fmt: skip
    assert cfg.provider_options == OpenAIOptions()
    assert config("--url", "http://h", "--provider", "dify", "--no-usage").provider_options == (
        DifyOptions()
    )


def test_template_file_is_read_through_the_sources() -> None:
    toml = 'path = "/gen"\nframing = "sse"\n[headers]\nX = "${TENANT}"\n[response]\ncontent = "t"\n'
    read: list[str] = []

    def read_file(path: Path) -> str:
        read.append(str(path))
        return toml

    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    args = parser.parse_args(
        ["--url", "http://h", "--provider", "template", "--provider-config", "gw.toml"]
    )
    cfg = build_config(args, OptionSources({"TENANT": "t-9"}, read_file))
    assert read == ["gw.toml"]
    assert isinstance(cfg.provider_options, TemplateOptions)
    assert cfg.provider_options.spec is not None
    assert cfg.provider_options.spec.headers == (("X", "t-9"),)
    assert cfg.public()["provider_options"] == {"provider_config": "gw.toml"}  # not the spec


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--url \\(or --host and --port\\) is required"),
        (["--url", "http://h", "--prompt", "a", "--input-tokens", "5"], "are alternatives"),
        (["--url", "http://h", "--extra-body", "{"], "--extra-body is not valid JSON"),
        (
            ["--url", "http://h", "--provider", "dify", "--inputs", "[1]"],
            "--inputs must be a JSON object, got list",
        ),
        (
            ["--url", "http://h", "--provider", "dify", "--inputs", "{"],
            "--inputs is not valid JSON",
        ),
        (
            ["--url", "http://h", "--provider", "template", "--provider-config", "gw.toml"],
            "--provider-config gw.toml: cannot read it",
        ),
        (["--url", "http://h", "--provider", "nope"], "unknown --provider 'nope'; known: "),
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
