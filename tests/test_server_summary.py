"""output.server_summary: summary.json's ``server`` block from what was scraped: the
series on the measured start's time axis, counters as rates, vLLM's hit rate, the
measured phase's min/mean/max and the cross-check against the client's token rate."""

from __future__ import annotations

from typing import Any

import pytest

from llmbench.output.server_summary import add_server_block, server_block, server_line
from llmbench.server_series import Reading, TargetLog

S = 1_000_000_000
ORIGIN = 1_800_000_000 * S  # the measured start, on the common timeline
LABELS = (("engine", "0"), ("model_name", "m"))


def counter(family: str, value: float, labels: tuple[tuple[str, str], ...] = LABELS) -> Reading:
    return Reading(family, "counter", labels, "value", value)


def gauge(family: str, value: float, labels: tuple[tuple[str, str], ...] = LABELS) -> Reading:
    return Reading(family, "gauge", labels, "value", value)


def vllm_log(times: list[float], tokens: list[float], running: list[float]) -> TargetLog:
    """A vLLM target scraped at ``times`` (seconds from the measured start)."""
    log = TargetLog("http://gpu-1:8000/metrics")
    for i, (t, tok, run) in enumerate(zip(times, tokens, running, strict=True)):
        log.record(
            ORIGIN + int(t * S),
            2_000_000,
            [
                gauge("vllm:num_requests_running", run),
                gauge("vllm:kv_cache_usage_perc", 0.5),
                gauge("vllm:gpu_cache_usage_perc", 0.5),  # 0.9 exposes both: the old one goes
                counter("vllm:generation_tokens", tok),
                counter("vllm:prefix_cache_queries", 100.0 * i),
                counter("vllm:prefix_cache_hits", 25.0 * i),
            ],
        )
    return log


def block(logs: list[TargetLog], client: float | None = 1000.0, unit: str = "tokens",
          wall_s: float = 4.0) -> dict[str, Any]:  # fmt: skip
    out = server_block(
        logs, origin_ns=ORIGIN, wall_s=wall_s, interval_s=1.0, time_limit_s=1.0,
        client_tokens_per_s=client, client_unit=unit,
    )  # fmt: skip
    assert out is not None
    return out


def series(target: dict[str, Any], family: str) -> list[dict[str, Any]]:
    return [s for s in target["series"] if s["family"] == family]


def test_nothing_to_scrape_is_no_block() -> None:
    assert server_block([], origin_ns=0, wall_s=1, interval_s=1, time_limit_s=1,
                        client_tokens_per_s=1, client_unit="tokens") is None  # fmt: skip
    summary: dict[str, Any] = {}
    add_server_block(summary, [], origin_ns=0, wall_s=1, interval_s=1, time_limit_s=1,
                     redact=lambda x: x)  # fmt: skip
    assert "server" not in summary


def test_series_sit_on_the_measured_start_axis_and_counters_become_rates() -> None:
    times = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    tokens = [0, 1000, 2000, 3100, 4000, 5000]
    log = vllm_log(times, tokens, [0, 8, 8, 9, 8, 7])
    target = block([log])["targets"][0]
    assert target["t"] == times  # seconds from the measured start: the ramp is negative
    assert target["engines"] == ["vllm"]
    (gen,) = series(target, "vllm:generation_tokens")
    assert gen["read_as"] == "rate"
    assert gen["label"] == "Generated tokens"
    assert gen["chart"] == "tokens"
    assert gen["labels"] == {"engine": "0", "model_name": "m"}
    assert gen["values"] == [None, 1000, 1000, 1100, 900, 1000]
    assert gen["measured"] == {"min": 900, "mean": 1000, "max": 1100, "points": 4}
    (running,) = series(target, "vllm:num_requests_running")
    assert running["values"] == [0, 8, 8, 9, 8, 7]
    assert running["measured"] == {"min": 7, "mean": 8, "max": 9, "points": 5}  # t in [0, 4]


def test_a_counter_reset_is_growth_from_zero_not_a_negative_rate() -> None:
    log = vllm_log([0, 1, 2, 3], [5000, 6000, 500, 1500], [1, 1, 1, 1])  # restarted at t=2
    (gen,) = series(block([log], wall_s=3)["targets"][0], "vllm:generation_tokens")
    assert gen["values"] == [None, 1000, 500, 1000]


