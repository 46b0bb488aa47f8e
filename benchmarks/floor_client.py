"""The floor: the least a streaming HTTP client can do per event, in Python.

Raw asyncio `Protocol` connections (uvloop when importable), one keep-alive connection
per worker in a closed loop, a hand-rolled HTTP/1.1 chunked + SSE decoder and one
`orjson.loads` per event. Whatever llmbench's real client spends on top of this, per
event and in TTFT, is its overhead. It understands exactly what a vLLM-style server
sends for a 200 streaming reply (chunked SSE ending with `data: [DONE]`); anything else
counts as an error and ends that connection.

    python benchmarks/floor_client.py --url http://127.0.0.1:8000 -c 100 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import orjson

__all__ = ["FloorResult", "main", "run_floor"]

_clock = time.perf_counter_ns


@dataclass(slots=True)
class FloorResult:
    """What a floor run did: finished requests, content events, TTFTs, wall time.

    `ttfts_ns` is the steady state: each connection's first request pays for the
    connection storm at start-up (hundreds of connects on the same loop), so its TTFT is
    kept apart in `first_ttfts_ns`.
    """

    requests: int = 0
    events: int = 0
    errors: int = 0
    ttfts_ns: list[int] = field(default_factory=list)
    first_ttfts_ns: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def figures(self) -> dict[str, float]:
        """Rates and TTFT percentiles (ms), ready to print or dump as JSON."""
        wall = self.wall_s or 1e-9
        steady, first = sorted(self.ttfts_ns), sorted(self.first_ttfts_ns)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "requests_per_s": round(self.requests / wall, 1),
            "events_per_s": round(self.events / wall, 1),
            "ttft_p50_ms": _pct_ms(steady, 0.50),
            "ttft_p99_ms": _pct_ms(steady, 0.99),
            "ttft_max_ms": _pct_ms(steady, 1.0),
            "first_ttft_p50_ms": _pct_ms(first, 0.50),
            "first_ttft_max_ms": _pct_ms(first, 1.0),
        }


def _pct_ms(ordered: list[int], p: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1e6, 3)


class _Conn(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, result: FloorResult) -> None:
        self._result = result
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._sse = bytearray()
        self._waiter: asyncio.Future[bool] | None = None
        self._state = "idle"
        self._size = 0
        self._t0 = 0
        self._first = True
        self._done = False
        self._warm = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, data: bytes) -> asyncio.Future[bool]:
        """Send one request; the future says whether a complete good reply came back."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._state, self._first, self._done = "head", True, False
        self._t0 = _clock()
        self._transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            self._parse()
        except (ValueError, orjson.JSONDecodeError):
            self._finish(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(False)

    def _parse(self) -> None:
        buf = self._buf
        while True:
            if self._state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                if not buf.startswith(b"HTTP/1.1 200 "):
                    raise ValueError("not a 200 reply")
                del buf[: end + 4]
                self._state = "size"
            elif self._state == "size":
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                self._size = int(buf[:end], 16)
                del buf[: end + 2]
                self._state = "data" if self._size else "trailer"
            elif self._state == "data":
                if len(buf) < self._size + 2:
                    return
                self._sse += buf[: self._size]
                del buf[: self._size + 2]
                self._state = "size"
                self._events()
            elif self._state == "trailer":
                if len(buf) < 2:
                    return
                del buf[:2]
                self._finish(self._done and not self._sse)
                return
            else:
                return

    def _events(self) -> None:
        sse = self._sse
        while (end := sse.find(b"\n\n")) >= 0:
            for line in bytes(sse[:end]).split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].lstrip(b" "))
            del sse[: end + 2]

    def _data(self, payload: bytes) -> None:
        if payload == b"[DONE]":
            self._done = True
            return
        choices = orjson.loads(payload).get("choices")
        if not choices:
            return
        choice = choices[0]
        delta = choice.get("delta")
        text = delta.get("content") if delta is not None else choice.get("text")
        if text:
            if self._first:
                ttft = _clock() - self._t0
                result = self._result
                (result.ttfts_ns if self._warm else result.first_ttfts_ns).append(ttft)
                self._first = False
            self._result.events += 1

    def _finish(self, ok: bool) -> None:
        self._state = "idle" if ok else "broken"
        self._warm = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(ok)


def _request_bytes(host: str, port: int, path: str, max_tokens: int) -> bytes:
    if path.endswith("/chat/completions"):
        payload: dict[str, object] = {"messages": [{"role": "user", "content": "Hello there"}]}
    else:
        payload = {"prompt": "Hello there"}
    payload.update(model="llmbench-mock", max_tokens=max_tokens, stream=True)
    body = orjson.dumps(payload)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _worker(
    host: str, port: int, data: bytes, result: FloorResult, more: Callable[[], bool]
) -> None:
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    conn: _Conn | None = None
    try:
        while more():
            if transport is None or conn is None:
                try:
                    transport, conn = await loop.create_connection(
                        lambda: _Conn(result), host, port
                    )
                except OSError:
                    result.errors += 1
                    continue
            if await conn.request(data):
                result.requests += 1
            else:
                result.errors += 1
                transport.close()
                transport = conn = None
    finally:
        if transport is not None:
            transport.close()


async def run_floor(
    url: str,
    concurrency: int,
    *,
    requests: int | None = None,
    duration_s: float | None = None,
    max_tokens: int = 64,
    path: str = "/v1/chat/completions",
) -> FloorResult:
    """Stream from `url` with `concurrency` closed-loop workers until `requests` have
    started or `duration_s` has passed (whichever is given; both: whichever comes first).
    """
    if requests is None and duration_s is None:
        raise ValueError("give requests or duration_s")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    data = _request_bytes(host, port, path, max_tokens)
    result = FloorResult()
    started = 0
    start = _clock()
    deadline = start + int(duration_s * 1e9) if duration_s is not None else None

    def more() -> bool:
        nonlocal started
        if requests is not None and started >= requests:
            return False
        if deadline is not None and _clock() >= deadline:
            return False
        started += 1
        return True

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(_worker(host, port, data, result, more))
    result.wall_s = (_clock() - start) / 1e9
    return result


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: list[str] | None = None) -> int:
    """Command line: run the floor client once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-c", "--concurrency", type=int, default=100)
    parser.add_argument("-n", "--requests", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    if args.requests is None and args.duration is None:
        args.duration = 10.0
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(
            run_floor(
                args.url,
                args.concurrency,
                requests=args.requests,
                duration_s=args.duration,
                max_tokens=args.max_tokens,
                path=args.path,
            )
        )
    figures = result.figures()
    if args.json:
        print(orjson.dumps(figures).decode(), flush=True)
    else:
        for key, value in figures.items():
            print(f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
