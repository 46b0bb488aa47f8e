"""The scraper against small in-process HTTP servers that misbehave on purpose: every
failure is counted per target with its first message, a hanging target costs one
time limit per tick and never delays the others or the run, the body cap holds, and
stopping is prompt. Real sockets, real time: tolerances are stated where they matter."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import http_server

from llmbench.server_scraper import Scraper, ScrapeThread, alongside, time_limit

PAGE = (Path(__file__).parents[1] / "fixtures" / "server_metrics" / "vllm.txt").read_bytes()
RELEASE = threading.Event()  # ends every hanging handler at teardown
BOMB = gzip.compress(gzip.compress(b"0" * (8 << 20)))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/hang":
            RELEASE.wait(10)
            return
        if self.path == "/chunked-huge":  # no Content-Length: read until the cap
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            line = b"vllm:num_requests_running 1\n" * 100
            for _ in range(200):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
            return
        status, ctype, body, extra = {
            "/metrics": (200, "text/plain; version=0.0.4", PAGE, {}),
            "/html": (200, "text/html; charset=utf-8", b"<html><body>Login</body></html>", {}),
            "/garbage": (200, "text/plain", b"hello world\nthis is a log file\n", {}),
            "/huge": (200, "text/plain", b"x" * 200_000, {}),
            "/missing": (404, "text/plain", b"not found", {}),
            "/redirect": (302, "text/plain", b"", {"Location": "/login"}),
            # a "zip bomb": 8 MiB of zeros gzipped twice into a few KB, sent though
            # identity was asked for
            "/bomb": (200, "text/plain", BOMB, {"Content-Encoding": "gzip, gzip"}),
        }[self.path]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    RELEASE.clear()
    with http_server(Handler) as url:
        yield url
        RELEASE.set()


def scrape_for(urls: list[str], seconds: float, **kw: object) -> Scraper:
    scraper = Scraper(urls, interval_s=kw.pop("interval_s", 0.2), **kw)  # type: ignore[arg-type]
    asyncio.run(alongside(scraper, asyncio.sleep(seconds)))
    return scraper


@pytest.mark.slow  # real time: counts of ticks, with a tick of slack
def test_a_good_target_is_scraped_on_its_grid(base: str) -> None:
    scraper = scrape_for([base + "/metrics"], 1.0)
    (log,) = scraper.logs
    # 0, 0.2, ..., 0.8 s: five ticks in one second (a loaded machine may skip one)
    assert 4 <= log.ok == log.scrapes <= 6
    assert log.failures == {}
    families = {key[0] for key in log.columns}
    assert {"vllm:num_requests_running", "vllm:generation_tokens"} <= families


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("/html", "html", "html: an HTML page (text/html), not Prometheus text"),
        ("/garbage", "parse_error", "parse_error: not Prometheus text: "),
        ("/huge", "too_large", "too_large: a body of 200,000 bytes (cap 65,536)"),
        ("/chunked-huge", "too_large", "too_large: the body passed the cap of 65,536 bytes"),
        ("/missing", "http_status", "http_status: HTTP 404 Not Found"),
        ("/redirect", "http_status", "http_status: HTTP 302 Found (redirects are not followed)"),
        ("/bomb", "http_status", "http_status: a compressed body (gzip, gzip); identity was"),
    ],
)
def test_each_bad_target_is_a_counted_classified_failure(
    base: str, path: str, kind: str, message: str
) -> None:
    scraper = scrape_for([base + path], 0.5, max_body_bytes=65_536)
    (log,) = scraper.logs
    assert log.ok == 0
    assert log.failures == {kind: log.scrapes}
    assert log.scrapes >= 2  # tried again at each tick: never fatal
    assert log.first_error is not None
    assert log.first_error.startswith(message)
    assert log.columns == {}


def test_a_refused_connection_is_a_connect_error() -> None:
    scraper = scrape_for(["http://127.0.0.1:9/metrics"], 0.3)
    (log,) = scraper.logs
    assert set(log.failures) == {"connect_error"}
    assert log.first_error is not None


@pytest.mark.slow  # real time: counts of ticks, with a tick of slack
def test_a_hanging_target_costs_its_time_limit_and_never_delays_another(base: str) -> None:
    start = time.monotonic()
    scraper = scrape_for([base + "/hang", base + "/metrics"], 1.2, interval_s=0.3)
    took = time.monotonic() - start
    hung, good = scraper.logs
    assert set(hung.failures) == {"timeout"}
    assert hung.first_error == "timeout: no complete reply within 0.24 s"  # 80% of 0.3 s
    assert hung.scrapes >= 3  # asked again at every tick
    assert hung.took_ns_max < 0.6e9  # the limit, plus scheduling slack on a loaded VM
    assert good.ok >= 4  # scraped on its own grid beside it: 0, 0.3, 0.6, 0.9 s
    assert took < 2.0  # the run's 1.2 s, the stop does not wait for the hung scrape


def test_the_time_limit_never_passes_the_interval() -> None:
    assert time_limit(0.5) == pytest.approx(0.4)
    assert time_limit(1.0) == pytest.approx(0.8)
    assert time_limit(60.0) == 2.0


def test_the_run_gets_its_result_and_its_own_exception_unwrapped(base: str) -> None:
    async def work() -> str:
        await asyncio.sleep(0.1)
        return "done"

    async def broken() -> None:
        await asyncio.sleep(0.1)
        raise ValueError("the run's own error")

    scraper = Scraper([base + "/metrics"], interval_s=0.05)
    assert asyncio.run(alongside(scraper, work())) == "done"
    assert asyncio.run(alongside(None, work())) == "done"
    with pytest.raises(ValueError, match="the run's own error"):  # not an ExceptionGroup
        asyncio.run(alongside(Scraper([base + "/hang"], interval_s=0.05), broken()))


def test_stop_before_the_first_tick_scrapes_nothing(base: str) -> None:
    async def main() -> Scraper:
        scraper = Scraper([base + "/metrics"], interval_s=1.0)
        scraper.stop()
        await scraper.run()
        return scraper

    assert asyncio.run(main()).logs[0].scrapes == 0


@pytest.mark.slow  # real time: counts of ticks, with a tick of slack
def test_a_scrape_thread_for_the_coordinator(base: str) -> None:
    scraper = Scraper([base + "/metrics", base + "/hang"], interval_s=0.2, clock=time.time_ns)
    thread = ScrapeThread(scraper).start()
    time.sleep(0.7)
    start = time.monotonic()
    thread.stop()
    assert time.monotonic() - start < 1.0  # a hung scrape in flight is dropped, not awaited
    good, hung = scraper.logs
    assert good.ok >= 2
    assert hung.failures.get("timeout", 0) >= 1
    now = time.time_ns()
    assert all(now - 2_000_000_000 < t <= now for t in good.times_ns)  # on the Unix timeline


def test_credentials_in_a_target_url_are_never_in_its_log(base: str) -> None:
    url = base.replace("http://", "http://prom:hunter2hunter2@") + "/missing"
    scraper = scrape_for([url], 0.3)
    (log,) = scraper.logs
    assert "hunter2" not in log.url
    assert log.url == base + "/missing"
    assert "hunter2" not in (log.first_error or "")
