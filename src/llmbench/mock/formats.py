"""Wire formats: which bytes each step of a mock response writes, per API family.

Every family is written from its API's public documentation, never from llmbench's
providers (`providers/` is not imported here): a test where both sides share code cannot
catch a provider that misreads the wire. The shared types and the `Endpoint` protocol
are in `formats_base`; each family has its own module. Paths never collide, so one
server serves every family at once (`--format all`, the default) or only one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from llmbench.mock import (
    formats_anthropic,
    formats_dashscope,
    formats_dify,
    formats_native,
    formats_openai,
)
from llmbench.mock.formats_base import (
    DEFAULT_VOCAB,
    WORDS,
    Body,
    Endpoint,
    FormatError,
    GenRequest,
    HeaderLookup,
    Reply,
    StreamEvents,
    Vocab,
)

__all__ = [
    "ALL",
    "DEFAULT_VOCAB",
    "FORMATS",
    "WORDS",
    "Body",
    "Endpoint",
    "FormatError",
    "GenRequest",
    "HeaderLookup",
    "Reply",
    "StreamEvents",
    "Vocab",
    "routes",
]

# The registry behind `--format`: API family name -> its generation endpoints.
FORMATS: Mapping[str, Callable[[Vocab], tuple[Endpoint, ...]]] = {
    "openai": formats_openai.endpoints,
    "dify": formats_dify.endpoints,
    "dashscope": formats_dashscope.endpoints,
    "anthropic": formats_anthropic.endpoints,
    "ollama": formats_native.ollama_endpoints,
    "tgi": formats_native.tgi_endpoints,
}
ALL = "all"


def routes(name: str, vocab: Vocab = DEFAULT_VOCAB) -> dict[str, Endpoint]:
    """Path -> endpoint for family `name` (or every family for `ALL`)."""
    names = list(FORMATS) if name == ALL else [name]
    return {e.path: e for family in names for e in FORMATS[family](vocab)}
