"""The httpx transport (``--transport httpx``) against hostile servers.

What h11 and httpcore raise becomes our statuses in one place
(``classify_httpx_error``): invalid HTTP is ``parse_error``, a connection that closed
before any response head ``connect_error``, a body cut short ``incomplete``. The
servers (tests/hostile_servers.py) are real sockets on 127.0.0.1, shared with the
fast transport's tests; the tables there are the classes of bad input.

Deadline tests run in real time (httpx's sockets do not run on the fake clock): the
limits are 0.2-0.6 s and the windows loose (see ``LATE_S``); they are marked ``slow``.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
from collections.abc import Sequence
from typing import Literal

import h11
import httpcore
import httpx
import pytest

from faketime import FakeClock
from hostile_servers import (
    BODY_CUT,
    CLOSED_BEFORE_RESPONSE,
    DONE,
    END,
    HEAD,
    INVALID_HTTP,
    WHOLE,
    Step,
    chunk,
    serve,
    token,
    unaccepting,
)
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.http.deadlines import Timeouts
from llmbench.http.httpx_transport import HttpxTransport, classify_httpx_error
from llmbench.http.request import HttpRequest
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult

TIMEOUTS = Timeouts(total_s=10.0, connect_s=5.0)
KEY = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"
CLOSED_EARLY = "connection closed before any response"


def _request(url: str, headers: Sequence[tuple[str, str]] = ()) -> HttpRequest:
    base = (("content-type", "application/json"), ("authorization", f"Bearer {KEY}"))
    return HttpRequest("POST", url, (*base, *headers), b'{"stream": true}')


def _exchange(url: str, t0_ns: int) -> Exchange:
    provider = OpenAIChat(RunConfig(url=url))
    return Exchange(provider, index=0, phase="measure", t0_ns=t0_ns, max_line_bytes=4096)


async def _send_all(
    client: HttpxTransport, requests: Sequence[HttpRequest], clock: FakeClock | None = None
) -> list[RequestResult]:
    """Send one after another on one transport (its pool reuses connections)."""
    now = time.perf_counter_ns if clock is None else clock.now_ns
    try:
        results = []
        for request in requests:
            exchange = _exchange(request.url, now())
            results.append(await asyncio.wait_for(client.send(request, exchange), 20))
        return results
    finally:
        await client.aclose()


def _transport(timeouts: Timeouts = TIMEOUTS, clock: FakeClock | None = None) -> HttpxTransport:
    if clock is None:
        return HttpxTransport(concurrency=4, timeouts=timeouts, ssl_context=None)
    return HttpxTransport(concurrency=4, timeouts=timeouts, ssl_context=None, clock=clock.now_ns)


def run(*steps: Step, headers: Sequence[tuple[str, str]] = ()) -> list[RequestResult]:
    """One request to a server playing ``steps``."""

    async def main() -> list[RequestResult]:
        async with serve(*steps) as srv:
            return await _send_all(_transport(), [_request(srv.url, headers)])

    return asyncio.run(main())


def outcome(result: RequestResult) -> tuple[str, str | None]:
    return result.status, result.error


# -- classification: the whole class of each misbehaviour -----------------------------


@pytest.mark.parametrize("case", sorted(INVALID_HTTP))
def test_invalid_http_is_a_parse_error(case: str) -> None:
    [result] = run(*INVALID_HTTP[case])
    assert result.status == "parse_error", result.error
    assert result.error is not None
    assert result.error.startswith("bad HTTP response: ")


@pytest.mark.parametrize("case", sorted(CLOSED_BEFORE_RESPONSE))
def test_a_connection_closed_before_any_response_is_a_connect_error(case: str) -> None:
    [result] = run(*CLOSED_BEFORE_RESPONSE[case])
    assert outcome(result) == ("connect_error", CLOSED_EARLY)
    assert result.http_status is None


@pytest.mark.parametrize("case", sorted(BODY_CUT))
def test_a_body_cut_short_is_incomplete(case: str) -> None:
    [result] = run(*BODY_CUT[case])
    assert outcome(result) == ("incomplete", "stream ended without an end signal")
    assert result.http_status == 200


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "zstd", "GZip", "gzip, identity"])
def test_a_stream_compressed_against_identity_is_a_parse_error(coding: str) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: %s\r\n"
    body = gzip.compress(token() + DONE)
    reply = head % coding.encode() + b"content-length: %d\r\n\r\n%s" % (len(body), body)
    [result] = run(reply)
    message = f"unsupported Content-Encoding {coding!r} (asked for identity)"
    assert outcome(result) == ("parse_error", message)
    assert result.http_status == 200


def test_content_encoding_identity_is_read_as_it_is() -> None:
    head = HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: identity\r\n\r\n")
    [result] = run(head + chunk(token()) + chunk(DONE) + END)
    assert (result.status, result.chunks) == ("ok", 1)


def test_a_compressed_error_body_stays_an_http_error() -> None:
    # An error's body is only its message: the status (a 503 --retries may repeat)
    # decides, as on the fast transport.
    body = gzip.compress(b'{"error": {"message": "overloaded", "type": "server"}}')
    reply = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    [result] = run(reply)
    assert (result.status, result.http_status) == ("http_error", 503)
    assert (result.error or "").startswith("HTTP 503")


def test_a_coding_asked_for_with_a_header_is_decoded() -> None:
    body = gzip.compress(token() + token("there") + DONE)
    reply = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    [result] = run(reply, headers=[("Accept-Encoding", "gzip")])
    assert (result.status, result.chars) == ("ok", len("hithere"))


def test_a_head_that_is_no_stream_ends_the_request_without_waiting_for_a_body() -> None:
    # 200 text/html and then silence: the head alone decides, no limit is waited for.
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n"
    started = time.perf_counter()
    [result] = run(head)
    assert outcome(result) == ("parse_error", "expected text/event-stream, got text/html")
    assert time.perf_counter() - started < TIMEOUTS.total_s / 2


def test_a_response_sent_before_the_request_was_read_is_read() -> None:
    # A server may answer (an error, say) before reading the request (RFC 9112 §9.3).
    async def main() -> RequestResult:
        async with serve(WHOLE, "read", early=True) as srv:
            [result] = await _send_all(_transport(), [_request(srv.url)])
            return result

    result = asyncio.run(main())
    assert (result.status, result.chunks) == ("ok", 1)


@pytest.mark.parametrize("status", [204, 302, 304])
def test_a_status_that_is_not_a_stream_is_an_http_error_with_its_code(status: int) -> None:
    head = b"HTTP/1.1 %d Whatever\r\nlocation: http://127.0.0.1:9/elsewhere\r\n" % status
    [result] = run(head + b"content-length: 0\r\n\r\n")
    assert (result.status, result.http_status) == ("http_error", status)


def test_a_switch_of_protocols_nobody_asked_for_is_invalid_http() -> None:
    # 101 answers an Upgrade request (RFC 9110 §15.2.2); we sent none, and h11 says so.
    [result] = run(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n")
    assert result.status == "parse_error"
    assert result.error is not None
    assert result.error.startswith("bad HTTP response: ")


# -- the translation boundary itself (no sockets) -------------------------------------


def _h11_chain(message: str) -> httpx.RemoteProtocolError:
    """What httpx raises for invalid HTTP: h11's error, wrapped by httpcore (whose pool
    re-raises it ``from None``: h11's is then only the context), then by httpx."""
    inner = httpcore.RemoteProtocolError(message)
    inner.__context__ = h11.RemoteProtocolError(message)
    outer = httpx.RemoteProtocolError(message)
    outer.__cause__ = inner
    return outer


