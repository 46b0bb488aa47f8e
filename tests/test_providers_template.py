"""Tests for llmbench.providers.template and template_spec (``--provider template``).

The two shipped examples (examples/providers/ollama-chat.toml, tgi-generate-stream.toml)
are loaded as users load them and fed fixtures written from the Ollama API docs
(NDJSON ``/api/chat``) and TGI's OpenAPI schema (SSE ``/generate_stream``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import orjson
import pytest

from fixtures.providers.wire import STEP_NS, chunkings, decode_all, messages, read, run
from llmbench.config import ConfigError, RunConfig
from llmbench.environment import local_sources
from llmbench.events import Content, End, Meta, StreamError, Usage
from llmbench.providers import make_provider
from llmbench.providers.base import OptionSources
from llmbench.providers.template import Template, TemplateOptions, getter, lookup
from llmbench.providers.template_spec import Spec, compile_path, read_spec
from llmbench.run_options import add_run_arguments, build_config
from llmbench.workload import WorkloadItem

EXAMPLES = Path(__file__).parent.parent / "examples" / "providers"
OLLAMA = EXAMPLES / "ollama-chat.toml"
TGI = EXAMPLES / "tgi-generate-stream.toml"
NASTY = 'He said "hi" \\ then\nleft {model} ${HOME} — 你好 🚀\t'


def template(path: Path, env: dict[str, str] | None = None, **kw: object) -> Template:
    cfg = RunConfig(**{"url": "http://127.0.0.1:9000", "provider": "template", **kw})  # type: ignore[arg-type]
    return Template(cfg, TemplateOptions(path, load_spec(path, env or {})))


def load_spec(path: Path, env: dict[str, str]) -> Spec:
    """The file read as a run reads it, with ``env`` as the environment."""
    return read_spec(path, local_sources(env))


def run_config(*argv: str) -> RunConfig:
    """``llmbench run`` flags to a RunConfig, reading files and the environment as a run does."""
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(["--url", "http://h", "--provider", "template", *argv]))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
path = "/gen"
framing = "sse"
[response]
content = "text"
"""


# -- the shipped examples ---------------------------------------------------------------


def test_examples_load_through_the_registry() -> None:
    for path in (OLLAMA, TGI):
        cfg = run_config("--provider-config", str(path))
        provider = make_provider(cfg)
        assert isinstance(provider, Template)
        assert provider.framing in ("ndjson", "sse")


def test_ollama_request() -> None:
    p = template(OLLAMA, model="llama3.2", max_tokens=64)
    req = p.build_request(WorkloadItem(NASTY), None)
    assert (req.method, req.url) == ("POST", "http://127.0.0.1:9000/api/chat")
    assert orjson.loads(req.body) == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": NASTY}],
        "stream": True,
        "options": {"num_predict": 64},
    }
    assert req.headers == (
        ("content-type", "application/json"),
        ("accept", "application/x-ndjson"),
    )


def test_ollama_request_without_model_or_max_tokens_leaves_them_out() -> None:
    body = orjson.loads(template(OLLAMA).build_request(WorkloadItem("q"), None).body)
    assert body == {"messages": [{"role": "user", "content": "q"}], "stream": True, "options": {}}


def test_ollama_stream() -> None:
    p = template(OLLAMA)
    assert decode_all(p, read("template/ollama-chat.ndjson")) == [
        Content("The"),
        Content(" sky"),
        Content(" is blue."),
        Content(""),
        Usage(26, 282),
        End("stop"),
    ]
    out = run(p, messages(read("template/ollama-chat.ndjson"), "ndjson")).result
    assert (out.status, out.ttft_ns, out.latency_ns) == ("ok", STEP_NS, 4 * STEP_NS)
    assert (out.input_tokens, out.output_tokens, out.end_reason) == (26, 282, "stop")


@pytest.mark.parametrize("how", ["whole", "bytes", "sevens"])
def test_ollama_any_chunking(how: str) -> None:
    out = run(template(OLLAMA), chunkings(read("template/ollama-chat.ndjson"))[how]).result
    assert (out.status, out.chars, out.output_tokens) == ("ok", 16, 282)


