"""The mock server on the wire: exact chunk sequences, routes, errors, keep-alive, timing.

These tests read the raw bytes (a blocking socket and a tiny chunked decoder written
here), so they check the framing itself, not what a tolerant client makes of it. Timing
assertions are loose (tens of ms) because CI machines are shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import http_server

from llmbench.config import ConfigError
from llmbench.discovery import ModelListUnavailable, discover_model
from llmbench.mock import http11
from llmbench.mock.formats import WORDS
from llmbench.mock.scheduler import Scheduler

__all__: list[str] = []

Start = Callable[..., str]
TOKENS = 8


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    body: bytes = b""

    def events(self) -> list[bytes]:
        """Each chunk must be exactly one SSE event; return their `data:` payloads."""
        out = []
        for c in self.chunks:
            assert c.startswith(b"data: "), c
            assert c.endswith(b"\n\n"), c
            assert c.count(b"\n\n") == 1, c
            out.append(c[6:-2])
        return out


class Conn:
    """One blocking keep-alive connection that reads responses byte-exactly."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, path: str, body: object = None, extra: str = "") -> None:
        data = (
            b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        )
        head = f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(data)}\r\n{extra}\r\n"
        self.sock.sendall(head.encode() + data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self) -> Response:
        """The status line and headers only."""
        status = int(self._line().split(b" ")[1])
        headers = {}
        while line := self._line():
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        return Response(status, headers)

    def read_chunk(self) -> bytes:
        """One chunk of a chunked body (after `read_head`)."""
        data = self._exact(int(self._line(), 16))
        assert self._exact(2) == b"\r\n"
        return data

    def close_normally(self, how: str) -> None:
        """Read all the server has sent (until it is quiet for 0.1 s), then close with a
        FIN: `shutdown` half-closes and waits for the server to close its side, `close`
        closes. (Closing with unread data would send an RST instead.)"""
        self.sock.settimeout(0.1)
        with contextlib.suppress(TimeoutError):
            while self.sock.recv(65536):
                pass
        self.sock.settimeout(5)
        if how == "shutdown":
            self.sock.shutdown(socket.SHUT_WR)
            assert self.sock.recv(65536) == b""  # the server hung up in turn
        self.close()

    def read(self) -> Response:
        resp = self.read_head()
        headers = resp.headers
        if headers.get("transfer-encoding") == "chunked":
            while size := int(self._line(), 16):
                resp.chunks.append(self._exact(size))
                resp.times.append(time.perf_counter())
                assert self._exact(2) == b"\r\n"
            assert self._exact(2) == b"\r\n"  # the empty trailer after the last chunk
        else:
            resp.body = self._exact(int(headers["content-length"]))
        return resp

    def request(self, method: str, path: str, body: object = None) -> Response:
        self.send(method, path, body)
        return self.read()


