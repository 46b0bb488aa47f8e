"""The mock's GET /metrics page (mock/metrics_page.py), read back by llmbench's own
scrape parser: vLLM's names, the mock's state, a simulated KV-cache use."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmbench.mock.capacity import Slots
from llmbench.mock.metrics_page import CONTENT_TYPE, NOMINAL_SEQS, MetricsPage
from llmbench.mock.prefix_cache import BLOCK_WORDS, PrefixCache
from llmbench.mock.stats import MockStats
from llmbench.server_parse import Selector, parse_page


def readings(page: bytes) -> dict[str, float]:
    out = parse_page(page, CONTENT_TYPE.decode(), Selector())
    assert isinstance(out, list), out
    return {r.family: r.value for r in out}


def test_an_idle_mock_shows_vllms_families_at_zero() -> None:
    page = MetricsPage("llmbench-mock", 1_800_000_000.0).render(MockStats().statistics())
    assert readings(page) == {
        "vllm:num_requests_running": 0.0,
        "vllm:num_requests_waiting": 0.0,
        "vllm:kv_cache_usage_perc": 0.0,
        "vllm:num_preemptions": 0.0,
        "vllm:prompt_tokens": 0.0,
        "vllm:generation_tokens": 0.0,
    }


def test_the_page_carries_the_mocks_state() -> None:
    slots: Slots[str] = Slots(4)
    for name in "abcdef":  # four run, two wait
        slots.arrive(name, 0)
    stats = MockStats(slots.statistics)
    stats.tokens, stats.prompt_tokens = 1234, 567
    got = readings(MetricsPage("m", 0.0).render(stats.statistics()))
    assert got["vllm:num_requests_running"] == 4
    assert got["vllm:num_requests_waiting"] == 2
    assert got["vllm:kv_cache_usage_perc"] == 1.0  # every slot holds its share
    assert got["vllm:generation_tokens"] == 1234
    assert got["vllm:prompt_tokens"] == 567


def test_kv_cache_use_with_unlimited_slots_is_a_share_of_vllms_default_batch() -> None:
    slots: Slots[str] = Slots(0)
    for i in range(64):
        slots.arrive(str(i), 0)
    got = readings(MetricsPage("m", 0.0).render(MockStats(slots.statistics).statistics()))
    assert got["vllm:kv_cache_usage_perc"] == pytest.approx(64 / NOMINAL_SEQS)


def test_prefix_cache_counters_in_tokens_when_it_is_on() -> None:
    cache = PrefixCache()
    cache.insert([1, 2, 3])
    cache.match([1, 2, 9, 8])  # 4 blocks looked up, 2 found
    stats = MockStats(prefix_cache=cache.statistics)
    got = readings(MetricsPage("m", 0.0).render(stats.statistics()))
    assert got["vllm:prefix_cache_queries"] == 4 * BLOCK_WORDS
    assert got["vllm:prefix_cache_hits"] == 2 * BLOCK_WORDS


def test_the_page_is_valid_text_format_with_labels_escaped() -> None:
    model = 'a "quoted"\\model\nname'
    page = MetricsPage(model, 1_800_000_000.5).render(MockStats().statistics())
    families = {m.name: m for m in text_string_to_metric_families(page.decode())}
    running = families["vllm:num_requests_running"]
    assert running.type == "gauge"
    assert running.samples[0].labels == {"engine": "0", "model_name": model}
    generated = families["vllm:generation_tokens"]  # a counter: _total sample
    assert generated.type == "counter"
    assert generated.samples[0].name == "vllm:generation_tokens_total"
    assert families["vllm:generation_tokens_created"].samples[0].value == 1_800_000_000.5
