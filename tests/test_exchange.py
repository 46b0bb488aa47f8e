"""Tests for llmbench.exchange.Exchange: one request's receive state machine.

Driven with a real OpenAIChat provider, literal SSE bytes as vLLM sends them, and
made-up perf_counter_ns instants, so every duration below is exact.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult

T0 = 1_000_000_000  # the hand-off to the HTTP client
MAX_LINE = 1024 * 1024
PROVIDER = OpenAIChat(RunConfig(url="http://127.0.0.1:8000"))


def sse(data: str) -> bytes:
    return b"data: " + data.encode() + b"\n\n"


ROLE = sse(
    '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
)


def tok(text: str) -> bytes:
    return sse(
        '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        f'[{{"index":0,"delta":{{"content":"{text}"}},"logprobs":null,"finish_reason":null}}]}}'
    )


THINK = sse(
    '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"reasoning_content":"hmm","content":null},"finish_reason":null}]}'
)
FINISH = sse(
    '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}'
)
USAGE = sse(
    '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    '"usage":{"prompt_tokens":11,"total_tokens":53,"completion_tokens":42}}'
)
DONE = b"data: [DONE]\n\n"
STREAM_ERROR = sse('{"error":{"object":"error","message":"CUDA out of memory","code":500}}')


def exchange(**kw: object) -> Exchange:
    args: dict[str, object] = {
        "index": 3,
        "phase": "measure",
        "t0_ns": T0,
        "max_line_bytes": MAX_LINE,
    }
    args.update(kw)
    return Exchange(PROVIDER, **args)  # type: ignore[arg-type]


def run(
    timeline: list[tuple[int, bytes]], end: int, status: int = 200, head_at: int = 100
) -> RequestResult:
    """Feed (offset from t0, bytes) pairs, then finish at t0 + end."""
    ex = exchange()
    ex.on_head(status, T0 + head_at)
    for offset, data in timeline:
        ex.on_data(data, T0 + offset)
    return ex.finish(T0 + end)


# -- timing ---------------------------------------------------------------------------


def test_full_stream_timings() -> None:
    r = run(
        [
            (150, ROLE),
            (1_000, tok("Hello")),
            (1_300, tok(" there")),
            (2_000, tok("!")),
            (2_500, FINISH),
            (2_600, USAGE),
            (2_700, DONE),
        ],
        end=3_000,
    )
    assert r.status == "ok"
    assert r.error is None
    assert (r.index, r.phase, r.t0_ns, r.end_ns) == (3, "measure", T0, T0 + 3_000)
    assert r.http_status == 200
    assert r.ttfb_ns == 100
    assert r.ttft_ns == 1_000  # the role chunk (empty content) is not the first token
    assert r.icl_ns == (300, 700)
    assert r.latency_ns == 2_500  # the finish_reason chunk, not [DONE] at 2_700
    assert r.end_reason == "stop"
    assert (r.output_tokens, r.input_tokens, r.token_source) == (42, 11, "usage")
    assert (r.chunks, r.chars) == (3, len("Hello there!"))
    assert r.first_frame == tok("Hello")[6:-2].decode()
    assert r.last_frame == "[DONE]"


def test_without_usage_auto_mode_counts_characters() -> None:
    r = run(
        [(10, ROLE), (20, tok("ab")), (30, tok("")), (45, tok("c")), (50, FINISH), (60, DONE)], 70
    )
    assert r.status == "ok"
    assert (r.output_tokens, r.input_tokens, r.token_source) == (3, 0, "chars")
    assert r.chunks == 2
    assert r.ttft_ns == 20
    assert r.icl_ns == (25,)
    assert r.latency_ns == 50


def test_reasoning_counts_as_first_token() -> None:
    r = run([(10, ROLE), (40, THINK), (90, tok("x")), (95, FINISH)], 100)
    assert r.ttft_ns == 40
    assert r.icl_ns == (50,)
    assert (r.chunks, r.chars) == (2, 4)


def test_done_alone_is_the_end_signal() -> None:
    r = run([(10, tok("x")), (20, tok("y")), (77, DONE)], 80)
    assert (r.status, r.latency_ns, r.end_reason) == ("ok", 77, "[DONE]")


def test_finish_then_eof_without_done_is_ok() -> None:
    r = run([(10, tok("x")), (20, FINISH), (30, USAGE)], 40)
    assert (r.status, r.latency_ns, r.end_reason, r.output_tokens) == ("ok", 20, "stop", 42)
    assert r.error is None


def test_eof_without_end_signal_is_incomplete() -> None:
    r = run([(10, ROLE), (20, tok("x")), (30, tok("y"))], 500)
    assert r.status == "incomplete"
    assert r.error == "stream ended without an end signal"
    assert r.latency_ns is None
    assert r.end_ns == T0 + 500
    assert (r.ttft_ns, r.output_tokens, r.token_source) == (20, 2, "chars")


def test_unterminated_last_event_is_discarded_at_eof() -> None:
    # §9.2.6: an event without its blank line is never dispatched.
    r = run([(10, tok("x")), (20, b"data: [DONE]\n")], 30)
    assert r.status == "incomplete"


def test_several_events_in_one_read_share_its_instant() -> None:
    r = run([(10, ROLE + tok("a") + tok("b")), (40, tok("c") + FINISH + DONE)], 50)
    assert r.ttft_ns == 10
    assert r.icl_ns == (0, 30)
    assert r.latency_ns == 40


def test_open_loop_fields_pass_through() -> None:
    ex = exchange(intended_ns=T0 - 5_000, key_index=2, phase="warmup")
    ex.on_head(200, T0 + 1)
    ex.on_data(tok("x") + DONE, T0 + 2)
    r = ex.finish(T0 + 3)
    assert (r.intended_ns, r.queue_ns, r.key_index, r.phase) == (T0 - 5_000, 5_000, 2, "warmup")


# -- failures -------------------------------------------------------------------------


def test_http_error_keeps_the_body_message() -> None:
    ex = exchange()
    ex.on_head(429, T0 + 100)
    assert ex.on_data(b'{"error": {"message": "rate limited"}}\n', T0 + 110) is False
    r = ex.finish(T0 + 120)
    assert r.status == "http_error"
    assert r.http_status == 429
    assert r.error == 'HTTP 429: {"error": {"message": "rate limited"}}'
    assert (r.ttfb_ns, r.ttft_ns, r.latency_ns) == (100, None, None)


def test_http_error_body_is_not_parsed_as_a_stream() -> None:
    ex = exchange()
    ex.on_head(503, T0 + 1)
    ex.on_data(tok("x") + DONE, T0 + 2)
    r = ex.finish(T0 + 3)
    assert (r.status, r.ttft_ns, r.chunks) == ("http_error", None, 0)


def test_http_error_body_is_capped_at_1kb() -> None:
    ex = exchange()
    ex.on_head(500, T0 + 1)
    for i in range(5):
        ex.on_data(bytes([ord("a") + i]) * 700, T0 + 2 + i)
    r = ex.finish(T0 + 10)
    assert MAX_ERROR_BYTES == 1024
    # The whole message, prefix included, stays within the bound.
    assert r.error == "HTTP 500: " + "a" * 700 + "b" * 314


def test_stream_error_event() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1)
    assert ex.on_data(tok("x"), T0 + 2) is False
    assert ex.on_data(STREAM_ERROR, T0 + 3) is True
    assert ex.failed is True
    r = ex.finish(T0 + 4)
    assert (r.status, r.error, r.http_status) == ("stream_error", "CUDA out of memory", 200)
    assert r.ttft_ns == 2
    assert r.end_ns == T0 + 4


def test_malformed_json_is_a_parse_error() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1)
    assert ex.on_data(b'data: {"choices": [\n\n', T0 + 2) is True
    r = ex.finish(T0 + 3)
    assert r.status == "parse_error"
    assert r.error is not None
    assert r.error.startswith("JSONDecodeError: ")


def test_bytes_after_a_failure_are_ignored() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1)
    ex.on_data(b"data: nope\n\n", T0 + 2)
    assert ex.on_data(tok("x") + DONE, T0 + 3) is True
    r = ex.finish(T0 + 4)
    assert (r.status, r.ttft_ns, r.latency_ns) == ("parse_error", None, None)


@pytest.mark.parametrize("terminated", [False, True], ids=["partial-line", "whole-line"])
def test_line_longer_than_max_line_bytes_is_a_parse_error(terminated: bool) -> None:
    ex = exchange(max_line_bytes=1024)
    ex.on_head(200, T0 + 1)
    ex.on_data(tok("ok"), T0 + 2)
    line = b"data: " + b"x" * 2000 + (b"\n\n" if terminated else b"")
    assert ex.on_data(line, T0 + 3) is True
    r = ex.finish(T0 + 4)
    assert r.status == "parse_error"
    assert r.error is not None
    assert r.error.startswith("LineTooLongError: ")
    assert "max_line_bytes=1024" in r.error


def test_line_at_max_line_bytes_is_fine() -> None:
    ex = exchange(max_line_bytes=1024)
    ex.on_head(200, T0 + 1)
    line = tok("x" * (1024 + 2 - len(tok(""))))  # a data line of exactly 1024 bytes, "\n\n"
    assert len(line) == 1024 + 2
    assert ex.on_data(line + DONE, T0 + 2) is False
    assert ex.finish(T0 + 3).status == "ok"


def test_lost_timeout() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 10)
    ex.on_data(tok("a"), T0 + 20)
    ex.on_data(tok("b"), T0 + 50)
    r = ex.lost("timeout", "no complete response in 600 s", T0 + 9_000)
    assert r.status == "timeout"
    assert r.error == "no complete response in 600 s"
    assert (r.end_ns, r.ttft_ns, r.latency_ns, r.icl_ns) == (T0 + 9_000, 20, None, (30,))
    assert (r.output_tokens, r.token_source) == (2, "chars")


def test_lost_before_head_is_a_connect_error() -> None:
    r = exchange().lost("connect_error", "connection refused", T0 + 5)
    assert (r.status, r.error, r.http_status, r.ttfb_ns) == (
        "connect_error",
        "connection refused",
        None,
        None,
    )


def test_lost_keeps_the_first_failure() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1)
    ex.on_data(STREAM_ERROR, T0 + 2)
    r = ex.lost("canceled", "run stopped", T0 + 3)
    assert (r.status, r.error) == ("stream_error", "CUDA out of memory")


def test_lost_message_is_capped() -> None:
    r = exchange().lost("timeout", "m" * 5000, T0 + 1)
    assert r.error == "m" * MAX_ERROR_BYTES


# -- chunk-boundary invariance --------------------------------------------------------

STREAM = ROLE + THINK + tok("Hel") + tok("lo") + FINISH + USAGE + DONE


def feed_split(stream: bytes, cuts: list[int], at: int = 500) -> RequestResult:
    ex = exchange()
    ex.on_head(200, T0 + 100)
    edges = [0, *sorted({min(c, len(stream)) for c in cuts}), len(stream)]
    for a, b in itertools.pairwise(edges):
        ex.on_data(stream[a:b], T0 + at)
    return ex.finish(T0 + at)


def test_whole_and_bytewise_give_the_same_result() -> None:
    whole = feed_split(STREAM, [])
    assert whole == feed_split(STREAM, list(range(len(STREAM))))
    assert (whole.status, whole.ttft_ns, whole.latency_ns, whole.icl_ns) == ("ok", 500, 500, (0, 0))
    assert (whole.output_tokens, whole.chunks, whole.chars) == (42, 3, 8)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_gives_the_same_result(cuts: list[int]) -> None:
    assert feed_split(STREAM, cuts) == feed_split(STREAM, [])


# -- hardening: bounded messages, Content-Type, partial usage --------------------------


def test_messages_are_bounded_in_utf8_bytes_never_mid_character() -> None:
    r = exchange().lost("timeout", "你" * 2000, T0 + 1)
    assert r.error is not None
    assert r.error == "你" * (MAX_ERROR_BYTES // 3)
    ex = exchange()
    ex.on_head(500, T0 + 1)
    ex.on_data("错误".encode() * 1000, T0 + 2)
    body = ex.finish(T0 + 3).error
    assert body is not None
    assert body.startswith("HTTP 500: 错误")
    assert len(body.encode()) <= MAX_ERROR_BYTES
    assert "\ufffd" not in body[-1:]


@pytest.mark.parametrize(
    ("content_type", "error"),
    [
        ("text/event-stream", None),
        ("Text/Event-Stream; charset=utf-8", None),
        (None, None),  # unlabelled: the body decides
        ("text/html", "expected text/event-stream, got text/html"),
    ],
)
def test_a_200_must_be_labelled_as_the_stream_asked_for(
    content_type: str | None, error: str | None
) -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1, content_type)
    ex.on_data(STREAM, T0 + 2)
    r = ex.finish(T0 + 3)
    assert (r.status, r.error) == ("ok" if error is None else "parse_error", error)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        # A gateway's JSON error where the stream was due: an HTTP-like error, one line.
        (
            b'{"error":\n {"message": "quota  exceeded", "type": "billing"}}',
            "http_error",
            "HTTP 200: quota exceeded",
        ),
        (b'{"error": "overloaded"}', "http_error", "HTTP 200: overloaded"),
        # Any other JSON (or not JSON at all): a parse_error naming the type, then the body.
        (
            b'{"choices": [],\n "error": null}',
            "parse_error",
            'expected text/event-stream, got application/json: {"choices": [], "error": null}',
        ),
        (b"[1, 2]", "parse_error", "expected text/event-stream, got application/json: [1, 2]"),
    ],
)
def test_a_json_body_for_a_stream_is_read_for_an_error(
    body: bytes, status: str, error: str
) -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1, "application/json; charset=utf-8")
    assert not ex.on_data(body[:7], T0 + 2)  # read on to the end: the error may be in it
    assert not ex.on_data(body[7:], T0 + 3)
    r = ex.finish(T0 + 4)
    assert (r.status, r.http_status, r.error) == (status, 200, error)


def test_a_json_body_for_a_stream_is_bounded() -> None:
    ex = exchange()
    ex.on_head(200, T0 + 1, "application/json")
    for i in range(100):
        ex.on_data(b'{"error": "' + b"x" * 1000, T0 + 2 + i)
    r = ex.finish(T0 + 200)
    assert r.status == "parse_error"  # cut at 1 KB: no longer JSON
    assert r.error is not None
    assert len(r.error.encode()) <= MAX_ERROR_BYTES


def test_an_http_error_body_is_one_line() -> None:
    ex = exchange()
    ex.on_head(502, T0 + 1, "text/html")
    ex.on_data(b"<html>\r\n  <body>Bad\tGateway</body>\n</html>\n", T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.error == "HTTP 502: <html> <body>Bad Gateway</body> </html>"


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [("application/json", True), ("application/problem+json", True), ("text/html", False)],
)
def test_a_json_body_must_be_labelled_json(content_type: str, ok: bool) -> None:
    provider = OpenAIChat(RunConfig(url="http://127.0.0.1:8000", stream=False))
    ex = Exchange(provider, index=0, phase="measure", t0_ns=T0, max_line_bytes=MAX_LINE)
    ex.on_head(200, T0 + 1, content_type)
    ex.on_data(b'{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}', T0 + 2)
    r = ex.finish(T0 + 3)
    assert r.status == ("ok" if ok else "parse_error")
    assert ok or r.error == f"expected a JSON type, got {content_type}"


def test_error_null_in_a_chunk_is_not_a_stream_error() -> None:
    chunk = sse(
        '{"error":null,"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}'
    )
    r = run([(10, chunk), (20, FINISH), (30, DONE)], 40)
    assert (r.status, r.chars) == ("ok", 1)


def test_usage_that_is_not_a_count_is_ignored() -> None:
    bad = sse('{"choices":[],"usage":{"prompt_tokens":"7","completion_tokens":2.5}}')
    r = run([(10, tok("a")), (20, FINISH), (30, USAGE), (40, bad), (50, DONE)], 60)
    assert (r.status, r.input_tokens, r.output_tokens) == ("ok", 11, 42)


# -- --save-detailed (issue 13, item 8) ------------------------------------------------


def _detailed(**kw: object) -> RequestResult:
    ex = exchange(**kw)
    ex.on_head(200, T0 + 100)
    ms = 1_000_000
    for offset, data in [(10, tok("Hello")), (35, tok(" sk-SECRET")), (40, FINISH), (41, DONE)]:
        ex.on_data(data, T0 + offset * ms)
    return ex.finish(T0 + 42 * ms)


def test_save_detailed_keeps_text_prompt_id_and_writes_the_itl_list() -> None:
    r = _detailed(keep_text=True, prompt_id=7, redact=lambda s: s.replace("sk-SECRET", "***"))
    assert (r.text, r.prompt_id) == ("Hello ***", 7)
    line = r.to_json(run_start_ns=0)
    assert (line["prompt_id"], line["text"]) == (7, "Hello ***")
    assert line["itl_ms"] == [25.0]  # the one gap between the two tokens


def test_without_save_detailed_results_lines_keep_no_text() -> None:
    r = _detailed(prompt_id=7)
    assert (r.text, r.prompt_id) == (None, None)
    line = r.to_json(run_start_ns=0)
    assert not {"prompt_id", "itl_ms", "text"} & line.keys()


# -- a session's reply (llmbench.sessions) ---------------------------------------------------


def test_a_sessions_reply_keeps_the_content_up_to_its_room_and_no_reasoning() -> None:
    ex = exchange(reply_chars=10)
    ex.on_head(200, T0)
    for i in range(1000):  # a reply without end: what is kept stays within its room
        ex.on_data(THINK + tok("abcd"), T0 + i)
    assert ex.reply == "abcdabcdab"
    result = ex.finish(T0 + 2000)
    assert result.text is None  # not kept for the results without --save-detailed
    assert result.chars == 7000  # every character still counted


def test_without_reply_chars_nothing_is_kept() -> None:
    ex = exchange()
    ex.on_head(200, T0)
    ex.on_data(tok("abc") + FINISH + DONE, T0 + 1)
    assert ex.reply == ""
    assert ex.conversation is None
