"""Tests for llmbench.config: RunConfig validation, public() (with a provider's
options) and, from llmbench.redaction, redact_url.

Each bad value must raise ConfigError with a message that names the flag and the
rule (STYLE.md rule 7); the table below asserts those messages with ``match=``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import pytest

from llmbench.config import (
    ARRIVALS,
    EXIT_USAGE,
    PRIVATE_OPTION,
    TRANSPORTS,
    ConfigError,
    RunConfig,
    parse_json_object,
    public_options,
)
from llmbench.providers.dify import DifyOptions
from llmbench.redaction import redact_url
from llmbench.sse import DEFAULT_MAX_LINE_BYTES

URL = "http://127.0.0.1:8000"

BAD: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://h/x"}, "--url must start with http:// or https://, got 'ftp://h/x'"),
    ({"url": "127.0.0.1:8000"}, "--url must start with http:// or https://"),
    ({"url": ""}, "--url must start with http:// or https://, got ''"),
    ({"url": "http://"}, "--url has no host: 'http://'"),
    ({"url": "https:///v1"}, "--url has no host"),
    ({"concurrency": 0}, "--concurrency must be >= 1, got 0"),
    ({"concurrency": -3}, "--concurrency must be >= 1, got -3"),
    ({"requests": 0}, "--requests must be >= 1, got 0"),
    ({"duration_s": 0.0}, "--duration must be > 0 seconds, got 0.0"),
    ({"duration_s": -1.0}, "--duration must be > 0 seconds, got -1.0"),
    ({"duration_s": math.inf}, "--duration must be <= 31536000 seconds (one year), got inf"),
    ({"duration_s": math.nan}, "--duration must be > 0 seconds, got nan"),
    ({"rps": 0.0}, "--rps must be > 0, got 0.0"),
    ({"rps": math.inf}, "--rps must be <= 1000000, got inf"),
    ({"rps": math.nan}, "--rps must be > 0, got nan"),
    ({"burstiness": 0.0}, "--burstiness must be > 0, got 0.0"),
    ({"burstiness": math.nan}, "--burstiness must be > 0, got nan"),
    ({"burst": 0}, "--burst must be >= 1, got 0"),
    ({"ramp_up_s": -0.5}, "--ramp-up must be >= 0 seconds, got -0.5"),
    ({"ramp_up_s": math.nan}, "--ramp-up must be >= 0 seconds, got nan"),
    ({"warmup_requests": -1}, "--warmup must be >= 0, got -1"),
    ({"warmup_s": -1.0}, "--warmup-s must be >= 0 seconds, got -1.0"),
    ({"grace_s": -1.0}, "--grace must be >= 0 seconds, got -1.0"),
    ({"timeout_s": 0.0}, "--timeout must be > 0 seconds, got 0.0"),
    ({"timeout_s": math.nan}, "--timeout must be > 0 seconds, got nan"),
    ({"connect_timeout_s": 0.0}, "--connect-timeout must be > 0 seconds, got 0.0"),
    ({"max_tokens": 0}, "--max-tokens must be >= 1, got 0"),
    ({"max_line_bytes": 1023}, "--max-line-bytes must be >= 1024, got 1023"),
    ({"transport": "curl"}, "unknown --transport 'curl'"),
    # upper bounds (issue 12): no accepted value overflows a timer, memory or orjson
    ({"concurrency": 100_001}, "--concurrency must be <= 100000, got 100001"),
    ({"requests": 2**64 + 1}, "--requests must be <= 1000000000, got 18446744073709551617"),
    ({"warmup_requests": 10**9 + 1}, "--warmup must be <= 1000000000"),
    ({"burst": 2**64 + 1}, "--burst must be <= 1000000000"),
    ({"seed": -1}, "--seed must be >= 0, got -1"),
    ({"seed": 2**64}, "--seed must be <= 18446744073709551615, got 18446744073709551616"),
    ({"retries": 101}, "--retries must be <= 100, got 101"),
    ({"max_tokens": 10**29}, "--max-tokens must be <= 10000000"),
    ({"max_line_bytes": 2**64 + 1}, "--max-line-bytes must be <= 268435456"),
    ({"rps": 1e-300}, "--rps must be >= 1e-06 (one request per 11.6 days), got 1e-300"),
    ({"rps": 1e7}, "--rps must be <= 1000000, got 10000000.0"),
    ({"burstiness": 1e-300}, "--burstiness must be in 0.001..1000, got 1e-300"),
    ({"burstiness": 1e300}, "--burstiness must be in 0.001..1000"),
    ({"timeout_s": 1e300}, "--timeout must be <= 31536000 seconds (one year), got 1e+300"),
    ({"timeout_s": math.inf}, "--timeout must be <= 31536000 seconds (one year), got inf"),
    ({"connect_timeout_s": 1e300}, "--connect-timeout must be <= 31536000 seconds"),
    ({"ttft_timeout_s": 1e300}, "--ttft-timeout must be <= 31536000 seconds"),
    ({"stall_timeout_s": 31_536_001.0}, "--stall-timeout must be <= 31536000 seconds"),
    ({"grace_s": 1e300}, "--grace must be <= 31536000 seconds"),
    ({"duration_s": 1e300}, "--duration must be <= 31536000 seconds"),
    ({"ramp_up_s": 1e300}, "--ramp-up must be <= 31536000 seconds"),
    ({"warmup_s": 1e300}, "--warmup-s must be <= 31536000 seconds"),
    ({"concurrency": True}, "--concurrency must be an integer, got True"),
    # URLs that do not parse, or whose port is not one (never echoed: user:password)
    ({"url": "http://h:99999"}, "--url has a port that is not a number in 1..65535"),
    ({"url": "http://u:pw@h:abc"}, "--url has a port that is not a number in 1..65535"),
    ({"url": "http://h:0/v1"}, "--url has a port that is not a number in 1..65535"),
    ({"url": "http://[::1"}, "--url is not a valid URL: an IPv6 address needs its ']'"),
    ({"url": "http://h/v1\r\nX: 1"}, "--url contains a control character (CR)"),
    ({"url": "http://h/\x00"}, "--url contains a control character (NUL)"),
    ({"endpoint": "/v1 HTTP/1.1\r\nX: 1"}, "--endpoint contains a control character (CR)"),
    # a header that would split the request (header injection) cannot be configured
    ({"headers": (("X-A", "1\r\nX-Injected: 1"),)}, "-H/--header 'X-A': the value contains a"),
    (
        {"headers": (("X-A", "\x7f"),)},
        "-H/--header 'X-A': the value contains a control character (DEL)",
    ),
    ({"headers": (("X-A", "é"),)}, "-H/--header 'X-A': the value contains a non-ASCII character"),
    (
        {"headers": (("X-A\nB", "1"),)},
        "-H/--header: a header name contains a control character (LF)",
    ),
    ({"headers": (("", "1"),)}, "-H/--header: a header name is empty"),
    ({"headers": (("X:A", "1"),)}, "-H/--header: a header name contains ':'"),
    ({"extra_body": {"n": 2**64}}, "--extra-body has an integer outside"),
    ({"extra_body": {"n": math.nan}}, "--extra-body has a number that is NaN or infinite"),
]


@pytest.mark.parametrize(
    ("changes", "message"), BAD, ids=[f"{next(iter(c))}={next(iter(c.values()))!r}" for c, _ in BAD]
)
def test_bad_values_name_the_flag(changes: dict[str, Any], message: str) -> None:
    kwargs = {"url": URL, **changes}
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        RunConfig(**kwargs)


# Values the checks above let through although the run cannot use them: each makes
# the run crash with a traceback (ValueError/OverflowError in schedule.py or
# runner._phase) instead of stopping before it starts with one clear line.
NON_FINITE: list[tuple[dict[str, Any], str]] = [
    ({"ramp_up_s": math.inf}, "--ramp-up"),  # schedule.warp: round(nan) -> ValueError
    ({"burstiness": math.inf}, "--burstiness"),  # random.gammavariate(inf, 0.0) -> ValueError
    ({"warmup_s": math.inf}, "--warmup-s"),  # runner: int(inf * 1e9) -> OverflowError
]


@pytest.mark.parametrize(("changes", "flag"), NON_FINITE, ids=[f for _, f in NON_FINITE])
def test_infinite_values_are_rejected(changes: dict[str, Any], flag: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(flag)} "):
        RunConfig(url=URL, **changes)


def test_unknown_arrival_is_rejected() -> None:
    # The CLI restricts --arrival with choices, but RunConfig validates every value
    # "so a config built from flags, from a file or in a test is checked the same
    # way": an unknown arrival process got through and raised ValueError in
    # schedule.unit_arrivals once the open-loop feeder started.
    with pytest.raises(ConfigError, match="--arrival"):
        RunConfig(url=URL, arrival="uniform")  # type: ignore[arg-type]


GOOD: list[dict[str, Any]] = [
    {},
    {"url": "https://api.example.com/v1"},
    {"url": "http://[::1]:8000"},
    {"concurrency": 1, "requests": 1, "duration_s": 0.001, "rps": 0.01},
    {"burstiness": 0.01, "burst": 1, "ramp_up_s": 0.0, "warmup_requests": 0, "warmup_s": 0.0},
    {"grace_s": 0.0, "timeout_s": 0.001, "connect_timeout_s": 0.001},
    {"max_tokens": 1, "max_line_bytes": 1024, "transport": "httpx"},
    {"arrival": "gamma", "burstiness": 0.25},
    # every upper bound is itself accepted
    {"concurrency": 100_000, "requests": 10**9, "warmup_requests": 10**9, "burst": 10**9},
    {"seed": 2**64 - 1, "retries": 100, "max_tokens": 10**7, "max_line_bytes": 2**28},
    {"rps": 1e-6, "burstiness": 0.001},
    {"rps": 1e6, "burstiness": 1000.0},
    {"timeout_s": 31_536_000.0, "connect_timeout_s": 31_536_000.0, "grace_s": 31_536_000.0},
    {"ttft_timeout_s": 31_536_000.0, "stall_timeout_s": 31_536_000.0},
    {"duration_s": 31_536_000.0, "ramp_up_s": 31_536_000.0, "warmup_s": 31_536_000.0},
    {"url": "http://h:65535/v1", "endpoint": "/v1/chat?x=1"},
    {"url": "http://h:1"},
    {"headers": (("X-Tenant", "a b\"c'{}~"), ("Authorization", "Bearer sk-1"), ("X-Empty", ""))},
    {"extra_body": {"n": 2**64 - 1, "m": -(2**63), "x": [1.5, None, True]}},
]


@pytest.mark.parametrize("changes", GOOD)
def test_good_values_are_accepted(changes: dict[str, Any]) -> None:
    cfg = RunConfig(**{"url": URL, **changes})
    for name, value in changes.items():
        assert getattr(cfg, name) == value


def test_defaults() -> None:
    cfg = RunConfig(url=URL)
    assert (cfg.provider, cfg.concurrency, cfg.provider_options, cfg.transport) == (
        "openai-chat",
        1,
        None,
        "fast",
    )
    assert (cfg.requests, cfg.duration_s, cfg.rps, cfg.open_loop) == (None, None, None, False)
    assert cfg.max_line_bytes == DEFAULT_MAX_LINE_BYTES
    assert RunConfig(url=URL, rps=5.0).open_loop is True


def test_frozen() -> None:
    cfg = RunConfig(url=URL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.concurrency = 5  # type: ignore[misc]


def test_replace_revalidates() -> None:
    with pytest.raises(ConfigError, match=r"^--concurrency must be >= 1, got 0$"):
        dataclasses.replace(RunConfig(url=URL), concurrency=0)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# -- public() and redact_url ----------------------------------------------------------


def test_public_strips_credentials_and_keeps_everything_else() -> None:
    cfg = RunConfig(
        url="https://alice:s3cr3t@gw.example.com:8443/v1?team=a",
        model="m",
        out_dir=Path("/tmp/runs"),
        concurrency=4,
    )
    public = cfg.public()
    assert public["url"] == "https://gw.example.com:8443/v1?team=a"
    assert public["out_dir"] == "/tmp/runs"
    assert public["model"] == "m"
    assert public["concurrency"] == 4
    assert set(public) == {f.name for f in dataclasses.fields(RunConfig)}
    assert "s3cr3t" not in repr(public)
    assert "alice" not in repr(public)


def test_public_without_credentials_is_unchanged() -> None:
    public = RunConfig(url=URL, max_tokens=8).public()
    assert public["url"] == URL
    assert public["max_tokens"] == 8
    assert public["out_dir"] is None


def test_url_error_messages_do_not_leak_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(url="ftp://bob:hunter2@h/x")
    assert "hunter2" not in str(info.value)
    assert str(info.value) == "--url must start with http:// or https://, got 'ftp://h/x'"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://h:8000/v1", "http://h:8000/v1"),
        ("http://user:pw@h:8000/v1", "http://h:8000/v1"),
        ("https://user:pw@h/v1/chat?x=1#frag", "https://h/v1/chat?x=1#frag"),
        ("http://token@h/v1", "http://h/v1"),
        ("http://:pw@h", "http://h"),
        ("https://user:p%40ss@api.example.com", "https://api.example.com"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://user:pw@[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("http://user:pw@[2001:db8::5]/v1", "http://[2001:db8::5]/v1"),
    ],
)
def test_redact_url_keeps_ipv6_brackets(url: str, redacted: str) -> None:
    # urlsplit().hostname drops the brackets; rebuilding the netloc from it gave
    # "http://::1:8000/v1", which is not a URL (and names the wrong port).
    assert redact_url(url) == redacted


# -- one definition of each choice ----------------------------------------------------


def test_choices_are_the_literals() -> None:
    assert ARRIVALS == ("constant", "poisson", "gamma")
    assert TRANSPORTS == ("fast", "httpx")
    assert EXIT_USAGE == 2
    with pytest.raises(
        ConfigError, match=r"^--arrival must be constant, poisson or gamma, got 'x'$"
    ):
        RunConfig(url=URL, arrival="x")  # type: ignore[arg-type]


# -- provider options -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Options:
    tenant: str = "a"
    config: Path | None = None
    spec: object = dataclasses.field(default=None, metadata=PRIVATE_OPTION)


def test_public_shows_provider_options_but_not_private_fields() -> None:
    options = _Options("t-1", Path("/etc/gw.toml"), spec="parsed, with ${SECRET} resolved")
    public = RunConfig(url=URL, provider="x", provider_options=options).public()
    assert public["provider_options"] == {"tenant": "t-1", "config": "/etc/gw.toml"}
    assert "SECRET" not in repr(public)
    assert RunConfig(url=URL).public()["provider_options"] == {}
    dify = DifyOptions(user="u", inputs={"city": "Paris"})
    assert public_options(dify) == {"user": "u", "conversation_id": "", "inputs": {"city": "Paris"}}


def test_provider_options_must_be_an_options_dataclass() -> None:
    message = "provider_options must be a provider's options dataclass, got dict"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RunConfig(url=URL, provider_options={"user": "u"})
    with pytest.raises(ConfigError, match="got type"):
        RunConfig(url=URL, provider_options=_Options)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "--flag is not valid JSON: "),
        ("[1]", "--flag must be a JSON object, got list"),
        ('"s"', "--flag must be a JSON object, got str"),
        # JSON every writer can write back: orjson takes 64-bit integers only, json.loads
        # takes NaN and Infinity (not JSON), and nesting past the recursion limit
        ('{"n": 18446744073709551616}', "--flag has an integer outside"),
        ('{"a": {"b": [-9223372036854775809]}}', "--flag has an integer outside"),
        ('{"n": NaN}', "--flag is not valid JSON: NaN is not a JSON number"),
        ('{"n": -Infinity}', "--flag is not valid JSON: -Infinity is not a JSON number"),
        ('{"n": 1e999}', "--flag has a number that is NaN or infinite"),
        ('{"s": "\\ud800"}', "--flag has a string with a lone surrogate"),
        ('{"\\udfff": 1}', "--flag has a string with a lone surrogate"),
        ('{"a": ' + "[" * 64 + "]" * 64 + "}", "--flag nests deeper than 64 levels"),
        ('{"a": ' + "[" * 99_999 + "]" * 99_999 + "}", "--flag nests deeper than 64 levels"),
        ("1" * 5000, "--flag is not valid JSON"),
    ],
)
def test_parse_json_object(text: str, message: str) -> None:
    assert parse_json_object(None, "--flag") == {}
    assert parse_json_object('{"a": [1]}', "--flag") == {"a": [1]}
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        parse_json_object(text, "--flag")


def test_json_at_the_limits_is_accepted() -> None:
    deep = '{"a": ' + "[" * 63 + "]" * 63 + "}"
    assert parse_json_object(deep, "--flag")
    edge = parse_json_object('{"u": 18446744073709551615, "i": -9223372036854775808}', "--f")
    assert edge == {"u": 2**64 - 1, "i": -(2**63)}
