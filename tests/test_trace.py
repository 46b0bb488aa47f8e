"""Trace replay (issue 16): parsing both formats, every bad line with its number,
hash-block prompts, offsets with --trace-speed, bounded memory, shard slices, flags."""

from __future__ import annotations

import argparse
import json
import tracemalloc
from pathlib import Path

import pytest

from llmbench.config import ConfigError, RunConfig
from llmbench.providers.base import OptionSources
from llmbench.run_options import add_run_arguments, build_config
from llmbench.sharding import Positioned, Shard, item_position
from llmbench.trace import (
    BLOCK_TOKENS,
    CHECKPOINT_EVERY,
    MAX_TRACE_LINE_BYTES,
    TraceItems,
    TraceParser,
    TraceRecord,
    block_words,
    prompt_words,
    scan_trace,
    trace_offsets,
)

# The first lines of Mooncake's public mooncake_trace.jsonl, in its shape.
MOONCAKE = [
    {"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": list(range(14))},
    {"timestamp": 0, "input_length": 7319, "output_length": 490, "hash_ids": [0, *range(14, 28)]},
    {
        "timestamp": 3052,
        "input_length": 7234,
        "output_length": 794,
        "hash_ids": [0, *range(28, 42)],
    },
    {
        "timestamp": 3052,
        "input_length": 2287,
        "output_length": 316,
        "hash_ids": [0, 42, 43, 44, 45],
    },
]
# The first rows of Azure's AzureLLMInferenceTrace_code.csv (2023).
AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:04.0781490,110,27
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(tmp_path: Path, rows: list[dict[str, object]], name: str = "t.jsonl") -> Path:
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in rows))


def records(path: Path) -> list[TraceRecord]:
    items = TraceItems(scan_trace(path), seed=0)
    return [items._record(i) for i in range(len(items))]


# -- parsing ------------------------------------------------------------------------


def test_mooncake_lines(tmp_path: Path) -> None:
    trace = scan_trace(jsonl(tmp_path, MOONCAKE))
    assert (trace.fmt, trace.count) == ("mooncake", 4)
    first, *_, last = records(trace.path)
    assert first == TraceRecord(0, 6755, 500, tuple(range(14)))
    assert last == TraceRecord(3_052_000, 2287, 316, (0, 42, 43, 44, 45))
    assert list(trace_offsets(trace, 1.0)) == [0, 0, 3_052_000_000, 3_052_000_000]


def test_mooncake_optional_hash_ids_float_times_blank_lines_extra_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.jsonl",
        '{"timestamp": 1.5, "input_length": 3, "output_length": 2, "session": "a"}\n\n'
        '{"timestamp": 2, "input_length": 4, "output_length": 1, "hash_ids": []}',  # no LF
    )
    assert records(path) == [TraceRecord(1500, 3, 2), TraceRecord(2000, 4, 1)]
    assert list(trace_offsets(scan_trace(path), 1.0)) == [0, 500_000]


def test_azure_rows_relative_to_the_first(tmp_path: Path) -> None:
    trace = scan_trace(write(tmp_path, "azure.CSV", AZURE))
    assert (trace.fmt, trace.count) == ("azure", 3)
    assert [(r.input_length, r.output_length) for r in records(trace.path)] == [
        (4808, 10), (3180, 8), (110, 27)
    ]  # fmt: skip
    assert list(trace_offsets(trace, 1.0)) == [0, 52_000_000, 98_189_000]


def test_azure_columns_in_any_order_crlf_bom_and_zone(tmp_path: Path) -> None:
    text = (
        "\ufeffGeneratedTokens,TIMESTAMP,ContextTokens\r\n"
        "5,2024-05-10 00:00:00+00:00,100\r\n"
        "6,2024-05-10T00:00:01.5+00:00,200\r\n"
    )
    trace = scan_trace(write(tmp_path, "a.csv", text))
    assert [(r.input_length, r.output_length) for r in records(trace.path)] == [(100, 5), (200, 6)]
    assert list(trace_offsets(trace, 1.0)) == [0, 1_500_000_000]


