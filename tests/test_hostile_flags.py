"""Hostile command lines (issue 12, items 1, 3, 11, 12): every bad value stops the run
before anything is sent or any run directory is made, with one line on stderr, exit
code 2 and no traceback; a message names the flag and the rule and never shows a
secret. Run through the real entry point, ``llmbench.cli.main``, against a port on
127.0.0.1 where nothing listens (a value wrongly let through would show up as a run
directory and exit 3, or hang until the test's timeout)."""

from __future__ import annotations

import argparse
import math
import socket
from pathlib import Path

import pytest

from llmbench.cli import _build_parser, main
from llmbench.config import (
    MAX_BURST,
    MAX_BURSTINESS,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_INPUT_TOKENS,
    MAX_LINE_BYTES,
    MAX_PREFIX_GROUPS,
    MAX_REQUESTS,
    MAX_RETRIES,
    MAX_RPS,
    MAX_SEED,
    MAX_TOKENS,
    MAX_TRACE_SPEED,
    MIN_BURSTINESS,
    MIN_LINE_BYTES,
    MIN_RPS,
    MIN_SCRAPE_INTERVAL_S,
    MIN_TRACE_SPEED,
)
from llmbench.environment import env_api_keys
from llmbench.providers.base import OptionSources
from llmbench.run_options import add_run_arguments, build_config
from llmbench.synthetic import parse_length


def _dead_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


URL = f"http://127.0.0.1:{_dead_port()}"


