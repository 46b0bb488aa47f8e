"""``--config FILE.toml`` and ``--print-config`` (llmbench.config_file and
llmbench.config_print, wired in llmbench.cli): keys and values per kind of flag,
aliases, conflicts, unknown keys, precedence, the printed configuration (read back,
credentials redacted) and hostile files. Refusals are one ConfigError line naming the
key; through ``main``, exit 2."""

from __future__ import annotations

import argparse
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench import cli
from llmbench.cli import _build_parser, _with_config, main
from llmbench.config import ConfigError
from llmbench.config_file import (
    MAX_CONFIG_BYTES,
    MAX_KEY_PARTS,
    expand,
    file_flags,
    parse_toml,
    read_config,
    subcommand,
)
from llmbench.config_print import render
from llmbench.providers.base import OptionSources
from llmbench.redaction import REDACTED, redact_url
from llmbench.run_options import build_config
from llmbench.slo import parse_goodput, parse_slos

T = TypeVar("T")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_parser(*argv: str) -> argparse.ArgumentParser:
    return subcommand(_build_parser(["run", *argv]), "run")


def flags(text: str, parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The flags a config file's text gives (`llmbench run`'s, unless ``parser``)."""
    found = file_flags(parse_toml(text.encode()), parser or run_parser())
    return [f for _, group in found for f in group]


def write(tmp_path: Path, text: str | bytes, name: str = "bench.toml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def resolved(tmp_path: Path, text: str, *argv: str) -> argparse.Namespace:
    """`llmbench run --config FILE ARGV` as the run sees it."""
    full = _with_config(["run", "--config", write(tmp_path, text), *argv])
    return _build_parser(full).parse_args(full)


def cli_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``llmbench ARGV``: (exit code, stdout, stderr); argparse's exits included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def refused_line(result: tuple[int, str, str], path: str, message: str) -> None:
    """Exit 2 with one line naming the file and saying ``message``; nothing on stdout."""
    code, out, err = result
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith(f"llmbench run: error: --config {path}: "), err
    assert message in err, err


# ---- values, by the kind of flag --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('prompt = "hi there"', ["--prompt=hi there"]),
        ("concurrency = 8", ["--concurrency=8"]),
        ("rps = 2.5", ["--rps=2.5"]),
        ('concurrency = "8"', ["--concurrency=8"]),  # text, as the command line gives it
        ('order = "shuffle"', ["--order=shuffle"]),
        ('prompt = "--looks-like-a-flag"', ["--prompt=--looks-like-a-flag"]),
        ("seed = -1", ["--seed=-1"]),
        ('slo = "ttft_p95<=500ms"', ["--slo=ttft_p95<=500ms"]),
        ('slo = ["a<=1", "b<=2"]', ["--slo=a<=1", "--slo=b<=2"]),
        ("slo = []", []),
        ('header = ["X-A: 1"]', ["--header=X-A: 1"]),
        ("quiet = true", ["--quiet"]),
        ("quiet = false", []),
        ("csv = true", ["--csv"]),
        ('csv = "out.csv"', ["--csv=out.csv"]),
        ("csv = false", []),
    ],
)
def test_values_become_the_flags_a_command_line_would_give(text: str, expected: list[str]) -> None:
    assert flags(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurrency = true", "key 'concurrency' takes a string or a number, got a boolean"),
        ("concurrency = [1, 2]", "key 'concurrency' takes a string or a number, got an array"),
        ("concurrency = {a = 1}", "key 'concurrency' is a table: a config file has top-level"),
        ("[concurrency]\na = 1", "key 'concurrency' is a table"),
        ("start-at = 2030-01-01T00:00:00Z", "key 'start-at' takes a string or a number, got a"),
        ("start-at = 10:00:00", "key 'start-at' takes a string or a number, got a date/time (quo"),
        ("slo = [true]", "key 'slo' takes a string or a number, or an array of them, got a bool"),
        ("slo = [['a']]", "key 'slo' takes a string or a number, or an array of them, got an arr"),
        ("slo = [{a = 1}]", "key 'slo' takes a string or a number, or an array of them, got a tab"),
        ('quiet = "true"', "key 'quiet' takes true or false, got a string"),
        ("quiet = 1", "key 'quiet' takes true or false, got an integer"),
        ('concurrency = "eight"', "key 'concurrency': not an integer: 'eight'"),
        ("concurrency = 2.5", "key 'concurrency': not an integer: '2.5'"),
        ("max-error-rate = 2", "key 'max-error-rate': must be from 0 to 100%, got '2'"),
        ('order = "random"', "key 'order': invalid choice: 'random' (choose from"),
        ('prompt = "a\\u0000b"', "key 'prompt': a NUL character cannot be a flag's value"),
        ('prompt = "--"', "key 'prompt': '--' cannot be a flag's value"),
    ],
)
def test_a_wrong_value_names_its_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        flags(text)


def test_a_refused_value_is_never_shown() -> None:
    with pytest.raises(ConfigError) as info:
        flags('api-key = ["sk-live-0123456789"]')
    assert "sk-live" not in str(info.value)


# ---- on/off flags: the flag's name, or the destination a --no-X flag stores into ------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no-stream = true", ["--no-stream"]),
        ("no-stream = false", []),
        ("stream = false", ["--no-stream"]),
        ("stream = true", []),
        ("preflight = false", ["--no-preflight"]),
        ("no_preflight = true", ["--no-preflight"]),
        ("include-usage = false", ["--no-usage"]),  # --no-usage stores into include_usage
        ("no-usage = true", ["--no-usage"]),
    ],
)
def test_a_no_flag_is_its_name_or_the_value_it_stores(text: str, expected: list[str]) -> None:
    assert flags(text) == expected


def test_stream_false_reaches_the_run(tmp_path: Path) -> None:
    assert resolved(tmp_path, "stream = false").stream is False
    assert resolved(tmp_path, "stream = true").stream is True
    assert resolved(tmp_path, "no-preflight = true").preflight is False


# ---- names: aliases, either separator, conflicts, unknown and reserved keys ----------


@pytest.mark.parametrize(
    ("text", "dest", "value"),
    [
        ('model-name = "qwen"', "model", "qwen"),
        ("threads = 7", "concurrency", 7),
        ("execution-time = 30", "duration", 30.0),
        ('param-file = "p.txt"', "prompts_file", "p.txt"),
        ("max_error_rate = 0.2", "max_error_rate", 0.2),
        ("warmup_s = 3", "warmup_s", 3.0),
        ('H = "X: y"', None, None),  # a short flag is no key
    ],
)
def test_aliases_and_underscores(tmp_path: Path, text: str, dest: str | None, value: Any) -> None:
    if dest is None:
        with pytest.raises(ConfigError, match=r"^unknown key 'H'"):
            flags(text)
        return
    assert getattr(resolved(tmp_path, text), dest) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "a"\nmodel-name = "b"', "keys 'model' and 'model-name' both set --model; keep"),
        (
            "max-error-rate = 0.1\nmax_error_rate = 0.2",
            "keys 'max-error-rate' and 'max_error_rate'",
        ),
        ("threads = 2\nconcurrency = 3", "keys 'threads' and 'concurrency' both set --concurrency"),
        ("stream = false\nno-stream = true", "keys 'stream' and 'no-stream' both set --no-stream"),
        ('header = "A: 1"\nH = "B: 2"', "unknown key 'H'"),  # reported in the file's order
    ],
)
def test_two_keys_for_one_option_conflict(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        flags(text)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("concurency", "unknown key 'concurency' (did you mean 'concurrency'?)"),
        ("max-eror-rate", "unknown key 'max-eror-rate' (did you mean 'max-error-rate'?)"),
        ("Quiet", "unknown key 'Quiet' (did you mean 'quiet'?)"),
        ("zzzzzz", "unknown key 'zzzzzz'"),
        ("coordinated", "unknown key 'coordinated'"),  # a hidden internal flag
        ("config", "key 'config' is for the command line, not a config file"),
        ("print-config", "key 'print-config' is for the command line, not a config file"),
        ("print_config", "key 'print_config' is for the command line, not a config file"),
        ("help", "key 'help' is for the command line, not a config file"),
    ],
)
def test_unknown_and_reserved_keys(key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        flags(f"{key} = true")
    assert str(info.value) == message


def test_an_unknown_key_is_shown_escaped_and_cut() -> None:
    with pytest.raises(ConfigError) as info:
        flags('"a\\nb' + "x" * 500 + '" = 1')
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 200


# ---- any parser: the flags are read from its actions -------------------------------------


def odd_parser() -> argparse.ArgumentParser:
    """Kinds of flag `llmbench run` does not have (yet): a sweep's or a plugin's."""
    p = argparse.ArgumentParser(prog="odd", exit_on_error=False)
    p.add_argument("--color", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("--loads", nargs="+", type=float)
    p.add_argument("--pair", nargs=2)
    p.add_argument("--tag", action="extend", nargs="+", default=[])
    p.add_argument("--fast", action="store_const", const="yes")
    p.add_argument("--mode", choices=("rate", "concurrency"), default="rate")
    p.add_argument("--internal", help=argparse.SUPPRESS)
    p.add_argument("--no-cache", dest="cache", action="store_false")
    p.add_argument("--cache", dest="cache", action="store_true")  # takes its name back
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("color = false", ["--no-color"]),
        ("color = true", ["--color"]),
        ("no-color = true", ["--no-color"]),
        ("verbose = 3", ["--verbose"] * 3),
        ("verbose = true", ["--verbose"]),
        ("loads = [1, 2.5]", ["--loads", "1", "2.5"]),
        ("loads = 4", ["--loads", "4"]),
        ('pair = ["a", "b"]', ["--pair", "a", "b"]),
        ('tag = ["x", "y"]', ["--tag", "x", "y"]),
        ("fast = true", ["--fast"]),
        ('mode = "concurrency"', ["--mode=concurrency"]),
        ("cache = true", ["--cache"]),
        ("no-cache = true", ["--no-cache"]),
    ],
)
def test_any_kind_of_flag_from_its_action(text: str, expected: list[str]) -> None:
    assert flags(text, odd_parser()) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("verbose = -1", "key 'verbose' takes a count from 0 to 100, got an integer"),
        ('loads = ["x"]', "key 'loads': invalid float value: 'x'"),
        ("loads = []", "key 'loads' takes one or more values"),
        ('pair = ["a"]', "key 'pair' takes 2 values"),
        ('pair = ["-a", "b"]', "key 'pair': a value of a several-value flag cannot start with"),
        ('mode = "x"', "key 'mode': invalid choice: 'x'"),
        ('internal = "x"', "unknown key 'internal'"),
        ("cache = true\nno-cache = true", "keys 'cache' and 'no-cache' both set --no-cache"),
    ],
)
def test_any_kind_of_flag_refuses_a_wrong_value(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        flags(text, odd_parser())


def test_any_kind_of_flag_prints_back_the_same() -> None:
    parser = odd_parser()
    argv = flags(
        'color = false\nverbose = 2\nloads = [1, 2.5]\npair = ["a", "b"]\ntag = ["x"]\n'
        'fast = true\nmode = "concurrency"\nno-cache = true',
        parser,
    )
    text = render(parser, argv, "odd")
    assert tomllib.loads(text) == {
        "color": False, "verbose": 2, "loads": [1, 2.5], "pair": ["a", "b"], "tag": ["x"],
        "fast": True, "mode": "concurrency", "no-cache": True,
    }  # fmt: skip
    again = flags(text, parser)
    assert parser.parse_args(again) == parser.parse_args(argv)
    assert render(parser, again, "odd") == text


# ---- precedence: command line > file > defaults -----------------------------------------

FILE = """
url = "http://127.0.0.1:8000"
concurrency = 4
model-name = "from-file"
slo = ["ttft_p95<=500ms", "error_rate<=1%"]
header = ["X-A: 1", "X-B: 2"]
quiet = true
"""


def test_the_command_line_wins_and_a_list_replaces_the_files(tmp_path: Path) -> None:
    args = resolved(tmp_path, FILE, "--concurrency", "9", "--slo", "tpot_p95<=50ms", "-H", "X-C: 3")
    assert args.concurrency == 9
    assert args.slo == ["tpot_p95<=50ms"]  # not added to the file's
    assert args.header == ["X-C: 3"]
    assert (args.model, args.quiet, args.url) == ("from-file", True, "http://127.0.0.1:8000")
    assert args.timeout == 600.0  # the default: neither gave it


def test_an_alias_on_the_command_line_replaces_the_files_key(tmp_path: Path) -> None:
    assert resolved(tmp_path, FILE, "--model", "cli").model == "cli"
    assert resolved(tmp_path, FILE, "--threads=5").concurrency == 5
    assert resolved(tmp_path, FILE, "--header=X-D: 4").header == ["X-D: 4"]


def test_the_file_alone(tmp_path: Path) -> None:
    args = resolved(tmp_path, FILE)
    assert args.slo == ["ttft_p95<=500ms", "error_rate<=1%"]
    assert args.header == ["X-A: 1", "X-B: 2"]
    cfg = build_config(args, OptionSources())
    assert (cfg.concurrency, cfg.model, cfg.headers) == (
        4,
        "from-file",
        (("X-A", "1"), ("X-B", "2")),
    )


def test_workers_get_the_files_flags_and_never_the_file(tmp_path: Path) -> None:
    """What `--workers` hands its workers is args.argv: the file's flags, no --config."""
    path = write(tmp_path, FILE)
    full = _with_config(["run", "--quiet", "--config", path, "--concurrency=2"])
    args = _build_parser(full).parse_args(full)
    args.argv = full[1:]
    assert "--config" not in " ".join(args.argv)
    assert path not in args.argv
    assert "--model=from-file" in args.argv
    assert "--concurrency=4" not in args.argv  # the command line's replaces it
    assert args.argv[-2:] == ["--quiet", "--concurrency=2"]  # the command line's, as given


