"""The mock's capacity (`--slots`, `--itl-per-active-ms`) without sockets or a clock.

`Slots` is pure bookkeeping, so it is driven directly, including by a Hypothesis model
test; the timelines, jobs and the engine get fake clocks, sinks and wheels, and assert
exact nanoseconds. A server connection gets a fake transport, to show that a client
leaving (FIN or RST) frees what its request held.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.mock.capacity import MAX_SLOTS, CapacitySnapshot, Slots
from llmbench.mock.conversations import Conversations, seeded_ids
from llmbench.mock.engine import Engine, Job, Ticket
from llmbench.mock.options import MockOptions, OptionsError, add_arguments, options_from_args
from llmbench.mock.server import _App, _Connection
from llmbench.mock.stats import MockStats
from llmbench.mock.streams import LoadTimeline, PacedBodyJob, StreamJob, StreamPlan, Timing

MS = 1_000_000


# Slots: admission, FIFO order, leaving the queue, statistics.


def test_free_slots_admit_at_once_then_requests_queue() -> None:
    slots: Slots[str] = Slots(2)
    assert [slots.arrive(t, 0) for t in "abcde"] == [True, True, False, False, False]
    assert (slots.active, slots.queued) == (2, 3)


def test_a_freed_slot_goes_to_the_longest_waiting() -> None:
    slots: Slots[str] = Slots(2)
    for t in "abcde":
        slots.arrive(t, 0)
    assert slots.release("b", 10) == "c"
    assert slots.release("a", 20) == "d"
    assert slots.release("c", 30) == "e"
    assert slots.release("d", 40) is None
    assert slots.release("e", 50) is None
    assert (slots.active, slots.queued) == (0, 0)


def test_a_queued_request_that_leaves_frees_no_slot() -> None:
    slots: Slots[str] = Slots(1)
    for t in "abc":
        slots.arrive(t, 0)
    assert slots.release("b", 5) is None  # its client went away while waiting
    assert (slots.active, slots.queued) == (1, 1)
    assert slots.release("a", 10) == "c"  # c moves up; b is not admitted
    snap = slots.statistics()
    assert (snap.admitted, snap.left_queue, snap.queued) == (2, 1, 0)


def test_newcomers_never_pass_the_queue() -> None:
    slots: Slots[str] = Slots(1)
    slots.arrive("a", 0)
    slots.arrive("b", 1)
    assert slots.release("a", 2) == "b"
    assert not slots.arrive("c", 3)  # the slot went to b, not to whoever came next


def test_zero_slots_is_unlimited() -> None:
    slots: Slots[int] = Slots(0)
    assert all(slots.arrive(t, 0) for t in range(10_000))
    assert all(slots.release(t, 1) is None for t in range(10_000))
    snap = slots.statistics()
    assert (snap.slots, snap.active_max, snap.queued_max, snap.admitted) == (0, 10_000, 0, 10_000)


def test_queue_waits_are_measured_from_arrival_to_admission() -> None:
    slots: Slots[str] = Slots(1)
    slots.arrive("a", 0)
    slots.arrive("b", 1 * MS)
    slots.arrive("c", 2 * MS)
    slots.release("a", 11 * MS)  # b waited 10 ms
    slots.release("b", 32 * MS)  # c waited 30 ms
    snap = slots.statistics()
    assert snap == CapacitySnapshot(
        slots=1,
        active=1,
        active_max=1,
        queued=0,
        queued_max=2,
        admitted=3,
        left_queue=0,
        queue_wait_mean_ms=pytest.approx(40 / 3),
        queue_wait_max_ms=30.0,
    )


def test_snapshot_json_and_line() -> None:
    slots: Slots[str] = Slots(3)
    snap = slots.statistics()
    assert snap.to_json() == {
        "slots": 3,
        "active": 0,
        "active_max": 0,
        "queued": 0,
        "queued_max": 0,
        "admitted": 0,
        "left_queue": 0,
        "queue_wait_ms": {"mean": 0.0, "max": 0.0},
    }
    assert snap.line() == (
        "capacity: slots=3 active=0 (max 0) queued=0 (max 0) admitted=0 left_queue=0 "
        "queue wait ms: mean=0.000 max=0.000"
    )
    assert Slots[str](0).statistics().line().startswith("capacity: slots=unlimited ")


def test_misuse_is_refused() -> None:
    slots: Slots[str] = Slots(1)
    slots.arrive("a", 0)
    slots.arrive("b", 0)
    with pytest.raises(RuntimeError, match=r"ticket 'a' already holds a slot or waits"):
        slots.arrive("a", 0)
    with pytest.raises(RuntimeError, match=r"ticket 'b' already holds a slot or waits"):
        slots.arrive("b", 0)
    with pytest.raises(RuntimeError, match=r"ticket 'z' holds no slot and is not queued"):
        slots.release("z", 0)
    slots.release("b", 0)
    with pytest.raises(RuntimeError, match=r"ticket 'b' holds no slot"):
        slots.release("b", 0)  # released twice


@pytest.mark.parametrize("limit", [-1, MAX_SLOTS + 1])
def test_slot_limit_is_bounded(limit: int) -> None:
    with pytest.raises(ValueError, match=rf"slots must be in 0\.\.{MAX_SLOTS}, got {limit}"):
        Slots(limit)


# A model test: any sequence of arrivals, releases and clients leaving the queue keeps the
# invariants, admits in arrival order and leaks nothing once everyone is gone.

_OPS = st.lists(
    st.tuples(st.sampled_from(["arrive", "end", "leave"]), st.integers(0, 10**6)), max_size=200
)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(0, 5), ops=_OPS)
def test_any_sequence_keeps_fifo_and_leaks_nothing(limit: int, ops: list[tuple[str, int]]) -> None:
    slots: Slots[int] = Slots(limit)
    active: set[int] = set()
    queue: list[int] = []  # the reference model: a plain list, oldest first
    admitted_order: list[int] = []
    now = next_ticket = 0
    for op, pick in ops:
        now += 1
        if op == "arrive":
            ticket, next_ticket = next_ticket, next_ticket + 1
            if slots.arrive(ticket, now):
                active.add(ticket)
                admitted_order.append(ticket)
            else:
                queue.append(ticket)
        elif op == "end" and active:
            ticket = sorted(active)[pick % len(active)]
            active.remove(ticket)
            got = slots.release(ticket, now)
            assert got == (queue.pop(0) if queue else None)
            if got is not None:
                active.add(got)
                admitted_order.append(got)
        elif op == "leave" and queue:
            assert slots.release(queue.pop(pick % len(queue)), now) is None
        assert (slots.active, slots.queued) == (len(active), len(queue))
        assert not limit or slots.active <= limit
        assert not queue or slots.active == limit  # nobody waits beside a free slot
    assert admitted_order == sorted(admitted_order)  # first come, first served
    while active:  # everyone else finishes
        got = slots.release(active.pop(), now)
        if got is not None:
            active.add(got)
    snap = slots.statistics()
    assert (snap.active, snap.queued) == (0, 0)
    assert snap.admitted + snap.left_queue == next_ticket


# The timelines: the shared closed form, and the incremental one under load.


def _timing(jitter_ns: int = 0, rand: float = 0.0) -> Timing:
    return Timing(ttft_ns=50 * MS, itl_ns=10 * MS, jitter_ns=jitter_ns, rand=lambda: rand)


def test_load_timeline_adds_a_gap_per_active_request() -> None:
    active = [1]
    timeline = LoadTimeline(_timing(), 2 * MS, lambda: active[0])
    dues = [timeline.due(1000, 0), timeline.due(1000, 1)]
    active[0] = 4  # three more requests joined the batch
    dues += [timeline.due(1000, 2), timeline.due(1000, 3)]
    assert dues == [
        1000 + 50 * MS,
        1000 + 50 * MS + 12 * MS,  # itl + 2 ms * 1
        1000 + 50 * MS + 12 * MS + 18 * MS,  # itl + 2 ms * 4
        1000 + 50 * MS + 12 * MS + 36 * MS,
    ]


def test_load_timeline_with_no_load_term_is_the_ideal_timeline() -> None:
    timing = _timing()
    timeline = LoadTimeline(timing, 0, lambda: 7)
    assert [timeline.due(5, k) for k in range(64)] == [timing.due(5, k) for k in range(64)]


def test_load_timeline_jitter_never_accumulates() -> None:
    timeline = LoadTimeline(_timing(jitter_ns=4 * MS, rand=0.5), 1 * MS, lambda: 2)
    dues = [timeline.due(0, k) for k in range(5)]
    # Each due is its ideal time plus 2 ms of jitter; the ideal times step by 12 ms.
    assert dues == [50 * MS + 2 * MS + k * 12 * MS for k in range(5)]


def test_load_timeline_must_be_walked_in_order() -> None:
    timeline = LoadTimeline(_timing(), MS, lambda: 1)
    timeline.due(0, 0)
    with pytest.raises(ValueError, match=r"asked for token 2 after token 0"):
        timeline.due(0, 2)


@dataclass
class _Sink:
    out: bytearray = field(default_factory=bytearray)
    writes: int = 0
    finished: int = 0
    closed: int = 0
    job: Job | None = None

    def write(self, data: bytes) -> None:
        self.out += data
        self.writes += 1

    def done(self) -> None:
        self.finished += 1

    def close(self) -> None:
        self.closed += 1


_PLAN = StreamPlan(first=b"<", tokens=(b"t",), tail=b">", n=5)


def test_a_late_write_does_not_shift_the_load_timeline() -> None:
    sink, stats = _Sink(), MockStats()
    timeline = LoadTimeline(_timing(), 5 * MS, lambda: 2)  # gaps of 20 ms
    job = StreamJob(sink.write, sink.done, _PLAN, timeline, stats, 0)
    assert job.due_ns == 50 * MS
    # The wheel runs 25 ms late: tokens 0 and 1 go out together, token 2 keeps its time.
    assert job.fire(75 * MS) == 90 * MS
    assert bytes(sink.out) == b"<tt"
    assert job.fire(90 * MS) == 110 * MS
    assert job.fire(200 * MS) is None
    assert (bytes(sink.out), sink.finished, stats.tokens) == (b"<ttttt>", 1, 5)


def test_paced_body_steps_every_token_and_writes_once() -> None:
    sink = _Sink()
    active = [1]
    timeline = LoadTimeline(_timing(), 10 * MS, lambda: active[0])
    job = PacedBodyJob(sink.write, sink.done, b"body", timeline, 0, 4)
    assert job.due_ns == 50 * MS
    assert job.fire(50 * MS) == 70 * MS  # token 1: itl + 10 ms * 1
    active[0] = 3
    assert job.fire(70 * MS) == 110 * MS  # token 2: the gap started with 3 active
    assert sink.writes == 0
    assert job.fire(10**12) is None  # token 3 (the last) and the reply
    assert (bytes(sink.out), sink.writes, sink.finished, job.dead) == (b"body", 1, 1, True)


def test_a_one_token_paced_body_is_written_at_the_first_token() -> None:
    sink = _Sink()
    job = PacedBodyJob(sink.write, sink.done, b"x", LoadTimeline(_timing(), MS, lambda: 1), 7, 1)
    assert job.due_ns == 7 + 50 * MS
    assert job.fire(job.due_ns) is None
    assert (bytes(sink.out), sink.finished) == (b"x", 1)


# The engine: a queued request's timeline starts at its admission.


class _Wheel:
    def __init__(self) -> None:
        self.added: list[tuple[Job, int]] = []

        self.closed = False

    def add(self, job: Job, due_ns: int) -> None:
        assert not self.closed
        self.added.append((job, due_ns))

    def close(self) -> None:
        self.closed = True


def _engine(slots: int, per_active_ms: float = 0.0) -> tuple[Engine, _Wheel, list[int]]:
    clock = [0]
    wheel = _Wheel()
    stats = MockStats()
    engine = Engine(
        _timing(),
        round(per_active_ms * MS),
        wheel,  # type: ignore[arg-type]
        stats,
        Slots(slots),
        clock=lambda: clock[0],
    )
    return engine, wheel, clock


def test_engine_starts_a_queued_stream_when_a_slot_frees() -> None:
    engine, wheel, clock = _engine(slots=1)
    first, second = _Sink(), _Sink()
    a = engine.submit(first, engine.stream(first, _PLAN), arrival_ns=0)
    b = engine.submit(second, engine.stream(second, _PLAN), arrival_ns=1 * MS)
    assert [due for _, due in wheel.added] == [50 * MS]  # only the first runs
    assert first.job is not None
    assert second.job is None
    clock[0] = 90 * MS  # the first reply ends
    engine.release(a)
    assert [due for _, due in wheel.added] == [50 * MS, 140 * MS]  # admission + ttft
    assert second.job is wheel.added[1][0]
    engine.release(b)
    assert engine.slots.statistics().queue_wait_max_ms == 89.0


def test_engine_body_waits_for_its_last_token() -> None:
    engine, wheel, _ = _engine(slots=0)
    sink = _Sink()
    engine.submit(sink, engine.body(sink, b"reply", 5), arrival_ns=3)
    assert wheel.added[0][1] == 3 + 50 * MS + 4 * 10 * MS


def test_engine_paces_with_the_active_count() -> None:
    engine, wheel, _ = _engine(slots=0, per_active_ms=1.0)
    sinks = [_Sink() for _ in range(3)]
    for sink in sinks:
        engine.submit(sink, engine.stream(sink, _PLAN), arrival_ns=0)
    job, due = wheel.added[0]
    assert due == 50 * MS
    assert job.fire(due) == 50 * MS + 10 * MS + 3 * MS  # three active when the gap starts


def test_engine_trickle_starts_at_admission() -> None:
    engine, wheel, clock = _engine(slots=1)
    first, second = _Sink(), _Sink()
    a = engine.submit(first, engine.stream(first, _PLAN), arrival_ns=0)
    engine.submit(second, engine.trickle(second, b"ab"), arrival_ns=0)
    clock[0] = 77
    engine.release(a)
    assert wheel.added[-1][1] == 77


def test_a_closed_engine_starts_nothing_and_still_balances_its_slots() -> None:
    engine, wheel, _ = _engine(slots=1)
    sinks = [_Sink() for _ in range(3)]
    tickets = [engine.submit(s, engine.stream(s, _PLAN), arrival_ns=0) for s in sinks]
    engine.close()  # server shutdown: every connection is being dropped
    for ticket in tickets:
        engine.release(ticket)
    assert wheel.closed
    assert len(wheel.added) == 1
    assert [s.job is None for s in sinks] == [False, True, True]
    snap = engine.slots.statistics()
    assert (snap.active, snap.queued) == (0, 0)


# The flags.


def _options(*argv: str) -> MockOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_capacity_flags_default_to_off() -> None:
    opts = _options()
    assert (opts.slots, opts.itl_per_active_ms) == (0, 0.0)
    opts = _options("--slots", "32", "--itl-per-active-ms", "0.5")
    assert (opts.slots, opts.itl_per_active_ms) == (32, 0.5)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (("--slots", "-1"), r"^--slots must be in 0\.\.100000, got -1$"),
        (("--slots", "100001"), r"^--slots must be in 0\.\.100000, got 100001$"),
        (
            ("--itl-per-active-ms", "-0.5"),
            r"^--itl-per-active-ms must be in 0\.\.8\.64e\+07, got -0\.5$",
        ),
        (("--itl-per-active-ms", "nan"), r"^--itl-per-active-ms must be in .*, got nan$"),
        (("--itl-per-active-ms", "inf"), r"^--itl-per-active-ms must be in .*, got inf$"),
        (("--itl-per-active-ms", "1e9"), r"^--itl-per-active-ms must be in .*, got 1e\+09$"),
    ],
)
def test_capacity_flags_are_checked(argv: tuple[str, ...], match: str) -> None:
    with pytest.raises(OptionsError, match=match):
        _options(*argv)


def test_stats_carry_the_capacity_group() -> None:
    slots: Slots[str] = Slots(4)
    slots.arrive("a", 0)
    stats = MockStats(slots.statistics)
    snap = stats.statistics()
    assert snap.capacity.active == 1
    body = snap.to_json()
    assert body["capacity"] == slots.statistics().to_json()
    assert "queue_wait_mean_ms" not in body
    lines = snap.lines()
    assert lines[-2].startswith("capacity: slots=4 active=1 (max 1) queued=0")
    assert lines[-1].startswith("faults=")


def test_stats_without_slots_show_an_idle_unlimited_capacity() -> None:
    assert MockStats().statistics().to_json()["capacity"] == Slots[str](0).statistics().to_json()


def test_random_release_orders_never_lose_a_stream() -> None:
    """The engine and slots together: many streams, random ends and departures."""
    rng = random.Random(3)
    engine, wheel, clock = _engine(slots=3)
    tickets = []
    for k in range(200):
        sink = _Sink()
        tickets.append(engine.submit(sink, engine.stream(sink, _PLAN), arrival_ns=k))
    rng.shuffle(tickets)
    for ticket in tickets:
        clock[0] += 1
        engine.release(ticket)
    snap = engine.slots.statistics()
    assert (snap.active, snap.queued, snap.active_max) == (0, 0, 3)
    assert snap.admitted + snap.left_queue == 200
    assert len(wheel.added) == snap.admitted


# A connection's request holds its slot or its place in the queue until the reply ends
# or the client leaves, whether it closes (FIN: eof_received, then connection_lost once
# the server has closed too) or resets (RST: connection_lost alone).


class _Transport:
    """What a `_Connection` needs of an asyncio transport, recorded."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closing = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def write(self, data: bytes) -> None:
        assert not self.closing
        self.out += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


_BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
_REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


def _app(*argv: str) -> tuple[_App, _Wheel]:
    options = _options(*argv)
    wheel, slots = _Wheel(), Slots[Ticket](options.slots)
    app = _App(
        options,
        wheel,  # type: ignore[arg-type]
        MockStats(slots.statistics),
        slots,
        Conversations(seeded_ids(options.seed)),
        None,
    )
    return app, wheel


def _send(app: _App) -> tuple[_Connection, _Transport]:
    conn, transport = _Connection(app), _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(_REQUEST)
    return conn, transport


def _leave(conn: _Connection, transport: _Transport, how: str) -> None:
    if how == "fin":
        # False: asyncio closes the transport (after what is buffered is sent), and
        # the server's close, not the client's, ends the connection.
        assert conn.eof_received() is False
        transport.close()
        conn.connection_lost(None)
    else:
        conn.connection_lost(ConnectionResetError())


def _capacity(app: _App) -> tuple[int, int, int, int]:
    cap = app.stats.statistics().capacity
    return cap.active, cap.queued, cap.admitted, cap.left_queue


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_stalled_stream_frees_its_slot_when_its_client_leaves(how: str) -> None:
    app, wheel = _app("--slots", "1", "--fault", "stall", "--tokens", "20")
    first, first_transport = _send(app)
    second, second_transport = _send(app)
    assert _capacity(app) == (1, 1, 1, 0)
    job, _ = wheel.added[0]
    assert job.fire(10**15) is None  # the stall: nothing more is due, ever
    assert not job.dead
    assert _capacity(app) == (1, 1, 1, 0)  # the stall keeps the slot
    _leave(first, first_transport, how)
    assert job.dead
    assert _capacity(app) == (1, 0, 2, 0)  # the waiting stream has the slot now
    assert len(wheel.added) == 2
    _leave(second, second_transport, how)
    assert _capacity(app) == (0, 0, 2, 0)
    snap = app.stats.statistics()
    assert (snap.streams_started, snap.streams_aborted) == (2, 2)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_client_that_leaves_the_queue_gives_up_its_place(how: str) -> None:
    app, wheel = _app("--slots", "1", "--tokens", "2")
    holder, _ = _send(app)
    leaver, leaver_transport = _send(app)
    assert leaver_transport.out.startswith(b"HTTP/1.1 200 ")  # the head goes out at once
    _leave(leaver, leaver_transport, how)
    assert _capacity(app) == (1, 0, 1, 1)
    job, _ = wheel.added[0]
    assert job.fire(10**15) is None  # the holder's reply ends
    assert (job.dead, holder.job) == (True, None)
    assert _capacity(app) == (0, 0, 1, 1)  # the slot went to nobody
    assert len(wheel.added) == 1
    _send(app)
    assert _capacity(app) == (1, 0, 2, 1)  # and a newcomer starts at once
    assert len(wheel.added) == 2


def test_a_fin_from_an_idle_or_hung_connection_closes_it() -> None:
    app, _ = _app("--slots", "1", "--fault", "hang")
    idle, hung = _Connection(app), _Connection(app)
    idle.connection_made(_Transport())  # type: ignore[arg-type]
    assert idle.eof_received() is False
    hung_transport = _Transport()
    hung.connection_made(hung_transport)  # type: ignore[arg-type]
    hung.data_received(_REQUEST)  # read, never answered
    assert hung.eof_received() is False
    assert (bytes(hung_transport.out), _capacity(app)) == (b"", (0, 0, 0, 0))