def test_ollama_thinking_and_error() -> None:
    p = template(OLLAMA)
    events = decode_all(p, read("template/ollama-thinking.ndjson"))
    assert events[0] == Content("", "Okay, the user")
    assert events[-1] == End("length")
    error = "an error was encountered while running the model: unexpected EOF"
    assert decode_all(p, read("template/ollama-error.ndjson"))[-1] == StreamError(error)
    out = run(p, messages(read("template/ollama-error.ndjson"), "ndjson")).result
    assert (out.status, out.error) == ("stream_error", error)


def test_tgi_request() -> None:
    p = template(TGI, max_tokens=20)
    req = p.build_request(WorkloadItem(NASTY), "hf_token")
    assert req.url == "http://127.0.0.1:9000/generate_stream"
    assert orjson.loads(req.body) == {
        "inputs": NASTY,
        "parameters": {"max_new_tokens": 20, "details": True},
    }
    assert ("Authorization", "Bearer hf_token") in req.headers
    no_key = p.build_request(WorkloadItem("q"), None)
    assert all(name.lower() != "authorization" for name, _ in no_key.headers)


def test_tgi_stream() -> None:
    p = template(TGI)
    events = decode_all(p, read("template/tgi-generate-stream.txt"))
    assert events == [
        Content(" Deep"),
        Content(" learning"),
        Content(" is"),
        Content("</s>"),
        Usage(9, 4),
        End("eos_token"),
    ]
    out = run(p, messages(read("template/tgi-generate-stream.txt"), "sse")).result
    assert (out.status, out.ttft_ns, out.latency_ns) == ("ok", STEP_NS, 4 * STEP_NS)
    assert (out.input_tokens, out.output_tokens) == (9, 4)


def test_tgi_error() -> None:
    events = decode_all(template(TGI), read("template/tgi-error.txt"))
    assert events[-1] == StreamError(
        "Request failed during generation: Server error: CUDA out of memory."
    )


# -- placeholders -----------------------------------------------------------------------


def test_json_string_template_substitutes_safely(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
path = "/gen"
framing = "sse"
body = '''{"q": "{prompt}", "label": "Q: {prompt} ({model})", "msgs": {messages},
           "n": {max_tokens}, "m": "{model}", "list": [{max_tokens}, "{model}"],
           "literal": "a {b} \\"{prompt}\\" c"}'''
[response]
content = "text"
""",
    )
    item = WorkloadItem(NASTY, messages=({"role": "user", "content": NASTY},), max_tokens=7)
    body = orjson.loads(template(path, model='m"1').build_request(item, None).body)
    assert body == {
        "q": NASTY,
        "label": f'Q: {NASTY} (m"1)',
        "msgs": [{"role": "user", "content": NASTY}],
        "n": 7,
        "m": 'm"1',
        "list": [7, 'm"1'],
        "literal": f'a {{b}} "{NASTY}" c',
    }


def test_table_body_with_missing_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
[body]
prompt = "{prompt}"
limits = ["{max_tokens}", 1]
note = "max={max_tokens}"
model = "{model}"
""",
    )
    body = orjson.loads(template(path).build_request(WorkloadItem("x"), None).body)
    assert body == {"prompt": "x", "limits": [None, 1], "note": "max="}


