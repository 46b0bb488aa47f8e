"""Trace replay (issue 16): parsing both formats, every bad line with its number,
hash-block prompts (exact with a tokenizer), offsets with --trace-speed, bounded memory,
shard slices, a file changed mid-run, flags."""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from llmbench.config import ConfigError, RunConfig
from llmbench.prompt_text import TokenizerText, WordText
from llmbench.providers.base import OptionSources
from llmbench.run_options import add_run_arguments, build_config
from llmbench.sharding import Positioned, Shard, item_position
from llmbench.trace import (
    BLOCK_TOKENS,
    CHECKPOINT_EVERY,
    MAX_TRACE_LINE_BYTES,
    TraceChanged,
    TraceItems,
    TraceParser,
    TraceRecord,
    block_text,
    scan_trace,
    trace_offsets,
    trace_prompt,
)
from tiny_tokenizers import merging_bpe, text_of

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


def jsonl(tmp_path: Path, rows: Sequence[Mapping[str, Any]], name: str = "t.jsonl") -> Path:
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


WORDS = WordText()


def words_of(record: TraceRecord, position: int, seed: int = 0) -> list[str]:
    def blocks(block_id: int) -> str:
        return block_text(seed, block_id, WORDS)

    return trace_prompt(record, position, seed, WORDS, blocks).split(" ")


def block(block_id: int, seed: int = 0) -> list[str]:
    return block_text(seed, block_id, WORDS).split(" ")


def test_last_block_is_cut_and_a_short_id_list_is_filled_with_own_words() -> None:
    cut = words_of(TraceRecord(0, BLOCK_TOKENS + 10, 1, (1, 2, 3)), 0)
    assert cut == block(1) + block(2)[:10]
    short = TraceRecord(0, BLOCK_TOKENS + 10, 1, (1,))
    a, b = words_of(short, 0), words_of(short, 1)
    assert a[:BLOCK_TOKENS] == b[:BLOCK_TOKENS] == block(1)
    assert len(a) == len(b) == BLOCK_TOKENS + 10
    assert a[BLOCK_TOKENS:] != b[BLOCK_TOKENS:]  # beyond the trace's ids nothing is shared


def test_no_hash_ids_every_prompt_its_own() -> None:
    record = TraceRecord(0, 200, 1)
    assert words_of(record, 0) != words_of(record, 1)
    assert len(words_of(record, 0)) == 200


# -- exact lengths with a tokenizer ---------------------------------------------------------


@pytest.fixture(scope="module")
def bpe(tmp_path_factory: pytest.TempPathFactory) -> TokenizerText:
    return text_of(merging_bpe(tmp_path_factory.mktemp("bpe") / "tokenizer.json"))


def test_trace_prompts_are_exactly_their_lengths_with_a_tokenizer(
    tmp_path: Path, bpe: TokenizerText
) -> None:
    rows: list[dict[str, Any]] = [
        *MOONCAKE,
        {"timestamp": 3100, "input_length": 1, "output_length": 1, "hash_ids": [0]},
        {"timestamp": 3100, "input_length": 1024, "output_length": 1, "hash_ids": [0, 1]},
        {"timestamp": 3200, "input_length": 700, "output_length": 1, "hash_ids": [0]},
        {"timestamp": 3300, "input_length": 33, "output_length": 1},
    ]
    items = TraceItems(scan_trace(jsonl(tmp_path, rows)), seed=7, text=bpe)
    prompts = [items.at(i).prompt for i in range(len(rows))]
    assert [bpe.count(p) for p in prompts] == [r["input_length"] for r in rows]
    block0 = block_text(7, 0, bpe)
    assert bpe.count(block0) == BLOCK_TOKENS  # a block alone is exactly its size
    # block 0 starts every prompt that has it (cut to the length where it is the last)
    assert all(p.startswith(block0) for p, r in zip(prompts, rows, strict=True)
               if r.get("hash_ids") and r["input_length"] > BLOCK_TOKENS)  # fmt: skip
    assert block0.startswith(prompts[4])  # 1 token: a cut of block 0
    assert prompts[5].startswith(block0)
    assert prompts[6].startswith(block0)  # one id for 700 tokens: block 0, then its own


def test_exact_trace_prompts_over_many_lengths(tmp_path: Path, bpe: TokenizerText) -> None:
    rows = [
        {"timestamp": i, "input_length": 1 + (i * 131) % 1700, "output_length": 1,
         "hash_ids": list(range(i % 3, i % 3 + i % 5))}
        for i in range(60)
    ]  # fmt: skip
    items = TraceItems(scan_trace(jsonl(tmp_path, rows)), seed=1, text=bpe)
    assert [bpe.count(items.at(i).prompt) for i in range(60)] == [r["input_length"] for r in rows]


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


# -- a byte-order mark, in either format ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("t.jsonl", "\ufeff" + GOOD + "\n" + GOOD + "\n"),
        ("t.jsonl", "\ufeff\n" + GOOD + "\n"),  # a BOM alone on a blank first line
        ("a.csv", "\ufeff" + AZURE),
    ],
)
def test_a_leading_bom_is_skipped_in_both_formats(tmp_path: Path, name: str, text: str) -> None:
    trace = scan_trace(write(tmp_path, name, text))
    items = TraceItems(trace, seed=0)
    assert trace.count == (3 if name.endswith("csv") else text.count(GOOD))
    assert items.at(0).max_tokens in (5, 10)
    assert next(trace_offsets(trace, 1.0)) == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.jsonl", GOOD + "\n\ufeff" + GOOD + "\n", r"t\.jsonl:2: invalid JSON"),
        ("a.csv", AZURE + "\ufeff2023-11-16 18:17:05,10,10\n", r"a\.csv:5: TIMESTAMP must be"),
    ],
)
def test_a_bom_anywhere_else_is_a_bad_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^--trace .*{message}"):
        scan_trace(write(tmp_path, name, text))