def test_trace_speed_scales_time(tmp_path: Path) -> None:
    trace = scan_trace(jsonl(tmp_path, MOONCAKE))
    assert list(trace_offsets(trace, 2.0)) == [0, 0, 1_526_000_000, 1_526_000_000]
    assert list(trace_offsets(trace, 0.5))[-1] == 6_104_000_000


def test_offsets_from_a_later_request_start_at_zero(tmp_path: Path) -> None:
    rows = [{"timestamp": 10 * i, "input_length": 1, "output_length": 1} for i in range(600)]
    trace = scan_trace(jsonl(tmp_path, rows))
    assert list(trace_offsets(trace, 1.0, start=590)) == [i * 10_000_000 for i in range(10)]
    assert list(trace_offsets(trace, 1.0, start=600)) == []


# -- bad input: one line naming the file, the line and the field ---------------------

GOOD = '{"timestamp": 0, "input_length": 5, "output_length": 5}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"timestamp": 0, "input_length": 5', r"t\.jsonl:2: invalid JSON"),
        ("[1, 2]", r"t\.jsonl:2: expected a JSON object, got list"),
        ('{"input_length": 5, "output_length": 5}', r"t\.jsonl:2: timestamp is missing"),
        ('{"timestamp": -1, "input_length": 5, "output_length": 5}', r":2: timestamp must be"),
        ('{"timestamp": "0", "input_length": 5, "output_length": 5}', r":2: timestamp must be"),
        ('{"timestamp": NaN, "input_length": 5, "output_length": 5}', r":2: invalid JSON"),
        ('{"timestamp": 1e30, "input_length": 5, "output_length": 5}', r":2: timestamp must be"),
        ('{"timestamp": 0, "output_length": 5}', r":2: input_length is missing"),
        ('{"timestamp": 0, "input_length": 5.5, "output_length": 5}', r":2: input_length must"),
        ('{"timestamp": 0, "input_length": -5, "output_length": 5}', r":2: input_length must"),
        ('{"timestamp": 0, "input_length": true, "output_length": 5}', r":2: input_length must"),
        ('{"timestamp": 0, "input_length": 5, "output_length": 0}', r":2: output_length must"),
        ('{"timestamp": 0, "input_length": 5, "output_length": 5, "hash_ids": 3}', r":2: hash_ids"),
        (
            '{"timestamp": 0, "input_length": 5, "output_length": 5, "hash_ids": [1, -2]}',
            r":2: hash_ids must be a list of integers >= 0",
        ),
        (
            '{"timestamp": 0, "input_length": 5, "output_length": 5, "hash_ids": [1, "a"]}',
            r":2: hash_ids must be a list of integers >= 0",
        ),
        ("\udcff\udcfe", r":2: invalid JSON"),  # bytes that are not UTF-8
    ],
)
def test_bad_mooncake_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(f"{GOOD}\n{line}\n{GOOD}\n".encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError, match=rf"^--trace .*{message}"):
        scan_trace(path)


def test_unsorted_timestamps_name_both_lines(tmp_path: Path) -> None:
    rows = [{"timestamp": t, "input_length": 1, "output_length": 1} for t in (0, 5, 9, 7)]
    with pytest.raises(ConfigError, match=r"t\.jsonl:4: timestamp goes back in time .*line 3"):
        scan_trace(jsonl(tmp_path, rows))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,ContextTokens,GeneratedTokens\n", r"a\.csv:1: the header must name .*TIMESTAMP"),
        (AZURE + "2023-11-16 18:17:05,10\n", r"a\.csv:5: a CSV row of 2 cells"),
        (AZURE + "yesterday,10,10\n", r"a\.csv:5: TIMESTAMP must be a date and time"),
        (AZURE + "2023-11-16 18:17:05,-10,10\n", r"a\.csv:5: ContextTokens must be an integer"),
        (AZURE + "2023-11-16 18:17:05,10,1.5\n", r"a\.csv:5: GeneratedTokens must be an integer"),
        (AZURE + "2023-11-16 18:17:04,10,10\n", r"a\.csv:5: timestamp goes back in time"),
        (AZURE + '"2023-11-16 18:17:05,10,10\n', r"a\.csv:5: (a CSV row|TIMESTAMP)"),
    ],
)
def test_bad_azure_row(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--trace .*{message}"):
        scan_trace(write(tmp_path, "a.csv", text))


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"told by the extension: \.jsonl .* or \.csv .*'\.txt'"):
        scan_trace(write(tmp_path, "t.txt", GOOD))
    with pytest.raises(ConfigError, match=r"t\.jsonl: no requests in it"):
        scan_trace(write(tmp_path, "t.jsonl", "\n\n"))
    with pytest.raises(ConfigError, match=r"a\.csv: no requests in it"):
        scan_trace(write(tmp_path, "a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"))
    with pytest.raises(ConfigError, match=r"missing\.jsonl: cannot read it"):
        scan_trace(tmp_path / "missing.jsonl")
    long_line = "x" * (MAX_TRACE_LINE_BYTES + 10)
    with pytest.raises(ConfigError, match=r"t\.jsonl:2: the line is longer than"):
        scan_trace(write(tmp_path, "t.jsonl", f"{GOOD}\n{long_line}\n"))


