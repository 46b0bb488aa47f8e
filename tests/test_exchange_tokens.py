"""Chunks that carry several tokens: ITL is divided across them, ICL stays raw."""

from __future__ import annotations

from llmbench.config import RunConfig
from llmbench.exchange import Exchange
from llmbench.metrics import Recorder
from llmbench.providers.openai import OpenAIChat
from llmbench.result import RequestResult
from llmbench.tokens import TokenPolicy

T0 = 1_000_000_000
PROVIDER = OpenAIChat(RunConfig(url="http://127.0.0.1:8000"))


def chunk(text: str, completion: int) -> bytes:
    """A vLLM chunk with continuous_usage_stats: cumulative usage in every chunk."""
    usage = f'"usage":{{"prompt_tokens":5,"completion_tokens":{completion}}}'
    delta = f'"delta":{{"content":"{text}"}}'
    return f'data: {{"choices":[{{"index":0,{delta},"finish_reason":null}}],{usage}}}\n\n'.encode()


FINISH = (
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],'
    b'"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}\n\n'
)


def drive(parts: list[tuple[int, bytes]], tokens: TokenPolicy | None = None) -> RequestResult:
    ex = Exchange(
        PROVIDER,
        index=0,
        phase="measure",
        t0_ns=T0,
        max_line_bytes=1 << 20,
        tokens=tokens or TokenPolicy(),
        prompt="hi there",
    )
    ex.on_head(200, T0 + 10)
    for at, data in parts:
        assert not ex.on_data(data, T0 + at)
    return ex.finish(T0 + 1000)


def test_continuous_usage_divides_gaps_across_the_chunks_tokens() -> None:
    # Chunk 1 has 1 token, chunk 2 has 3 (speculative decoding), chunk 3 has 2.
    r = drive([(100, chunk("a", 1)), (130, chunk("bcd", 4)), (150, chunk("ef", 6)), (150, FINISH)])
    assert r.output_tokens == 6
    assert r.icl_ns == (30, 20)
    assert r.chunk_tokens == (1, 3, 2)
    assert r.itl_ns == [(10.0, 3), (10.0, 2)]
    rec = Recorder()
    rec.set_origin(T0)
    rec.record(r)
    assert rec.hist["itl_ms"].get_total_count() == 5  # one value per token gap
    assert rec.hist["icl_ms"].get_total_count() == 2  # one value per chunk gap


def test_usage_only_at_the_end_does_not_split_chunks() -> None:
    plain = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
    end_usage = (
        b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9}}\n\n'
        b"data: [DONE]\n\n"
    )
    r = drive([(100, plain), (120, plain), (140, FINISH), (141, end_usage)])
    assert r.chunk_tokens is None
    assert r.itl_ns == [(20, 1)]
    assert r.output_tokens == 9


def test_tokenizer_mode_counts_each_chunks_tokens() -> None:
    def counter(text: str) -> int:  # a toy tokenizer: one token per character
        return len(text)

    plain = b'data: {"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n'
    r = drive(
        [(100, plain % b"ab"), (160, plain % b"cde"), (170, b"data: [DONE]\n\n")],
        TokenPolicy("tokenizer", counter),
    )
    assert (r.output_tokens, r.token_source, r.input_tokens) == (5, "tokenizer", 8)
    assert r.chunk_tokens == (2, 3)
    assert r.itl_ns == [(20.0, 3)]