def ready_url(proc: subprocess.Popen[str]) -> str:
    """The URL from a mock's first stdout line, waiting at most 15 s for it."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else ""
    if not ready:
        proc.kill()
        proc.communicate()
    assert line.startswith("llmbench mock listening on "), line
    return line.rsplit(" ", 1)[-1].strip()


@pytest.fixture(scope="module")
def url(mock_server_module: Start) -> str:
    return mock_server_module("--ttft-ms", "20", "--itl-ms", "2", "--tokens", str(TOKENS))


@pytest.fixture
def conn(url: str) -> Iterator[Conn]:
    c = Conn(url)
    yield c
    c.close()


def chat(**extra: object) -> dict[str, object]:
    return {"model": "m-1", "messages": [{"role": "user", "content": "one two three"}], **extra}


def completion(**extra: object) -> dict[str, object]:
    return {"model": "m-2", "prompt": "one two", **extra}


def test_chat_stream_is_vllm_chunk_sequence(conn: Conn) -> None:
    body = chat(stream=True, stream_options={"include_usage": True})
    resp = conn.request("POST", "/v1/chat/completions", body)
    assert resp.status == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["transfer-encoding"] == "chunked"
    events = resp.events()
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) == 1 + TOKENS + 1 + 1  # role, tokens, finish, usage
    first = chunks[0]
    assert first["id"].startswith("chatcmpl-")
    assert isinstance(first["created"], int)
    head = {"id": first["id"], "object": "chat.completion.chunk", "created": first["created"]}
    head["model"] = "m-1"
    role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
    assert first == {**head, "choices": [{**role, "logprobs": None, "finish_reason": None}]}
    for k, c in enumerate(chunks[1 : 1 + TOKENS]):
        delta = {"index": 0, "delta": {"content": WORDS[k]}, "logprobs": None}
        assert c == {**head, "choices": [{**delta, "finish_reason": None}]}
    finish = chunks[-2]["choices"]
    assert finish == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop", "stop_reason": None}
    ]
    usage = {"prompt_tokens": 3, "total_tokens": 3 + TOKENS, "completion_tokens": TOKENS}
    assert chunks[-1] == {**head, "choices": [], "usage": usage}


def test_role_chunk_goes_out_with_the_first_token(conn: Conn) -> None:
    sent = time.perf_counter()
    resp = conn.request("POST", "/v1/chat/completions", chat(stream=True))
    assert resp.times[0] - sent >= 0.020  # not with the head: at the first-token time
    assert resp.times[1] - resp.times[0] < 0.010  # one write with the first token


def test_usage_chunk_only_when_asked(conn: Conn) -> None:
    for options in (None, {}, {"include_usage": False}):
        body = chat(stream=True, stream_options=options)
        chunks = [
            json.loads(e) for e in conn.request("POST", "/v1/chat/completions", body).events()[:-1]
        ]
        assert all("usage" not in c for c in chunks)
        assert len(chunks) == 1 + TOKENS + 1


def test_completions_stream(conn: Conn) -> None:
    body = completion(stream=True, stream_options={"include_usage": True})
    events = conn.request("POST", "/v1/completions", body).events()
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) == TOKENS + 2  # no role chunk in the completions API
    assert all(c["object"] == "text_completion" and c["model"] == "m-2" for c in chunks)
    assert chunks[0]["id"].startswith("cmpl-")
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert [c["choices"][0]["text"] for c in chunks[:TOKENS]] == list(WORDS[:TOKENS])
    assert chunks[TOKENS]["choices"][0]["text"] == ""
    assert chunks[TOKENS]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "total_tokens": 10, "completion_tokens": 8}


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_smaller_max_tokens_wins(conn: Conn, name: str) -> None:
    chunks = [
        json.loads(e)
        for e in conn.request(
            "POST", "/v1/chat/completions", chat(stream=True, **{name: 3})
        ).events()[:-1]
    ]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", *WORDS[:3], None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    larger = conn.request("POST", "/v1/completions", completion(stream=True, **{name: 100}))
    assert len(larger.events()) == TOKENS + 2


def test_non_streaming_bodies(conn: Conn) -> None:
    resp = conn.request("POST", "/v1/chat/completions", chat(max_tokens=2))
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert "transfer-encoding" not in resp.headers
    data = json.loads(resp.body)
    assert data["object"] == "chat.completion"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": WORDS[0] + WORDS[1]},
            "logprobs": None,
            "finish_reason": "length",
        }
    ]
    assert data["usage"] == {"prompt_tokens": 3, "total_tokens": 5, "completion_tokens": 2}
    text = json.loads(conn.request("POST", "/v1/completions", completion(stream=False)).body)
    assert text["object"] == "text_completion"
    assert text["choices"][0]["text"] == "".join(WORDS[:TOKENS])
    assert text["choices"][0]["finish_reason"] == "stop"


def test_health_models_and_stats(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        assert client.get("/health").status_code == 200
        models = client.get("/v1/models").json()
        assert models["object"] == "list"
        assert models["data"][0]["object"] == "model"
        stats = client.get("/stats").json()
    late = stats["first_token_lateness_ms"]
    assert set(late) == {"p50", "p99", "max", "count"}
    assert 0 <= late["p50"] <= late["p99"] <= late["max"]
    assert stats["streams_started"] >= stats["streams_completed"]


def test_unknown_path_and_method(conn: Conn) -> None:
    resp = conn.request("GET", "/nope")
    assert resp.status == 404
    assert json.loads(resp.body)["error"]["code"] == 404
    resp = conn.request("GET", "/v1/chat/completions")
    assert resp.status == 405
    assert conn.request("GET", "/health").status == 200  # still usable


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"model": "m"}).encode(), "messages"),
        (json.dumps(chat(max_tokens=0)).encode(), "max_tokens"),
        (json.dumps(chat(stream="yes")).encode(), "stream"),
    ],
)
def test_bad_request_bodies_are_400_json(conn: Conn, body: bytes, param: str | None) -> None:
    resp = conn.request("POST", "/v1/chat/completions", body)
    assert resp.status == 400
    error = json.loads(resp.body)["error"]
    assert error["code"] == 400
    assert error["param"] == param
    assert error["message"]
    assert conn.request("GET", "/health").status == 200  # the connection survives


def test_malformed_http_is_400_and_closes(conn: Conn) -> None:
    conn.sock.sendall(b"GARBAGE\r\n\r\n")
    resp = conn.read()
    assert resp.status == 400
    assert resp.headers["connection"] == "close"
    assert conn.sock.recv(1) == b""


def test_keep_alive_and_pipelining(conn: Conn) -> None:
    first = conn.request("POST", "/v1/chat/completions", chat(stream=True))
    second = conn.request("POST", "/v1/completions", completion(stream=True))
    assert len(first.events()) == TOKENS + 3  # role, tokens, finish, [DONE]
    assert len(second.events()) == TOKENS + 2
    # Two requests in one write are answered in order.
    conn.send("POST", "/v1/chat/completions", chat(stream=True, max_tokens=1))
    conn.send("GET", "/health")
    assert len(conn.read().events()) == 1 + 1 + 1 + 1
    assert conn.read().status == 200


def test_connection_close_is_honoured(conn: Conn) -> None:
    conn.send("GET", "/health", extra="connection: close\r\n")
    assert conn.read().headers["connection"] == "close"
    assert conn.sock.recv(1) == b""


def test_client_disconnect_mid_stream(mock_server: Start) -> None:
    url = mock_server("--ttft-ms", "10", "--itl-ms", "20", "--tokens", "50")
    c = Conn(url)
    c.send("POST", "/v1/chat/completions", chat(stream=True))
    c._line()  # the status line: the stream has started
    c.close()
    with httpx.Client(base_url=url) as client:
        for _ in range(100):
            stats = client.get("/stats").json()
            if stats["streams_aborted"]:
                break
            time.sleep(0.01)
        assert stats["streams_aborted"] == 1
        assert stats["streams_active"] == 0
        assert client.post("/v1/completions", json=completion(max_tokens=2)).status_code == 200


def test_first_token_timing(mock_server: Start) -> None:
    url = mock_server("--ttft-ms", "100", "--itl-ms", "10", "--tokens", "5")
    c = Conn(url)
    try:
        sent = time.perf_counter()
        resp = c.request("POST", "/v1/chat/completions", chat(stream=True))
    finally:
        c.close()
    ttft = resp.times[1] - sent
    assert 0.100 <= ttft <= 0.150
    gaps = [b - a for a, b in zip(resp.times[1:5], resp.times[2:6], strict=True)]
    assert all(0.005 <= g <= 0.050 for g in gaps), gaps


@contextlib.contextmanager
def own_mock(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A mock whose stdout and stderr the test reads itself; killed if left running."""
    cmd = [sys.executable, "-m", "llmbench.mock", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, ready_url(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


def test_stats_flag_and_clean_shutdown() -> None:
    with own_mock("--stats", "--tokens", "2") as (proc, url):
        with httpx.Client(base_url=url) as client:
            client.post("/v1/chat/completions", json=chat(stream=True))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert err == ""
    assert "first-token lateness ms: p50=" in out
    assert "(n=1)" in out


def test_bad_flag_is_one_line_exit_2() -> None:
    cmd = [sys.executable, "-m", "llmbench.mock", "--tokens", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["llmbench mock: --tokens must be >= 1, got 0"]


def test_shutdown_with_open_streams_is_clean() -> None:
    with own_mock("--itl-ms", "50") as (proc, url):
        conns: list[Conn] = []
        try:
            # extend() appends one by one: those opened before a failure are still closed
            conns.extend(Conn(url) for _ in range(3))
            for c in conns:
                c.send("POST", "/v1/chat/completions", chat(stream=True))
                c._line()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            for c in conns:
                c.close()
    assert proc.returncode == 0
    assert err == ""


def test_jitter_keeps_order_and_count(mock_server: Start) -> None:
    url = mock_server("--ttft-ms", "5", "--itl-ms", "1", "--jitter-ms", "20", "--seed", "7")
    c = Conn(url)
    try:
        resp = c.request("POST", "/v1/completions", completion(stream=True, max_tokens=30))
    finally:
        c.close()
    texts = [json.loads(e)["choices"][0]["text"] for e in resp.events()[:-2]]
    assert texts == [WORDS[k % len(WORDS)] for k in range(30)]


# The sans-IO parts, through their public functions.


REQUEST = b"POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"


@pytest.mark.parametrize("step", [1, 3, len(REQUEST)])
def test_parser_any_split_gives_the_same_requests(step: int) -> None:
    data = b"\r\n" + REQUEST + REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0") + b"GET /"
    parser = http11.RequestParser()
    out = []
    for i in range(0, len(data), step):
        out += parser.feed(data[i : i + step])
    assert [(r.method, r.path, r.query, r.body, r.keep_alive) for r in out] == [
        ("POST", "/v1/completions", "x=1", b"body", True),
        ("POST", "/v1/completions", "x=1", b"body", False),
    ]
    assert out[0].header(b"host") == b"a"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NOPE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nx: " + b"a" * http11.MAX_HEAD_BYTES, 431),
    ],
)
def test_parser_rejects(data: bytes, status: int) -> None:
    with pytest.raises(http11.HttpError) as info:
        http11.RequestParser().feed(data)
    assert info.value.status == status


def test_parser_asks_for_100_continue_once() -> None:
    parser = http11.RequestParser()
    head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    assert parser.feed(head) == []
    assert parser.take_continue()
    assert not parser.take_continue()
    assert len(parser.feed(b"ok")) == 1


@pytest.mark.parametrize("factory", ["asyncio", "uvloop"])
def test_wheel_never_fires_early(factory: str) -> None:
    loop_factory = asyncio.new_event_loop if factory == "asyncio" else uvloop_factory()
    fired: list[tuple[int, int]] = []

    class Once:
        dead = False

        def __init__(self, due: int) -> None:
            self.due = due

        def fire(self, now_ns: int) -> int | None:
            fired.append((self.due, time.perf_counter_ns()))
            return None

    async def main() -> None:
        wheel = Scheduler(asyncio.get_running_loop())
        start = time.perf_counter_ns()
        for k in range(200):
            job = Once(start + 1_000_000 + k * 137_000)
            wheel.add(job, job.due)
        for _ in range(200):
            if len(fired) == 200:
                break
            await asyncio.sleep(0.01)
        wheel.close()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    assert len(fired) == 200
    assert all(at >= due for due, at in fired)
    assert max(at - due for due, at in fired) < 100_000_000  # loose: shared CI machines


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    uvloop = pytest.importorskip("uvloop")
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def test_port_in_use_is_one_line_exit_1(url: str) -> None:
    port = str(urlsplit(url).port)
    cmd = [sys.executable, "-m", "llmbench.mock", "--port", port]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"llmbench mock: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


# --model: the names the mock serves, vLLM's 404 for others, and llmbench's discovery
# of the model (GET /v1/models) when a run has no --model.

SERVED = "Org/Served-1"


@pytest.fixture(scope="module")
def served(mock_server_module: Start) -> str:
    return mock_server_module("--model", SERVED, "--ttft-ms", "1", "--itl-ms", "1", "--tokens", "2")


def test_without_model_the_default_is_listed_and_any_name_served(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        listing = client.get("/v1/models").json()
        reply = client.post("/v1/chat/completions", json=chat(max_tokens=1)).json()
        unnamed = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1}).json()
    assert [(m["id"], m["owned_by"]) for m in listing["data"]] == [
        ("llmbench-mock", "llmbench-mock")
    ]
    assert reply["model"] == "m-1"
    assert unnamed["model"] == "llmbench-mock"


