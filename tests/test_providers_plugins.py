"""Tests for third-party providers through the ``llmbench.providers`` entry-point group
(llmbench.providers.make_provider): plain factories, and ProviderSpecs with options and
flags of their own (which join ``llmbench run`` when ``--provider`` names them); and for
the worked HMAC example plugin (examples/providers/hmac_gateway.py).

Each test installs a fake distribution the way pip does: a ``*.dist-info`` directory
with ``entry_points.txt`` on sys.path, so importlib.metadata finds it for real.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from llmbench.cli import _build_parser, main
from llmbench.config import ConfigError, RunConfig
from llmbench.environment import local_sources
from llmbench.events import Content
from llmbench.providers import ENTRY_POINT_GROUP, make_provider, plugin_names, provider_names
from llmbench.providers.openai import OpenAIChat, OpenAIOptions
from llmbench.run_options import build_config
from llmbench.workload import WorkloadItem

EXAMPLES = Path(__file__).parent.parent / "examples" / "providers"

Install = Callable[[dict[str, str], dict[str, str]], None]

GOOD_PLUGIN = """
from llmbench.events import Content
from llmbench.http.request import HttpRequest

IMPORTED = True

class Echo:
    name = "echo"
    framing = "ndjson"
    def __init__(self, cfg):
        self.url = cfg.url + "/echo"
    def build_request(self, item, api_key):
        return HttpRequest("POST", self.url, (), item.prompt.encode())
    def decode(self, event, data):
        return [Content(data)]

def factory(cfg):
    return Echo(cfg)
"""

# A plugin with an option and a flag of its own, declared the typed way.
SPEC_PLUGIN = """
from dataclasses import dataclass

from llmbench.config import ConfigError
from llmbench.events import Content
from llmbench.http.request import HttpRequest
from llmbench.providers.base import ProviderSpec


@dataclass(frozen=True, slots=True)
class TenantOptions:
    tenant: str = "default"

    def __post_init__(self):
        if not self.tenant.isalnum():
            raise ConfigError(f"--tenant must be letters and digits, got {self.tenant!r}")


class Tenanted:
    name = "tenanted"
    framing = "ndjson"

    def __init__(self, cfg, options):
        self.url = cfg.url + "/t/" + options.tenant

    def build_request(self, item, api_key):
        return HttpRequest("POST", self.url, (), item.prompt.encode())

    def decode(self, event, data):
        return [Content(data)]


def add_flags(group):
    group.add_argument("--tenant", default="default", help="TENANT-FLAG-HELP")


def options_from(args, sources):
    return TenantOptions(args.tenant)


