"""CPU cost of llmbench.sse.SSEParser per event, with plain-Python baselines.

The parser runs once per streamed token for every concurrent stream, so its cost per
event bounds how many streams one client process can time honestly. Baselines in the
same run give the figures a scale: ``bytes.split`` over the same chunks is roughly the
least any Python framing could cost, and ``orjson.loads`` of the payload is the JSON
decode the provider runs on every event next.

Run: ``.venv/bin/python benchmarks/sse_parser.py`` (a few seconds). Figures are the
best of several repeats, in nanoseconds per event.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from llmbench.lines import LineSplitter
from llmbench.sse import SSEParser

__all__ = ["main"]

EVENTS = 50_000  # events per measured run
REPEATS = 5  # runs per case; the best is reported, the least disturbed by the OS

# An OpenAI-compatible chat chunk carrying one token (vLLM, SGLang, ...): ~150 bytes;
# real ones run 150-400 bytes, more with logprobs.
PAYLOAD = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"llama","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}'
)
EVENT = b"data: " + PAYLOAD + b"\n\n"


def best_ns_per_event(run: Callable[[], object], events: int) -> float:
    """Best-of-``REPEATS`` wall time of ``run()``, divided by its event count."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        run()
        best = min(best, time.perf_counter_ns() - start)
    return best / events


def parse_all(chunks: list[bytes]) -> Callable[[], object]:
    def run() -> int:
        parser = SSEParser()
        count = 0
        for chunk in chunks:
            count += len(parser.feed(chunk))
        return count

    return run


def split_all(chunks: list[bytes]) -> Callable[[], object]:
    def run() -> int:
        count = 0
        for chunk in chunks:
            count += len(chunk.split(b"\n"))
        return count

    return run


def ndjson_all(chunks: list[bytes]) -> Callable[[], object]:
    def run() -> int:
        splitter = LineSplitter()
        count = 0
        for chunk in chunks:
            count += len(splitter.feed(chunk))
        return count

    return run


def json_all(payloads: list[bytes]) -> Callable[[], object]:
    def run() -> int:
        count = 0
        for payload in payloads:
            count += len(orjson.loads(payload))
        return count

    return run


def cases() -> list[tuple[str, Callable[[], object], int]]:
    """(label, workload, events in it): the parser's cases, then the baselines."""
    per_chunk = [EVENT] * EVENTS
    batched = [EVENT * 64] * (EVENTS // 64)
    crlf = [EVENT.replace(b"\n", b"\r\n")] * EVENTS
    few = 500  # one byte per chunk is slow; fewer events keep the run short
    bytewise = [bytes([b]) for b in EVENT * few]
    ndjson = [PAYLOAD + b"\n"] * EVENTS
    assert parse_all(per_chunk)() == EVENTS  # the workloads really yield their events
    assert parse_all(batched)() == len(batched) * 64
    assert parse_all(crlf)() == EVENTS
    assert parse_all(bytewise)() == few
    return [
        ("SSEParser, one event per chunk (typical)", parse_all(per_chunk), EVENTS),
        ("SSEParser, 64 events per chunk", parse_all(batched), len(batched) * 64),
        ("SSEParser, CRLF line ends, one event per chunk", parse_all(crlf), EVENTS),
        (f"SSEParser, one byte per chunk ({len(EVENT)} chunks/event)", parse_all(bytewise), few),
        ("LineSplitter (NDJSON), one line per chunk", ndjson_all(ndjson), EVENTS),
        ("baseline: bytes.split(b'\\n'), one event per chunk", split_all(per_chunk), EVENTS),
        ("baseline: orjson.loads(payload)", json_all([PAYLOAD] * EVENTS), EVENTS),
    ]


def main() -> None:
    print(f"event: {len(EVENT)} bytes ({len(PAYLOAD)}-byte JSON payload); best of {REPEATS}")
    for label, run, events in cases():
        print(f"{label:<55} {best_ns_per_event(run, events):>9.0f} ns/event")


if __name__ == "__main__":
    main()