def test_model_flag_refuses_other_names_as_vllm_does(served: str) -> None:
    with httpx.Client(base_url=served) as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == [SERVED]
        for path, body in (
            ("/v1/chat/completions", chat()),
            ("/v1/chat/completions", chat(stream=True)),
            ("/v1/completions", completion()),
        ):
            resp = client.post(path, json=body)
            assert resp.status_code == 404, path
            assert resp.headers["content-type"] == "application/json"
            # vLLM's OpenAIServing._check_model / create_error_response, byte for byte.
            assert resp.json() == {
                "error": {
                    "message": f"The model `{body['model']}` does not exist.",
                    "type": "NotFoundError",
                    "param": "model",
                    "code": 404,
                }
            }
        named = client.post("/v1/chat/completions", json={**chat(), "model": SERVED})
        unnamed = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        other_family = client.post(
            "/v1/messages", json={**chat(), "model": "claude-x", "max_tokens": 1}
        )
    assert (named.status_code, named.json()["model"]) == (200, SERVED)
    assert (unnamed.status_code, unnamed.json()["model"]) == (200, SERVED)
    assert (other_family.status_code, other_family.json()["model"]) == (200, "claude-x")


def test_discovery_takes_the_only_model(url: str, served: str) -> None:
    assert discover_model(url) == "llmbench-mock"
    assert discover_model(served + "/v1/", timeout_s=5) == SERVED  # --url ending in /v1