def test_the_last_config_wins_and_a_missing_value_is_argparses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = (
        write(tmp_path, "threads = 2", "a.toml"),
        write(tmp_path, "threads = 3", "b.toml"),
    )
    assert resolved(tmp_path, "", "--config", first, f"--config={second}").concurrency == 3
    code, _, err = cli_run(["run", "--url", "http://127.0.0.1:9", "--config"], capsys)
    assert code == 2
    assert "argument --config: expected one argument" in err


def test_without_config_the_argv_is_untouched() -> None:
    argv = ["--url", "u", "--", "--config", "x"]
    assert expand(argv, lambda flags: run_parser(*flags)) == argv
    assert _with_config(["mock", "--config", "x"]) == ["mock", "--config", "x"]


# ---- a plugin provider named in the file brings its flags into the file -----------------

PLUGIN = """
from dataclasses import dataclass
from llmbench.events import Content
from llmbench.http.request import HttpRequest
from llmbench.providers.base import ProviderSpec

@dataclass(frozen=True, slots=True)
class Options:
    tenant: str = "default"

class Tenanted:
    name = "tenanted"
    framing = "ndjson"
    def __init__(self, cfg, options):
        self.url = cfg.url
    def build_request(self, item, api_key):
        return HttpRequest("POST", self.url, (), b"")
    def decode(self, event, data):
        return [Content(data)]

def add_flags(group):
    group.add_argument("--tenant", default="default")
    group.add_argument("--gateway-token")

def options_from(args, sources):
    return Options(args.tenant)

SPEC = ProviderSpec("tenanted", Tenanted, Options, add_flags, options_from)
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin provider `tenanted` with --tenant and --gateway-token, installed as pip
    would (a dist-info with entry points on sys.path)."""
    site = tmp_path / "site"
    dist = site / "llmb_cfg_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: llmb-cfg-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[llmbench.providers]\ntenanted = llmb_cfg_plugin:SPEC\n"
    )
    (site / "llmb_cfg_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("llmb_cfg_plugin", None)


@pytest.mark.usefixtures("plugin")
def test_a_plugin_named_in_the_file_brings_its_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "gw-secret-0123456789"
    text = (
        f'url = "http://127.0.0.1:9"\nprovider = "tenanted"\ntenant = "acme"\n'
        f'gateway-token = "{token}"\n'
    )
    args = resolved(tmp_path, text)
    assert (args.provider, args.tenant, args.gateway_token) == ("tenanted", "acme", token)
    code, out, _ = cli_run(["run", "--config", write(tmp_path, text), "--print-config"], capsys)
    assert code == 0
    assert tomllib.loads(out)["gateway-token"] == REDACTED  # a plugin's credential too
    assert "gw-secret" not in out
    assert tomllib.loads(out)["tenant"] == "acme"


@pytest.mark.usefixtures("plugin")
def test_a_plugins_flag_without_the_plugin_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'tenant'"):
        _with_config(["run", "--config", write(tmp_path, 'tenant = "acme"')])


# ---- --print-config ---------------------------------------------------------------------

ROUND_TRIP = r"""
url = "http://127.0.0.1:8000/v1"
model-name = "llama"
threads = 4
max_error_rate = "50%"
rps = 2.5
seed = 0
duration = 120
slo = ["ttft_p95<=500ms", "error_rate<=1%"]
header = ["X-Trace: on"]
stream = false
quiet = true
csv = true
prompt = "tab\there \"quoted\" back\\slash \u0007 bell, ünïcødé, 中文"
extra-body = '{"temperature": 0}'
"""


def print_config(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = cli_run(["run", *argv, "--print-config"], capsys)
    assert (code, err) == (0, ""), err
    return out


def test_print_config_reads_back_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = print_config(["--config", write(tmp_path, ROUND_TRIP, "a.toml")], capsys)
    second = print_config(["--config", write(tmp_path, first, "b.toml")], capsys)
    assert second == first
    a, b = resolved(tmp_path, ROUND_TRIP), resolved(tmp_path, first)
    assert vars(a) == vars(b)  # the same run


def test_print_config_prints_what_was_given_in_helps_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = print_config(["--config", write(tmp_path, ROUND_TRIP), "--timeout", "30"], capsys)
    table = tomllib.loads(out)
    assert list(table) == [
        "url", "model", "header", "extra-body", "no-stream", "prompt", "concurrency", "rps",
        "seed", "duration", "max-error-rate", "timeout", "slo", "quiet", "csv",
    ]  # fmt: skip
    assert table["concurrency"] == 4  # a number as a number; the name is the flag's
    assert (table["duration"], table["rps"], table["max-error-rate"]) == (120, 2.5, "50%")
    assert table["timeout"] == 30  # from the command line
    assert table["seed"] == 0  # given, though it is the default
    assert "grace" not in table  # a default: not given, not printed
    assert out.startswith("# llmbench run --print-config: ")
    assert out.isascii() is False  # UTF-8, as TOML is: ü, 中文 as they are
    assert "\\u0007" in out  # a control character escaped


def test_print_config_sends_nothing_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    text = 'url = "http://127.0.0.1:9"\nout = "here"\njunit = "j.xml"\n'
    print_config(["--config", write(tmp_path, text)], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.toml"]


def test_print_config_without_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    out = print_config(["--url", "http://h:1", "-H", "X-A: b", "--no-stream"], capsys)
    assert tomllib.loads(out) == {"url": "http://h:1", "header": ["X-A: b"], "no-stream": True}


SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        (f'api-key = "{SECRET}"', "api-key", REDACTED),
        (f'api_key = "{SECRET}"', "api-key", REDACTED),
        (f'header = "Authorization: Bearer {SECRET}"', "header", [f"Authorization: {REDACTED}"]),
        (f'header = "X-Api-Key: {SECRET}"', "header", [f"X-Api-Key: {REDACTED}"]),
        (f'header = "Cookie: session={SECRET}"', "header", [f"Cookie: {REDACTED}"]),
        (f'header = "x-goog-api-key:{SECRET}"', "header", [f"x-goog-api-key: {REDACTED}"]),
        (f'url = "http://user:{SECRET}@127.0.0.1:8000/v1"', "url", "http://127.0.0.1:8000/v1"),
        (
            f'url = "https://gw/v1?api_key={SECRET}&x=1"',
            "url",
            "https://gw/v1?api_key=%3Credacted%3E&x=1",
        ),
    ],
)
def test_print_config_redacts_every_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, shown: object
) -> None:
    echo = f'\nprompt = "say {SECRET} back"\nextra-body = \'{{"k": "{SECRET}"}}\''
    url = "" if key == "url" else 'url = "http://127.0.0.1:9"\n'  # a run needs a target
    out = print_config(["--config", write(tmp_path, url + text + echo)], capsys)
    assert SECRET not in out
    assert SECRET[3:15] not in out  # nor a piece of it
    table = tomllib.loads(out)
    assert table[key] == shown
    assert table["prompt"] == f"say {REDACTED} back"  # wherever else it shows


