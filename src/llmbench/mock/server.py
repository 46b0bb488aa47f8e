"""The mock's connections and routes, as a plain asyncio `Protocol`.

One `_Connection` per TCP connection feeds bytes to the sans-IO parser, answers one
request at a time (pipelined requests wait their turn, as in any HTTP/1.1 server) and
hands generation requests to the engine (engine.py): a reply is rendered on arrival and
runs once the request has one of the `--slots`. No per-request logging: the mock must
never be a benchmark's bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
import ssl
import time
from collections import deque
from email.utils import formatdate
from typing import cast

import orjson

from llmbench.mock import faults, http11
from llmbench.mock.capacity import Slots
from llmbench.mock.conversations import NOT_FOUND_BODY, Conversation, Conversations, seeded_ids
from llmbench.mock.engine import Engine, Job, Start, Ticket
from llmbench.mock.faults import Fault, FaultPlan
from llmbench.mock.formats import DEFAULT_VOCAB, Endpoint, FormatError, Reply, Vocab, routes
from llmbench.mock.metrics_page import CONTENT_TYPE as METRICS_TYPE
from llmbench.mock.metrics_page import MetricsPage
from llmbench.mock.models import ServedModels, not_found_message
from llmbench.mock.options import MockOptions
from llmbench.mock.prefix_cache import Chain, PrefixCache, cached_ttft_ns, prompt_words
from llmbench.mock.scheduler import Scheduler
from llmbench.mock.stats import MockStats
from llmbench.mock.streams import StreamPlan, Timing

__all__ = ["MockServer"]

# A benchmark opens hundreds of connections at once; asyncio's default backlog of 100
# would drop SYNs and add a one-second retransmit to some first requests.
_BACKLOG = 4096
# Requests a client may send ahead of the replies it has read (HTTP/1.1 pipelining);
# real clients pipeline a handful at most, and each waiting request holds its body.
_MAX_PIPELINED = 256
_JSON = b"application/json"
_clock = time.perf_counter_ns


class _App:
    """What every connection shares: routes, the engine, stats, the id source, the
    conversations and the prefix cache (None without `--prefix-cache`)."""

    def __init__(
        self,
        options: MockOptions,
        scheduler: Scheduler,
        stats: MockStats,
        slots: Slots[Ticket],
        conversations: Conversations,
        prefix_cache: PrefixCache | None,
    ) -> None:
        rng = random.Random(options.seed)
        self.tokens = options.tokens
        timing = Timing(
            ttft_ns=round(options.ttft_ms * 1e6),
            itl_ns=round(options.itl_ms * 1e6),
            jitter_ns=round(options.jitter_ms * 1e6),
            rand=rng.random,
        )
        per_active_ns = round(options.itl_per_active_ms * 1e6)
        self.engine = Engine(timing, per_active_ns, scheduler, stats, slots)
        self.rand_bits = rng.getrandbits
        self.stats = stats
        self.conversations = conversations
        self.prefix_cache = prefix_cache
        self.ttft_ns = timing.ttft_ns
        vocab = DEFAULT_VOCAB if options.text is None else Vocab.from_text(options.text)
        self.vocab = vocab
        self.endpoints: dict[str, Endpoint] = routes(options.format, vocab)
        self.connections: set[_Connection] = set()
        self._date = (0, b"")
        self.faults = FaultPlan.seeded(options.faults, options.fault_rate, options.seed)
        self.models = ServedModels(options.models)
        self.metrics_page = MetricsPage(self.models.default, time.time())  # GET /metrics

    def date_lines(self) -> bytes:
        """`date` and `server` header lines, re-rendered once a second."""
        now = int(time.time())
        if self._date[0] != now:
            line = b"date: %s\r\nserver: llmbench-mock\r\n" % formatdate(now, usegmt=True).encode()
            self._date = (now, line)
        return self._date[1]

    def handle(self, req: http11.Request, conn: _Connection, arrival_ns: int) -> None:
        """Answer `req` on `conn`, now or (for generation) through the timer wheel."""
        self.stats.requests += 1
        endpoint = self.endpoints.get(req.path)
        if endpoint is not None and req.method == "POST":
            self._generate(endpoint, req, conn, arrival_ns)
        elif req.method == "GET" and req.path == "/health":
            conn.respond(self.head(200, b"text/plain; charset=utf-8", 0, req.keep_alive))
        elif req.method == "GET" and req.path == "/v1/models":
            conn.respond(self.json(200, self.models.listing(int(time.time())), req.keep_alive))
        elif req.method == "GET" and req.path == "/stats":
            conn.respond(self.json(200, self.stats.statistics().to_json(), req.keep_alive))
        elif req.method == "GET" and req.path == "/metrics":  # vLLM's names (metrics_page.py)
            body = self.metrics_page.render(self.stats.statistics())
            conn.respond(self.head(200, METRICS_TYPE, len(body), req.keep_alive) + body)
        elif endpoint is not None or req.path in ("/health", "/v1/models", "/stats", "/metrics"):
            conn.respond(self.error(405, f"method {req.method} not allowed", req.keep_alive))
        else:
            conn.respond(self.error(404, f"no route for {req.path}", req.keep_alive))

    def head(self, status: int, ctype: bytes, length: int | None, keep_alive: bool) -> bytes:
        """A response head with this server's `date`/`server` lines."""
        return http11.response_head(
            status, ctype, length=length, keep_alive=keep_alive, extra=self.date_lines()
        )

    def json(self, status: int, obj: object, keep_alive: bool) -> bytes:
        """A whole JSON response."""
        body = orjson.dumps(obj)
        return self.head(status, _JSON, len(body), keep_alive) + body

    def error(self, status: int, message: str, keep_alive: bool, param: str | None = None) -> bytes:
        """An OpenAI-style error response: `{"error": {message, type, param, code}}`."""
        self.stats.errors += 1
        kind = {400: "BadRequestError", 404: "NotFoundError"}.get(status, "HTTPError")
        error = {"message": message, "type": kind, "param": param, "code": status}
        return self.json(status, {"error": error}, keep_alive)

    def _generate(
        self, endpoint: Endpoint, req: http11.Request, conn: _Connection, arrival_ns: int
    ) -> None:
        try:
            gen = endpoint.parse(req.body, req.header)
        except FormatError as exc:
            conn.respond(self.error(400, exc.message, req.keep_alive, exc.param))
            return
        # Checked before anything else, as vLLM's _check_model is (see models.py).
        if not self.models.accepts(endpoint.family, gen.model):
            conn.respond(self.error(404, not_found_message(gen.model), req.keep_alive, "model"))
            return
        if not gen.model:
            gen = dataclasses.replace(gen, model=self.models.default)
        conv: Conversation | None = None
        if gen.conversation:  # a later turn: Dify looks the conversation up first
            conv = self.conversations.find(gen.conversation, gen.user)
            if conv is None:
                self.stats.errors += 1
                conn.respond(self.json(404, NOT_FOUND_BODY, req.keep_alive))
                return
        fault = self._draw_fault(gen.stream)
        # These faults never reach the engine, so they take no slot: a 429/503 is how a
        # full server refuses instead of queueing, and a hung request produced nothing.
        if fault is not None and fault.kind in ("status", "html"):
            conn.respond(faults.response(fault, self.date_lines(), req.keep_alive))
            return
        if fault is not None and fault.kind == "hang":
            return  # read, never answered: the connection stays busy until the client leaves
        if gen.conversation is not None:
            conv = conv or self.conversations.start(gen.user)
            # The turn's prompt is the history, then the query.
            gen = dataclasses.replace(
                gen, conversation=conv.id, prompt_tokens=conv.words + gen.prompt_tokens
            )
        self.stats.prompt_tokens += gen.prompt_tokens  # accepted: vllm:prompt_tokens
        capped = gen.max_tokens is not None and gen.max_tokens <= self.tokens
        n = min(self.tokens, gen.max_tokens) if gen.max_tokens is not None else self.tokens
        # "length" when the request's own limit ended the reply, "stop" when the "model"
        # finished first: the distinction vLLM makes.
        reply = Reply(
            gen, n, "length" if capped else "stop", f"{self.rand_bits(128):032x}", int(time.time())
        )
        saved_ns = 0
        if self.prefix_cache is not None:
            saved_ns = self._prefill(self.prefix_cache, reply, conv)
        elif conv is not None:
            self.conversations.record(conv, gen.prompt_tokens + n)
        if gen.stream:
            start = self._stream_start(endpoint, reply, req.keep_alive, conn, fault, saved_ns)
        else:
            body = endpoint.body(reply)
            data = self.head(200, body.content_type, len(body.body), req.keep_alive) + body.body
            start = self.engine.body(conn, data, n, saved_ns)
        conn.ticket = self.engine.submit(conn, start, arrival_ns)

    def _prefill(self, cache: PrefixCache, reply: Reply, conv: Conversation | None) -> int:
        """Look the prompt up in the prefix cache, cache it and its reply; return the TTFT
        saved (see prefix_cache.py). A conversation's turn continues its history."""
        gen = reply.request
        words, chat = prompt_words(gen.prompt)
        chain = Chain()
        if conv is not None:  # a conversation API's query is the user's turn
            if conv.history is not None:
                chain = conv.history.copy()
            words.insert(0, "<user>")
            chat = True
        chain.extend(words)
        hit = cache.match(chain.hashes)
        length = chain.words
        answer = self.vocab.text(reply.n).split()
        chain.extend(["<assistant>", *answer] if chat else answer)
        cache.insert(chain.hashes)
        if conv is not None:
            self.conversations.record(conv, gen.prompt_tokens + reply.n, chain)
        return self.ttft_ns - cached_ttft_ns(self.ttft_ns, hit, length)

    def _draw_fault(self, stream: bool) -> Fault | None:
        """This request's fault, if any; stream faults leave non-streamed replies alone."""
        fault = self.faults.draw()
        if fault is None or (fault.is_stream and not stream):
            return None
        self.stats.fault(fault.spec)
        return fault

    def _stream_start(
        self,
        endpoint: Endpoint,
        reply: Reply,
        keep_alive: bool,
        conn: _Connection,
        fault: Fault | None,
        saved_ns: int,
    ) -> Start:
        events = endpoint.stream(reply)
        ctype = events.content_type
        if fault is not None and fault.kind == "content-type":
            ctype = b"text/plain; charset=utf-8"
        head = self.head(200, ctype, None, keep_alive) + _frame(events.preamble)
        plan = StreamPlan(
            first=_frame(events.first),
            tokens=tuple(http11.chunk(t) for t in events.tokens),
            tail=_frame(events.tail) + http11.LAST_CHUNK,
            n=reply.n,
        )
        if fault is not None and fault.kind == "trickle":
            return self.engine.trickle(conn, head + faults.whole_body(plan))
        if fault is not None:
            plan = faults.shape(fault, plan, endpoint.family)
        # The head goes out now, even while the request waits for a slot (vLLM's
        # StreamingResponse sends its head before the engine schedules the request), so a
        # client's TTFB is ~0 and its TTFT is all ours, queueing included.
        conn.write(head)
        return self.engine.stream(conn, plan, saved_ns)