def test_discovery_lists_several_models(mock_server: Start) -> None:
    several = mock_server("--model", "a", "--model", "b", "--model", "c")
    with pytest.raises(ConfigError) as info:
        discover_model(several)
    assert str(info.value) == "--model is required: the server lists 3 models: a, b, c"


def test_discovery_failures_are_one_line(url: str) -> None:
    base = url + "/nope"
    with pytest.raises(ModelListUnavailable) as info:
        discover_model(base)
    assert str(info.value) == (
        f"GET {base}/v1/models failed: HTTP 404: no route for /nope/v1/models"
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ModelListUnavailable) as refused:
        discover_model(f"http://user:pw-secret@127.0.0.1:{port}")
    assert str(refused.value).startswith(
        f"GET http://127.0.0.1:{port}/v1/models failed: cannot connect ("
    )
    with socket.socket() as silent:  # accepts in the kernel, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        where = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ModelListUnavailable, match=r"failed: no answer within 0\.2 s$"):
            discover_model(where, timeout_s=0.2)


@contextlib.contextmanager
def echo_server(seen: list[str]) -> Iterator[str]:
    """A server that answers 401 and quotes the credentials it was sent, as careless
    gateways do; `seen` gets each request's Authorization header."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("authorization", "")
            seen.append(auth)
            key = self.headers.get("x-api-key")
            body = json.dumps({"error": {"message": f"bad key {auth} / {key}"}})
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url


def test_discovery_sends_the_key_and_never_shows_it() -> None:
    seen: list[str] = []
    with echo_server(seen) as base, pytest.raises(ModelListUnavailable) as info:
        discover_model(base, [("X-Api-Key", "xk-456")], api_key="sk-live-123")
    assert seen == ["Bearer sk-live-123"]
    message = str(info.value)
    assert message.endswith("failed: HTTP 401: bad key <redacted> / <redacted>")
    assert "sk-live-123" not in message
    assert "xk-456" not in message


def test_discovery_uses_environment_proxies_only_when_told(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", dead_proxy)
    monkeypatch.setenv("ALL_PROXY", dead_proxy)
    assert discover_model(url, trust_env=False) == "llmbench-mock"
    with pytest.raises(ModelListUnavailable, match="failed: cannot connect"):
        discover_model(url, trust_env=True)


# --slots and --itl-per-active-ms: the mock's capacity, seen from real clients. Timing
# bounds are loose (tens of ms) or ratios: two noisy cores run the mock and the clients.


def _capacity_until(url: str, done: Callable[[dict[str, object]], bool]) -> dict[str, object]:
    """GET /stats until `done(stats)` (at most 5 s); return the last stats."""
    deadline = time.monotonic() + 5
    with httpx.Client(base_url=url) as client:
        while True:
            stats: dict[str, object] = client.get("/stats").json()
            if done(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)


def _cap(stats: dict[str, object]) -> dict[str, object]:
    capacity = stats["capacity"]
    assert isinstance(capacity, dict)
    return capacity


def _faults(stats: dict[str, object]) -> int:
    faults = stats["faults"]
    assert isinstance(faults, dict)
    return sum(faults.values())


def _together(url: str, n: int, body: dict[str, object]) -> list[Response]:
    """`n` streamed requests on `n` connections, sent at once (a barrier after connecting)."""
    barrier = threading.Barrier(n)

    def one(_: int) -> Response:
        c = Conn(url)
        try:
            barrier.wait(5)
            sent = time.perf_counter()
            resp = c.request("POST", "/v1/chat/completions", body)
        finally:
            c.close()
        resp.times = [t - sent for t in resp.times]  # seconds since this request was sent
        return resp

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.slow
def test_slots_queue_shows_up_as_ttft(mock_server: Start) -> None:
    """Two slots, four streams at once: two start at once, two wait a whole reply.

    Each reply holds its slot for ttft + 9 * itl = 140 ms, so the queued pair's TTFT is
    ~190 ms against ~50 ms. The mock never writes early, so 150 ms is a floor (40 ms left
    for the threads' skew); the ratio allows any lateness the machine adds to both.
    """
    url = mock_server("--slots", "2", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "10")
    ttfts = sorted(r.times[1] for r in _together(url, 4, chat(stream=True)))
    fast, slow = ttfts[:2], ttfts[2:]
    assert fast[0] >= 0.050, ttfts
    assert slow[0] >= 0.150, ttfts
    assert slow[0] > 1.5 * fast[1], ttfts
    cap = _cap(_capacity_until(url, lambda s: _cap(s)["active"] == 0))
    assert {k: cap[k] for k in ("slots", "active", "active_max", "queued", "admitted")} == {
        "slots": 2,
        "active": 0,
        "active_max": 2,
        "queued": 0,
        "admitted": 4,
    }
    assert cap["queued_max"] == 2
    waits = cap["queue_wait_ms"]
    assert isinstance(waits, dict)
    assert 100 <= waits["max"] < 1000
    assert 0 < waits["mean"] < waits["max"]  # over all four: two waited, two did not


def test_default_capacity_is_unlimited(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        client.post("/v1/completions", json=completion(max_tokens=1))
        cap = client.get("/stats").json()["capacity"]
    assert set(cap) == {
        "slots",
        "active",
        "active_max",
        "queued",
        "queued_max",
        "admitted",
        "left_queue",
        "queue_wait_ms",
    }
    assert set(cap["queue_wait_ms"]) == {"mean", "max"}
    assert (cap["slots"], cap["queued_max"], cap["queue_wait_ms"]["max"]) == (0, 0, 0.0)
    assert cap["admitted"] >= 1


def test_a_client_that_leaves_the_queue_holds_no_slot(mock_server: Start) -> None:
    """One slot, held 920 ms (time for the polls on a busy machine); the second
    request's client hangs up while it waits."""
    url = mock_server("--slots", "1", "--ttft-ms", "20", "--itl-ms", "100", "--tokens", "10")
    holder, leaver = Conn(url), Conn(url)
    try:
        holder.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["active"] == 1)
        leaver.send("POST", "/v1/chat/completions", chat(stream=True))
        assert _cap(_capacity_until(url, lambda s: _cap(s)["queued"] == 1))["queued"] == 1
        leaver.close()  # with the response head unread: an RST
        cap = _cap(_capacity_until(url, lambda s: _cap(s)["left_queue"] == 1))
        assert (cap["queued"], cap["active"], cap["left_queue"]) == (0, 1, 1)
        assert len(holder.read().events()) == 10 + 3
    finally:
        holder.close()
        leaver.close()
    # Had the leaver kept a place, it would now hold the slot for 920 ms.
    (after,) = _together(url, 1, chat(stream=True, max_tokens=1))
    assert after.times[1] < 0.5
    stats = _capacity_until(url, lambda s: _cap(s)["active"] == 0)
    assert (_cap(stats)["admitted"], _cap(stats)["active"]) == (2, 0)
    assert (stats["streams_started"], stats["streams_aborted"]) == (2, 0)  # never started