def test_print_config_refuses_a_header_without_a_name_and_never_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --print-config lints as the run would: a header with no "Name:" is refused, and
    # its text (maybe a credential) is in no message.
    text = f'url = "http://127.0.0.1:9"\nheader = "Bearer {SECRET}"\n'
    code, out, err = cli_run(["run", "--config", write(tmp_path, text), "--print-config"], capsys)
    assert code == 2
    assert "-H/--header must be 'Name: value'" in err
    assert SECRET not in out + err


def test_print_config_redacts_a_command_line_key_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = print_config(["--url", "http://h:1", "--api-key", SECRET], capsys)
    assert SECRET not in out
    assert tomllib.loads(out)["api-key"] == REDACTED


def test_print_config_shows_paths_and_plain_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(SECRET + "\n")
    text = (
        f'url = "https://127.0.0.1:9"\napi-key-file = "{keys}"\n'
        'client-cert = "/etc/tls/client.pem"\nclient-key = "/etc/tls/client.key"\n'
        'header = "X-Team: infra"\ntoken-mode = "tokenizer"\nmax-tokens = 64\ntokenizer = "gpt2"\n'
    )
    out = print_config(["--config", write(tmp_path, text)], capsys)
    assert SECRET not in out  # the file is not read
    table = tomllib.loads(out)
    assert table["api-key-file"] == str(keys)
    assert table["client-key"] == "/etc/tls/client.key"  # a PEM's path, not a credential
    assert (table["header"], table["token-mode"], table["max-tokens"]) == (
        ["X-Team: infra"], "tokenizer", 64
    )  # fmt: skip


