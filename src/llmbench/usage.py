"""Reading a server's token usage: which counts to believe, and how updates combine.

Providers report what the wire says (:class:`~llmbench.events.Usage`); this decides
what a request's usage is. Pure: values in, values out.
"""

from __future__ import annotations

from llmbench.events import Usage

__all__ = ["MAX_COUNT", "merge_usage", "token_count"]

# No request counts more tokens than this; a larger "count" is garbage, and would not
# fit the 64-bit integers JSON writers (orjson) accept once summed over a run.
MAX_COUNT = 2**32


def token_count(value: object) -> int | None:
    """A server's token count, if it is one: a JSON string or float is not a count."""
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """A usage update keeps what it does not say: Anthropic's message_delta carries
    only output_tokens, its message_start the input_tokens."""
    prompt, completion = token_count(new.prompt), token_count(new.completion)
    if old is not None:
        prompt = old.prompt if prompt is None else prompt
        completion = old.completion if completion is None else completion
    return Usage(prompt, completion)
