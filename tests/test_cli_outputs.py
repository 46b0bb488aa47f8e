"""Writing a run's outputs cannot lose what was measured (issue 12, item 12): each
output is written on its own, a failure names the file and the reason in one line,
the others are still written and the exit code says so; summary.json never fails on
a value a server sent; a key straddling the sample cap is redacted before the cut.

The run itself is replaced by a fake ``app._execute`` that records a few results, so
these tests touch no socket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmbench import app, prepare
from llmbench.cli import EXIT_CODES, _build_parser
from llmbench.metrics import Recorder
from llmbench.output.jsonl import ResultsWriter
from llmbench.output.summary import SAMPLE_CAP, build_summary, write_json_atomic
from llmbench.result import RequestResult
from llmbench.runner import RunOutcome
from llmbench.workload import KeyRing

MS = 1_000_000
KEY = "sk-outputs-SECRET-0123456789"


def result(index: int, **changes: Any) -> RequestResult:
    base: dict[str, Any] = {
        "index": index,
        "phase": "measure",
        "status": "ok",
        "t0_ns": index * MS,
        "end_ns": index * MS + 50 * MS,
        "ttfb_ns": 5 * MS,
        "ttft_ns": 10 * MS,
        "latency_ns": 50 * MS,
        "output_tokens": 8,
        "chunks": 8,
        "token_source": "usage",
    }
    return RequestResult(**(base | changes))


def fake_execute(*results: RequestResult, client: dict[str, Any] | None = None) -> Any:
    """An ``app._execute`` that records ``results`` as a finished run would."""

    def execute(
        prep: app.Prepared, recorder: Recorder, writer: ResultsWriter, *_: object
    ) -> RunOutcome:
        recorder.set_origin(0)
        for r in results:
            recorder.on_start(r.t0_ns)
            recorder.record(r)
            writer.write(r)
        return RunOutcome(interrupted=False, stop_reason="requests", client=client or {})

    return execute


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str, execute: Any = None) -> int:
    monkeypatch.setattr(app, "_execute", execute or fake_execute(result(0), result(1)))
    argv = [
        "run", "--url", "http://127.0.0.1:9", "--api-key", KEY, "--quiet",
        "--out", str(tmp_path / "run"), "--junit", str(tmp_path / "junit.xml"),
        "--csv", str(tmp_path / "results.csv"), *extra,
    ]  # fmt: skip
    return app.run(_build_parser(argv).parse_args(argv))


def one_error_line(err: str) -> list[str]:
    return [line for line in err.splitlines() if "could not write" in line]


def test_all_outputs_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(tmp_path, monkeypatch) == 0
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"results.jsonl", "summary.json"}
    assert (tmp_path / "junit.xml").is_file()
    assert (tmp_path / "results.csv").is_file()


def test_a_summary_that_cannot_be_written_costs_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_space(path: Path, obj: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app, "write_json_atomic", no_space)
    code = run(tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    summary = tmp_path / "run" / "summary.json"
    assert one_error_line(err) == [
        f"llmbench run: error: could not write {summary}: No space left on device"
    ]
    assert code == app.EXIT_OUTPUT_NOT_WRITTEN == 4
    assert "Traceback" not in err
    assert (tmp_path / "junit.xml").is_file()  # the JUnit file and the CSV still came
    assert (tmp_path / "results.csv").read_text().count("\n") == 3
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 2
    assert f"summary: {summary}" not in out


def test_a_junit_file_that_cannot_be_written_costs_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junit.xml").mkdir()  # made after the checks: a path that became a dir
    monkeypatch.setattr(prepare, "check_environment", lambda cfg, junit=None: None)
    code = run(tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert one_error_line(err) == [
        f"llmbench run: error: could not write {tmp_path / 'junit.xml'}: Is a directory"
    ]
    assert code == 4
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["requests"]["ok"] == 2
    assert (tmp_path / "results.csv").is_file()


def test_a_failed_slo_keeps_its_exit_code_when_an_output_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: Path, obj: Any) -> None:
        raise RuntimeError(f"bug with {KEY} in it")

    monkeypatch.setattr(app, "write_json_atomic", broken)
    assert run(tmp_path, monkeypatch, "--slo", "ttft_p95<=1ms") == app.EXIT_SLO_FAILED
    (line,) = one_error_line(capsys.readouterr().err)
    assert line.endswith(": bug with <redacted> in it")  # the reason is scrubbed too


def test_exit_code_4_is_documented() -> None:
    assert "  4    measured, but summary.json or the JUnit file could not be written" in EXIT_CODES
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "| 4 | the run was measured, but `summary.json` or the `--junit` file" in readme


# -- summary.json never fails on a value from a server ---------------------------------


def test_values_orjson_cannot_write_are_written_as_text(tmp_path: Path) -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(300):
        node.append([])
        node = node[0]
    obj = {
        "huge": 2**70,
        "negative": -(2**64),
        2**65: "a huge key",
        "surrogate": "a\ud800b",
        "deep": deep,
        "unknown": object(),
        "fine": [1, 2.5, None, True, 2**64 - 1],
    }
    write_json_atomic(tmp_path / "s.json", obj)
    back = orjson.loads((tmp_path / "s.json").read_bytes())
    assert back["huge"] == str(2**70)
    assert back["negative"] == str(-(2**64))
    assert back[str(2**65)] == "a huge key"
    assert back["surrogate"] == "a\\ud800b"
    assert back["fine"] == [1, 2.5, None, True, 2**64 - 1]
    assert back["unknown"].startswith("<object object")


def test_a_run_with_unwritable_values_still_writes_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (orjson refuses a lone surrogate when it reads a server's JSON, and usage counts
    # are capped by usage.token_count: the sanitizing is the last line, not the first)
    execute = fake_execute(result(0), client={"lag": 2**80, "note": "bad \udcff byte"})
    assert run(tmp_path, monkeypatch, execute=execute) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["client"] == {"lag": str(2**80), "note": "bad \\udcff byte"}
    assert summary["requests"]["total"] == 1


# -- samples: redacted, then cut -------------------------------------------------------


@pytest.mark.parametrize("offset", [1, len(KEY) // 2, len(KEY) - 1])
def test_a_key_straddling_the_sample_cap_is_redacted_before_the_cut(offset: int) -> None:
    rec = Recorder()
    frame = "x" * (SAMPLE_CAP - offset) + KEY + "y" * 100
    rec.sample_first_frame = rec.sample_last_frame = frame
    ring = KeyRing([KEY])
    summary = build_summary(
        rec.freeze(), run={}, config={}, open_loop=False, redact=ring.redact_tree
    )
    for name in ("first_frame", "last_frame"):
        sample = summary["samples"][name]
        assert len(sample) <= SAMPLE_CAP
        assert KEY[:offset] not in sample  # all of the key that fits before the cap
        assert sample == ("x" * (SAMPLE_CAP - offset) + "<redacted>" + "y" * 100)[:SAMPLE_CAP]


def test_output_directories_are_made_when_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 13, item 5: `--junit "$RUN_DIR/junit.xml"` before the run dir exists.
    out, html, csv = (
        tmp_path / "new" / "j" / "junit.xml",
        tmp_path / "r" / "report.html",
        tmp_path / "c" / "r.csv",
    )
    inner = fake_execute(result(0))
    seen: list[bool] = []

    def execute(
        prep: app.Prepared, recorder: Recorder, writer: ResultsWriter, *_: object
    ) -> RunOutcome:
        seen.append(all(p.parent.is_dir() for p in (out, html, csv)))
        return inner(prep, recorder, writer)  # type: ignore[no-any-return]

    extra = ("--junit", str(out), "--html-report", str(html), "--csv", str(csv))
    assert run(tmp_path, monkeypatch, *extra, execute=execute) == 0
    assert seen == [True]  # made before any request went out
    assert out.is_file()
    assert html.is_file()
    assert csv.is_file()