def test_redacted_output_reads_back_to_the_same_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        f'api-key = "{SECRET}"\nheader = "Authorization: Bearer {SECRET}"\n'
        f'url = "https://u:{SECRET}@gw/v1?key={SECRET}"\nprompt = "{SECRET}"\n'
    )
    first = print_config(["--config", write(tmp_path, text, "a.toml")], capsys)
    assert print_config(["--config", write(tmp_path, first, "b.toml")], capsys) == first


def test_print_config_refuses_text_no_file_can_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_run(["run", "--prompt", "a\udcffb", "--print-config"], capsys)
    assert (code, out) == (2, "")
    assert (
        err
        == "llmbench run: error: --prompt: not valid UTF-8 text (a byte the locale cannot read)\n"
    )


def test_help_shows_the_config_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli_run(["run", "--help"], capsys)
    assert code == 0
    assert "--config FILE.toml" in out
    assert "--print-config" in out


# ---- errors through the command line: one line, exit 2 ----------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("concurency = 4", "unknown key 'concurency' (did you mean 'concurrency'?)"),
        ('model = "a"\nmodel-name = "b"', "keys 'model' and 'model-name' both set --model"),
        ("quiet = 1", "key 'quiet' takes true or false, got an integer"),
        ('concurrency = "x"', "key 'concurrency': not an integer: 'x'"),
        ("url = 'http://a'\nbad = = 1\n", "not valid TOML: Invalid value (at line 2, column 7)"),
        (b"url = '\xff\xfe'\n", "not UTF-8 text (byte 0xff on line 1)"),
        (b"\x00\x01\x02\x89PNG", "not UTF-8 text (byte 0x89 on line 1)"),
        ("a = " + "[" * 5000, "arrays or inline tables nest too deeply"),
        ("a = " + "{b = " * 5000, "arrays or inline tables nest too deeply"),
        ("a." * 500_000 + "b = 1", f"a dotted key of more than {MAX_KEY_PARTS} parts on line 1"),
        (
            "\n[" + "a." * 500_000 + "b]",
            f"a dotted key of more than {MAX_KEY_PARTS} parts on line 2",
        ),
        ("x = 1\n[[" + '"q".' * 200 + "b]]", "a dotted key of more than 100 parts on line 2"),
        ("# " + "x" * MAX_CONFIG_BYTES, f"larger than {MAX_CONFIG_BYTES} bytes"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, message: str
) -> None:
    path = write(tmp_path, content)
    started = time.monotonic()
    result = cli_run(["run", "--config", path, "--url", "http://127.0.0.1:9"], capsys)
    assert time.monotonic() - started < 10  # a hostile file costs nothing much
    refused_line(result, path, message)