# -- prompts ---------------------------------------------------------------------------


def test_equal_hash_ids_give_equal_blocks(tmp_path: Path) -> None:
    items = TraceItems(scan_trace(jsonl(tmp_path, MOONCAKE)), seed=7)
    prompts = [items.at(i).prompt.split(" ") for i in range(4)]
    assert [len(p) for p in prompts] == [6755, 7319, 7234, 2287]  # a word a token
    first = prompts[0][:BLOCK_TOKENS]
    assert all(p[:BLOCK_TOKENS] == first for p in prompts)  # block 0 starts every prompt
    assert prompts[1][BLOCK_TOKENS:1024] != prompts[2][BLOCK_TOKENS:1024]  # 14 vs 28
    assert [items.at(i).max_tokens for i in range(4)] == [500, 490, 794, 316]
    assert items.at(3).prompt_id == 3
    assert items.at(2) == TraceItems(items.trace, seed=7).at(2)  # deterministic
    assert items.at(0).prompt != TraceItems(items.trace, seed=8).at(0).prompt  # by seed


def test_last_block_is_cut_and_a_short_id_list_is_filled_with_own_words() -> None:
    cut = prompt_words(TraceRecord(0, BLOCK_TOKENS + 10, 1, (1, 2, 3)), 0, 0)
    assert cut == block_words(0, 1) + block_words(0, 2)[:10]
    short = TraceRecord(0, BLOCK_TOKENS + 10, 1, (1,))
    a, b = prompt_words(short, 0, 0), prompt_words(short, 1, 0)
    assert a[:BLOCK_TOKENS] == b[:BLOCK_TOKENS] == block_words(0, 1)
    assert len(a) == len(b) == BLOCK_TOKENS + 10
    assert a[BLOCK_TOKENS:] != b[BLOCK_TOKENS:]  # beyond the trace's ids nothing is shared


def test_no_hash_ids_every_prompt_its_own() -> None:
    record = TraceRecord(0, 200, 1)
    assert prompt_words(record, 0, 0) != prompt_words(record, 1, 0)
    assert len(prompt_words(record, 0, 0)) == 200


def test_items_iterate_in_order_and_stop_at_the_end(tmp_path: Path) -> None:
    rows = [{"timestamp": i, "input_length": i + 1, "output_length": 1} for i in range(600)]
    items = TraceItems(scan_trace(jsonl(tmp_path, rows)), seed=0)
    lengths = [len(item.prompt.split(" ")) for item in items]
    assert lengths == list(range(1, 601))
    with pytest.raises(IndexError):
        items.at(600)


# -- shards ------------------------------------------------------------------------------


def test_shards_send_requests_i_i_plus_n(tmp_path: Path) -> None:
    rows = [
        {"timestamp": 3 * i, "input_length": 1 + i % 7, "output_length": 1 + i} for i in range(700)
    ]
    trace = scan_trace(jsonl(tmp_path, rows))
    whole = list(trace_offsets(trace, 1.0))
    single = [item.max_tokens for item in TraceItems(trace, seed=0)]
    for index in range(3):
        shard = Shard(index, 3)
        assert list(shard.arrivals(trace_offsets(trace, 1.0))) == whole[index::3]
        items = Positioned(TraceItems(trace, seed=0))
        mine = [items.at(item_position(shard, 0, k)).max_tokens for k in range(shard.share(700))]
        assert mine == single[index::3]