def test_a_stalled_stream_holds_its_slot_until_its_client_leaves(mock_server: Start) -> None:
    url = mock_server(
        "--slots", "1", "--fault", "stall", "--ttft-ms", "10", "--itl-ms", "5", "--tokens", "20"
    )
    first, second = Conn(url), Conn(url)
    try:
        first.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["active"] == 1)
        second.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["queued"] == 1)
        time.sleep(0.2)  # past the whole unfaulted reply (105 ms): the stall keeps the slot
        cap = _cap(_capacity_until(url, lambda _: True))
        assert (cap["active"], cap["queued"], cap["admitted"]) == (1, 1, 1)
        first.close()  # with data unread: an RST
        stats = _capacity_until(url, lambda s: _cap(s)["admitted"] == 2)
        assert (_cap(stats)["active"], _cap(stats)["queued"]) == (1, 0)  # now it stalls
        assert stats["streams_aborted"] == 1
        second.close()
        stats = _capacity_until(url, lambda s: _cap(s)["active"] == 0)
        assert (_cap(stats)["active"], stats["streams_aborted"]) == (0, 2)
    finally:
        first.close()
        second.close()


# A client that reads everything and then closes (a FIN, as `curl -m` or a client's own
# timeout sends) has left just as one that resets: the mock closes in turn.


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_a_client_that_closes_normally_leaves_the_queue(mock_server: Start, how: str) -> None:
    """As above (a 920 ms hold), the leaver having read its response head first."""
    url = mock_server("--slots", "1", "--ttft-ms", "20", "--itl-ms", "100", "--tokens", "10")
    holder, leaver = Conn(url), Conn(url)
    try:
        holder.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["active"] == 1)
        leaver.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["queued"] == 1)
        assert leaver.read_head().status == 200  # sent at once, though the request waits
        leaver.close_normally(how)
        cap = _cap(_capacity_until(url, lambda s: _cap(s)["left_queue"] == 1))
        assert (cap["queued"], cap["active"], cap["left_queue"]) == (0, 1, 1)
        assert len(holder.read().events()) == 10 + 3
    finally:
        holder.close()
        leaver.close()
    (after,) = _together(url, 1, chat(stream=True, max_tokens=1))
    assert after.times[1] < 0.5  # the slot was free: no 920 ms for a ghost first
    stats = _capacity_until(url, lambda s: _cap(s)["active"] == 0)
    assert (_cap(stats)["admitted"], _cap(stats)["active"]) == (2, 0)
    assert (stats["streams_started"], stats["streams_aborted"]) == (2, 0)


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_a_stalled_stream_frees_its_slot_when_its_client_closes_normally(
    mock_server: Start, how: str
) -> None:
    url = mock_server(
        "--slots", "1", "--fault", "stall", "--ttft-ms", "10", "--itl-ms", "5", "--tokens", "20"
    )
    first, second = Conn(url), Conn(url)
    try:
        first.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["active"] == 1)
        second.send("POST", "/v1/chat/completions", chat(stream=True))
        _capacity_until(url, lambda s: _cap(s)["queued"] == 1)
        time.sleep(0.2)  # past the whole unfaulted reply (105 ms): the first has stalled
        first.close_normally(how)
        stats = _capacity_until(url, lambda s: _cap(s)["admitted"] == 2)
        cap = _cap(stats)
        assert (cap["active"], cap["queued"], cap["admitted"]) == (1, 0, 2)
        assert stats["streams_aborted"] == 1
        assert second.read_head().status == 200
        assert second.read_chunk().startswith(b"data: ")  # the second stream has started
        second.close_normally(how)
        stats = _capacity_until(url, lambda s: _cap(s)["active"] == 0)
        assert (_cap(stats)["active"], _cap(stats)["queued"], stats["streams_aborted"]) == (0, 0, 2)
    finally:
        first.close()
        second.close()


