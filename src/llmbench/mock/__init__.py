"""The built-in mock server, `llmbench mock`: vLLM's OpenAI wire format on an ideal clock.

The CLI calls `add_arguments(parser)` for the `mock` subcommand and `run(args)`, which
serves until SIGINT/SIGTERM and returns the exit code. `python -m llmbench.mock` runs it
without the CLI.
"""

from llmbench.mock.main import run
from llmbench.mock.options import add_arguments

__all__ = ["add_arguments", "run"]
