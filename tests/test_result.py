"""Tests for llmbench.result.RequestResult: derived figures and the results.jsonl line."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from llmbench.result import FAILED_STATUSES, STATUSES, RequestResult

RUN_START = 50_000_000_000


def result(**kw: object) -> RequestResult:
    base: dict[str, object] = {
        "index": 7,
        "phase": "measure",
        "status": "ok",
        "t0_ns": RUN_START + 1_234_567_891,
        "end_ns": RUN_START + 3_000_000_000,
    }
    base.update(kw)
    return RequestResult(**base)  # type: ignore[arg-type]


# -- TPOT -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latency", "ttft", "tokens", "tpot"),
    [
        (1_000_000, 200_000, 5, 200_000.0),
        (1_000_000, 200_000, 2, 800_000.0),
        (1_000_001, 1, 3, 500_000.0),
        (10, 4, 4, 2.0),
        (1_000_000, 200_000, 1, None),  # one token: no gap to divide by
        (1_000_000, 200_000, 0, None),
        (1_000_000, 200_000, None, None),
        (None, 200_000, 5, None),
        (1_000_000, None, 5, None),
    ],
)
def test_tpot(
    latency: int | None, ttft: int | None, tokens: int | None, tpot: float | None
) -> None:
    assert result(latency_ns=latency, ttft_ns=ttft, output_tokens=tokens).tpot_ns == tpot


def test_tpot_is_not_rounded() -> None:
    assert result(latency_ns=10, ttft_ns=0, output_tokens=4).tpot_ns == 10 / 3


def test_a_reply_in_one_content_event_has_no_tpot() -> None:
    """All its tokens arrived at one instant: no decode interval to time (n/a, not 0)."""
    one = result(latency_ns=10, ttft_ns=10, output_tokens=5, chunks=1)
    assert one.tpot_ns is None
    assert one.to_json(RUN_START)["tpot_ms"] is None
    assert result(latency_ns=10, ttft_ns=0, output_tokens=5, chunks=2).tpot_ns == 2.5


# -- queue ----------------------------------------------------------------------------


def test_queue() -> None:
    r = result(t0_ns=1_000, intended_ns=400)
    assert r.queue_ns == 600
    assert result(t0_ns=1_000, intended_ns=1_000).queue_ns == 0
    assert result(t0_ns=1_000, intended_ns=1_200).queue_ns == -200  # sent early: kept as is
    assert result(intended_ns=None).queue_ns is None


# -- status ---------------------------------------------------------------------------


def test_status_taxonomy() -> None:
    assert STATUSES == (
        "ok",
        "http_error",
        "connect_error",
        "timeout",
        "stream_error",
        "parse_error",
        "incomplete",
        "empty",
        "canceled",
    )
    assert frozenset(STATUSES) - FAILED_STATUSES == {"ok"}
    assert result(status="ok").ok is True
    assert result(status="incomplete").ok is False
    assert "empty" in FAILED_STATUSES  # an end with no content is no success
    assert result(status="empty").ok is False


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result().status = "timeout"  # type: ignore[misc]


# -- to_json --------------------------------------------------------------------------


def test_to_json_fields_and_rounding() -> None:
    r = result(
        intended_ns=RUN_START + 1_230_000_000,
        http_status=200,
        key_index=1,
        ttfb_ns=12_345_678,
        ttft_ns=123_456_789,
        latency_ns=2_000_000_400,
        output_tokens=101,
        input_tokens=20,
        token_source="usage",
        chunks=99,
        chars=450,
        end_reason="stop",
        icl_ns=(1, 2, 3),
        first_frame='{"x":1}',
        last_frame="[DONE]",
    )
    assert r.to_json(RUN_START) == {
        "index": 7,
        "phase": "measure",
        "status": "ok",
        "http_status": 200,
        "error": None,
        "start_s": 1.234568,  # 1.234567891 s at 6 decimals
        "queue_ms": 4.568,  # 4.567891 ms
        "ttfb_ms": 12.346,
        "ttft_ms": 123.457,
        "latency_ms": 2000.0,
        "tpot_ms": 18.765,  # (2000.0004 - 123.456789) ms / 100 = 18.765436...
        "input_tokens": 20,
        "server_input_tokens": None,
        "output_tokens": 101,
        "token_source": "usage",
        "chunks": 99,
        "chars": 450,
        "end_reason": "stop",
        "meta_events": 0,
        "key_index": 1,
        "detail": None,
        "attempts": 1,
        "retry_errors": [],
    }


def test_to_json_of_a_failure() -> None:
    r = result(status="http_error", http_status=503, error="HTTP 503: overloaded", ttfb_ns=999)
    assert r.to_json(RUN_START) == {
        "index": 7,
        "phase": "measure",
        "status": "http_error",
        "http_status": 503,
        "error": "HTTP 503: overloaded",
        "start_s": 1.234568,
        "queue_ms": None,
        "ttfb_ms": 0.001,
        "ttft_ms": None,
        "latency_ms": None,
        "tpot_ms": None,
        "input_tokens": None,
        "server_input_tokens": None,
        "output_tokens": None,
        "token_source": "none",
        "chunks": 0,
        "chars": 0,
        "end_reason": None,
        "meta_events": 0,
        "key_index": None,
        "detail": None,
        "attempts": 1,
        "retry_errors": [],
    }


def test_to_json_is_plain_json() -> None:
    line = orjson.dumps(result(ttft_ns=5, latency_ns=9, output_tokens=3).to_json(RUN_START))
    assert orjson.loads(line)["tpot_ms"] == 0.0


def test_no_key_material() -> None:
    # A result records which key was used (its index), never the key: there is no
    # field for one, and the serialized line holds no field that could carry it.
    names = {f.name for f in dataclasses.fields(RequestResult)}
    assert not {n for n in names if "key" in n} - {"key_index"}
    assert not {n for n in names if "auth" in n or "secret" in n or "token" in n} - {
        "output_tokens",
        "input_tokens",
        "server_input_tokens",
        "token_source",
        "chunk_tokens",
    }
    keys = set(result(key_index=0).to_json(RUN_START))
    assert {k for k in keys if "key" in k} == {"key_index"}
    assert "headers" not in keys
    assert "url" not in keys


def test_the_detailed_itl_list_spreads_a_chunk_gap_over_its_tokens() -> None:
    # issue 13, item 8: one entry per token gap, as llmbench report's recovery reads it
    r = RequestResult(
        index=0, phase="measure", status="ok", t0_ns=0, end_ns=50_000_000,
        icl_ns=(10_000_000, 30_000_000), chunk_tokens=(1, 2, 3), text="abc", prompt_id=4,
    )  # fmt: skip
    line = r.to_json(run_start_ns=0)
    assert line["itl_ms"] == [5.0, 5.0, 10.0, 10.0, 10.0]
    assert (line["prompt_id"], line["text"]) == (4, "abc")
