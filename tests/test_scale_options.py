"""The scale-out flags as parsed values: each bad one is one ConfigError line."""

from __future__ import annotations

import argparse
import time

import pytest

from llmbench import scale_options
from llmbench.config import ConfigError


def args(**flags: object) -> argparse.Namespace:
    return argparse.Namespace(**{"workers": "1", "shard": None, "ray": None, **flags})


def test_local_workers_are_bounded_by_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale_options, "_usable_cores", lambda: 2)
    assert scale_options.workers_of(args(workers="8")) == 8
    with pytest.raises(ConfigError, match=r"^--workers 9: this machine has 2 usable core\(s\)"):
        scale_options.workers_of(args(workers="9"))
    # a cluster is not this machine
    monkeypatch.setattr(scale_options, "check_ray_installed", lambda: None)
    assert scale_options.workers_of(args(workers="64", ray="auto")) == 64


def test_start_at_is_bounded_to_a_day_ahead() -> None:
    now = time.time()
    assert scale_options.start_at(args(start_at=repr(now + 60)), now) == pytest.approx(now + 60)
    with pytest.raises(ConfigError, match="more than a day away"):
        scale_options.start_at(args(start_at=repr(now + 2 * 86_400)), now)
    with pytest.raises(ConfigError, match=r"^--start-at: "):
        scale_options.start_at(args(start_at="stdin"), now)  # no hidden value for users
    # a stale date (a re-run job spec) is no common start: refused, not 56 years late
    with pytest.raises(ConfigError, match=r"^--start-at: '1' was [0-9,]+ s ago$"):
        scale_options.start_at(args(start_at="1"), now)
    assert scale_options.start_at(args(start_at=repr(now - 60)), now) == pytest.approx(now - 60)