def _frame(events: tuple[bytes, ...]) -> bytes:
    return b"".join(http11.chunk(e) for e in events)


class _Connection(asyncio.Protocol):
    """One client connection: parse, answer in order, keep alive unless told not to."""

    def __init__(self, app: _App) -> None:
        self._app = app
        self._parser = http11.RequestParser()
        self._pending: deque[http11.Request] = deque()
        self._transport: asyncio.Transport | None = None
        self.job: Job | None = None
        self.ticket: Ticket | None = None  # the generation request holding or awaiting a slot
        self._busy = False
        self._in_next = False
        self._keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only look-alikes.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Nagle would hold each small SSE chunk back until the previous one is
            # acknowledged: tens of ms added to every token on a real network.
            # (A Unix socket has no Nagle to disable.)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._app.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            requests = self._parser.feed(data)
        except http11.HttpError as exc:
            self._pending.clear()
            self._keep_alive = False
            if not self._busy:  # mid-response, an error reply would corrupt the body
                self.write(self._app.error(exc.status, exc.message, keep_alive=False))
            self.close()
            return
        # Only when this request is next in line: an interim reply must not land inside
        # the body of a reply still being written to a pipelined request before it.
        if self._parser.take_continue() and not self._busy and not self._pending:
            self.write(http11.CONTINUE)
        self._pending.extend(requests)
        if len(self._pending) > _MAX_PIPELINED:
            self.close()  # a client that never reads replies: stop buffering its requests
            return
        self._next()

    def eof_received(self) -> bool:
        # The client closed its side (FIN): it has left, as after an RST. RFC 9112 §9.6
        # says a half-close does not "imply that the client is no longer interested in a
        # response", but the servers benchmarked treat it so: uvicorn's h11 and httptools
        # protocols return None here, so asyncio closes the transport, connection_lost
        # marks the request disconnected, and vLLM's with_cancellation (entrypoints/
        # utils.py, listen_for_disconnect) aborts it. Clients that half-close and still
        # read are rare; keeping their socket half-open let a stalled stream hold its
        # slot, and a waiting request its place, until the process exited.
        self._pending.clear()
        self._drop()
        return False  # asyncio closes the transport once what is buffered is sent

    def connection_lost(self, exc: Exception | None) -> None:
        self._drop()
        self._pending.clear()
        self._app.connections.discard(self)
        self._transport = None

    def write(self, data: bytes) -> None:
        """Write unless the connection is already going away."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def respond(self, data: bytes) -> None:
        """Write a whole response and move on to the next request."""
        self.write(data)
        self.done()

    def done(self) -> None:
        """The current response is complete."""
        self.job = None
        self._busy = False
        self._release()  # before the next pipelined request, which queues behind the others
        if not self._keep_alive:
            self.close()
        elif not self._in_next:
            self._next()

    def close(self) -> None:
        """Close after whatever is buffered has been sent; generation here is over."""
        self._drop()
        if self._transport is not None:
            self._transport.close()

    def _closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now (server shutdown)."""
        self._drop()
        if self._transport is not None:
            self._transport.abort()

    def _drop(self) -> None:
        """Generation here is over early: stop the running job, free the slot."""
        job = self.job
        if job is not None:
            self.job = None
            job.abort()  # a no-op for a job that ended itself (a `cut` calls `close`)
        self._release()

    def _release(self) -> None:
        """This connection's request no longer needs its slot (or its place in the queue).

        Called when the reply ends (`done`), when the server hangs up (a `cut` fault, a
        parse error: `close`) and when the client does, by FIN (`eof_received`) or RST
        (`connection_lost`), which also ends a `stall`ed stream: whichever comes first
        frees the slot.
        """
        ticket = self.ticket
        if ticket is not None:
            self.ticket = None
            self._app.engine.release(ticket)

    def _next(self) -> None:
        self._in_next = True
        try:
            while self._pending and not self._busy and not self._closing():
                request = self._pending.popleft()
                self._busy = True
                self._keep_alive = request.keep_alive
                self._app.handle(request, self, _clock())
        finally:
            self._in_next = False