def test_a_cut_stream_frees_its_slot(mock_server: Start) -> None:
    url = mock_server(
        "--slots", "1", "--fault", "cut:1", "--ttft-ms", "10", "--itl-ms", "5", "--tokens", "20"
    )
    conns: list[Conn] = []
    try:
        conns.extend(Conn(url) for _ in range(3))
        for c in conns:
            c.send("POST", "/v1/chat/completions", chat(stream=True))
        for c in conns:  # each is admitted once the one before it is cut
            with pytest.raises(EOFError):
                c.read()
    finally:
        for c in conns:
            c.close()
    stats = _capacity_until(url, lambda s: _cap(s)["active"] == 0)
    cap = _cap(stats)
    assert (cap["admitted"], cap["active"], cap["queued"]) == (3, 0, 0)
    assert stats["streams_aborted"] == 3


def test_refusals_and_hangs_take_no_slot(mock_server: Start) -> None:
    url = mock_server("--slots", "1", "--fault", "hang", "--fault", "status:503", "--seed", "3")
    conns: list[Conn] = []
    try:
        conns.extend(Conn(url) for _ in range(6))
        for c in conns:
            c.send("POST", "/v1/chat/completions", chat(stream=True))
        stats = _capacity_until(url, lambda s: _faults(s) == 6)
    finally:
        for c in conns:
            c.close()
    assert _faults(stats) == 6
    cap = _cap(stats)
    assert (cap["admitted"], cap["active"], cap["queued"]) == (0, 0, 0)