# -- memory --------------------------------------------------------------------------


def test_a_large_trace_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for i in range(200_000):
            row = {"timestamp": i, "input_length": 600, "output_length": 8}
            out.write(json.dumps({**row, "hash_ids": [0, 1, i % 5000]}) + "\n")
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        trace = scan_trace(path)
        count = sum(1 for _ in trace_offsets(trace, 1.0))
        items = TraceItems(trace, seed=0)
        for position in range(0, 200_000, 997):  # across the whole file
            items.at(position)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == trace.count == 200_000
    assert len(trace.checkpoints) == 200_000 // CHECKPOINT_EVERY + 1
    assert peak < 4_000_000, peak


# -- flags -------------------------------------------------------------------------------


def config(*argv: str) -> RunConfig:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_config(parser.parse_args(["--url", "http://h", *argv]), OptionSources())


def test_trace_flags_make_an_open_loop_run_with_no_default_count() -> None:
    cfg = config("--trace", "t.jsonl", "--trace-speed", "10")
    assert cfg.open_loop
    assert (cfg.trace, cfg.trace_speed, cfg.concurrency) == (Path("t.jsonl"), 10.0, 1000)
    assert (cfg.requests, cfg.duration_s) == (None, None)  # the trace's end ends it
    assert config("--trace", "t.jsonl", "--requests", "5", "--duration", "2").requests == 5
    public = cfg.public()
    assert (public["trace"], public["trace_speed"]) == ("t.jsonl", 10.0)
    assert public["prompt"] is None
    assert config().public()["trace"] is None


@pytest.mark.parametrize(
    "flags",
    [
        ["--rps", "5"],
        ["--arrival", "poisson"],
        ["--burst", "4"],
        ["--burstiness", "0.5"],
        ["--prompt", "hi"],
        ["--prompts-file", "p.txt"],
        ["--input-tokens", "50"],
        ["--output-tokens", "50"],
        ["--max-tokens", "50"],
        ["--ramp-up", "3"],
    ],
)
def test_flags_the_trace_replaces_are_refused(flags: list[str]) -> None:
    with pytest.raises(ConfigError, match=rf"^--trace and {flags[0]} are alternatives: the trace"):
        config("--trace", "t.jsonl", *flags)


@pytest.mark.parametrize("flags", [["--warmup", "2"], ["--warmup-s", "0.5"]])
def test_a_warm_up_is_refused_rather_than_shifting_the_trace(flags: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"^--trace with --warmup/--warmup-s is not supported"):
        config("--trace", "t.jsonl", *flags)


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "1e300", "0.0009", "1001"])
def test_trace_speed_bounds(speed: str) -> None:
    with pytest.raises(ConfigError, match=r"--trace-speed must be in 0\.001\.\.1000"):
        config("--trace", "t.jsonl", "--trace-speed", speed)


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "t.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        scan_trace(fifo)


def test_hash_ids_past_the_prompts_length_are_not_kept(tmp_path: Path) -> None:
    # 100,000 ids for a 1-token prompt: only the first block's id is kept in memory.
    path = tmp_path / "t.jsonl"
    ids = list(range(100_000))
    path.write_text(
        f'{{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": {ids}}}\n'
    )
    record = TraceParser("mooncake", "t").feed(path.read_bytes(), 1)
    assert record is not None
    assert record.hash_ids == (0,)
    assert len(TraceItems(scan_trace(path), 0).at(0).prompt.split()) == 1


def test_epoch_millisecond_timestamps_count_from_the_first(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"timestamp": 1700000000000, "input_length": 5, "output_length": 5}\n'
        '{"timestamp": 1700000000250, "input_length": 5, "output_length": 5}\n'
    )
    assert list(trace_offsets(scan_trace(path), 1.0)) == [0, 250_000_000]