def test_a_missing_or_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.toml")
    refused_line(cli_run(["run", "--config", missing], capsys), missing, "cannot read it: No such")
    refused_line(
        cli_run(["run", "--config", str(tmp_path)], capsys), str(tmp_path), "Is a directory"
    )


def test_a_path_that_is_not_text_is_shown_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli_run(["run", "--config", "a\nb\udcff.toml"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "--config 'a\\nb\\udcff.toml': cannot read it" in err


def test_limits_are_where_they_say(tmp_path: Path) -> None:
    exactly = b"# " + b"x" * (MAX_CONFIG_BYTES - 3) + b"\n"
    assert len(exactly) == MAX_CONFIG_BYTES
    assert read_config(write(tmp_path, exactly)) == {}
    parts = '"q".' * (MAX_KEY_PARTS - 1) + "b"  # MAX_KEY_PARTS parts: a table, as TOML goes
    assert parse_toml(f"{parts} = 1".encode())
    assert parse_toml(("prompt = '" + "a." * 1000 + "'").encode())  # dots in a value: text
    assert parse_toml(b"\xef\xbb\xbfquiet = true") == {"quiet": True}  # an editor's BOM


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('header = "X-A: 1\\r\\nX-Injected: 2"', "-H/--header 'X-A': the value contains a control"),
        ('url = "http://127.0.0.1:9/\\u0007"', "--url contains a control character (0x07)"),
        ('endpoint = "/v1\\n"', "--endpoint contains a control character"),
        ("concurrency = 0", "--concurrency must be"),
        ("requests = 99999999999999999999999", "--requests must be"),
    ],
)
def test_the_run_checks_apply_to_the_files_values(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "" if text.startswith("url") else 'url = "http://127.0.0.1:9"\n'
    path = write(tmp_path, url + text)
    code, out, err = cli_run(["run", "--config", path, "--out", str(tmp_path / "run")], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith("llmbench run: error: ")
    assert message in err
    assert not (tmp_path / "run").exists()


# ---- random files: a one-line refusal or a run's flags, never anything else -------------


def attempt(call: Callable[[], T]) -> T | str:
    """What ``call`` returns, or the message of the ConfigError it raises."""
    try:
        return call()
    except ConfigError as exc:
        return str(exc)


_RUN = run_parser()
_SKIP = ("--ray", "--help", "--coordinated")  # Ray is not installed here; the others hidden
_KINDS = {
    o[2:]: "switch" if a.nargs == 0 else "list" if isinstance(a.default, list) else "value"
    for a in _RUN._actions
    for o in a.option_strings
    if o.startswith("--") and o not in _SKIP
}
_KEYS = sorted({*_KINDS, "stream", "preflight", "include-usage", "nope", "max_error_rate"})
_TEXTS = st.text(max_size=20) | st.sampled_from(
    ["8", "0.5", "50%", "1e3", "shuffle", "chars", "ttft_p95<=500ms", "X-A: b", "--", "-1", "a:b"]
)
_SCALARS = _TEXTS | st.integers(-(2**70), 2**70) | st.floats() | st.booleans()
_VALUES = _SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(st.text(max_size=3), _SCALARS)
_NUMBERS = st.integers(-5, 10**6) | st.floats(-1, 1e6)
_BY_KIND = {
    "switch": st.booleans(),
    "list": st.lists(_TEXTS, max_size=3) | _TEXTS,
    "value": _TEXTS | _NUMBERS,
}
# Mostly well-typed files: the ones that get past the key checks to the printing.
_TYPED = (
    st.lists(st.sampled_from(sorted(_KINDS)), max_size=6, unique=True)
    .flatmap(lambda keys: st.fixed_dictionaries({k: _BY_KIND[_KINDS[k]] for k in keys}))
    .map(lambda table: {"url": "http://127.0.0.1:9", **table})
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6) | _TYPED)
def test_random_files_are_refused_in_one_line_or_read_back_the_same(table: dict[str, Any]) -> None:
    """A file is a one-line refusal, or flags the parser takes whose printed form reads
    back to the same options (credentials aside); and a run's checks refuse in one line."""
    found = attempt(lambda: file_flags(table, _RUN))
    if isinstance(found, str):
        assert "\n" not in found
        return
    argv = [f for _, group in found for f in group]
    args = _RUN.parse_args(argv)  # never refused here: the file's values were checked
    printed = render(_RUN, argv, "llmbench run")
    tomllib.loads(printed)  # always TOML
    if REDACTED not in printed:  # a scrubbed credential may also cut another value short
        again = _RUN.parse_args(
            [f for _, group in file_flags(tomllib.loads(printed), _RUN) for f in group]
        )
        assert again.url == (redact_url(args.url) if args.url else None)  # user@ dropped
        assert vars(again) | {"url": None} == vars(args) | {"url": None}
    built = attempt(lambda: build_config(args, OptionSources()))
    assert not isinstance(built, str) or "\n" not in built


# ---- the examples -------------------------------------------------------------------------


def test_examples_run_toml_is_a_valid_run(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "run.toml")
    out = print_config(["--config", path], capsys)
    table = tomllib.loads(out)
    assert table["url"].startswith("http://127.0.0.1:")
    assert "api-key" not in table  # no credential in a file under version control
    full = _with_config(["run", "--config", path])
    args = _build_parser(full).parse_args(full)
    cfg = build_config(args, OptionSources())  # every check a run does first
    assert (cfg.concurrency, cfg.duration_s, cfg.input_tokens) == (16, 120.0, "512:64")
    assert parse_slos(args.slo)
    assert parse_goodput(args.goodput) is not None


@pytest.mark.skipif("sweep" not in cli._COMMANDS, reason="no `llmbench sweep` command yet")
def test_examples_sweep_toml_is_a_valid_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "sweep.toml")
    code, out, err = cli_run(["sweep", "--config", path, "--print-config"], capsys)
    assert (code, err) == (0, ""), err
    table = tomllib.loads(out)
    for key in ("mode", "min", "max", "steps", "tolerance", "step-duration", "goodput-target"):
        assert key in table, key
    assert len(table["slo"]) == 3
    assert table["goodput"]
    full = _with_config(["sweep", "--config", path])
    args = _build_parser(full).parse_args(full)
    assert (args.mode, args.steps) == ("rate", 8)