@pytest.mark.slow
def test_itl_per_active_slows_decode(mock_server: Start) -> None:
    """Gaps are 5 + 10 * active ms: 15 ms alone, 35 ms with three streams.

    The mean gap spans 10 gaps, so a few ms of lateness barely moves it; the ratio
    (2.3 ideal) is asserted at 1.5.
    """
    url = mock_server("--itl-per-active-ms", "10", "--ttft-ms", "10", "--itl-ms", "5")
    body = chat(stream=True, max_tokens=11)

    def mean_gap(resp: Response) -> float:
        return (resp.times[11] - resp.times[1]) / 10

    (alone,) = _together(url, 1, body)
    crowd = _together(url, 3, body)
    assert mean_gap(alone) >= 0.012
    assert min(mean_gap(r) for r in crowd) > 1.5 * mean_gap(alone)


def test_bad_capacity_flag_is_one_line_exit_2() -> None:
    cmd = [sys.executable, "-m", "llmbench.mock", "--slots", "-1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "llmbench mock: --slots must be in 0..100000, got -1"
    ]


def test_stats_flag_prints_the_capacity() -> None:
    with own_mock("--stats", "--slots", "3", "--tokens", "2") as (proc, url):
        with httpx.Client(base_url=url) as client:
            client.post("/v1/chat/completions", json=chat(stream=True))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (0, "")
    assert "capacity: slots=3 active=0 (max 1) queued=0 (max 0) admitted=1 left_queue=0" in out


def test_shutdown_with_a_queue_is_clean() -> None:
    """SIGINT with one stream generating and two queued: no queued reply starts."""
    with own_mock("--stats", "--slots", "1", "--itl-ms", "50") as (proc, url):
        conns: list[Conn] = []
        try:
            conns.extend(Conn(url) for _ in range(3))
            for c in conns:
                c.send("POST", "/v1/chat/completions", chat(stream=True))
            _capacity_until(url, lambda s: _cap(s)["queued"] == 2)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
        finally:
            for c in conns:
                c.close()
    assert (proc.returncode, err) == (0, "")
    assert "streams: started=1 completed=0 aborted=1" in out
    assert "capacity: slots=1 active=0 (max 1) queued=0 (max 2)" in out


# Dify conversations and --prefix-cache: the truth later multi-turn and shared-prefix
# tests measure against. Timing bounds are ratios with wide margins (shared CI cores).

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def dify(query: str, **extra: object) -> dict[str, object]:
    return {"query": query, "user": "u-1", "inputs": {}, "response_mode": "streaming", **extra}


def _dify_events(resp: Response) -> list[dict[str, object]]:
    """The `data:` events of a streamed Dify reply (the bare `event: ping` skipped)."""
    assert resp.status == 200, resp.body
    return [json.loads(c[6:-2]) for c in resp.chunks if c.startswith(b"data: ")]


def _dify_ttft(resp: Response, sent: float) -> float:
    first = next(i for i, c in enumerate(resp.chunks) if b'"event":"message"' in c)
    return resp.times[first] - sent


def test_dify_conversation_is_issued_echoed_and_checked(mock_server: Start) -> None:
    url = mock_server("--seed", "3", "--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4")
    c = Conn(url)
    try:
        turn1 = _dify_events(c.request("POST", "/v1/chat-messages", dify("one two three")))
        ids = {e["conversation_id"] for e in turn1 if e["event"] in ("message", "message_end")}
        assert len(ids) == 1
        (cid,) = ids
        assert isinstance(cid, str)
        assert re.match(_UUID, cid)
        turn2 = _dify_events(
            c.request("POST", "/v1/chat-messages", dify("four five", conversation_id=cid))
        )
        mine = [e for e in turn2 if e["event"] in ("message", "message_end")]
        assert {e["conversation_id"] for e in mine} == {cid}
        end = mine[-1]
        assert end["event"] == "message_end"
        usage = end["metadata"]["usage"]  # type: ignore[index]
        assert usage["prompt_tokens"] == 3 + 4 + 2  # the history (query, answer), the query
        for body in (
            dify("x", conversation_id="not-issued"),
            dify("x", conversation_id=cid, user="u-2"),
        ):
            resp = c.request("POST", "/v1/chat-messages", body)
            assert resp.status == 404
            assert json.loads(resp.body) == {
                "code": "not_found",
                "message": "Conversation Not Exists.",
                "status": 404,
            }
        blocking = c.request("POST", "/v1/chat-messages", dify("six", response_mode="blocking"))
        new = json.loads(blocking.body)["conversation_id"]
        assert re.match(_UUID, new)
        assert new != cid
    finally:
        c.close()
    with httpx.Client(base_url=url) as client:
        conversations = client.get("/stats").json()["conversations"]
    assert {k: conversations[k] for k in ("started", "resumed", "not_found", "remembered")} == {
        "started": 2,
        "resumed": 1,
        "not_found": 2,
        "remembered": 2,
    }


