"""server_parse: one scraped page to the readings kept. Every engine's page is a fixture
written by hand from that engine's own documentation or source (each names it in its
header); the known families are read from each, labels kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.server_families import BY_NAME, CHARTS, FAMILIES
from llmbench.server_parse import MAX_LABEL_CHARS, MAX_LABELS, ParseFailure, Selector, parse_page
from llmbench.server_series import Reading

FIXTURES = Path(__file__).parent / "fixtures" / "server_metrics"
TEXT = "text/plain; version=0.0.4; charset=utf-8"


def page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def read(body: bytes, *patterns: str, content_type: str = TEXT) -> list[Reading]:
    out = parse_page(body, content_type, Selector(patterns))
    assert isinstance(out, list), out
    return out


def values(readings: list[Reading]) -> dict[tuple[str, str], float]:
    """(family, the first label value, if any) -> value."""
    return {(r.family, r.labels[0][1] if r.labels else ""): r.value for r in readings}


def test_every_fixture_names_its_source() -> None:
    for path in FIXTURES.glob("*.txt"):
        text = path.read_text()
        assert text.startswith("# "), path.name
        assert "by hand from" in text[:400], path.name


# (fixture, the known families it must give, with one value each: the first series)
ENGINES = [
    (
        "vllm.txt",
        {
            "vllm:num_requests_running": 12.0,
            "vllm:num_requests_waiting": 3.0,
            "vllm:kv_cache_usage_perc": 0.4375,
            "vllm:gpu_cache_usage_perc": 0.4375,
            "vllm:gpu_prefix_cache_queries": 52480.0,
            "vllm:prefix_cache_queries": 52480.0,
            "vllm:prefix_cache_hits": 26112.0,
            "vllm:num_preemptions": 4.0,
            "vllm:prompt_tokens": 104960.0,
            "vllm:generation_tokens": 41000.0,
        },
    ),
    (
        "vllm_v0.txt",
        {
            "vllm:num_requests_running": 5.0,
            "vllm:num_requests_waiting": 2.0,
            "vllm:gpu_cache_usage_perc": 0.8125,
            "vllm:num_preemptions": 7.0,
            "vllm:prompt_tokens": 20480.0,
            "vllm:generation_tokens": 10240.0,
        },
    ),
    (
        "sglang.txt",
        {
            "sglang:num_running_reqs": 162.0,
            "sglang:num_queue_reqs": 2826.0,
            "sglang:token_usage": 0.28,
            "sglang:cache_hit_rate": 0.007507552643049313,
            "sglang:gen_throughput": 86.50814177726902,
            "sglang:prompt_tokens": 8128902.0,
            "sglang:generation_tokens": 7557572.0,
        },
    ),
    (
        "tgi.txt",
        {
            "tgi_queue_size": 17.0,
            "tgi_batch_current_size": 32.0,
            "tgi_request_generated_tokens": 230400.0,
            "tgi_request_input_length": 614912.0,
        },
    ),
    (
        "llamacpp.txt",
        {
            "llamacpp:requests_processing": 2.0,
            "llamacpp:requests_deferred": 1.0,
            "llamacpp:kv_cache_usage_ratio": 0.234375,
            "llamacpp:prompt_tokens": 33065.0,
            "llamacpp:tokens_predicted": 7801.0,
        },
    ),
    (
        "dcgm.txt",
        {
            "DCGM_FI_DEV_GPU_UTIL": 97.0,
            "DCGM_FI_DEV_POWER_USAGE": 312.451,
            "DCGM_FI_DEV_FB_USED": 71234.0,
        },
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), ENGINES)
def test_each_engine_page_gives_its_known_families(
    fixture: str, expected: dict[str, float]
) -> None:
    readings = read(page(fixture))
    first: dict[str, float] = {}
    for r in readings:
        first.setdefault(r.family, r.value)
    assert first == expected
    for r in readings:  # read as the table says: counters (and TGI's sums) as counters
        kind = BY_NAME[r.family].kind
        assert r.kind == ("gauge" if kind == "gauge" else "counter"), r
        assert r.part == "value"


@pytest.mark.parametrize(("fixture", "expected"), ENGINES)
def test_a_page_reads_the_same_with_crlf_and_without_its_last_newline(
    fixture: str, expected: dict[str, float]
) -> None:
    body = page(fixture)
    assert read(body.replace(b"\n", b"\r\n")) == read(body)
    assert read(body.rstrip(b"\n")) == read(body)
    assert read(b"\n\n" + body + b"\n\n   \n") == read(body)


def test_labels_are_kept_model_engine_and_gpu_index() -> None:
    vllm = read(page("vllm.txt"))
    running = [r for r in vllm if r.family == "vllm:num_requests_running"]
    model = "meta-llama/Llama-3.1-8B-Instruct"
    assert [dict(r.labels) for r in running] == [
        {"engine": "0", "model_name": model},
        {"engine": "1", "model_name": model},
    ]
    assert [r.value for r in running] == [12.0, 9.0]
    gpus = [r for r in read(page("dcgm.txt")) if r.family == "DCGM_FI_DEV_GPU_UTIL"]
    assert [(dict(r.labels)["gpu"], r.value) for r in gpus] == [("0", 97.0), ("1", 88.0)]
    assert dict(gpus[1].labels)["UUID"] == "GPU-7a1e2b0d-3f7c-4b1e-9d2a-0c5e8f1a2b3c"


def test_dcgm_blank_values_and_unknown_families_are_not_kept() -> None:
    families = {r.family for r in read(page("dcgm.txt"))}
    assert "DCGM_FI_DEV_MEMORY_TEMP" not in families  # 9223372036854775794: DCGM's blank
    assert "DCGM_FI_DEV_SM_CLOCK" not in families  # not a known family, not asked for
    # ... and when asked for, its blank value is still not a reading (nor 2**47, the
    # blank of a float field)
    asked = read(page("dcgm.txt"), "DCGM_FI_DEV_MEMORY_.*")
    assert [r for r in asked if r.family == "DCGM_FI_DEV_MEMORY_TEMP"] == []
    blanks = b'DCGM_FI_DEV_POWER_USAGE{gpu="0"} 140737488355328\nDCGM_FI_DEV_GPU_UTIL 42\n'
    assert [(r.family, r.value) for r in read(blanks)] == [("DCGM_FI_DEV_GPU_UTIL", 42.0)]


def test_counter_created_gauges_and_histograms_are_not_read_as_families() -> None:
    families = {r.family for r in read(page("vllm.txt"), "vllm:.*")}
    assert not any(f.endswith("_created") for f in families)
    assert "vllm:request_success" in families  # a counter --server-metric asked for
    asked = read(page("vllm.txt"), "vllm:request_success")
    success = [r for r in asked if r.family == "vllm:request_success"]
    assert {dict(r.labels)["finished_reason"]: r.value for r in success} == {
        "length": 160.0,
        "stop": 40.0,
    }
    assert all(r.kind == "counter" for r in success)


def test_a_pattern_may_name_the_exposed_counter_with_its_total_suffix() -> None:
    named = read(page("llamacpp.txt"), "llamacpp:n_decode_total")
    assert [(r.family, r.kind, r.value) for r in named if r.family.endswith("decode")] == [
        ("llamacpp:n_decode", "counter", 7622.0)
    ]


def test_a_histogram_asked_for_is_read_as_its_sum_and_count() -> None:
    ttft = read(page("vllm.txt"), "vllm:time_to_first_token_seconds")
    mine = [r for r in ttft if r.family == "vllm:time_to_first_token_seconds"]
    assert {(r.kind, r.part, r.value) for r in mine} == {
        ("mean", "sum", 31.5),
        ("mean", "count", 200.0),
    }


def test_a_gauge_asked_for_by_pattern_and_the_pattern_is_anchored() -> None:
    assert {r.family for r in read(page("sglang.txt"), "sglang:num_used_tokens")} >= {
        "sglang:num_used_tokens"
    }
    assert "sglang:num_used_tokens" not in {r.family for r in read(page("sglang.txt"), "num_used")}


def test_selection_skips_unwanted_lines_before_the_parser_sees_them() -> None:
    # A malformed line of a family nobody reads is not the page's failure...
    body = page("vllm.txt") + b'vllm:iteration_tokens_total_bucket{le="1.0" 3.0\n'
    assert values(read(body))[("vllm:num_requests_running", "0")] == 12.0
    # ... while one of a family read is (the parser's own message).
    bad = page("vllm.txt") + b'vllm:num_requests_running{engine="0" 3.0\n'
    out = parse_page(bad, TEXT, Selector())
    assert isinstance(out, ParseFailure)
    assert out.kind == "parse_error"
    assert out.message.startswith("not Prometheus text: ")


@pytest.mark.parametrize(
    ("body", "content_type", "kind", "message"),
    [
        (b"<!doctype html><html><body>Login</body></html>", "text/html; charset=utf-8", "html",
         "an HTML page (text/html), not Prometheus text"),
        (b"  \n<html><body>Login</body></html>", "text/plain", "html",
         "an HTML page (text/plain), not Prometheus text"),
        (b"<html></html>", "", "html", "an HTML page (no Content-Type), not Prometheus text"),
        (b"hello world\n", TEXT, "parse_error", "not Prometheus text: could not convert string"),
        (b"vllm:num_requests_running 1\n{{{ garbage\n", TEXT, "parse_error",
         "not Prometheus text: Invalid labels"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", TEXT, "parse_error", "not UTF-8 text (byte 0x89 at 0)"),
        (b"foo-bar 1\n", TEXT, "parse_error", "not Prometheus text: "),
        (b"# TYPE vllm:num_requests_running\n", TEXT, "parse_error", "not Prometheus text: "),
    ],
)  # fmt: skip
def test_garbage_is_a_classified_failure_with_a_message(
    body: bytes, content_type: str, kind: str, message: str
) -> None:
    out = parse_page(body, content_type, Selector())
    assert isinstance(out, ParseFailure)
    assert (out.kind, out.message[: len(message)]) == (kind, message)
    assert len(out.message) < 300


def test_an_empty_page_or_only_comments_is_read_as_nothing() -> None:
    assert read(b"") == []
    assert read(b"# just a comment\n# HELP x y\n") == []
    assert read(b'{"my.metric", a="1"} 3\n') == []  # a UTF-8 quoted name: never ours


def test_labels_are_capped_in_number_and_length() -> None:
    many = ",".join(f'l{i:02d}="{"v" * 300}"' for i in range(40))
    (reading,) = read(f"vllm:num_requests_running{{{many}}} 1\n".encode())
    assert len(reading.labels) == MAX_LABELS
    assert all(len(v) == MAX_LABEL_CHARS for _, v in reading.labels)


def test_nan_and_infinite_values_are_readings_the_series_drops() -> None:
    readings = read(b"vllm:num_requests_running NaN\nvllm:num_requests_waiting +Inf\n")
    assert [r.family for r in readings] == [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
    ]


def test_the_selector_remembers_a_bounded_number_of_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmbench import server_parse

    monkeypatch.setattr(server_parse, "_MEMO_CAP", 3)
    selector = Selector()
    for i in range(10):
        assert not selector.wants(f"made_up_{i}")
    assert selector.wants("vllm:num_requests_running")  # still answered, just not stored
    assert len(selector._memo) == 3


def test_the_family_table_is_consistent() -> None:
    names = [f.name for f in FAMILIES]
    assert len(names) == len(set(names))
    for f in FAMILIES:
        assert f.chart is None or f.chart in CHARTS, f
        assert f.replaced_by is None or f.replaced_by in BY_NAME, f
        assert not f.name.endswith("_total"), f  # named as the parser names counters
    generated = {f.engine for f in FAMILIES if f.generated_tokens}
    assert generated == {"vllm", "sglang", "tgi", "llama.cpp"}
    # the names the issue asks for, each known
    for name in (
        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc", "vllm:prefix_cache_queries", "vllm:prefix_cache_hits",
        "vllm:num_preemptions", "vllm:prompt_tokens", "vllm:generation_tokens",
        "sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage",
        "sglang:cache_hit_rate", "sglang:gen_throughput", "tgi_queue_size",
        "tgi_batch_current_size", "llamacpp:requests_processing", "llamacpp:requests_deferred",
        "llamacpp:kv_cache_usage_ratio", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_FB_USED",
    ):  # fmt: skip
        assert name in BY_NAME, name


def test_a_page_past_the_parsers_budget_is_too_large_not_parsed() -> None:
    # the parser shares the interpreter lock with the loop stamping tokens: bounded work
    lines = b"".join(b'vllm:num_requests_running{engine="%d"} 1\n' % i for i in range(6000))
    assert parse_page(lines, TEXT, Selector()) == ParseFailure(
        "too_large", "more than 5,000 lines of the families kept"
    )
    long_line = b'vllm:num_requests_running{a="' + b"x" * 20_000 + b'"} 1\n'
    assert parse_page(long_line, TEXT, Selector()) == ParseFailure(
        "too_large", "a line of 20,033 characters"
    )


def test_a_name_too_long_to_be_one_never_reaches_a_pattern() -> None:
    selector = Selector(["a.*"])
    assert selector.wants("a" * 200)
    assert not selector.wants("a" * 201)
