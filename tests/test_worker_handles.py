"""What a --workers coordinator hands its workers: the user's run flags without the
ones it owns, on stdin (never on a command line `ps` shows)."""

from __future__ import annotations

import itertools

import orjson
import pytest

from llmbench.synthetic import synthetic_items
from llmbench.worker_handles import WORKER, WORKER_COMMAND, worker_argv, worker_flags_line


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (["--url", "u", "--workers", "2", "--out", "d"], ["--url", "u"]),
        (["--workers=2", "--out=d", "--url", "u"], ["--url", "u"]),
        (["--url", "u", "--csv", "--workers", "2"], ["--url", "u"]),  # bare --csv
        (["--url", "u", "--csv", "-1", "--workers", "2"], ["--url", "u"]),  # a file named -1
        (["--url", "u", "--csv"], ["--url", "u"]),
        (["--junit", "j.xml", "--html-report", "r.html", "--url", "u"], ["--url", "u"]),
        (["--start-at", "123", "--ray", "auto", "--url", "u"], ["--url", "u"]),
        (["--quiet", "--url", "u", "--coordinated"], ["--url", "u"]),
        (["--url", "u", "--api-key", "sk-1"], ["--url", "u", "--api-key", "sk-1"]),
    ],
)
def test_the_coordinator_s_own_flags_stay_with_it(argv: list[str], kept: list[str]) -> None:
    assert worker_argv(argv, 1, 3, None) == [*kept, "--shard", "1/3", "--quiet"]


def test_the_asked_model_goes_to_every_worker_unless_the_user_named_one() -> None:
    assert worker_argv(["--url", "u"], 0, 2, "m-1")[:4] == ["--url", "u", "--model", "m-1"]
    named = worker_argv(["--url", "u", "--model", "x"], 0, 2, "x")
    assert named.count("--model") == 1


def test_flags_travel_on_stdin_not_on_the_command_line() -> None:
    line = worker_flags_line(["--url", "u", "--api-key", "sk-secret"], "runs/w/0")
    assert line.endswith(b"\n")
    assert orjson.loads(line) == [
        "--url", "u", "--api-key", "sk-secret", "--out", "runs/w/0", "--coordinated",
    ]  # fmt: skip
    assert WORKER_COMMAND[-1] == WORKER
    assert not any("sk-" in arg for arg in WORKER_COMMAND)


def test_synthetic_items_by_position_are_the_items_in_order() -> None:
    # a shard takes item i directly; it must be the one a single process sends as i
    in_order = list(itertools.islice(synthetic_items((20, 5), 16, seed=3), 8))
    by_position = synthetic_items((20, 5), 16, seed=3)
    assert [by_position.at(i) for i in (7, 2, 5)] == [in_order[7], in_order[2], in_order[5]]
    assert next(by_position) == in_order[0]  # at() does not move the iteration
    assert len({item.prompt for item in in_order}) == 8
