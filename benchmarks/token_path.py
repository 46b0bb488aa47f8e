"""CPU per streamed token, layer by layer, on the client's hot path.

Feeds one token's bytes, as the mock (and vLLM) frame them on the wire, through
llmbench's layers in turn: the HTTP/1.1 chunked decoder (llhttp, through
http/response.py), then the SSE parser, then the OpenAI chat provider's decode, then a
whole Exchange (what ``data_received`` calls).

The hand-written decoder that llhttp replaced (issue 12) sat beside it here first, on
the same 218-byte chunk, one core (taskset -c 0), five runs: medians 1137 ns per token
hand-written, 215 ns llhttp (5.3x less), the floor 1063 ns in the same runs.
The floor in the same run is what the raw client in floor_client.py does per token:
find the payload, ``orjson.loads`` it, read the delta.

Run: ``.venv/bin/python benchmarks/token_path.py`` (a few seconds). Figures are the best
of several repeats, in nanoseconds per token: no sockets, no event loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.response import ResponseParser
from llmbench.providers import make_provider
from llmbench.sse import SSEParser

TOKENS = 100_000  # tokens per measured run
REPEATS = 5

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_EVENT = (
    b'data: {"id":"chatcmpl-17e60f3fbea6563e5e23e29e4bb5f3f4","object":"chat.completion.chunk",'
    b'"created":1796419125,"model":"m","choices":[{"index":0,"delta":{"content":" the"},'
    b'"logprobs":null,"finish_reason":null}]}\n\n'
)
CHUNK = b"%x\r\n" % len(_EVENT) + _EVENT + b"\r\n"


def best_ns_per_token(run: Callable[[], int]) -> float:
    """Best wall time per token; each run returns how many tokens it saw, so a layer
    that stopped parsing cannot pass for a fast one."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        seen = run()
        best = min(best, time.perf_counter_ns() - start)
        if seen != TOKENS:
            raise RuntimeError(f"{run.__name__} saw {seen} of {TOKENS} tokens")
    return best / TOKENS


def floor() -> int:
    seen = 0
    for _ in range(TOKENS):
        payload = CHUNK[CHUNK.index(b"data:") + 5 :].strip()
        choices = orjson.loads(payload).get("choices")
        seen += bool(choices[0]["delta"].get("content"))
    return seen


def http() -> int:
    parser = ResponseParser()
    parser.feed(HEAD)
    return sum(parser.feed(CHUNK) == _EVENT for _ in range(TOKENS))


def http_sse() -> int:
    parser, sse = ResponseParser(), SSEParser()
    parser.feed(HEAD)
    return sum(len(sse.feed(parser.feed(CHUNK))) for _ in range(TOKENS))


_CFG = RunConfig(url="http://127.0.0.1:9")
_PROVIDER = make_provider(_CFG)


def http_sse_decode() -> int:
    parser, sse = ResponseParser(), SSEParser()
    parser.feed(HEAD)
    decode = _PROVIDER.decode
    seen = 0
    for _ in range(TOKENS):
        for event in sse.feed(parser.feed(CHUNK)):
            seen += len(decode(event.event, event.data))
    return seen


def exchange() -> int:
    parser = ResponseParser()
    parser.feed(HEAD)
    ex = Exchange(_PROVIDER, index=0, phase="measure", t0_ns=0, max_line_bytes=1 << 20)
    ex.on_head(200, 1, "text/event-stream")
    now = time.perf_counter_ns
    for _ in range(TOKENS):
        ex.on_data(parser.feed(CHUNK), now())
    return ex.finish(now()).chunks


def main() -> int:
    base = best_ns_per_token(floor)
    print(f"ns per token, best of {REPEATS} runs of {TOKENS:,} tokens ({len(CHUNK)} bytes each)")
    print(f"  {'floor: find + orjson.loads':<40} {base:7.0f}  1.00x")
    for name, run in (
        ("HTTP/1.1 chunked decode (llhttp)", http),
        ("+ SSE parser", http_sse),
        ("+ OpenAI chat decode", http_sse_decode),
        ("Exchange.on_data (the whole path)", exchange),
    ):
        ns = best_ns_per_token(run)
        print(f"  {name:<40} {ns:7.0f}  {ns / base:4.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