SPEC = ProviderSpec("tenanted", Tenanted, TenantOptions, add_flags, options_from)
"""


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a fake distribution: entry points {name: "module:attr"} and modules
    {module name: source}; the modules are forgotten again after the test."""
    added: list[str] = []

    def _install(entries: dict[str, str], modules: dict[str, str]) -> None:
        dist = tmp_path / "llmbench_fake_plugins-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: llmbench-fake-plugins\nVersion: 1.0\n"
        )
        lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{n} = {v}" for n, v in entries.items())]
        (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(source)
            added.append(name)
        monkeypatch.syspath_prepend(str(tmp_path))

    yield _install
    for name in added:
        sys.modules.pop(name, None)


def cfg(provider: str, **kw: object) -> RunConfig:
    return RunConfig(**{"url": "http://gw:8000", "provider": provider, **kw})  # type: ignore[arg-type]


def test_plugin_is_found_loaded_and_used(install: Install) -> None:
    install({"echo": "llmb_plugin_echo:factory"}, {"llmb_plugin_echo": GOOD_PLUGIN})
    assert "echo" in plugin_names()
    assert "echo" not in provider_names()
    provider = make_provider(cfg("echo"))
    assert provider.build_request(WorkloadItem("hi"), None).url == "http://gw:8000/echo"
    assert provider.decode("message", "x") == [Content("x")]


def test_plugins_load_lazily(install: Install) -> None:
    install({"echo": "llmb_plugin_lazy:factory"}, {"llmb_plugin_lazy": GOOD_PLUGIN})
    make_provider(cfg("openai-chat"))
    assert plugin_names() == ["echo"]
    assert "llmb_plugin_lazy" not in sys.modules  # listing names imports nothing
    make_provider(cfg("echo"))
    assert "llmb_plugin_lazy" in sys.modules


def test_builtin_wins_a_name_clash(install: Install) -> None:
    install({"openai-chat": "llmb_plugin_clash:factory"}, {"llmb_plugin_clash": GOOD_PLUGIN})
    assert isinstance(make_provider(cfg("openai-chat")), OpenAIChat)
    assert "llmb_plugin_clash" not in sys.modules
    assert "openai-chat" not in plugin_names()


def test_unknown_name_lists_builtins_and_plugins(install: Install) -> None:
    install({"echo": "llmb_plugin_list:factory"}, {"llmb_plugin_list": GOOD_PLUGIN})
    builtins = ", ".join(provider_names())
    message = f"unknown --provider 'nope'; known: {builtins}; plugins: echo"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make_provider(cfg("nope"))
    for name in ("anthropic", "dashscope", "dify", "openai-chat", "openai-completions", "template"):
        assert name in provider_names()


@pytest.mark.parametrize(
    ("source", "attr", "pattern"),
    [
        (
            "raise ImportError('needs libfoo')\n",
            "factory",
            r"cannot load it: ImportError: needs libfoo",
        ),
        ("x = 1\n", "factory", r"cannot load it: AttributeError"),
        ("factory = 42\n", "factory", r"int is not callable"),
        (
            "def factory(cfg):\n    raise RuntimeError('bad')\n",
            "factory",
            r"its factory failed: RuntimeError: bad",
        ),
        ("def factory(cfg):\n    return object()\n", "factory", r"has no build_request\(\) method"),
        (
            GOOD_PLUGIN.replace('framing = "ndjson"', 'framing = "ws"'),
            "factory",
            r"framing must be one of sse, ndjson, json, got 'ws'",
        ),
        (GOOD_PLUGIN.replace('name = "echo"', "name = None"), "factory", r"has no name"),
    ],
)
def test_broken_plugin_is_one_config_error(
    install: Install, source: str, attr: str, pattern: str
) -> None:
    module = f"llmb_plugin_broken_{hashlib.sha256(source.encode()).hexdigest()[:8]}"
    install({"broken": f"{module}:{attr}"}, {module: source})
    with pytest.raises(ConfigError) as info:
        make_provider(cfg("broken"))
    message = str(info.value)
    assert message.startswith(f"--provider 'broken' (plugin {module}:{attr}): ")
    assert re.search(pattern, message)
    assert "\n" not in message


def test_plugin_config_error_passes_through(install: Install) -> None:
    source = (
        "from llmbench.config import ConfigError\n"
        "def factory(cfg):\n    raise ConfigError('--provider picky: needs --model')\n"
    )
    install({"picky": "llmb_plugin_picky:factory"}, {"llmb_plugin_picky": source})
    with pytest.raises(ConfigError, match=r"^--provider picky: needs --model$"):
        make_provider(cfg("picky"))


# -- plugins with options and flags of their own -------------------------------------------


def plugin_run_config(*argv: str) -> RunConfig:
    """``llmbench run --url ... ARGV`` parsed as the CLI parses it (plugin flags join the
    parser when --provider names the plugin) and built into a RunConfig."""
    full = ["run", "--url", "http://gw:8000", *argv]
    return build_config(_build_parser(full).parse_args(full), local_sources({}))


def test_spec_plugin_adds_a_flag_and_gets_its_options(install: Install) -> None:
    install({"tenanted": "llmb_plugin_spec:SPEC"}, {"llmb_plugin_spec": SPEC_PLUGIN})
    cfg = plugin_run_config("--provider", "tenanted", "--tenant", "acme")
    assert cfg.public()["provider_options"] == {"tenant": "acme"}
    provider = make_provider(cfg)
    assert provider.build_request(WorkloadItem("hi"), None).url == "http://gw:8000/t/acme"
    default = make_provider(plugin_run_config("--provider=tenanted"))
    assert default.build_request(WorkloadItem("hi"), None).url == "http://gw:8000/t/default"


def test_spec_plugin_flag_is_in_help_only_when_named(
    install: Install, capsys: pytest.CaptureFixture[str]
) -> None:
    install({"tenanted": "llmb_plugin_help:SPEC"}, {"llmb_plugin_help": SPEC_PLUGIN})
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--provider", "tenanted", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--provider tenanted (plugin):" in out
    assert "--tenant TENANT" in out
    assert "TENANT-FLAG-HELP" in out
    sys.modules.pop("llmb_plugin_help", None)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--tenant" not in capsys.readouterr().out
    assert "llmb_plugin_help" not in sys.modules  # not named: not loaded


def test_spec_plugin_options_are_validated(install: Install) -> None:
    install({"tenanted": "llmb_plugin_check:SPEC"}, {"llmb_plugin_check": SPEC_PLUGIN})
    with pytest.raises(ConfigError, match=r"^--tenant must be letters and digits, got 'a b'$"):
        plugin_run_config("--provider", "tenanted", "--tenant", "a b")


def test_spec_plugin_flag_is_harmless_with_another_provider(install: Install) -> None:
    install({"tenanted": "llmb_plugin_other:SPEC"}, {"llmb_plugin_other": SPEC_PLUGIN})
    # Not named: its flag is unknown, as any unknown flag is (argparse exits 2).
    with pytest.raises(SystemExit) as exit_info:
        plugin_run_config("--tenant", "acme")
    assert exit_info.value.code == 2
    assert plugin_run_config().provider_options == OpenAIOptions()


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (
            ('"--tenant"', '"--user"'),  # a built-in provider's flag
            r"its flags failed: ArgumentError: argument --user: conflicting option string",
        ),
        (
            ("return TenantOptions(args.tenant)", "return TenantOptions(args.nope)"),
            r"its options failed: AttributeError: ",
        ),
    ],
)
def test_spec_plugin_flag_or_options_failure_is_one_line(
    install: Install,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    pattern: str,
) -> None:
    source = SPEC_PLUGIN.replace(*change)
    module = f"llmb_plugin_bad_{hashlib.sha256(source.encode()).hexdigest()[:8]}"
    install({"tenanted": f"{module}:SPEC"}, {module: source})
    code = main(["run", "--url", "http://127.0.0.1:9", "--provider", "tenanted", "--out", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--provider 'tenanted' (plugin {module}:SPEC): " in err
    assert re.search(pattern, err)


def test_spec_plugin_gets_its_defaults_without_flags(install: Install) -> None:
    install({"tenanted": "llmb_plugin_bare:SPEC"}, {"llmb_plugin_bare": SPEC_PLUGIN})
    provider = make_provider(cfg("tenanted"))
    assert provider.build_request(WorkloadItem("x"), None).url == "http://gw:8000/t/default"
    with pytest.raises(ConfigError, match=r"takes TenantOptions options, got OpenAIOptions$"):
        make_provider(cfg("tenanted", provider_options=OpenAIOptions()))


def test_spec_plugin_options_without_defaults_is_one_line(install: Install) -> None:
    source = SPEC_PLUGIN.replace('tenant: str = "default"', "tenant: str")
    install({"tenanted": "llmb_plugin_nodefault:SPEC"}, {"llmb_plugin_nodefault": source})
    with pytest.raises(ConfigError, match=r"its options failed: TypeError: ") as info:
        make_provider(cfg("tenanted"))
    assert "\n" not in str(info.value)


# -- the worked example: an HMAC-signing gateway ------------------------------------------


@pytest.fixture
def hmac_plugin(install: Install, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install({"hmac-gateway": "hmac_gateway:PROVIDER"}, {})
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("hmac_gateway", None)
    yield
    sys.modules.pop("hmac_gateway", None)


def run_config(*argv: str) -> RunConfig:
    """``llmbench run --provider hmac-gateway ARGV`` as the CLI builds it, secret from
    the process environment."""
    full = ["run", "--url", "http://gw:8000", "--provider", "hmac-gateway", *argv]
    return build_config(_build_parser(full).parse_args(full))


@pytest.mark.usefixtures("hmac_plugin")
def test_hmac_gateway_signs_method_path_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAC_GATEWAY_SECRET", "s3cret")
    provider = make_provider(run_config("--url", "https://gw.example/llm", "--model", "m"))
    req = provider.build_request(WorkloadItem('say "hi"'), "sk-1")
    assert req.url == "https://gw.example/llm/v1/chat/completions"
    assert orjson.loads(req.body)["messages"] == [{"role": "user", "content": 'say "hi"'}]
    message = b"POST\n/llm/v1/chat/completions\n" + req.body
    expected = hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    headers = dict(req.headers)
    assert headers["x-signature"] == expected
    assert headers["authorization"] == "Bearer sk-1"
    other = provider.build_request(WorkloadItem("say hello"), "sk-1")
    assert dict(other.headers)["x-signature"] != expected  # the body is signed
    chunk = '{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}'
    assert provider.decode("message", chunk) == [Content("Hi", "")]
    assert provider.framing == "sse"


@pytest.mark.usefixtures("hmac_plugin")
def test_hmac_gateway_without_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMAC_GATEWAY_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"needs the shared secret in \$HMAC_GATEWAY_SECRET"):
        make_provider(run_config())
    with pytest.raises(ConfigError, match=r"needs the shared secret in \$HMAC_GATEWAY_SECRET"):
        make_provider(cfg("hmac-gateway"))  # its default options: no secret either


@pytest.mark.usefixtures("hmac_plugin")
def test_hmac_gateway_follows_no_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAC_GATEWAY_SECRET", "s3cret")
    provider = make_provider(run_config("--no-stream"))
    assert provider.framing == "json"
    assert orjson.loads(provider.build_request(WorkloadItem("x"), None).body)["stream"] is False


@pytest.mark.usefixtures("hmac_plugin")
def test_hmac_gateway_key_id_flag_usage_flags_and_secret_kept_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HMAC_GATEWAY_SECRET", "s3cret")
    cfg = run_config("--hmac-key-id", "k-7", "--no-usage")
    assert cfg.public()["provider_options"] == {
        "key_id": "k-7",
        "chat": {"include_usage": False, "continuous_usage": False},
    }
    assert "s3cret" not in repr(cfg.public())
    assert "s3cret" not in repr(cfg)
    req = make_provider(cfg).build_request(WorkloadItem("x"), None)
    assert dict(req.headers)["x-key-id"] == "k-7"
    assert "stream_options" not in orjson.loads(req.body)
    plain = make_provider(run_config()).build_request(WorkloadItem("x"), None)
    assert "x-key-id" not in dict(plain.headers)
