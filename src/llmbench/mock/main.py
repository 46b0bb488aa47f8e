"""`llmbench mock`: run the server until SIGINT/SIGTERM, print one ready line, exit 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import ssl
import sys
from collections.abc import Callable

from llmbench.mock.options import MockOptions, OptionsError, options_from_args
from llmbench.mock.server import MockServer

__all__ = ["loop_factory", "run", "serve", "tls_context"]

# Wanted open files when the hard limit is unlimited (some setrlimit refuse "infinity").
_FD_LIMIT = 1 << 20


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when importable: it roughly halves the CPU spent per write."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM. Exit codes: 0 clean stop, 1 cannot listen, 2 bad flag."""
    try:
        options = options_from_args(args)
        tls = tls_context(options)
    except OptionsError as exc:
        _say(f"llmbench mock: {exc}", err=True)
        return 2
    _raise_fd_limit()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(serve(options, tls))
    except OSError as exc:  # bind failures; asyncio words them at length, errno is enough
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
        where = f"{options.host}:{options.port}"
        _say(f"llmbench mock: cannot listen on {where}: {reason or exc}", err=True)
        return 1
    except KeyboardInterrupt:  # SIGINT before the signal handlers were installed
        return 0


def tls_context(options: MockOptions) -> ssl.SSLContext | None:
    """The HTTPS context of `--tls-cert`/`--tls-key`, or None; OptionsError if unusable."""
    if options.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.tls_cert, options.tls_key)
    except FileNotFoundError as exc:
        raise OptionsError(f"--tls-cert/--tls-key: no such file: {exc.filename}") from None
    except (OSError, ssl.SSLError) as exc:
        files = " ".join(f for f in (options.tls_cert, options.tls_key) if f)
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise OptionsError(f"--tls-cert/--tls-key: cannot load {files}: {reason}") from None
    return context


async def serve(options: MockOptions, tls: ssl.SSLContext | None = None) -> int:
    """Start the server, print `llmbench mock listening on URL`, wait for a signal."""
    server = MockServer(options, tls)
    host, port = await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        shown = f"[{host}]" if ":" in host else host
        scheme = "http" if tls is None else "https"
        _say(f"llmbench mock listening on {scheme}://{shown}:{port}")
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await server.close()
    if options.stats:
        for line in server.stats.statistics().lines():
            _say(line)
    return 0


def _raise_fd_limit() -> None:
    """One socket per stream: a 1024 soft limit would refuse connections mid-benchmark."""
    try:
        import resource
    except ImportError:  # not Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = _FD_LIMIT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _say(line: str, *, err: bool = False) -> None:
    """Print and flush; a reader that went away must not turn into a traceback."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(line, file=sys.stderr if err else sys.stdout, flush=True)