def test_a_deprecated_name_goes_when_its_new_name_is_there() -> None:
    target = block([vllm_log([0, 1], [0, 10], [1, 1])])["targets"][0]
    families = {s["family"] for s in target["series"]}
    assert "vllm:kv_cache_usage_perc" in families
    assert "vllm:gpu_cache_usage_perc" not in families
    older = TargetLog("http://old/metrics")  # an older vLLM: only the old name, kept
    older.record(ORIGIN, 1, [gauge("vllm:gpu_cache_usage_perc", 0.8)])
    (kv,) = block([older])["targets"][0]["series"]
    assert (kv["family"], kv["chart"], kv["values"]) == (
        "vllm:gpu_cache_usage_perc",
        "kv_cache",
        [0.8],
    )


def test_vllm_prefix_cache_hit_rate_is_hits_over_queries() -> None:
    target = block([vllm_log([0, 1, 2], [0, 1, 2], [1, 1, 1])])["targets"][0]
    (ratio,) = [s for s in target["series"] if s["read_as"] == "ratio"]
    assert ratio["family"] == "vllm:prefix_cache_hits / vllm:prefix_cache_queries"
    assert (ratio["chart"], ratio["label"], ratio["unit"]) == (
        "prefix_hit",
        "Prefix-cache hit rate",
        "fraction",
    )
    assert ratio["values"] == [None, 0.25, 0.25]


def test_a_histogram_asked_for_is_its_mean_per_event() -> None:
    log = TargetLog("u")
    for t, total, count in ((0, 0.0, 0), (1, 5.0, 50), (2, 15.0, 100)):
        log.record(ORIGIN + t * S, 1, [
            Reading("vllm:time_to_first_token_seconds", "mean", (), "sum", total),
            Reading("vllm:time_to_first_token_seconds", "mean", (), "count", count),
        ])  # fmt: skip
    (mean,) = block([log], wall_s=2)["targets"][0]["series"]
    assert (mean["read_as"], mean["engine"], mean["chart"]) == ("mean", None, None)
    assert mean["values"] == [None, 0.1, 0.2]
    assert mean["measured"]["mean"] == pytest.approx(0.15)  # 15 s over 100 events


def test_failures_and_scrape_times_are_reported_per_target() -> None:
    log = TargetLog("http://dcgm:9400/metrics")
    log.fail("timeout", "no complete reply within 1 s", 1_000_000_000)
    log.record(ORIGIN, 3_000_000, [gauge("DCGM_FI_DEV_GPU_UTIL", 97, (("gpu", "0"),))])
    target = block([log])["targets"][0]
    assert {k: target[k] for k in ("scrapes", "ok", "failed", "failures", "first_error")} == {
        "scrapes": 2, "ok": 1, "failed": 1, "failures": {"timeout": 1},
        "first_error": "timeout: no complete reply within 1 s",
    }  # fmt: skip
    assert target["scrape_ms"] == {"mean": 501.5, "max": 1000.0}
    assert target["engines"] == ["dcgm"]
    assert "cross_check" not in block([log])  # no generated-token counter: no cross-check


def cross(tokens_per_s: float, client: float | None, unit: str = "tokens") -> dict[str, Any]:
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    log = vllm_log(times, [tokens_per_s * t for t in times], [1] * 5)
    return block([log], client=client, unit=unit)["cross_check"]


def test_the_cross_check_agrees_within_ten_percent() -> None:
    check = cross(1050, 1000)
    assert check["verdict"] == "agree"
    assert check["ratio"] == 1.05
    assert (check["server_tokens_per_s"], check["client_tokens_per_s"]) == (1050, 1000)
    assert check["families"] == ["vllm:generation_tokens"]
    assert "consistent with the client having seen every token" in check["note"]
    assert "no other traffic" in check["note"]
    assert "does not prove" in check["note"]
    assert "the client saw the tokens" not in check["note"]  # no overclaim


def test_the_cross_check_says_what_a_higher_server_rate_means() -> None:
    check = cross(1500, 1000)
    assert check["verdict"] == "server_higher"
    assert "50% more" in check["note"]
    assert "other traffic shares this server" in check["note"]
    assert "client is missing tokens" in check["note"]


def test_the_cross_check_says_what_a_lower_server_rate_means() -> None:
    check = cross(500, 1000)
    assert check["verdict"] == "server_lower"
    assert "50% fewer" in check["note"]
    assert "one of several replicas" in check["note"]


@pytest.mark.parametrize("unit", ["chars", "estimate"])
def test_a_client_counting_another_unit_is_not_compared(unit: str) -> None:
    for client in (1000, 4500):  # whether or not the figures happen to be close
        check = cross(1000, client, unit=unit)
        assert check["verdict"] == "different_units"
        assert check["ratio"] is None
        assert f"The client counted {unit}, not tokens" in check["note"]
        assert "not meaningful" in check["note"]
    line = server_line(block([vllm_log([0.0, 1.0, 2.0], [0, 1000, 2000], [1] * 3)],
                             unit=unit, wall_s=2))  # fmt: skip
    assert line is not None
    assert line.endswith(f"client 1,000.0 {unit}/s: different units, not compared")