class MockServer:
    """The mock server: `await start()`, serve, `await close()`."""

    def __init__(self, options: MockOptions, tls: ssl.SSLContext | None = None) -> None:
        self.options = options
        self.tls = tls  # serve HTTPS with this context
        self._slots: Slots[Ticket] = Slots(options.slots)
        self._cache = PrefixCache(options.prefix_cache_blocks) if options.prefix_cache else None
        # Histories are kept (as block hashes) only for the cache, within its budget.
        self._conversations = Conversations(
            seeded_ids(options.seed),
            max_history_blocks=options.prefix_cache_blocks if options.prefix_cache else 0,
        )
        self.stats = MockStats(
            self._slots.statistics,
            self._conversations.statistics,
            None if self._cache is None else self._cache.statistics,
        )
        self._server: asyncio.Server | None = None
        self._app: _App | None = None

    async def start(self) -> tuple[str, int]:
        """Listen on `options.host`/`options.port`; return the bound host and port."""
        loop = asyncio.get_running_loop()
        app = _App(
            self.options, Scheduler(loop), self.stats, self._slots, self._conversations, self._cache
        )
        self._app = app
        self._server = await loop.create_server(
            lambda: _Connection(app),
            host=self.options.host,
            port=self.options.port,
            backlog=_BACKLOG,
            reuse_address=True,
            ssl=self.tls,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def close(self) -> None:
        """Stop listening, drop every connection and every pending timer."""
        if self._server is not None:
            self._server.close()
        if self._app is not None:
            # The engine first, so a slot freed by a dropped connection starts no reply.
            self._app.engine.close()
            for conn in list(self._app.connections):
                conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
        # Let connection_lost callbacks of the aborted transports run.
        await asyncio.sleep(0)
