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


# -- hostile -H values and numbers (issue 12) --------------------------------------------


@pytest.mark.parametrize("ch", [chr(c) for c in [*range(0x20), 0x7F]])
def test_parse_header_refuses_any_control_character_in_the_value(ch: str) -> None:
    # a CR or LF went out raw on the fast transport: a separate header reached the server
    with pytest.raises(
        ConfigError, match=r"^-H/--header 'X-Key': the value contains a control"
    ) as info:
        parse_header(f"X-Key: sk-SECRET{ch}X-Injected: 1")
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("X-Key: sk-é", "the value contains a non-ASCII character"),
        ("X-Key: sk-\u2028", "the value contains a non-ASCII character"),
        ("X Key: v", "a header name contains ' '"),
        ("X\tKey: v", "a header name contains a control character \\(TAB\\)"),
        ("X(Key): v", "a header name contains '\\('"),
        ("Ключ: v", "a header name contains a non-ASCII character"),
    ],
)
def test_parse_header_refuses_what_http_cannot_carry(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_header(text)


def test_parse_header_strips_only_optional_whitespace() -> None:
    assert parse_header("X-A:\t v \t") == ("X-A", "v")  # RFC 9110: spaces and tabs
    assert parse_header("X-A: a\tb".replace("\t", " ")) == ("X-A", "a b")
    with pytest.raises(ConfigError, match="control character \\(CR\\)"):
        parse_header("X-A: v\r")  # str.strip() used to drop it: now it is named


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "h", "--port", "0"], "^--port must be >= 1, got 0$"),
        (["--host", "h", "--port", "65536"], "^--port must be <= 65535, got 65536$"),
        (["--url", "http://h", "--output-tokens", "0"], "^--output-tokens must be >= 1, got 0$"),
        (
            ["--url", "http://h", "--output-tokens", str(2**64 + 1)],
            "^--output-tokens must be <= 10000000, got 18446744073709551617$",
        ),
        # --max-tokens wins over --output-tokens, but a bad --output-tokens is still named
        (["--url", "http://h", "--max-tokens", "5", "--output-tokens", "-3"], "^--output-tokens"),
    ],
)
def test_numbers_outside_their_bounds(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(*argv)


@pytest.mark.parametrize("flag", ["--requests", "--max-tokens", "--seed", "--port", "--burst"])
@pytest.mark.parametrize("text", ["1e29", "nan", "inf", "1.5", "0x10", "1" * 5000])
def test_an_integer_flag_names_what_it_got(
    flag: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="llmbench run")
    add_run_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([flag, text])
    assert f"argument {flag}: not an integer: " in capsys.readouterr().err


# -- issue 13, item 8: summary.json's config says where the prompts came from -----------


def test_config_records_the_prompts_file_and_its_order_not_the_unused_prompt() -> None:
    shown = config(
        "--url", "http://h", "--prompts-file", "chat.jsonl", "--order", "shuffle"
    ).public()
    assert (shown["prompts_file"], shown["order"]) == ("chat.jsonl", "shuffle")
    assert shown["prompt"] is None
    assert (shown["input_tokens"], shown["output_tokens"], shown["save_detailed"]) == (
        None, None, False
    )  # fmt: skip


def test_config_records_synthetic_lengths() -> None:
    shown = config(
        "--url", "http://h", "--input-tokens", "512:64", "--output-tokens", "128", "--save-detailed"
    ).public()  # fmt: skip
    assert (shown["input_tokens"], shown["output_tokens"]) == ("512:64", 128)
    assert shown["max_tokens"] == 128
    assert shown["prompt"] is None
    assert shown["prompts_file"] is None
    assert shown["save_detailed"] is True


def test_config_keeps_the_prompt_when_it_is_what_was_sent() -> None:
    assert config("--url", "http://h", "--prompt", "hi").public()["prompt"] == "hi"
    assert config("--url", "http://h").public()["prompt"].startswith("Explain")
