"""The scale-out flags of `llmbench run` (issue 14): ``--workers``, ``--shard``,
``--start-at``, and the hidden ones a coordinator gives its workers.

Parsed into checked values here; every bad value is one ConfigError line (exit 2).
"""

from __future__ import annotations

import argparse
import os

from llmbench.config import ConfigError
from llmbench.sharding import MAX_SHARDS, Shard, parse_start_at, parse_workers

__all__ = [
    "START_AT_STDIN",
    "add_scale_flags",
    "shard_of",
    "start_at",
    "workers_of",
]

# A worker of `--workers N` is told its start instant on stdin once it is ready.
START_AT_STDIN = "stdin"
# A --start-at further ahead than this is a typo (a year, a timezone), not a plan.
_MAX_WAIT_S = 86_400.0


def add_scale_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scale-out (past one core: see the README's Scaling out)")
    g.add_argument(
        "--workers",
        default="1",
        metavar="N|auto",
        help="run N local worker processes and merge them as one run (auto: one per usable "
        "core, one left for the coordinator when there are more than two; default 1)",
    )
    g.add_argument(
        "--shard",
        metavar="I/N",
        help="run shard I (0-based) of N: a normal run directory that `llmbench merge` "
        "combines with the others",
    )
    g.add_argument(
        "--start-at",
        metavar="TIME",
        help="wait until TIME (ISO 8601 with a time zone, or Unix seconds) before "
        "sending: one common start for every shard",
    )
    g.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the --workers N as Ray actors, one CPU each, spread over the cluster "
        "(auto, ray://host:10001, or local: a throwaway Ray on this machine); needs "
        "pip install 'llmbench[ray]'",
    )
    # A coordinator's worker prints its per-second progress as JSON lines.
    g.add_argument("--progress-json", action="store_true", help=argparse.SUPPRESS)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_of(args: argparse.Namespace) -> int:
    """``--workers`` as a count; ConfigError for a bad value or with ``--shard``."""
    try:
        n = parse_workers(str(getattr(args, "workers", "1")), _usable_cores())
    except ValueError as exc:
        raise ConfigError(f"--workers: {exc}") from None
    if n > 1 and getattr(args, "shard", None):
        raise ConfigError(
            "--shard and --workers are alternatives: a shard is one process of a run "
            "split by hand; --workers splits it for you"
        )
    ray = getattr(args, "ray", None)
    if ray is not None:
        if getattr(args, "shard", None):
            raise ConfigError("--ray runs the shards itself: give --workers N, not --shard")
        if str(getattr(args, "workers", "1")).strip().lower() == "auto" or n < 2:
            raise ConfigError("--ray needs --workers N (2 or more): the number of actors")
        if not ray.strip() or any(c.isspace() or not c.isprintable() for c in ray):
            raise ConfigError(f"--ray: not an address: {ray!r:.60}")
        check_ray_installed()
    return n


def check_ray_installed() -> None:
    """ConfigError saying what to install when Ray is missing."""
    from llmbench.ray_workers import check_available

    check_available()


def shard_of(args: argparse.Namespace) -> Shard:
    """``--shard I/N`` (Shard(0, 1) without it); ConfigError for a bad value."""
    text = getattr(args, "shard", None)
    if not text:
        return Shard()
    try:
        shard = Shard.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--shard: {exc}") from None
    if shard.count > MAX_SHARDS:
        raise ConfigError(f"--shard: at most {MAX_SHARDS} shards")
    return shard


def start_at(args: argparse.Namespace, now_s: float) -> float | None:
    """``--start-at`` as Unix seconds (None without it); ConfigError for a bad value
    or one more than a day ahead of ``now_s``. "stdin" is a coordinator's worker: the
    instant comes later, on stdin."""
    text = getattr(args, "start_at", None)
    if text is None or text == START_AT_STDIN:
        return None
    try:
        instant = parse_start_at(text)
    except ValueError as exc:
        raise ConfigError(f"--start-at: {exc}") from None
    if instant - now_s > _MAX_WAIT_S:
        raise ConfigError(f"--start-at: {text!r:.60} is more than a day away")
    return instant
