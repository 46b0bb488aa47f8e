"""--server-metrics end to end, through the real CLI against the real mock (its GET
/metrics in vLLM's names): summary.json's server block on the run's time axis and its
cross-check, targets that fail without failing the run, ``--workers 2`` scraping from
the coordinator only, and a sweep whose steps scrape."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import http_server

MockServer = Callable[..., str]
MOCK = ("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "24", "--slots", "6")
PAGE = (Path(__file__).parents[1] / "fixtures" / "server_metrics" / "dcgm.txt").read_bytes()
pytestmark = pytest.mark.timeout(240)


def llmbench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench", *args], capture_output=True, text=True, timeout=timeout
    )


def summary_of(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


class Exporter(BaseHTTPRequestHandler):
    """A DCGM exporter's page (a fixture) that counts who asks, and an HTML page."""

    protocol_version = "HTTP/1.1"
    gets: ClassVar[list[str]] = []
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with Exporter.lock:
            Exporter.gets.append(self.path)
        html = self.path == "/login"
        body = b"<html><body>Sign in</body></html>" if html else PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if html else "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def exporter() -> Iterator[str]:
    Exporter.gets.clear()
    with http_server(Exporter) as url:
        yield url


def series(target: dict[str, Any], family: str) -> list[dict[str, Any]]:
    return [s for s in target["series"] if s["family"] == family]


def test_a_run_scrapes_the_mock_on_its_own_time_axis(
    mock_server: MockServer, exporter: str, tmp_path: Path
) -> None:
    url = mock_server(*MOCK)
    out = tmp_path / "run"
    proc = llmbench(
        "run", "--url", url, "--model", "m", "--concurrency", "12", "--duration", "4",
        "--warmup-s", "1", "--out", str(out),
        "--server-metrics", url + "/metrics", "--server-metrics", exporter + "/metrics",
        "--server-metrics-interval", "0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "server metrics: 2 target(s)" in proc.stdout
    summary = summary_of(out)
    server = summary["server"]
    assert (server["interval_s"], server["time_limit_s"]) == (0.5, 0.4)
    mock, dcgm = server["targets"]
    assert mock["url"] == url + "/metrics"
    assert (mock["engines"], dcgm["engines"]) == (["vllm"], ["dcgm"])
    assert mock["failed"] == 0
    assert mock["ok"] == mock["scrapes"] >= 8
    # the time axis is the summary's: seconds from the measured start (the warm-up before it)
    t = mock["t"]
    assert t == sorted(t)
    assert t[0] < 0 < t[-1]
    assert t[-1] <= summary["run"]["wall_time_s"] + 1.0
    (running,) = series(mock, "vllm:num_requests_running")
    assert running["labels"] == {"engine": "0", "model_name": "llmbench-mock"}
    assert running["measured"]["max"] == 6  # --slots 6: the rest wait
    (waiting,) = series(mock, "vllm:num_requests_waiting")
    assert waiting["measured"]["max"] == 6  # 12 in flight, 6 running
    (kv,) = series(mock, "vllm:kv_cache_usage_perc")
    assert kv["measured"]["max"] == 1.0
    (generated,) = series(mock, "vllm:generation_tokens")
    assert generated["read_as"] == "rate"
    check = server["cross_check"]
    assert check["families"] == ["vllm:generation_tokens"]
    assert check["verdict"] == "agree", check
    assert check["client_tokens_per_s"] == summary["throughput"]["output_tokens_per_s"]
    gpus = series(dcgm, "DCGM_FI_DEV_GPU_UTIL")
    assert [s["labels"]["gpu"] for s in gpus] == ["0", "1"]
    assert summary["config"]["server_metrics"] == [url + "/metrics", exporter + "/metrics"]
    report = (out / "report.html").read_text()
    assert '"server":{"interval_s":0.5' in report


def test_targets_that_fail_never_fail_the_run(
    mock_server: MockServer, exporter: str, tmp_path: Path
) -> None:
    url = mock_server(*MOCK)
    out = tmp_path / "run"
    proc = llmbench(
        "run", "--url", url, "--model", "m", "--concurrency", "4", "--duration", "2",
        "--out", str(out), "--server-metrics-interval", "0.5",
        "--server-metrics", exporter + "/login",  # an HTML sign-in page
        "--server-metrics", "http://prom:hunter2hunter2@127.0.0.1:9/metrics",  # nobody there
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    html, refused = summary_of(out)["server"]["targets"]
    assert set(html["failures"]) == {"html"}
    assert html["first_error"] == "html: an HTML page (text/html), not Prometheus text"
    assert set(refused["failures"]) == {"connect_error"}
    assert refused["url"] == "http://127.0.0.1:9/metrics"
    assert html["series"] == refused["series"] == []
    assert "cross_check" not in summary_of(out)["server"]
    for name in ("summary.json", "report.html", "results.jsonl"):
        assert "hunter2" not in (out / name).read_text()
    assert "hunter2" not in proc.stdout + proc.stderr


def test_with_workers_only_the_coordinator_scrapes(
    mock_server: MockServer, exporter: str, tmp_path: Path
) -> None:
    url = mock_server(*MOCK)
    out = tmp_path / "run"
    proc = llmbench(
        "run", "--url", url, "--model", "m", "--concurrency", "8", "--duration", "3",
        "--workers", "2", "--warmup-s", "0.5", "--quiet", "--out", str(out),
        "--server-metrics", exporter + "/metrics", "--server-metrics", url + "/metrics",
        "--server-metrics-interval", "0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = summary_of(out)
    dcgm, mock = summary["server"]["targets"]
    # every GET the exporter saw is one of the coordinator's scrapes: no worker scraped
    assert len(Exporter.gets) == dcgm["scrapes"] >= 4
    assert summary["run"]["workers"] == 2
    assert summary["server"]["cross_check"]["verdict"] == "agree"
    assert mock["t"][0] < 0 < mock["t"][-1]  # on the merged run's measured-start axis
    for worker in (0, 1):
        part = summary_of(out / "workers" / str(worker))
        assert "server" not in part
        assert part["config"]["server_metrics"] == [exporter + "/metrics", url + "/metrics"]


def test_a_sweeps_steps_scrape_each_on_its_own(mock_server: MockServer, tmp_path: Path) -> None:
    url = mock_server(*MOCK)
    out = tmp_path / "sweep"
    proc = llmbench(
        "sweep", "--url", url, "--model", "m", "--slo", "ttft_p95<=5s", "--loads", "5,10",
        "--step-duration", "2", "--quiet", "--out", str(out),
        "--server-metrics", url + "/metrics", "--server-metrics-interval", "0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    for step in sweep["steps"]:
        server = summary_of(out / step["dir"])["server"]
        assert server["targets"][0]["ok"] >= 3
        assert server["cross_check"]["verdict"] in ("agree", "server_higher", "server_lower")
