"""The scale-out flags of `llmbench run` (issue 14): ``--workers``, ``--shard``,
``--start-at``, and the hidden ones a coordinator gives its workers.

Parsed into checked values here; every bad value is one ConfigError line (exit 2).
"""

from __future__ import annotations

import argparse
import os

from llmbench.config import ConfigError
from llmbench.sharding import Shard, parse_start_at, parse_workers

__all__ = [
    "add_scale_flags",
    "checked_start",
    "shard_of",
    "start_at",
    "workers_of",
]

# A --start-at this far in the past is a stale date (a re-run job), not a late start.
_MAX_LATE_S = 3600.0
# A worker is one busy process: more than this many a core only contend for it.
_WORKERS_PER_CORE = 4
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
    # A --workers coordinator's worker: progress as JSON lines on stdout, the start
    # instant on stdin (see llmbench.coordinator). Not for users.
    g.add_argument("--coordinated", action="store_true", help=argparse.SUPPRESS)
    # A `llmbench sweep` step: end early as "overloaded" (exit 6) when the load is past
    # what the server sustains (llmbench.overload). Not for users: the sweep sets it.
    g.add_argument("--stop-overloaded", action="store_true", help=argparse.SUPPRESS)


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
    cores = _usable_cores()
    if ray is None and n > _WORKERS_PER_CORE * cores:
        raise ConfigError(
            f"--workers {n}: this machine has {cores} usable core(s); more than "
            f"{_WORKERS_PER_CORE} workers a core only contend (--ray spreads them over a cluster)"
        )
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
    return shard


def start_at(args: argparse.Namespace, now_s: float) -> float | None:
    """``--start-at`` as Unix seconds (None without it); ConfigError for a bad value
    or one more than a day ahead of ``now_s``."""
    text = getattr(args, "start_at", None)
    if text is None:
        return None
    try:
        return checked_start(text, now_s)
    except ValueError as exc:
        raise ConfigError(f"--start-at: {exc}") from None


def checked_start(text: str, now_s: float) -> float:
    """A start instant (ISO 8601 or Unix seconds) at most a day ahead of ``now_s`` and
    an hour behind it, as Unix seconds; ValueError saying what is wrong."""
    instant = parse_start_at(text)
    if instant - now_s > _MAX_WAIT_S:
        raise ValueError(f"{text!r:.60} is more than a day away")
    if now_s - instant > _MAX_LATE_S:  # a stale date in a job spec: no common start
        raise ValueError(f"{text!r:.60} was {now_s - instant:,.0f} s ago")
    return instant
