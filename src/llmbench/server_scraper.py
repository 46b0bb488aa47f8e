"""Scraping the ``--server-metrics`` targets during a run: the I/O shell around
:mod:`llmbench.server_parse` (what a page says) and :mod:`llmbench.server_series`
(what is kept of it).

Off the hot path, by construction:

- one task of its own, beside the runner (:func:`alongside`), with its own small httpx
  client (never the benchmark's transport or its connection pool);
- every scrape has a time limit (:func:`time_limit`: within the interval, so a target
  is never scraped twice at once) and a cap on the bytes read
  (:data:`MAX_BODY_BYTES`), counted before parsing;
- the page is parsed in a worker thread (``asyncio.to_thread``): the loop that stamps
  every token is never the one parsing;
- a failure (no connection, a timeout, an error status, an HTML page, garbage, a huge
  body) is counted per target with the first message, and the next scrape is tried
  on time: nothing a target does ends or slows the run.

httpx's exceptions become a failure kind in one place (:func:`_failure_of`). A
``--workers`` coordinator, which runs no event loop of its own, scrapes from a thread
(:class:`ScrapeThread`); its workers never scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from llmbench import __version__
from llmbench.output.server_summary import add_server_block
from llmbench.redaction import redact_url
from llmbench.server_series import FailureKind, TargetLog

if TYPE_CHECKING:
    from llmbench.config import RunConfig
    from llmbench.server_parse import Selector

__all__ = [
    "MAX_BODY_BYTES",
    "SCRAPE_TIME_LIMIT_S",
    "ScrapeThread",
    "Scraper",
    "alongside",
    "scraper_for",
    "time_limit",
]

# A vLLM page for one model is 100-200 KB (mostly histogram buckets), a DCGM exporter's
# for 8 GPUs about 150 KB: 4 MiB holds dozens of models or GPUs, and bounds what a wrong
# URL (a log file, a download) costs each second.
MAX_BODY_BYTES = 4 * 1024 * 1024
# A /metrics page renders in milliseconds; a target slower than this is counted as a
# timeout and asked again at the next tick.
SCRAPE_TIME_LIMIT_S = 2.0
# ... and at most this share of the interval: the rest leaves room for the next tick.
_LIMIT_SHARE = 0.8
# Prometheus' own text format (0.0.4), uncompressed (the page is small anyway). A server
# that compresses all the same is refused unread: httpx would inflate it whole, on the
# loop, before any cap could look at it (a "zip bomb").
_HEADERS = {
    "Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1",
    "Accept-Encoding": "identity",
    "User-Agent": f"llmbench/{__version__}",
}
# How long a coordinator waits for its scrape thread to stop.
_JOIN_S = 10.0

T = TypeVar("T")


def time_limit(interval_s: float) -> float:
    """Each scrape's time limit: short, and within the interval (a target that hangs
    is still asked at every tick)."""
    return min(SCRAPE_TIME_LIMIT_S, _LIMIT_SHARE * interval_s)


class _Failed(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Scraper:
    """Scrapes every URL once per ``interval_s`` until :meth:`stop`; each target's
    scrapes go to its :class:`TargetLog` (``logs``, in the order of ``urls``).
    ``clock`` gives the instant a scrape begins, in ns on the run's common timeline
    (the instant Prometheus would stamp it with)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        interval_s: float,
        patterns: Sequence[str] = (),
        clock: Callable[[], int] = time.time_ns,
        tls: ssl.SSLContext | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        time_limit_s: float | None = None,
    ) -> None:
        self.urls = list(urls)
        self.logs = [TargetLog(redact_url(u)) for u in self.urls]
        self.interval_s = interval_s
        self.time_limit_s = time_limit(interval_s) if time_limit_s is None else time_limit_s
        # prometheus_client (50 ms to import) is loaded only by a run that scrapes.
        from llmbench.server_parse import Selector, parse_page

        self._parse = parse_page
        self._selectors = [Selector(patterns) for _ in self.urls]
        self._clock = clock
        self._tls = tls
        self._cap = max_body_bytes
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def run(self) -> None:
        """Scrape on a fixed grid from now (a tick missed while the loop was busy is
        skipped, not made up) until stopped; a scrape in flight is dropped then."""
        self._task = asyncio.current_task()
        if self._stopped:
            return
        try:
            async with self._client() as client:
                await self._ticks(client)
        except asyncio.CancelledError:
            if not self._stopped:
                raise  # the run itself is being cancelled

    def add_block(
        self,
        summary: dict[str, Any],
        *,
        origin_ns: int,
        wall_s: float,
        redact: Callable[[Any], Any],
    ) -> None:
        """Put what was scraped into ``summary`` (its ``server`` block, scrubbed by
        ``redact``), on the time axis that starts at ``origin_ns`` (the measured start,
        on this scraper's clock)."""
        add_server_block(
            summary,
            self.logs,
            origin_ns=origin_ns,
            wall_s=wall_s,
            interval_s=self.interval_s,
            time_limit_s=self.time_limit_s,
            redact=redact,
        )

    def stop(self) -> None:
        """End :meth:`run` now (from the loop it runs on)."""
        self._stopped = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def _client(self) -> httpx.AsyncClient:
        n = max(1, len(self.urls))
        return httpx.AsyncClient(
            headers=_HEADERS,
            timeout=httpx.Timeout(self.time_limit_s),
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            verify=self._verify(),
            follow_redirects=False,  # a redirect (to a login page) is a failure
            trust_env=False,  # straight to the target: no proxy from the environment
        )

    def _verify(self) -> ssl.SSLContext | bool:
        """The run's TLS settings; the system's CAs only when a target is https (loading
        them costs 30 ms of CPU, wasted on plain http targets)."""
        if self._tls is not None:
            return self._tls
        return any(url.lower().startswith("https:") for url in self.urls)

    async def _ticks(self, client: httpx.AsyncClient) -> None:
        """One loop per target, each on its own grid: a slow target delays only itself."""
        async with asyncio.TaskGroup() as group:
            for url, log, selector in zip(self.urls, self.logs, self._selectors, strict=True):
                group.create_task(self._target(client, url, log, selector))

    async def _target(
        self, client: httpx.AsyncClient, url: str, log: TargetLog, selector: Selector
    ) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stopped:
            await self._scrape(client, url, log, selector)
            due += self.interval_s
            now = loop.time()
            if due < now:  # late (a busy loop): the next point on the grid, not a burst
                due += self.interval_s * (1 + (now - due) // self.interval_s)
            await asyncio.sleep(due - now)

    async def _scrape(
        self, client: httpx.AsyncClient, url: str, log: TargetLog, selector: Selector
    ) -> None:
        began, start = self._clock(), time.perf_counter_ns()
        try:
            async with asyncio.timeout(self.time_limit_s):
                body, content_type = await self._fetch(client, url)
        except _Failed as exc:
            log.fail(exc.kind, exc.message, time.perf_counter_ns() - start)
            return
        except TimeoutError:
            message = f"no complete reply within {self.time_limit_s:g} s"
            log.fail("timeout", message, time.perf_counter_ns() - start)
            return
        except Exception as exc:  # whatever a target does, the run goes on
            kind, message = _failure_of(exc)
            log.fail(kind, message.replace(url, log.url), time.perf_counter_ns() - start)
            return
        try:
            page = await asyncio.to_thread(self._parse, body, content_type, selector)
        except Exception as exc:  # a page the parser chokes on: that page's failure
            log.fail("parse_error", f"{type(exc).__name__}: {exc}", time.perf_counter_ns() - start)
            return
        took = time.perf_counter_ns() - start
        if isinstance(page, list):
            log.record(began, took, page)
        else:
            log.fail(page.kind, page.message, took)

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> tuple[bytes, str]:
        """The page's bytes and Content-Type; _Failed for what is not a page to read."""
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                hint = " (redirects are not followed)" if response.is_redirect else ""
                reason = response.reason_phrase
                raise _Failed("http_status", f"HTTP {response.status_code} {reason}{hint}".strip())
            content_type = response.headers.get("content-type", "")
            if "html" in content_type.lower():  # not worth reading
                shown = content_type.split(";")[0].strip()
                raise _Failed("html", f"an HTML page ({shown}), not Prometheus text")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):  # asked for identity: a bomb is not read
                # (the log makes the server's text printable)
                raise _Failed("http_status", f"a compressed body ({encoding}); identity was asked")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self._cap:
                raise _Failed("too_large", f"a body of {int(length):,} bytes (cap {self._cap:,})")
            body = bytearray()
            # raw: the bytes as sent, never inflated by httpx (the cap counts what is kept)
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self._cap:
                    raise _Failed("too_large", f"the body passed the cap of {self._cap:,} bytes")
            return bytes(body), content_type


