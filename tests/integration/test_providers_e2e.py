"""Every provider for real: the CLI in a subprocess against one mock serving every format.

The mock writes each wire format from the API's documentation and shares no code with
`providers/`, so a provider that misreads its API fails here: a wrong end signal makes
requests `incomplete`, a misread usage field changes the token counts, a wrong path is
an `http_error`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MockServer = Callable[..., str]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "providers"
TOKENS = 8
REQUESTS = 6

# provider -> extra `run` flags; every one of them reports usage, so tokens are exact.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai-chat": ("--provider", "openai-chat"),
    "openai-completions": ("--provider", "openai-completions"),
    "dify": ("--provider", "dify"),
    "dashscope": ("--provider", "dashscope"),
    "anthropic": ("--provider", "anthropic", "--api-key", "sk-ant-test"),
    "template-ollama": (
        "--provider",
        "template",
        "--provider-config",
        str(EXAMPLES / "ollama-chat.toml"),
    ),
    "template-tgi": (
        "--provider",
        "template",
        "--provider-config",
        str(EXAMPLES / "tgi-generate-stream.toml"),
    ),
}
# The template's framing comes from its file, so --no-stream is for the built-in ones.
NON_STREAMING = ("openai-chat", "openai-completions", "dify", "dashscope", "anthropic")


@pytest.fixture(scope="module")
def url(mock_server_module: MockServer) -> str:
    return mock_server_module("--ttft-ms", "20", "--itl-ms", "2", "--tokens", str(TOKENS))


def run(url: str, out: Path, *flags: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "llmbench", "run", "--url", url, "--model", "m"),
            *("--requests", str(REQUESTS), "--concurrency", "2", "--out", str(out), "--quiet"),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return summary, lines


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_streaming(url: str, tmp_path: Path, provider: str) -> None:
    summary, lines = run(url, tmp_path, *PROVIDERS[provider])
    assert summary["requests"]["ok"] == REQUESTS, summary["errors"]
    assert len(lines) == REQUESTS
    for line in lines:
        assert line["status"] == "ok", line
        assert line["output_tokens"] == TOKENS
        assert line["token_source"] == "usage"
        assert 0 < line["ttft_ms"] < line["latency_ms"]
    assert summary["tokens"]["output"] == REQUESTS * TOKENS


@pytest.mark.parametrize("provider", NON_STREAMING)
def test_non_streaming(url: str, tmp_path: Path, provider: str) -> None:
    summary, lines = run(url, tmp_path, *PROVIDERS[provider], "--no-stream")
    assert summary["requests"]["ok"] == REQUESTS, summary["errors"]
    for line in lines:
        assert line["status"] == "ok", line
        assert line["output_tokens"] == TOKENS
        assert line["ttft_ms"] <= line["latency_ms"]


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "dify"])  # no such field
def test_max_tokens_reaches_the_server(url: str, tmp_path: Path, provider: str) -> None:
    """Each provider puts the limit where its API reads it (parameters.max_tokens,
    options.num_predict, max_new_tokens, ...): the mock then stops at 3 tokens."""
    _, lines = run(url, tmp_path, *PROVIDERS[provider], "--max-tokens", "3")
    assert [line["output_tokens"] for line in lines] == [3] * REQUESTS