def test_the_cross_check_without_data_says_why() -> None:
    short = vllm_log([5.0], [100], [1])  # one scrape, after the measured phase
    assert block([short])["cross_check"]["verdict"] == "no_data"
    assert "run longer than the scrape interval" in block([short])["cross_check"]["note"]
    assert cross(1000, 0)["verdict"] == "no_data"
    assert cross(1000, None)["verdict"] == "no_data"


def test_the_cross_check_sums_every_target_and_engine() -> None:
    times = [0.0, 1.0, 2.0]
    a = vllm_log(times, [0, 400, 800], [1] * 3)  # two replicas, 400/s each
    b = vllm_log(times, [0, 400, 800], [1] * 3)
    assert block([a, b], client=800, wall_s=2)["cross_check"]["verdict"] == "agree"


def test_add_server_block_reads_the_client_figures_and_redacts() -> None:
    log = vllm_log([0.0, 1.0, 2.0], [0, 1000, 2000], [1] * 3)
    log.fail("connect_error", "cannot reach http://user:hunter22@h", 1)
    summary: dict[str, Any] = {
        "throughput": {"output_tokens_per_s": 1000.0}, "tokens": {"unit": "tokens"},
    }  # fmt: skip
    scrub = lambda tree: _scrub(tree, "hunter22")  # noqa: E731
    add_server_block(summary, [log], origin_ns=ORIGIN, wall_s=2, interval_s=1, time_limit_s=1,
                     redact=scrub)  # fmt: skip
    assert summary["server"]["cross_check"]["verdict"] == "agree"
    assert "hunter22" not in repr(summary["server"])


def _scrub(tree: Any, secret: str) -> Any:
    if isinstance(tree, str):
        return tree.replace(secret, "<redacted>")
    if isinstance(tree, dict):
        return {k: _scrub(v, secret) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_scrub(v, secret) for v in tree]
    return tree


def test_the_console_line() -> None:
    assert server_line(None) is None
    log = vllm_log([0.0, 1.0, 2.0], [0, 1000, 2000], [1] * 3)
    log.fail("html", "an HTML page (text/html), not Prometheus text", 1)
    line = server_line(block([log], wall_s=2))
    assert line == (
        "server metrics: 1 target(s), 4 scrapes; 1 failed (first: html: an HTML page "
        "(text/html), not Prometheus text); server 1,000.0 generated tokens/s vs client "
        "1,000.0 tokens/s: consistent (within 10%)"
    )


@pytest.mark.parametrize(
    ("server", "words"), [(1500, "server higher by 50%"), (500, "server lower by 50%")]
)
def test_the_console_line_says_which_way_the_rates_differ(server: float, words: str) -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    log = vllm_log(times, [server * t for t in times], [1] * 5)
    line = server_line(block([log]))
    assert line is not None
    assert line.endswith(f"vs client 1,000.0 tokens/s: {words}")


def test_counter_resets_are_counted_per_series_and_flagged_past_one() -> None:
    # A load-balanced URL: two replicas in turn, each with its own running total.
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    log = vllm_log(times, [5000, 100, 6000, 200, 7000], [1] * 5)
    out = block([log])
    (tokens,) = series(out["targets"][0], "vllm:generation_tokens")
    assert tokens["resets"] == 2
    assert series(out["targets"][0], "vllm:num_requests_running")[0]["resets"] is None
    check = out["cross_check"]
    assert check["counter_resets"] == 2
    assert "went back 2 times" in check["note"]
    assert "load balancer" in check["note"]
    line = server_line(out)
    assert line is not None
    assert line.endswith(
        "generated-token counter went back 2 times (several replicas behind one URL?)"
    )


def test_one_reset_is_a_restart_not_flagged() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    check = block([vllm_log(times, [5000, 6000, 0, 1000, 2000], [1] * 5)])["cross_check"]
    assert check["counter_resets"] == 1
    assert "went back" not in check["note"]


def test_a_huge_gauge_has_a_mean_like_its_min_and_max() -> None:
    log = TargetLog("u")
    for i in range(3):
        log.record(ORIGIN + i * S, 1, [gauge("x", 1.7e308)])
    (entry,) = series(block([log], wall_s=4)["targets"][0], "x")
    assert entry["measured"] == {"min": 1.7e308, "mean": 1.7e308, "max": 1.7e308, "points": 3}