def test_dify_conversation_ids_follow_the_seed(mock_server: Start) -> None:
    def first_id(url: str) -> str:
        with httpx.Client(base_url=url) as client:
            body = dify("q", response_mode="blocking")
            cid: str = client.post("/v1/chat-messages", json=body).json()["conversation_id"]
            return cid

    args = ("--seed", "11", "--ttft-ms", "1", "--itl-ms", "0", "--tokens", "1")
    assert first_id(mock_server(*args)) == first_id(mock_server(*args))


def _timed(c: Conn, path: str, body: dict[str, object]) -> tuple[Response, float]:
    sent = time.perf_counter()
    return c.request("POST", path, body), sent


@pytest.mark.slow
def test_prefix_cache_shortens_a_repeated_prompts_ttft(mock_server: Start) -> None:
    """808 words: the repeat has 800 of them cached, so its TTFT is 300 × 8/808 ≈ 3 ms
    against 300 ms. The mock never writes early, so 300 ms is a floor for the first; the
    repeat is asserted under a third of it (any machine's lateness fits in that)."""
    url = mock_server("--prefix-cache", "--ttft-ms", "300", "--itl-ms", "1", "--tokens", "2")
    prompt = " ".join(f"w{i}" for i in range(807))  # 807 words + the <user> tag: 808
    body = {"messages": [{"role": "user", "content": prompt}], "stream": True}
    c = Conn(url)
    try:
        first, t1 = _timed(c, "/v1/chat/completions", body)
        again, t2 = _timed(c, "/v1/chat/completions", body)
    finally:
        c.close()
    cold, warm = first.times[0] - t1, again.times[0] - t2
    assert cold >= 0.300, (cold, warm)
    assert warm < cold / 3, (cold, warm)
    with httpx.Client(base_url=url) as client:
        cache = client.get("/stats").json()["prefix_cache"]
    assert cache["enabled"] is True
    assert (cache["queries"], cache["prompt_blocks"], cache["hit_blocks"]) == (2, 100, 50)
    assert cache["hit_rate"] == 0.5


@pytest.mark.slow
def test_prefix_cache_makes_a_dify_turn_2_cheap(mock_server: Start) -> None:
    """Turn 2's prompt is turn 1 (query and answer) plus a short query: 192 of its 210
    words are cached, so its TTFT is ~26 ms against turn 1's 300 ms."""
    url = mock_server("--prefix-cache", "--ttft-ms", "300", "--itl-ms", "1", "--tokens", "2")
    c = Conn(url)
    try:
        query = " ".join(f"q{i}" for i in range(200))
        resp1, t1 = _timed(c, "/v1/chat-messages", dify(query))
        cid = _dify_events(resp1)[-1]["conversation_id"]
        resp2, t2 = _timed(c, "/v1/chat-messages", dify("a b c d e", conversation_id=cid))
    finally:
        c.close()
    cold, warm = _dify_ttft(resp1, t1), _dify_ttft(resp2, t2)
    assert cold >= 0.300, (cold, warm)
    assert warm < cold / 3, (cold, warm)
    with httpx.Client(base_url=url) as client:
        cache = client.get("/stats").json()["prefix_cache"]
    assert (cache["prompt_blocks"], cache["hit_blocks"]) == (12 + 13, 12)


def test_without_the_flag_there_is_no_cache(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        client.post("/v1/chat/completions", json=chat())
        client.post("/v1/chat/completions", json=chat())
        cache = client.get("/stats").json()["prefix_cache"]
    assert (cache["enabled"], cache["queries"], cache["blocks"]) == (False, 0, 0)


def test_stats_flag_prints_the_prefix_cache() -> None:
    with own_mock("--stats", "--prefix-cache", "--tokens", "2", "--ttft-ms", "1") as (proc, url):
        with httpx.Client(base_url=url) as client:
            client.post("/v1/completions", json=completion(prompt="x " * 40))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (0, "")
    assert "prefix cache: queries=1 hit blocks=0 of 2 (rate 0.000)" in out
    assert "conversations: started=0" in out