CLASSIFIED = [
    (_h11_chain("illegal chunk header: bytearray(b'zz')"), True, "parse_error"),
    (_h11_chain("illegal status line: bytearray(b'HTTP/1.1 OK')"), False, "parse_error"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), False,
     "connect_error"),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), False, "connect_error"),
    (httpx.WriteError("[Errno 32] Broken pipe"), False, "connect_error"),
    (_h11_chain("peer closed connection without sending complete message body "
                "(incomplete chunked read)"), True, None),
    (_h11_chain("peer unexpectedly closed connection"), True, None),
    (httpx.ReadError(""), True, None),
    (httpx.ConnectError("[Errno 111] Connection refused"), False, "connect_error"),
    (httpx.DecodingError("Error -3 while decompressing data"), True, "parse_error"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "got_head", "status"), CLASSIFIED)
def test_classify_httpx_error(exc: Exception, got_head: bool, status: str | None) -> None:
    verdict = classify_httpx_error(exc, got_head=got_head)
    assert (verdict[0] if verdict else None) == status


@pytest.mark.parametrize(
    "message",
    [
        f"Illegal header value b'Bearer {KEY}\\r'",
        f"Illegal header name b'{KEY}'",
        "Found multiple Host: headers",
    ],
)
def test_a_refused_request_header_is_never_quoted(message: str) -> None:
    verdict = classify_httpx_error(httpx.LocalProtocolError(message), got_head=False)
    assert verdict == ("connect_error", "invalid request header (not shown)")


