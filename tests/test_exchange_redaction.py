"""Credentials are redacted before any text is cut (issue 12, item 2, exchange side).

Error text is capped at 1 KiB. Cut first and redact later, and a key that straddles
the cut survives minus its tail, which no literal match finds. The exchange takes the
run's redactor and applies it to every message, to the sample frames and to the end
reason before anything is cut. The check: no prefix of 8 or more characters of the key
appears anywhere in the result, whatever the key's offset around every cut.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.config import RunConfig
from llmbench.environment import local_sources
from llmbench.error_body import SECRET_ROOM
from llmbench.exchange import Exchange
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.providers.anthropic import Anthropic
from llmbench.providers.openai import OpenAIChat
from llmbench.providers.template import Template, TemplateOptions
from llmbench.providers.template_spec import read_spec
from llmbench.result import RequestResult
from llmbench.runner import Runner
from llmbench.workload import KeyRing, WorkloadItem

T0 = 1_000_000_000
EXAMPLES = Path(__file__).parent.parent / "examples" / "providers"
KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"  # 51 characters
assert len(KEY) == 51
RING = KeyRing([KEY])
PROVIDER = OpenAIChat(RunConfig(url="http://127.0.0.1:8000"))
# Offsets that put the key across the 1 KiB cap, and across what an error body keeps.
AROUND_CAP = range(MAX_ERROR_BYTES - 80, MAX_ERROR_BYTES + 8)
KEPT = MAX_ERROR_BYTES + SECRET_ROOM
AROUND_KEPT = range(KEPT - 60, KEPT + 4)


def leaks(result: RequestResult) -> list[str]:
    """Every prefix of the key, 8 characters or longer, found anywhere in the result."""
    text = orjson.dumps(dataclasses.asdict(result)).decode()
    return [KEY[:n] for n in range(8, len(KEY) + 1) if KEY[:n] in text]


def exchange(provider: object = PROVIDER) -> Exchange:
    return Exchange(
        provider,  # type: ignore[arg-type]
        index=0,
        phase="measure",
        t0_ns=T0,
        max_line_bytes=1 << 20,
        redact=RING.redact,
    )


@pytest.mark.parametrize("offset", [*AROUND_CAP, *AROUND_KEPT])
@pytest.mark.parametrize("filler", [b"x", b" ", b"\n "])
def test_a_key_in_an_http_error_body(offset: int, filler: bytes) -> None:
    """Whitespace runs collapse to one space: the key then moves back inside the cap,
    so what was kept past the cap must be redacted, and a cut key dropped."""
    body = (filler * offset)[:offset] + KEY.encode() + b" tail" * 300
    ex = exchange()
    ex.on_head(401, T0 + 1)
    for i in range(0, len(body), 97):  # the body arrives in pieces
        ex.on_data(body[i : i + 97], T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.status == "http_error"
    assert leaks(r) == []


@pytest.mark.parametrize("offset", AROUND_CAP)
def test_a_key_in_a_stream_error(offset: int) -> None:
    message = "e" * offset + KEY + " more"
    data = b"data: " + orjson.dumps({"error": {"message": message}}) + b"\n\n"
    ex = exchange()
    ex.on_head(200, T0 + 1)
    ex.on_data(data, T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.status == "stream_error"
    assert leaks(r) == []
    assert r.error is not None
    if offset + len("<redacted>") <= MAX_ERROR_BYTES:
        assert r.error.endswith("<redacted>") or "<redacted> " in r.error  # cut after it


@pytest.mark.parametrize("offset", AROUND_CAP)
def test_a_key_in_a_transport_message(offset: int) -> None:
    r = exchange().lost("connect_error", "m" * offset + KEY, T0 + 1)
    assert leaks(r) == []


@pytest.mark.parametrize("offset", AROUND_CAP)
def test_a_key_in_a_json_body_where_a_stream_was_due(offset: int) -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1, "application/json")
    ex.on_data(orjson.dumps({"error": "y" * offset + KEY}), T0 + 2)
    assert leaks(ex.finish(T0 + 3)) == []
    ex = exchange()
    ex.on_head(200, T0 + 1, "application/json")
    ex.on_data(b"[" + b"1," * offset + KEY.encode() + b"]", T0 + 2)
    assert leaks(ex.finish(T0 + 3)) == []


@pytest.mark.parametrize("offset", range(150, 210))
def test_a_key_in_a_content_type(offset: int) -> None:
    """The media type shown is cut to 200 bytes, after redaction, and as sent: a
    lower-cased key would not match the redactor."""
    ex = exchange()
    ex.on_head(200, T0 + 1, "text/" + "h" * offset + KEY)
    r = ex.finish(T0 + 2)
    assert r.status == "parse_error"
    assert leaks(r) == []


@pytest.mark.parametrize("offset", [0, 150, 170, 190, 900, 1000])
def test_a_key_in_a_decode_error_message(offset: int) -> None:
    """A template's token count that is not a number: Python's ValueError would quote
    the value cut to 200 characters, so the message names only its type."""
    path = EXAMPLES / "ollama-chat.toml"
    cfg = RunConfig(url="http://127.0.0.1:9000", provider="template")
    ollama = Template(cfg, TemplateOptions(path, read_spec(path, local_sources({}))))
    ex = exchange(ollama)
    ex.on_head(200, T0 + 1)
    line = {"message": {"content": "a"}, "done": True, "eval_count": "9" * offset + KEY}
    ex.on_data(orjson.dumps(line) + b"\n", T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.status == "parse_error"
    assert r.error == "ValueError: a token count is not a number (str)"
    assert leaks(r) == []


def test_a_key_in_the_sample_frames_and_end_reason() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1)
    first = {"choices": [{"delta": {"content": "hi " + KEY}, "finish_reason": None}]}
    last = {"choices": [{"delta": {}, "finish_reason": "x" * 180 + KEY}]}
    ex.on_data(b"data: " + orjson.dumps(first) + b"\n\n", T0 + 2)
    ex.on_data(b"data: " + orjson.dumps(last) + b"\n\n", T0 + 3)
    r = ex.finish(T0 + 4)
    assert r.status == "ok"
    assert leaks(r) == []
    assert r.first_frame is not None
    assert "<redacted>" in r.first_frame
    assert r.end_reason is not None
    assert r.end_reason.startswith("x" * 180)


def test_a_key_in_a_64_kib_sample_frame() -> None:
    """summary.json cuts sample frames to 64 KiB: the frame is redacted before."""
    ex = exchange()
    ex.on_head(200, T0 + 1)
    text = "t" * (65536 - 30) + KEY
    chunk = {"choices": [{"delta": {"content": text}, "finish_reason": "stop"}]}
    ex.on_data(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n", T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.first_frame is not None
    assert KEY not in r.first_frame
    assert r.first_frame[:65536].count("sk-proj") == 0


def test_anthropic_error_event() -> None:
    ex = exchange(Anthropic(RunConfig(url="http://127.0.0.1:8000")))
    ex.on_head(200, T0 + 1)
    err = {"type": "error", "error": {"type": "invalid", "message": "k" * 1000 + KEY}}
    ex.on_data(b"event: error\ndata: " + orjson.dumps(err) + b"\n\n", T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.status == "stream_error"
    assert leaks(r) == []


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet=st.sampled_from('ab \n\t{}"é你'), max_size=6000),
    status=st.sampled_from([400, 401, 403, 500, 502]),
    piece=st.integers(1, 4096),
)
def test_no_prefix_of_the_key_ever_survives_an_error_body(
    before: str, status: int, piece: int
) -> None:
    """Property: the key after any text (multi-byte characters, whitespace runs that
    collapse), the body arriving in pieces of any size."""
    body = (before + KEY + " end").encode()
    ex = exchange()
    ex.on_head(status, T0 + 1)
    for i in range(0, len(body), piece):
        ex.on_data(body[i : i + piece], T0 + 2)
    assert leaks(ex.finish(T0 + 3)) == []


def test_the_exchange_redacts_with_identity_by_default() -> None:
    ex = Exchange(PROVIDER, index=0, phase="measure", t0_ns=T0, max_line_bytes=1 << 20)
    assert ex.lost("timeout", "plain " + KEY, T0 + 1).error == "plain " + KEY


def test_the_runner_gives_each_exchange_the_key_rings_redactor(tmp_path: Path) -> None:
    """The wiring: an exchange made by the runner redacts with the run's keys, before
    the cut (the runner's redact_result stays as a second line of defence)."""
    writer = ResultsWriter(tmp_path / "results.jsonl", 0)
    cfg = RunConfig(url="http://127.0.0.1:8000")
    runner = Runner(cfg, PROVIDER, None, iter(()), RING, Recorder(), writer)  # type: ignore[arg-type]
    ex = runner._exchange(0, "measure", None, 0, WorkloadItem(prompt="prompt"))
    r = ex.lost("connect_error", "m" * 1000 + KEY, T0)
    writer.close()
    assert leaks(r) == []