def run_cli(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """``llmbench run ARGV --out TMP/run`` from inside TMP: (exit code, stdout, stderr).
    An argparse usage error leaves main() as SystemExit, as it leaves the process."""
    monkeypatch.chdir(tmp_path)  # a default run dir (runs/...) would appear here
    try:
        code = main(["run", *argv, "--out", str(tmp_path / "run")])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(
    result: tuple[int, str, str], tmp_path: Path, message: str, files: tuple[str, ...] = ()
) -> str:
    """Exit 2, one line naming the rule, nothing on stdout, no run directory: the line."""
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("llmbench run: error: "), lines[0]
    assert message in lines[0], lines[0]
    assert out == ""
    # no run directory (--out, or the default runs/ in the working directory)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    return lines[0]


# -- every numeric flag at 0, negative, NaN, inf, 1e300 and 2^64+1 -------------------

# flag: (the lowest accepted value, whether it is accepted itself, the highest)
INTEGERS: dict[str, tuple[int, int]] = {
    "--concurrency": (1, MAX_CONCURRENCY),
    "--burst": (1, MAX_BURST),
    "--seed": (0, MAX_SEED),
    "--requests": (1, MAX_REQUESTS),
    "--warmup": (0, MAX_REQUESTS),
    "--retries": (0, MAX_RETRIES),
    "--max-line-bytes": (MIN_LINE_BYTES, MAX_LINE_BYTES),
    "--max-tokens": (1, MAX_TOKENS),
    "--output-tokens": (1, MAX_TOKENS),
    "--port": (1, 65535),
    "--input-tokens": (1, MAX_INPUT_TOKENS),
    "--prefix-tokens": (1, MAX_INPUT_TOKENS),
    "--prefix-groups": (1, MAX_PREFIX_GROUPS),
}
# flag: (low bound, low bound included, high bound)
NUMBERS: dict[str, tuple[float, bool, float]] = {
    "--rps": (MIN_RPS, True, MAX_RPS),
    "--burstiness": (MIN_BURSTINESS, True, MAX_BURSTINESS),
    "--trace-speed": (MIN_TRACE_SPEED, True, MAX_TRACE_SPEED),
    "--duration": (0.0, False, MAX_DURATION_S),
    "--ramp-up": (0.0, True, MAX_DURATION_S),
    "--warmup-s": (0.0, True, MAX_DURATION_S),
    "--grace": (0.0, True, MAX_DURATION_S),
    "--timeout": (0.0, False, MAX_DURATION_S),
    "--connect-timeout": (0.0, False, MAX_DURATION_S),
    "--ttft-timeout": (0.0, False, MAX_DURATION_S),
    "--stall-timeout": (0.0, False, MAX_DURATION_S),
    "--server-metrics-interval": (MIN_SCRAPE_INTERVAL_S, True, MAX_DURATION_S),
}
HOSTILE = ["0", "-1", "nan", "inf", "1e300", str(2**64 + 1)]


def accepted(flag: str, text: str) -> bool:
    """The oracle: what the table above says about ``flag text``."""
    if flag in INTEGERS:
        low, high = INTEGERS[flag]
        try:
            value = int(text)
        except ValueError:
            return False
        return low <= value <= high
    low_f, inclusive, high_f = NUMBERS[flag]
    number = float(text)
    if math.isnan(number):
        return False
    return (number >= low_f if inclusive else number > low_f) and number <= high_f


def argv_for(flag: str, text: str) -> list[str]:
    if flag == "--port":
        return ["--host", "127.0.0.1", "--port", text]
    if flag == "--prefix-groups":  # it needs --prefix-tokens
        return ["--url", URL, "--prefix-tokens", "4", f"{flag}={text}"]
    return ["--url", URL, f"{flag}={text}"]  # '=': "-1" is a value, not an option


def check_accepted(flag: str, text: str) -> None:
    """A value the table accepts gets through every check that runs before a run."""
    args = _build_parser().parse_args(["run", *argv_for(flag, text)])
    build_config(args, OptionSources())
    if flag == "--input-tokens":
        parse_length(text, flag)


CASES = [(flag, text) for flag in [*INTEGERS, *NUMBERS] for text in HOSTILE]


def test_the_table_covers_every_numeric_flag() -> None:
    """A numeric flag added later must join the table (and get its bound)."""
    run = argparse.ArgumentParser()
    add_run_arguments(run)
    numeric = {
        action.option_strings[0]
        for action in run._actions
        if getattr(action.type, "__name__", "") in ("integer_flag", "number_flag", "int", "float")
    }
    assert numeric | {"--input-tokens"} == set(INTEGERS) | set(NUMBERS)


@pytest.mark.parametrize(("flag", "text"), CASES, ids=[f"{f}={t}" for f, t in CASES])
def test_every_numeric_flag_at_every_hostile_value(
    flag: str,
    text: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if accepted(flag, text):  # 0 is a fine --seed, --warmup, --retries, --grace, ...
        check_accepted(flag, text)
        return
    line = assert_refused(
        run_cli(argv_for(flag, text), tmp_path, monkeypatch, capsys), tmp_path, flag
    )
    if flag in INTEGERS and text.lstrip("-").isdigit():  # in range? then the bound is named
        assert any(str(bound) in line for bound in INTEGERS[flag]), line


@pytest.mark.parametrize("flag", [*INTEGERS, *NUMBERS])
def test_the_bounds_themselves_are_accepted(flag: str) -> None:
    values: list[float]
    if flag in INTEGERS:
        low, high = INTEGERS[flag]
        values = [low, high]
    else:
        low_f, inclusive, high_f = NUMBERS[flag]
        values = [low_f, high_f] if inclusive else [1e-9, high_f]
    for value in values:
        check_accepted(flag, repr(value) if isinstance(value, float) else str(value))


@pytest.mark.parametrize("flag", list(INTEGERS))
def test_one_past_either_bound_is_refused_naming_the_bound(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    low, high = INTEGERS[flag]
    for value, bound in ((low - 1, low), (high + 1, high)):
        result = run_cli(argv_for(flag, str(value)), tmp_path, monkeypatch, capsys)
        line = assert_refused(result, tmp_path, flag)
        assert str(bound) in line


def test_the_bounds_are_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, (low, high) in INTEGERS.items():
        assert f"{low}..{high}" in text or f"at most {high}" in text or str(high) in text, flag
    assert text.count("at most 31536000 s, one year") >= 8
    assert f"{MIN_RPS:g}..{MAX_RPS:.0f}" in text


# -- named cases from the review -------------------------------------------------------

BAD_LINES = [
    (["--url", "http://127.0.0.1:99999"], "--url has a port that is not a number in 1..65535"),
    (["--url", "http://127.0.0.1:abc"], "--url has a port that is not a number in 1..65535"),
    (["--url", "http://127.0.0.1:0"], "--url has a port that is not a number in 1..65535"),
    (["--url", "http://[::1"], "--url is not a valid URL"),
    (["--url", "http://[::1:8000/v1"], "--url is not a valid URL"),
    (["--host", "127.0.0.1", "--port", "99999"], "--port must be <= 65535, got 99999"),
    (["--host", "127.0.0.1", "--port", "-1"], "--port must be >= 1, got -1"),
    (["--host", "127.0.0.1", "--port", "abc"], "argument --port: not an integer: 'abc'"),
    (["--url", URL, "--rps", "1e-300"], "--rps must be >= 1e-06"),
    (["--url", URL, "--max-tokens", "1e29"], "argument --max-tokens: not an integer: '1e29'"),
    (["--url", URL, "--max-tokens", str(10**29)], "--max-tokens must be <= 10000000"),
    (["--url", URL, "--timeout", "1e300"], "--timeout must be <= 31536000 seconds (one year)"),
    (["--url", URL, "--ttft-timeout", "1e300"], "--ttft-timeout must be <= 31536000 seconds"),
    (["--url", URL, "--input-tokens", "1000000000"], "--input-tokens must be at most 1000000"),
    (["--url", URL, "--input-tokens", "500:1000000000"], "--input-tokens must be at most"),
    (["--url", URL, "--requests", str(2**64 + 1)], "--requests must be <= 1000000000"),
    (["--url", URL, "--seed", str(2**64)], f"--seed must be <= {2**64 - 1}"),
    (
        ["--url", URL, "--extra-body", '{"n": 18446744073709551617}'],
        "--extra-body has an integer outside -9223372036854775808..18446744073709551615",
    ),
    (["--url", URL, "--extra-body", '{"a": [{"n": -9223372036854775809}]}'], "an integer outside"),
    (["--url", URL, "--extra-body", '{"t": NaN}'], "--extra-body is not valid JSON"),
    (["--url", URL, "--extra-body", '{"t": 1e999}'], "--extra-body has a number that is NaN"),
    (["--url", URL, "--extra-body", '{"a":' + "[" * 99999 + "]" * 99999 + "}"], "nests deeper"),
    (
        ["--url", URL, "--provider", "dify", "--inputs", '{"n": 99999999999999999999}'],
        "--inputs has an integer outside",
    ),
    (["--url", URL + "/v1\r\nX-Injected: 1"], "--url contains a control character (CR)"),
    (["--url", URL, "--endpoint", "/v1\nX-Injected: 1"], "--endpoint contains a control character"),
    (["--url", URL, "-H", "X Y: 1"], "-H/--header: a header name contains ' '"),
    (["--url", URL, "-H", "X\r\nY: 1"], "-H/--header: a header name contains a control character"),
    (["--url", URL, "-H", "Ä: 1"], "-H/--header: a header name contains a non-ASCII character"),
    (["--url", URL, "-H", "X-Tenant: é"], "-H/--header 'X-Tenant': the value contains a non-ASCII"),
    (
        ["--url", URL, "--provider", "anthropic", "--anthropic-version", "1\r\nX-Injected: 1"],
        "--provider anthropic: header 'anthropic-version': the value contains a control char",
    ),
    # a second framing header makes the request ambiguous (request smuggling)
    (["--url", URL, "-H", "Transfer-Encoding: chunked"], "sets the message framing itself"),
    (["--url", URL, "-H", "content-length: 1"], "sets the message framing itself"),
    # argv bytes that are not UTF-8 arrive as lone surrogates (PEP 383)
    (["--url", URL, "--model", "m\udc80"], "--model: not valid UTF-8 text"),
    (["--url", URL, "--prompt", "p\udcff"], "--prompt: not valid UTF-8 text"),
    (["--url", URL, "--provider", "dify", "--user", "u\udc80"], "--user: not valid UTF-8 text"),
    (["--url", URL, "--endpoint", "/v1\udc80"], "--endpoint: not valid UTF-8 text"),
    (["--url", URL, "--api-key", "k" * 8193], "the key is 8,193 characters; at most 8,192"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_LINES, ids=[m[:40] for _, m in BAD_LINES])
def test_bad_command_lines(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_refused(run_cli(argv, tmp_path, monkeypatch, capsys), tmp_path, message)


# -- every control character in a key, a -H value, a key file line, a variable ----------

CONTROLS = [chr(c) for c in [*range(0x20), 0x7F]]
KEY_HEAD, KEY_TAIL = "sk-hostile-SECRET", "0123456789"  # the key is HEAD + char + TAIL
NAMES = {"\x00": "NUL", "\t": "TAB", "\n": "LF", "\r": "CR", "\x1b": "ESC", "\x7f": "DEL"}


def _name(ch: str) -> str:
    return NAMES.get(ch, f"0x{ord(ch):02x}")


def assert_secret_refused(
    result: tuple[int, str, str],
    tmp_path: Path,
    message: str,
    ch: str,
    files: tuple[str, ...] = (),
) -> None:
    line = assert_refused(result, tmp_path, message, files)
    assert f"a control character ({_name(ch)})" in line
    assert KEY_HEAD not in result[1] + result[2]
    assert KEY_TAIL not in result[1] + result[2]


@pytest.mark.parametrize("ch", CONTROLS, ids=_name)
def test_a_control_character_in_api_key(
    ch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in (KEY_HEAD + ch + KEY_TAIL, KEY_HEAD + KEY_TAIL + ch):
        result = run_cli(["--url", URL, "--api-key", key], tmp_path, monkeypatch, capsys)
        assert_secret_refused(result, tmp_path, "--api-key: the key contains", ch)


@pytest.mark.parametrize("ch", CONTROLS, ids=_name)
def test_a_control_character_in_a_header_value(
    ch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    values = [KEY_HEAD + ch + KEY_TAIL]
    if ch != "\t":  # spaces and tabs around a value are optional whitespace (RFC 9110)
        values.append(KEY_HEAD + KEY_TAIL + ch)
    for value in values:
        argv = ["--url", URL, "-H", f"Authorization: Bearer {value}"]
        result = run_cli(argv, tmp_path, monkeypatch, capsys)
        assert_secret_refused(result, tmp_path, "-H/--header 'Authorization': the value", ch)


@pytest.mark.parametrize("ch", [c for c in CONTROLS if c != "\n"], ids=_name)
def test_a_control_character_in_a_key_file_line(
    ch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes(f"# keys\nsk-good-1\n{KEY_HEAD}{ch}{KEY_TAIL}\r\nsk-good-2\n".encode())
    result = run_cli(["--url", URL, "--api-key-file", str(keys)], tmp_path, monkeypatch, capsys)
    message = f"--api-key-file {keys} line 3: the key contains"
    assert_secret_refused(result, tmp_path, message, ch, ("keys.txt",))


@pytest.mark.parametrize("variable", ["LLMBENCH_API_KEY", "OPENAI_API_KEY"])
@pytest.mark.parametrize("ch", CONTROLS[1:], ids=_name)  # NUL cannot be in an environment
def test_a_control_character_in_an_environment_key(
    ch: str,
    variable: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LLMBENCH_API_KEY", raising=False)
    monkeypatch.setenv(variable, KEY_HEAD + ch + KEY_TAIL)
    result = run_cli(["--url", URL], tmp_path, monkeypatch, capsys)
    assert_secret_refused(result, tmp_path, f"{variable}: the key contains", ch)


def test_nul_in_an_environment_mapping_is_refused_too() -> None:
    with pytest.raises(
        Exception, match=r"^LLMBENCH_API_KEY: the key contains a control character \(NUL\)"
    ):
        env_api_keys({"LLMBENCH_API_KEY": KEY_HEAD + "\x00" + KEY_TAIL})


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_one_trailing_line_ending_of_a_variable_is_dropped(ending: str) -> None:
    # a CRLF .env file: `set -a; . ./.env` leaves the CR; docker --env-file and
    # python-dotenv do not; every way works
    key = KEY_HEAD + KEY_TAIL
    assert env_api_keys({"LLMBENCH_API_KEY": key + ending}) == [key]
    with pytest.raises(Exception, match=r"control character"):
        env_api_keys({"LLMBENCH_API_KEY": key + ending + ending})


@pytest.mark.parametrize("key", ["sk-é-123", "sk-\u2028-123", "sk-\x85-123", "sk-\u200b-123"])
def test_a_non_ascii_key_is_refused_without_showing_it(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(["--url", URL, "--api-key", key], tmp_path, monkeypatch, capsys)
    line = assert_refused(result, tmp_path, "--api-key: the key contains a non-ASCII character")
    assert "sk-" not in line.partition("error: ")[2].replace("--api-key", "")


def test_a_template_header_from_the_environment_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "gw.toml"
    spec.write_text(
        'path = "/g"\nframing = "sse"\n[headers]\nAuthorization = "Bearer ${GW_TOKEN}"\n'
        '[response]\ncontent = "t"\n'
    )
    argv = ["--url", URL, "--provider", "template", "--provider-config", str(spec)]
    monkeypatch.setenv("GW_TOKEN", KEY_HEAD + "\r\nX-Injected: 1")
    result = run_cli(argv, tmp_path, monkeypatch, capsys)
    line = assert_refused(
        result, tmp_path, f"--provider-config {spec}: headers 'Authorization'", ("gw.toml",)
    )
    assert "a control character (CR)" in line
    assert KEY_HEAD not in line
