"""The mock's flags and their validated, frozen form."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from llmbench.mock.capacity import MAX_SLOTS
from llmbench.mock.faults import Fault, FaultError, parse_fault
from llmbench.mock.formats import ALL, FORMATS
from llmbench.mock.prefix_cache import BLOCK_WORDS, DEFAULT_MAX_BLOCKS, MAX_BLOCKS

__all__ = ["MockOptions", "OptionsError", "add_arguments", "options_from_args"]


_FORMAT_CHOICES = (ALL, *FORMATS)
# One day: longer delays are a typo, and the bound also keeps NaN and inf out.
_MAX_MS = 86_400_000.0


class OptionsError(ValueError):
    """A flag value out of range; the message names the flag, the value and the rule."""


@dataclass(frozen=True, slots=True)
class MockOptions:
    """Validated `llmbench mock` settings (times in milliseconds, as given)."""

    host: str = "127.0.0.1"
    port: int = 8000
    ttft_ms: float = 100.0
    itl_ms: float = 10.0
    tokens: int = 64
    jitter_ms: float = 0.0
    seed: int | None = None
    stats: bool = False
    format: str = ALL
    text: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    faults: tuple[Fault, ...] = ()
    fault_rate: float = 1.0
    models: tuple[str, ...] = ()
    slots: int = 0
    itl_per_active_ms: float = 0.0
    prefix_cache: bool = False
    prefix_cache_blocks: int = DEFAULT_MAX_BLOCKS

    def __post_init__(self) -> None:
        _check(bool(self.host), "--host must not be empty")
        _check(0 <= self.port <= 65535, f"--port must be in 0..65535, got {self.port}")
        for flag, value in (
            ("--ttft-ms", self.ttft_ms),
            ("--itl-ms", self.itl_ms),
            ("--jitter-ms", self.jitter_ms),
            ("--itl-per-active-ms", self.itl_per_active_ms),
        ):
            _check(0 <= value < _MAX_MS, f"{flag} must be in 0..{_MAX_MS:g}, got {value:g}")
        _check(self.tokens >= 1, f"--tokens must be >= 1, got {self.tokens}")
        _check(0 <= self.slots <= MAX_SLOTS, f"--slots must be in 0..{MAX_SLOTS}, got {self.slots}")
        _check(
            1 <= self.prefix_cache_blocks <= MAX_BLOCKS,
            f"--prefix-cache-blocks must be in 1..{MAX_BLOCKS}, got {self.prefix_cache_blocks}",
        )
        _check(0 <= self.fault_rate <= 1, f"--fault-rate must be in 0..1, got {self.fault_rate:g}")
        _check(
            self.format in _FORMAT_CHOICES,
            f"--format must be one of {', '.join(_FORMAT_CHOICES)}, got {self.format!r}",
        )
        _check(
            self.text is None or bool(self.text.strip()),
            "--text must contain at least one non-space character",
        )
        _check(self.tls_key is None or self.tls_cert is not None, "--tls-key needs --tls-cert")
        for name in self.models:
            _check(bool(name.strip()), f"--model must name a model, got {name!r}")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise OptionsError(message)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mock server's flags to `parser` (the `mock` subcommand's parser)."""
    d = MockOptions()
    parser.add_argument("--host", default=d.host, help="address to listen on (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=d.port, help="port; 0 picks a free one (default %(default)s)"
    )
    parser.add_argument(
        "--ttft-ms", type=float, default=d.ttft_ms, help="time to first token (default %(default)s)"
    )
    parser.add_argument(
        "--itl-ms", type=float, default=d.itl_ms, help="inter-token latency (default %(default)s)"
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=d.tokens,
        help="output tokens per response; a smaller max_tokens in the request wins "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=d.jitter_ms,
        help="each token time gets an independent uniform [0, jitter] delay on top of "
        "the ideal timeline (default %(default)s)",
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=d.slots,
        metavar="K",
        help="generate at most K replies at once, as a real server's batch; later requests "
        "wait in a FIFO queue and their TTFT grows by the wait (default %(default)s: "
        "unlimited)",
    )
    parser.add_argument(
        "--itl-per-active-ms",
        type=float,
        default=d.itl_per_active_ms,
        metavar="A",
        help="batching slows decode: each token gap is --itl-ms plus A times the "
        "requests generating when it starts (default %(default)s)",
    )
    parser.add_argument(
        "--prefix-cache",
        action="store_true",
        help="simulate a prefix cache: a request's TTFT shrinks by the share of its prompt "
        f"(in {BLOCK_WORDS}-word blocks) already seen in an earlier prompt or reply",
    )
    parser.add_argument(
        "--prefix-cache-blocks",
        type=int,
        default=d.prefix_cache_blocks,
        metavar="N",
        help=f"remember at most N {BLOCK_WORDS}-word blocks, least recently used forgotten "
        "first (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for jitter and ids")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="print first-token lateness p50/p99/max and counts on shutdown",
    )
    parser.add_argument(
        "--format",
        default=d.format,
        choices=_FORMAT_CHOICES,
        help="API families to serve, each at its own paths (default %(default)s): "
        "openai /v1/chat/completions /v1/completions; dify /v1/chat-messages; "
        "dashscope /api/v1/services/aigc/text-generation/generation; anthropic "
        "/v1/messages; ollama /api/chat; tgi /generate_stream /generate",
    )
    parser.add_argument(
        "--text",
        default=None,
        metavar="STRING",
        help="reply with this text instead of the word list: its whitespace-separated "
        "words are the tokens, repeated or cut to --tokens",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="serve HTTPS with this PEM certificate (chain)",
    )
    parser.add_argument(
        "--tls-key",
        default=None,
        metavar="FILE",
        help="the certificate's PEM private key, if not in --tls-cert",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault (repeatable): status:429|500|503, html, cut:N, stall, hang, "
        "trickle, badjson, huge, noend, error-event, content-type",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=d.fault_rate,
        metavar="P",
        help="share of generation requests that get one of the --fault modes, drawn "
        "with --seed (default %(default)s: every request)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="serve this model name (repeatable), as vLLM's --served-model-name: "
        "GET /v1/models lists it and an OpenAI request naming another model gets vLLM's "
        "404 (default: list llmbench-mock, accept any name)",
    )


def options_from_args(args: argparse.Namespace) -> MockOptions:
    """Build `MockOptions` from parsed flags; raises `OptionsError` on a bad value."""
    return MockOptions(
        host=args.host,
        port=args.port,
        ttft_ms=args.ttft_ms,
        itl_ms=args.itl_ms,
        tokens=args.tokens,
        jitter_ms=args.jitter_ms,
        seed=args.seed,
        stats=args.stats,
        format=args.format,
        text=args.text,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        faults=_faults(args.fault),
        fault_rate=args.fault_rate,
        models=tuple(args.model),
        slots=args.slots,
        itl_per_active_ms=args.itl_per_active_ms,
        prefix_cache=args.prefix_cache,
        prefix_cache_blocks=args.prefix_cache_blocks,
    )


def _faults(specs: list[str]) -> tuple[Fault, ...]:
    try:
        return tuple(parse_fault(spec) for spec in specs)
    except FaultError as exc:
        raise OptionsError(str(exc)) from None