# -- request headers h11 or httpx refuse: never a traceback, never the value ---------

CONTROL = [chr(c) for c in (*range(0x20), 0x7F)]
NON_ASCII = ["é", "’", "\u2028", "\u00a0", "😀", "\udcff"]
FIXED = {"invalid request header (not shown)", "invalid request header: not ASCII (not shown)"}


@pytest.mark.parametrize("char", CONTROL, ids=[f"0x{ord(c):02x}" for c in CONTROL])
def test_a_control_character_in_the_key_never_reaches_the_result(char: str) -> None:
    bad = (("authorization", f"Bearer {KEY}{char}"), ("x-trace", f"a{char}{KEY}"))
    for header in bad:
        [result] = run(WHOLE, headers=[header])
        # h11 allows a tab inside a value (RFC 9110 §5.5); the rest are refused unsent.
        assert result.status == "ok" or outcome(result) in {("connect_error", m) for m in FIXED}
        assert KEY not in repr(result)


@pytest.mark.parametrize("char", NON_ASCII, ids=[f"U+{ord(c):04X}" for c in NON_ASCII])
@pytest.mark.parametrize("where", ["value", "name"])
def test_a_non_ascii_header_is_a_classified_failure(char: str, where: str) -> None:
    header = (f"x-{char}", "v") if where == "name" else ("x-key", f"{KEY}{char}")
    [result] = run(WHOLE, headers=[header])
    assert outcome(result) == ("connect_error", "invalid request header: not ASCII (not shown)")
    assert KEY not in repr(result)


# -- kept-alive connections the server closes: classified, never resent ---------------

# 20 ms after each response, without `Connection: close`: the client has already
# taken the connection from the pool and written the next request when the FIN comes.
STALE_SERVERS: dict[str, tuple[Step, ...]] = {
    "closes 100 ms after each response": (WHOLE, 0.1, "close"),
    "closes on reading the next request": (WHOLE, "read", "close"),
    "resets on reading the next request": (WHOLE, "read", "reset"),
}


@pytest.mark.parametrize("case", sorted(STALE_SERVERS))
def test_a_kept_alive_connection_closed_under_a_request_is_a_connect_error(case: str) -> None:
    async def main() -> tuple[list[RequestResult], int]:
        async with serve(*STALE_SERVERS[case]) as srv:
            results = await _send_all(_transport(), [_request(srv.url)] * 8)
            return results, len(srv.seen.requests)

    results, requests_seen = asyncio.run(main())
    statuses = [outcome(r) for r in results]
    assert set(statuses) <= {("ok", None), ("connect_error", CLOSED_EARLY)}, statuses
    assert ("connect_error", CLOSED_EARLY) in statuses  # the race is real: we do not hide it
    assert all(r.attempts == 1 for r in results)
    # No request was resent behind the runner's back: a server that reads the next
    # request saw each once; one that closes unread saw only those it answered.
    reads = "read" in STALE_SERVERS[case]
    assert requests_seen == (8 if reads else statuses.count(("ok", None)))


def test_a_connection_closed_before_reuse_is_replaced_by_httpcore() -> None:
    # Closed right after the response: the FIN is in before the next request, and
    # httpcore's readability check (has_expired) drops the connection from the pool.
    async def main() -> tuple[list[RequestResult], int]:
        async with serve(WHOLE, "close") as srv:
            results = await _send_all(_transport(), [_request(srv.url)] * 8)
            return results, srv.seen.connections

    results, connections = asyncio.run(main())
    assert [r.status for r in results] == ["ok"] * 8
    assert connections == 8


# -- the end signal ends the reading ---------------------------------------------------


@pytest.mark.parametrize(
    "after_done",
    [b"", chunk(token("late")), chunk(token("late")) + b"zz\r\n"],
    ids=["nothing", "a token", "a token, then garbage"],
)
def test_reading_stops_at_the_end_signal_of_a_body_never_ended(after_done: bytes) -> None:
    # [DONE], then the chunked body never ends: ok at once, and the connection is
    # closed (a total limit of 10 s would otherwise pass first).
    async def main() -> tuple[RequestResult, int, float]:
        async with serve(HEAD + chunk(token()) + chunk(DONE) + after_done) as srv:
            started = time.perf_counter()
            [result] = await _send_all(_transport(), [_request(srv.url)])
            took = time.perf_counter() - started
            await asyncio.sleep(0.05)
            return result, srv.seen.hangups, took

    result, hangups, took = asyncio.run(main())
    assert (result.status, result.chunks, result.chars) == ("ok", 1, 2)
    assert hangups == 1
    assert took < 2.0


