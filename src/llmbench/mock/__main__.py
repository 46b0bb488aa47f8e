"""`python -m llmbench.mock`: the mock server without the llmbench CLI."""

import argparse

from llmbench.mock import add_arguments, run

__all__: list[str] = []

_parser = argparse.ArgumentParser(
    prog="python -m llmbench.mock",
    description="A mock streaming LLM server (vLLM's OpenAI-compatible wire format).",
)
add_arguments(_parser)
raise SystemExit(run(_parser.parse_args()))