def scraper_for(
    cfg: RunConfig, tls: ssl.SSLContext | None, clock: Callable[[], int]
) -> Scraper | None:
    """The run's scraper (None without --server-metrics), with the run's TLS settings
    (--insecure, --ca-cert) and ``clock`` on the run's common timeline."""
    if not cfg.server_metrics:
        return None
    return Scraper(
        cfg.server_metrics,
        interval_s=cfg.server_metrics_interval_s,
        patterns=cfg.server_metric_patterns,
        clock=clock,
        tls=tls,
    )


def _failure_of(exc: Exception) -> tuple[FailureKind, str]:
    """The one place httpx's (and the socket's) exceptions become a failure kind;
    anything else a scrape raised is an ``http_error`` named by its type."""
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"{type(exc).__name__}: {text}"
    if isinstance(exc, httpx.ConnectError | OSError):
        return "connect_error", text
    return "http_error", f"{type(exc).__name__}: {text}"


async def alongside(scraper: Scraper | None, work: Awaitable[T]) -> T:
    """``work`` (the run), with ``scraper`` scraping in a task of its own until it
    ends; whatever ``work`` raises is raised as is (not in an ExceptionGroup)."""
    if scraper is None:
        return await work
    failure: Exception | None = None
    async with asyncio.TaskGroup() as group:
        group.create_task(scraper.run())
        try:
            result = await work
        except Exception as exc:  # re-raised below, once the scraper has stopped
            failure = exc
        finally:
            scraper.stop()
    if failure is not None:
        raise failure
    return result


class ScrapeThread:
    """A :class:`Scraper` on an event loop of its own thread: for the ``--workers``
    coordinator, which waits on pipes and runs no loop. :meth:`stop` ends it and
    returns once the thread is gone."""

    def __init__(self, scraper: Scraper) -> None:
        self.scraper = scraper
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="llmbench-scrape", daemon=True)

    def start(self) -> ScrapeThread:
        self._thread.start()
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await self.scraper.run()

    def stop(self) -> None:
        self._ready.wait(_JOIN_S)
        if self._loop is not None and not self._loop.is_closed():
            # RuntimeError: the loop closed in between (the thread is ending anyway)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.scraper.stop)
        self._thread.join(_JOIN_S)