def test_extra_body_merges_into_template_body(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[body]\nprompt = "{prompt}"\n[body.opts]\na = 1\n')
    p = template(path, extra_body={"opts": {"b": 2}, "temperature": 0})
    item = WorkloadItem("x", extra_body={"opts": {"a": 3}})
    body = orjson.loads(p.build_request(item, None).body)
    assert body == {"prompt": "x", "opts": {"a": 3, "b": 2}, "temperature": 0}


def test_headers_api_key_env_and_user_override(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
[headers]
X-Key = "{api_key}"
X-Tenant = "${TENANT_ID}-eu"
X-Static = "1"
""",
    )
    p = template(path, env={"TENANT_ID": "acme"}, headers=(("x-static", "2"),))
    req = p.build_request(WorkloadItem("x"), "k-1")
    assert req.headers == (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("X-Tenant", "acme-eu"),
        ("X-Key", "k-1"),
        ("x-static", "2"),
    )
    assert ("X-Key", "k-1") not in p.build_request(WorkloadItem("x"), None).headers


def test_method_and_no_body(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('path = "/gen"', 'path = "/gen"\nmethod = "put"'))
    req = template(path).build_request(WorkloadItem("x"), None)
    assert (req.method, req.body) == ("PUT", b"")


# -- decoding options -------------------------------------------------------------------


def spec_with(tmp_path: Path, response: str, framing: str = "sse") -> Template:
    text = f'path = "/g"\nframing = "{framing}"\n[response]\n{response}\n'
    return template(write(tmp_path, text))


def test_openai_style_paths_and_done_sentinel(tmp_path: Path) -> None:
    p = spec_with(
        tmp_path,
        'content = "choices.0.delta.content"\nreasoning = "choices.0.delta.reasoning"\n'
        'end = "choices.0.finish_reason"\ndone_sentinel = "[DONE]"\n'
        'input_tokens = "usage.prompt_tokens"\noutput_tokens = "usage.completion_tokens"',
    )
    chunk = '{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}'
    assert p.decode("message", chunk) == [Content("Hi")]
    last = (
        '{"choices":[{"delta":{},"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":"3","completion_tokens":2}}'
    )
    assert p.decode("message", last) == [Usage(3, 2), End("stop", final=False)]  # to [DONE]
    assert p.decode("message", "[DONE]") == [End("[DONE]")]
    assert p.decode("message", '{"id": 1}') == [Meta("message")]


def test_end_value_and_sse_error_event(tmp_path: Path) -> None:
    p = spec_with(tmp_path, 'content = "t"\nend = "state"\nend_value = "finished"')
    assert p.decode("message", '{"t":"a","state":"running"}') == [Content("a")]
    assert p.decode("message", '{"t":"","state":"finished"}') == [Content(""), End("finished")]
    assert p.decode("error", '{"detail":"boom"}') == [StreamError('{"detail":"boom"}')]


def test_json_framing_template(tmp_path: Path) -> None:
    p = spec_with(tmp_path, 'content = "result.text"\nend = "result"', framing="json")
    assert p.framing == "json"
    out = run(p, chunkings(b'{"result": {"text": "whole answer"}}')["bytes"]).result
    assert (out.status, out.chars) == ("ok", 12)
    assert out.ttft_ns == out.latency_ns


def test_non_string_content_is_a_parse_error(tmp_path: Path) -> None:
    p = spec_with(tmp_path, 'content = "t"')
    with pytest.raises(TypeError, match="not a string"):
        p.decode("message", '{"t": ["a"]}')
    assert run(p, [b'data: {"t": 5}\n\n']).result.status == "parse_error"


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        ({"a": [{"b": 1}]}, "a.0.b", 1),
        ({"a": [1, 2]}, "a.-1", 2),
        ({"a": [1, 2]}, "a.2", None),
        ({"a": {"0": "zero"}}, "a.0", "zero"),
        ({"a": "text"}, "a.b", None),
        ({"a": None}, "a.b", None),
        ([{"x": 1}], "0.x", 1),
        ({"a": {"b": {"c": 3}}}, "a.b.c", 3),
        ({"a": {"b": 2}}, "a.b", 2),
        ({"a": {"b": 2}}, "a.c", None),
        ({"a": 5}, "a", 5),
        ("not an object", "a", None),
        ({"a": [1]}, "a.b", None),
    ],
)
def test_lookup_and_compiled_getter(obj: object, path: str, expected: object) -> None:
    compiled = compile_path(path, "f", "k")
    assert lookup(obj, compiled) == expected
    assert getter(compiled)(obj) == expected


# -- validation -------------------------------------------------------------------------


def config_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_spec(path, env or {})
    message = str(info.value)
    assert message.startswith(f"--provider-config {path}: ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("path = \n", r"invalid TOML"),
        ('framing = "sse"\n[response]\ncontent = "t"', r"path: required"),
        ('path = "gen"\nframing = "sse"\n[response]\ncontent = "t"', r"path: required"),
        ('path = "/g"\nframing = "websocket"\n[response]\ncontent = "t"', r"framing: must be"),
        ('path = "/g"\nframing = "sse"', r"response: a \[response\] table"),
        ('path = "/g"\nframing = "sse"\n[response]\nend = "done"', r"response.content: required"),
        ('path = "/g"\nframing = "sse"\n[response]\ncontent = "a..b"', r"response.content: 'a..b'"),
        ('path = "/g"\nframing = "sse"\n[response]\ncontent = ""', r"response.content: must be"),
        ('path = "/g"\nframing = "sse"\n[response]\ncontent = 3', r"response.content: must be"),
        (
            'path = "/g"\nframing = "sse"\n[response]\ncontent = "t"\ncontnet = "x"',
            r"response.contnet: unknown",
        ),
        ('path = "/g"\nframing = "sse"\npaht = 1\n[response]\ncontent = "t"', r"paht: unknown"),
        (
            'path = "/g"\nframing = "sse"\n[response]\ncontent = "t"\nend_value = 1',
            r"end_value: needs",
        ),
        (MINIMAL + 'method = "PO ST"', r"response.method: unknown"),
        ('method = "PO ST"\n' + MINIMAL, r"method: must be an HTTP method"),
        (MINIMAL.replace("[response]", 'body = "{not json"\n[response]'), r"body: not a JSON"),
        (MINIMAL.replace("[response]", "body = 5\n[response]"), r"body: must be a table"),
        (MINIMAL + "[headers]\nX = 1\n", r"headers.X: must be a string"),
        (
            MINIMAL + '[headers]\nX = "${NOPE_NOT_SET}"\n',
            r"headers.X: environment variable NOPE_NOT_SET",
        ),
        (MINIMAL + '[body]\nt = "${NOPE_NOT_SET}"\n', r"body.t: environment variable NOPE_NOT_SET"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, pattern: str) -> None:
    assert re.search(pattern, config_error(tmp_path, text))


def test_missing_file_and_no_flag(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(
        ConfigError, match=rf"^--provider-config {re.escape(str(missing))}: cannot read"
    ):
        load_spec(missing, {})
    with pytest.raises(ConfigError, match=r"^--provider template needs --provider-config FILE"):
        make_provider(RunConfig(url="http://h", provider="template"))
    with pytest.raises(ConfigError, match=r"^--provider template needs --provider-config FILE"):
        make_provider(run_config())
    with pytest.raises(ConfigError, match=r"^--provider-config x.toml: cannot read it \(no file"):
        read_spec(Path("x.toml"), OptionSources())  # the default sources read no file


def test_env_comes_from_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL + '[headers]\nX = "${LLMBENCH_TEST_TENANT}"\n')
    monkeypatch.delenv("LLMBENCH_TEST_TENANT", raising=False)
    with pytest.raises(ConfigError, match="LLMBENCH_TEST_TENANT is not set"):
        run_config("--provider-config", str(path))
    monkeypatch.setenv("LLMBENCH_TEST_TENANT", "t-9")
    cfg = run_config("--provider-config", str(path))
    assert cfg.public()["provider_options"] == {"provider_config": str(path)}
    req = make_provider(cfg).build_request(WorkloadItem("x"), None)
    assert ("X", "t-9") in req.headers


def test_a_session_sends_messages_where_the_body_asks_for_them_else_a_growing_prompt() -> None:
    # llmbench.sessions: Ollama's chat body names {{messages}}; TGI's generate takes text
    assert template(OLLAMA).history == "messages"
    assert template(TGI).history == "text"
