"""`llmbench mock`: run the server until SIGINT/SIGTERM, print one ready line, exit 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

from llmbench.mock.options import MockOptions, OptionsError, options_from_args
from llmbench.mock.server import MockServer

__all__ = ["loop_factory", "run", "serve"]


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
    except OptionsError as exc:
        _say(f"llmbench mock: {exc}", err=True)
        return 2
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(serve(options))
    except OSError as exc:
        where = f"{options.host}:{options.port}"
        _say(f"llmbench mock: cannot listen on {where}: {exc.strerror or exc}", err=True)
        return 1
    except KeyboardInterrupt:  # SIGINT before the signal handlers were installed
        return 0


async def serve(options: MockOptions) -> int:
    """Start the server, print `llmbench mock listening on URL`, wait for a signal."""
    server = MockServer(options)
    host, port = await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        shown = f"[{host}]" if ":" in host else host
        _say(f"llmbench mock listening on http://{shown}:{port}")
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await server.close()
    if options.stats:
        for line in server.stats.statistics().lines():
            _say(line)
    return 0


def _say(line: str, *, err: bool = False) -> None:
    """Print and flush; a reader that went away must not turn into a traceback."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(line, file=sys.stderr if err else sys.stdout, flush=True)