# -- the file changes during the run ---------------------------------------------------------


def rows_of(count: int) -> list[dict[str, Any]]:
    return [{"timestamp": i, "input_length": 1 + i % 9, "output_length": 1} for i in range(count)]


def test_a_file_replaced_on_disk_is_not_seen(tmp_path: Path) -> None:
    path = jsonl(tmp_path, rows_of(1000))
    trace = scan_trace(path)
    items = TraceItems(trace, seed=0)
    before = [items.at(i).max_tokens for i in range(0, 1000, 100)]
    other = jsonl(tmp_path, [{"timestamp": 0, "input_length": 5, "output_length": 9}], "o.jsonl")
    other.replace(path)  # a new file renamed over it: the run keeps reading the one it checked
    fresh = TraceItems(trace, seed=0)
    assert [fresh.at(i).max_tokens for i in range(0, 1000, 100)] == before
    assert len(list(trace_offsets(trace, 1.0))) == 1000
    assert trace.changed is None


def test_a_file_truncated_in_place_stops_the_replay_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, rows_of(1000))
    trace = scan_trace(path)
    items = TraceItems(trace, seed=0)
    offsets = trace_offsets(trace, 1.0)
    sent = [next(offsets) for _ in range(300)]  # blocks 0 and 1 read
    items.at(299)
    with path.open("r+b") as f:  # truncated and rewritten in place, as `cp other trace` does
        f.truncate(0)
        f.write(b'{"timestamp": 0, "input_length": 1, "output_length": 1}\n')
    rest = list(offsets)
    assert len(sent) + len(rest) == 2 * CHECKPOINT_EVERY  # up to the end of the block read
    assert items.at(511).max_tokens == 1  # a position the schedule gave is still there
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"llmbench run: --trace {path} changed on disk during the run (")
    assert "its size went from" in err[0]
    assert err[0].endswith("the replay stops at request 512 of 1,000")
    assert trace.changed is not None
    assert "changed on disk" in trace.changed
    with pytest.raises(TraceChanged, match="changed on disk during the run"):
        items.at(900)  # never scheduled, never read: said, not made up
    assert list(trace_offsets(trace, 1.0, start=600)) == []  # stays stopped
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # said once per schedule


def test_a_file_rewritten_in_place_at_the_same_size_is_noticed(tmp_path: Path) -> None:
    import os

    path = jsonl(tmp_path, rows_of(600))
    trace = scan_trace(path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"output_length": 1', b'"output_length": 2'))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(TraceChanged, match=r"\(it was rewritten\)"):
        TraceItems(trace, seed=0).at(0)


def test_a_file_changed_while_it_is_scanned_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = jsonl(tmp_path, rows_of(50))
    original = TraceParser.feed

    def feed(self: TraceParser, line: bytes, number: int) -> TraceRecord | None:
        if number == 10:
            with path.open("ab") as f:
                f.write(b"\n")
        return original(self, line, number)

    monkeypatch.setattr(TraceParser, "feed", feed)
    with pytest.raises(ConfigError, match=r"t\.jsonl: it changed while it was read; try again"):
        scan_trace(path)


# -- flags the trace replaces, given explicitly --------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--arrival", "constant"],
        ["--order", "sequential"],
        ["--order", "shuffle"],
        ["--burst", "1"],
        ["--burstiness", "1"],
    ],
)
def test_the_defaults_given_explicitly_are_refused_too(flags: list[str]) -> None:
    with pytest.raises(ConfigError, match=rf"^--trace and {flags[0]} are alternatives: the trace"):
        config("--trace", "t.jsonl", *flags)


def test_not_given_the_defaults_apply() -> None:
    cfg = config("--rps", "2")
    assert (cfg.arrival, cfg.order, cfg.burst, cfg.burstiness) == ("constant", "sequential", 1, 1.0)
    cfg = config("--rps", "2", "--arrival", "gamma", "--burstiness", "0.5", "--order", "shuffle")
    assert (cfg.arrival, cfg.burstiness, cfg.order) == ("gamma", 0.5, "shuffle")


def test_a_run_replays_with_exact_prompts_given_a_tokenizer(tmp_path: Path) -> None:
    from llmbench import app

    tok = merging_bpe(tmp_path / "tokenizer.json")
    path = jsonl(tmp_path, MOONCAKE)
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    argv = ["--url", "http://127.0.0.1:9", "--model", "m", "--trace", str(path)]
    exact = app.prepare(parser.parse_args([*argv, "--tokenizer", str(tok)]))
    assert "--trace: 4 requests; prompts of exactly their lengths (--tokenizer's tokens)" in (
        exact.note
    )
    text = text_of(tok)
    assert [text.count(item.prompt) for item in exact.items] == [6755, 7319, 7234, 2287]
    words = app.prepare(parser.parse_args(argv))
    assert "prompts of about their lengths (a word a token)" in words.note