@pytest.mark.parametrize("gap", [None, 0.005], ids=["same write", "5 ms later"])
def test_a_body_ended_after_the_end_signal_keeps_its_connection(gap: float | None) -> None:
    # The terminator follows [DONE]: the connection goes back to the pool, not away.
    steps: tuple[Step, ...] = (
        (WHOLE,) if gap is None else (HEAD + chunk(token()) + chunk(DONE), gap, END)
    )

    async def main() -> tuple[list[RequestResult], int]:
        async with serve(*steps) as srv:
            results = await _send_all(_transport(), [_request(srv.url)] * 3)
            return results, srv.seen.connections

    results, connections = asyncio.run(main())
    assert [r.status for r in results] == ["ok"] * 3
    assert connections == 1


# -- every deadline at its own time ----------------------------------------------------

TTFT_S, STALL_S, TOTAL_S = 0.25, 0.2, 0.5
NEVER_S = 30.0  # a limit "not set": far past the test's end
# Real time: a timer fires after its instant, never before; how much after depends on
# the machine's load. Fired limits are asserted in [due - EARLY_S, due + LATE_S].
EARLY_S, LATE_S = 0.005, 0.25
CUTOFF_S = 0.9  # a request with no limit to pass is still running then
LIMITS = ("ttft", "stall", "total")
SUBSETS = [frozenset(s) for n in range(4) for s in itertools.combinations(LIMITS, n)]

# What the server does, and when (seconds after the request) each limit would pass.
# The stall limit counts from bytes whose arrival a loaded machine may delay: it is
# given as what it follows ("head", "last token") and placed where they arrived.
Due = float | Literal["head", "last token"]
DEADLINE_SERVERS: dict[str, tuple[tuple[Step, ...], dict[str, Due]]] = {
    "no head": ((), {"ttft": TTFT_S, "total": TOTAL_S}),
    "head, then silence": ((HEAD,), {"stall": "head", "ttft": TTFT_S, "total": TOTAL_S}),
    "head, 2 tokens, silence": (
        (HEAD + chunk(token()), 0.1, chunk(token())),
        {"stall": "last token", "total": TOTAL_S},
    ),
    # Bytes every 100 ms but never a token: no stall, ever; ttft and total still pass.
    "head, then a ping every 100 ms": (
        (HEAD, *[step for _ in range(10) for step in (0.1, chunk(b": ping\n\n"))]),
        {"ttft": TTFT_S, "total": TOTAL_S},
    ),
}


def _placed(due: Due, result: RequestResult | None) -> float:
    """When a limit passes, in seconds after t0, for what this request saw."""
    if isinstance(due, float):
        return due
    if result is None or result.ttfb_ns is None:
        return STALL_S  # never seen: the nominal instant, for the message
    if due == "head" or result.ttft_ns is None:
        return result.ttfb_ns / 1e9 + STALL_S
    return (result.ttft_ns + sum(result.icl_ns)) / 1e9 + STALL_S


def _limits(subset: frozenset[str], connect_s: float = 5.0) -> Timeouts:
    return Timeouts(
        total_s=TOTAL_S if "total" in subset else NEVER_S,
        connect_s=connect_s,
        ttft_s=TTFT_S if "ttft" in subset else None,
        stall_s=STALL_S if "stall" in subset else None,
    )


async def _timed(client: HttpxTransport, url: str) -> RequestResult | None:
    """One request; None if it is still running at CUTOFF_S."""
    try:
        exchange = _exchange(url, time.perf_counter_ns())
        return await asyncio.wait_for(client.send(_request(url), exchange), CUTOFF_S)
    except TimeoutError:
        return None
    finally:
        await client.aclose()


def _check_fired(result: RequestResult | None, due: dict[str, float], label: str) -> None:
    if not due:
        assert result is None, f"{label}: nothing should fire, got {result}"
        return
    which = min(due, key=due.__getitem__)
    assert result is not None, f"{label}: {which} never fired"
    assert (result.status, result.detail) == ("timeout", which), f"{label}: {outcome(result)}"
    took = (result.end_ns - result.t0_ns) / 1e9
    assert due[which] - EARLY_S <= took <= due[which] + LATE_S, f"{label}: {which} at {took:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("server", sorted(DEADLINE_SERVERS))
