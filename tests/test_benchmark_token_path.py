"""benchmarks/token_path.py still runs against the current layers (figures not judged)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "token_path.py"


def test_every_layer_runs_on_the_token_chunk(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("token_path", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["token_path"] = module
    spec.loader.exec_module(module)
    module.TOKENS = 200
    module.REPEATS = 1
    assert module.main() == 0  # main raises if any layer saw fewer tokens than it was fed
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["floor:", "HTTP/1.1", "+", "+", "Exchange.on_data"]