def test_every_deadline_fires_at_its_own_time(server: str) -> None:
    # Every subset of {ttft, stall, total} at once, one transport each: the limit that
    # passes first is the one recorded, at its own time, whatever else is set.
    steps, due = DEADLINE_SERVERS[server]

    async def main() -> list[RequestResult | None]:
        # Every client first: building one blocks the loop (it loads the CA bundle).
        clients = [_transport(_limits(s)) for s in SUBSETS]
        async with serve(*steps) as srv:
            return await asyncio.gather(*(_timed(c, srv.url) for c in clients))

    for subset, result in zip(SUBSETS, asyncio.run(main()), strict=True):
        fires = {k: _placed(v, result) for k, v in due.items() if k in subset}
        _check_fired(result, fires, f"{server} with {'+'.join(sorted(subset)) or 'no limit'}")


CONNECT_CASES = [
    # (connect_s, limits set, the limit expected, at)
    (0.2, frozenset(), "connect", 0.2),
    (0.2, frozenset(LIMITS), "connect", 0.2),
    (0.6, frozenset({"ttft"}), "ttft", TTFT_S),
    (0.6, frozenset({"total"}), "total", TOTAL_S),
    (0.6, frozenset({"stall"}), "connect", 0.6),  # stall counts only once a head is in
    (0.6, frozenset(LIMITS), "ttft", TTFT_S),
]


@pytest.mark.slow
def test_a_connect_that_hangs_ends_at_the_first_limit_to_pass() -> None:
    async def main() -> list[RequestResult | None]:
        clients = [_transport(_limits(limits, c)) for c, limits, _, _ in CONNECT_CASES]
        with unaccepting() as url:
            return await asyncio.gather(*(_timed(c, url) for c in clients))

    for (connect_s, limits, which, at), result in zip(
        CONNECT_CASES, asyncio.run(main()), strict=True
    ):
        label = f"connect {connect_s} s with {'+'.join(sorted(limits)) or 'no limit'}"
        _check_fired(result, {which: at}, label)
        assert result is not None
        assert result.error == _limits(limits, connect_s).message(which)  # type: ignore[arg-type]


T_NS = 5_000_000_000_000  # the fake clock's reading: far from any perf_counter_ns today


@pytest.mark.parametrize(
    ("steps", "which"), [((), "ttft"), ((HEAD,), "stall")], ids=["ttft", "stall"]
)
def test_a_limit_passes_only_when_the_injected_clock_says_so(
    steps: tuple[Step, ...], which: str
) -> None:
    # The loop's timer only says when to look again: while the given clock stands
    # still no limit passes, however often it looks (every 50 ms of real time here).
    clock = FakeClock(T_NS)
    limit = {"ttft_s": 0.05} if which == "ttft" else {"stall_s": 0.05}
    timeouts = Timeouts(total_s=30.0, connect_s=10.0, **limit)

    async def main() -> RequestResult:
        async with serve(*steps) as srv, asyncio.TaskGroup() as tg:
            task = tg.create_task(
                _send_all(_transport(timeouts, clock), [_request(srv.url)], clock)
            )
            await srv.seen.asked.wait()  # the request is sent, and unanswered
            await asyncio.sleep(0.3)  # six looks of real time; none on the clock
            assert not task.done()
            clock.advance(2.0)
        return task.result()[0]

    result = asyncio.run(main())
    assert (result.status, result.detail, result.end_ns) == ("timeout", which, T_NS + 2 * 10**9)


def test_a_canceled_request_propagates_and_closes_its_connection() -> None:
    # Only cancellation leaves send() as an exception (the Transport contract); the
    # connection mid-stream is dropped, and no timer of the request is left behind.
    async def main() -> tuple[int, int]:
        async with serve(HEAD + chunk(token())) as srv:
            client = _transport(Timeouts(total_s=30.0, connect_s=10.0, stall_s=20.0))
            try:
                exchange = _exchange(srv.url, time.perf_counter_ns())
                task = asyncio.ensure_future(client.send(_request(srv.url), exchange))
                await srv.seen.asked.wait()
                await asyncio.sleep(0.05)  # the head and a token are in
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
                timers = sum(not handle.cancelled() for handle in scheduled)
            finally:
                await client.aclose()
            await asyncio.sleep(0.05)
            return srv.seen.hangups, timers

    hangups, timers = asyncio.run(main())
    assert hangups == 1
    assert timers == 0
