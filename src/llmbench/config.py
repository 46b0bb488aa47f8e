"""The run's configuration: one frozen value, validated when it is made.

Every rule lives in :meth:`RunConfig.__post_init__`, so a config built from flags,
from a file or in a test is checked the same way, and a bad value stops the run
before anything is sent, with a message that names the flag and the rule.

``RunConfig`` holds what every run has. A provider's own options (Dify's ``user``,
Anthropic's version, ...) are declared beside the provider and registered with it
(:class:`llmbench.providers.base.ProviderSpec`); the run carries the chosen
provider's options as ``provider_options``. Pure: nothing here reads the environment
or a file (that is :mod:`llmbench.environment`, at the edge).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from llmbench.http.deadlines import Timeouts
from llmbench.redaction import REDACTED, is_secret_name, redact_url
from llmbench.sharding import MAX_SHARDS
from llmbench.sse import DEFAULT_MAX_LINE_BYTES
from llmbench.tokens import TOKEN_MODES

__all__ = [
    "ARRIVALS",
    "EXIT_USAGE",
    "HISTORY_SOURCES",
    "JSON_INT_MAX",
    "JSON_INT_MIN",
    "MAX_BURST",
    "MAX_BURSTINESS",
    "MAX_CONCURRENCY",
    "MAX_DURATION_S",
    "MAX_INPUT_TOKENS",
    "MAX_JSON_DEPTH",
    "MAX_LINE_BYTES",
    "MAX_PATTERN_CHARS",
    "MAX_PREFIX_GROUPS",
    "MAX_REQUESTS",
    "MAX_RETRIES",
    "MAX_RPS",
    "MAX_SCRAPE_PATTERNS",
    "MAX_SCRAPE_URLS",
    "MAX_SEED",
    "MAX_TOKENS",
    "MAX_TRACE_SPEED",
    "MIN_BURSTINESS",
    "MIN_LINE_BYTES",
    "MIN_RPS",
    "MIN_SCRAPE_INTERVAL_S",
    "MIN_TRACE_SPEED",
    "PREFIX_PICKS",
    "PRIVATE_OPTION",
    "TRANSPORTS",
    "Arrival",
    "ConfigError",
    "RunConfig",
    "Transport",
    "check_count",
    "check_header",
    "check_json",
    "parse_json_object",
    "public_options",
    "unprintable",
]

Transport = Literal["fast", "httpx"]
TRANSPORTS: tuple[Transport, ...] = get_args(Transport)
Arrival = Literal["constant", "poisson", "gamma"]
ARRIVALS: tuple[Arrival, ...] = get_args(Arrival)

# The exit code of bad input (a ConfigError, an argparse usage error): nothing was sent.
EXIT_USAGE = 2

# Bounds on every number a flag takes: far beyond any real run, and low enough that
# no accepted value can overflow a timer (asyncio's call_at with 1e300 s raises
# OverflowError), exhaust memory building prompts, or fail to serialize (orjson writes
# only 64-bit integers). Each message and each flag's --help states its bound.
MAX_DURATION_S = 31_536_000.0  # one year: every time flag (timeouts, --duration, --grace, ...)
# One request per 11.6 days: slower than this, the first arrival lies past any
# horizon a run could have (--rps 1e-300 waited "forever" in a timer that overflowed).
MIN_RPS = 1e-6
MAX_RPS = 1e6  # one process cannot send more; a higher rate is a typo
MAX_CONCURRENCY = 100_000  # each in-flight request holds a socket (a file descriptor)
MAX_REQUESTS = 1_000_000_000  # --requests, --warmup: a billion result lines (~500 GB)
MAX_BURST = MAX_REQUESTS  # --burst: the token bucket's capacity, a count of requests
MAX_RETRIES = 100
MAX_SEED = 2**64 - 1  # any 64-bit seed; summary.json records it as a JSON integer
MIN_BURSTINESS = 1e-3  # gamma shapes beyond these make gaps so skewed that an
MAX_BURSTINESS = 1e3  # arrival time overflows the nanosecond clock
MAX_TOKENS = 10_000_000  # --max-tokens, --output-tokens: beyond any context window
# --input-tokens: each synthetic prompt is built in memory (about 6 bytes a token), so
# a million tokens is ~6 MB per request; 10**9 was 2.6 GB and a MemoryError.
MAX_INPUT_TOKENS = 1_000_000
# --trace-speed: a thousand times slower or faster; beyond, a trace's times either pass
# any horizon a run has or collapse into one burst (use a smaller trace).
MIN_TRACE_SPEED = 1e-3
MAX_TRACE_SPEED = 1e3
# --prefix-groups: distinct shared prefixes (llmbench.prefixes keeps one entry per group,
# and a bounded cache of their texts); more than this is not a shared prefix any more.
MAX_PREFIX_GROUPS = 100_000
# --prefix-pick: which group a request takes.
PREFIX_PICKS = ("round-robin", "random")
MIN_LINE_BYTES = 1024
MAX_LINE_BYTES = 256 * 1024 * 1024  # --max-line-bytes: a buffer per in-flight request
# JSON given on the command line or in files (--extra-body, --inputs, prompt files):
# integers must fit orjson's 64-bit range (signed or unsigned), and nesting stays far
# below orjson's limit of 255 levels (the body wraps it) and Python's recursion limit.
JSON_INT_MIN = -(2**63)
JSON_INT_MAX = 2**64 - 1
MAX_JSON_DEPTH = 64

# Field metadata for a provider option that stays out of summary.json: a parsed file,
# a secret read from the environment (``field(default=..., metadata=PRIVATE_OPTION)``).
PRIVATE_OPTION: Mapping[str, Any] = MappingProxyType({"public": False})


# --history: where a session's assistant turns come from (llmbench.sessions).
HISTORY_SOURCES = ("actual", "reference")
# --server-metrics: an engine and a GPU exporter per node, for a handful of nodes.
MAX_SCRAPE_URLS = 16
# --server-metrics-interval: ten scrapes a second is already finer than any engine
# updates its gauges (vLLM: once per engine step, logged each few seconds).
MIN_SCRAPE_INTERVAL_S = 0.1
# --server-metric: family-name regexes, not programs.
MAX_SCRAPE_PATTERNS = 64
MAX_PATTERN_CHARS = 1000


class ConfigError(ValueError):
    """A bad flag, file or setting. The CLI prints it as one line and exits 2."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def check_count(value: int | None, flag: str, low: int, high: int) -> None:
    """An integer flag within ``low..high`` (None: not given); the message names the
    bound that was crossed: ``--concurrency must be >= 1, got 0``."""
    if value is None:
        return
    _require(type(value) is int, f"{flag} must be an integer, got {value!r}")
    _require(value >= low, f"{flag} must be >= {low}, got {value}")
    _require(value <= high, f"{flag} must be <= {high}, got {value}")


def _check_seconds(value: float | None, flag: str, *, zero_ok: bool) -> None:
    """A time flag: > 0 (or >= 0) and at most :data:`MAX_DURATION_S`; NaN fails both."""
    if value is None:
        return
    low_ok = value >= 0 if zero_ok else value > 0
    _require(low_ok, f"{flag} must be {'>=' if zero_ok else '>'} 0 seconds, got {value}")
    _require(
        value <= MAX_DURATION_S,
        f"{flag} must be <= {MAX_DURATION_S:.0f} seconds (one year), got {value}",
    )


def _check_rps(rps: float | None) -> None:
    if rps is None:
        return
    _require(rps > 0, f"--rps must be > 0, got {rps}")
    _require(rps >= MIN_RPS, f"--rps must be >= {MIN_RPS:g} (one request per 11.6 days), got {rps}")
    _require(rps <= MAX_RPS, f"--rps must be <= {MAX_RPS:.0f}, got {rps}")


# Names for the control characters people meet; the rest are written as hex.
_CONTROL_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0A: "LF", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}


def unprintable(text: str) -> str | None:
    """What keeps ``text`` from being an HTTP header value (or an API key): "a control
    character (CR)" or "a non-ASCII character"; None when it is all printable ASCII
    (0x20-0x7e). Never the text itself: it is often a credential."""
    if text.isascii() and text.isprintable():
        return None
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return f"a control character ({_CONTROL_NAMES.get(code, f'0x{code:02x}')})"
        if code > 0x7E:
            return "a non-ASCII character"
    return None  # pragma: no cover - isprintable() is False only for the above


# RFC 9110 §5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN_RULE = "letters, digits and !#$%&'*+-.^_`|~ (RFC 9110 token)"


def check_header(name: str, value: str, where: str) -> None:
    """One header as it will go on the wire: a token name and a printable-ASCII value.
    A CR or LF would split the request (header injection), another control character
    is refused by h11, a non-ASCII one makes httpx raise UnicodeEncodeError. The
    message names ``where`` and the rule, never the value."""
    _require(
        isinstance(name, str) and isinstance(value, str),
        f"{where}: a header name and value must be text",
    )
    if not _TOKEN.fullmatch(name):
        bad = next((ch for ch in name if not _TOKEN.fullmatch(ch)), None)
        what = "is empty" if bad is None else f"contains {unprintable(bad) or repr(bad)}"
        raise ConfigError(f"{where}: a header name {what}; names are {_TOKEN_RULE}")
    problem = unprintable(value)
    _require(
        problem is None,
        f"{where} {name!r}: the value contains {problem}; header values must be printable ASCII",
    )


def _check_no_control(text: str, flag: str) -> None:
    """A URL or a path: a CR or LF in it would split the request line."""
    control = next((ch for ch in text if ord(ch) < 0x20 or ord(ch) == 0x7F), None)
    if control is not None:
        raise ConfigError(f"{flag} contains {unprintable(control)}; percent-encode it")


def _check_url(url: str) -> None:
    """--url parses, has a host and a port in 1..65535; never echoed when it does not
    parse (it may carry user:password)."""
    _check_no_control(url, "--url")
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": an unclosed [
        raise ConfigError("--url is not a valid URL: an IPv6 address needs its ']'") from None
    _require(
        parts.scheme in ("http", "https"),
        f"--url must start with http:// or https://, got {_shown_url(url)!r}",
    )
    _require(bool(parts.hostname), f"--url has no host: {_shown_url(url)!r}")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    _require(
        port is None or 1 <= port <= 65535, "--url has a port that is not a number in 1..65535"
    )


def _check_scrape_url(url: str) -> None:
    """A --server-metrics URL: http(s), a host, a port in 1..65535; shown without its
    credentials (it may carry user:password for the exporter's Basic auth)."""
    _check_no_control(url, "--server-metrics")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed [, a port that is not a number in 0..65535
        raise ConfigError("--server-metrics: not a valid URL (its host or port)") from None
    _require(
        parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0,
        f"--server-metrics must be an http:// or https:// URL with a host, got {_shown_url(url)!r}",
    )


def _shown_url(url: str) -> str:
    """A URL for a message: credentials redacted, and also when it does not parse as one
    (``user:pw@host`` without a scheme reads as scheme "user"): whatever comes before
    its last ``@`` is never shown."""
    shown = redact_url(url)
    return f"{REDACTED}@{shown.rsplit('@', 1)[1]}" if "@" in shown else shown


def _scrape_key(url: str) -> tuple[str, str, int | None, str]:
    """What makes two --server-metrics URLs the same target (scheme, host, port, path)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    return parts.scheme, host, parts.port or default, parts.path.rstrip("/") + "?" + parts.query


def _backtracks(pattern: str) -> bool:
    """Whether a regex nests a repetition (or an alternation) inside a repetition, as
    ``(a+)+`` and ``(a|aa)*`` do: Python's matcher may then take exponential time on
    one name, holding the interpreter lock (nothing can stop it). Read with CPython's
    own regex parser."""
    from re import _parser  # type: ignore[attr-defined]  # CPython's sre parser

    repeats = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}

    def walk(items: Any, in_repeat: bool) -> bool:
        for op, av in items:
            name = str(op)
            if name in repeats:
                _low, high, sub = av
                if in_repeat or walk(sub, high != 1 or in_repeat):
                    return True
            elif name == "BRANCH":
                if in_repeat or any(walk(branch, in_repeat) for branch in av[1]):
                    return True
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                if walk(av[-1], in_repeat):
                    return True
            elif name in ("ASSERT", "ASSERT_NOT") and walk(av[1], in_repeat):
                return True
        return False

    return walk(_parser.parse(pattern), False)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """JSON from a flag or a file that every writer can write back: integers within
    64 bits, numbers finite, nesting at most :data:`MAX_JSON_DEPTH` deep."""
    if isinstance(value, Mapping):
        _require(depth < MAX_JSON_DEPTH, f"{where} nests deeper than {MAX_JSON_DEPTH} levels")
        for key, item in value.items():
            check_json(key, where, depth + 1)
            check_json(item, where, depth + 1)
    elif isinstance(value, list | tuple):
        _require(depth < MAX_JSON_DEPTH, f"{where} nests deeper than {MAX_JSON_DEPTH} levels")
        for item in value:
            check_json(item, where, depth + 1)
    elif isinstance(value, str):
        _require(_utf8(value), f"{where} has a string with a lone surrogate (\\ud800-\\udfff)")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        _require(
            JSON_INT_MIN <= value <= JSON_INT_MAX,
            f"{where} has an integer outside {JSON_INT_MIN}..{JSON_INT_MAX} (64 bits)",
        )
    elif isinstance(value, float):
        _require(math.isfinite(value), f"{where} has a number that is NaN or infinite")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know. Secrets (API keys) live elsewhere, never here."""

    url: str
    provider: str = "openai-chat"
    # The chosen provider's own options (its registered options dataclass); None: its defaults.
    provider_options: object | None = None
    endpoint: str | None = None
    model: str | None = None
    prompt: str = ""
    # Where prompts come from besides ``prompt`` (kept for summary.json, so a run can be
    # repeated): --prompts-file and its --order, or --input-tokens/--output-tokens.
    prompts_file: Path | None = None
    order: str = "sequential"
    input_tokens: str | None = None
    output_tokens: int | None = None
    max_tokens: int | None = None
    stream: bool = True
    ignore_eos: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    concurrency: int = 1
    requests: int | None = None
    duration_s: float | None = None
    rps: float | None = None
    arrival: Arrival = "constant"
    burstiness: float = 1.0
    burst: int = 1
    seed: int = 0
    ramp_up_s: float = 0.0
    warmup_requests: int = 0
    warmup_s: float = 0.0
    grace_s: float = 5.0
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    ttft_timeout_s: float | None = None
    stall_timeout_s: float | None = None
    retries: int = 0
    transport: Transport = "fast"
    http2: bool = False
    insecure: bool = False
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    token_mode: str = "auto"
    tokenizer: Path | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    out_dir: Path | None = None
    quiet: bool = False
    # --save-detailed: results.jsonl keeps each request's prompt id, ITL list and text.
    save_detailed: bool = False
    # --trace FILE: open loop at the trace's times (scaled by --trace-speed), its lengths.
    trace: Path | None = None
    trace_speed: float = 1.0
    # --prefix-tokens P: every prompt starts with one of --prefix-groups shared prefixes
    # of P tokens, taken per request by --prefix-pick (llmbench.prefixes); None: none.
    prefix_tokens: int | None = None
    prefix_groups: int = 1
    prefix_pick: str = "round-robin"
    # This process runs shard ``shard`` of ``shards`` (llmbench.sharding); 0 of 1: all.
    shard: int = 0
    shards: int = 1
    # Multi-turn sessions (llmbench.sessions): --turns N|MEAN:STDDEV makes synthetic
    # ones; --sessions reads a ShareGPT file's conversations as sessions.
    turns: str | None = None
    sessions: bool = False
    think_time: str | None = None  # --think-time S|MEAN:STDDEV between a reply and the next turn
    history: str = "actual"  # --history: the server's replies, or the dataset's ("reference")
    # --server-metrics URL (repeatable): Prometheus pages scraped every
    # --server-metrics-interval seconds during the run (llmbench.server_scraper);
    # --server-metric REGEX (repeatable) keeps families beyond the known ones.
    server_metrics: tuple[str, ...] = ()
    server_metrics_interval_s: float = 1.0
    server_metric_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_url(self.url)
        if self.endpoint is not None:
            _check_no_control(self.endpoint, "--endpoint")
        check_count(self.concurrency, "--concurrency", 1, MAX_CONCURRENCY)
        check_count(self.shards, "shards", 1, MAX_SHARDS)
        check_count(self.shard, "shard", 0, self.shards - 1)
        _require(
            self.shards == 1 or not self.warmup_requests,
            "--warmup N ends at a different instant in each shard: use --warmup-s S "
            "with --workers, --shard or --ray (every shard then measures from one instant)",
        )
        _require(
            self.shards <= self.concurrency,
            f"--concurrency {self.concurrency} is less than the {self.shards} shards "
            "(each needs at least one slot)",
        )
        check_count(self.requests, "--requests", 1, MAX_REQUESTS)
        check_count(self.warmup_requests, "--warmup", 0, MAX_REQUESTS)
        check_count(self.burst, "--burst", 1, MAX_BURST)
        check_count(self.seed, "--seed", 0, MAX_SEED)
        check_count(self.retries, "--retries", 0, MAX_RETRIES)
        check_count(self.max_tokens, "--max-tokens", 1, MAX_TOKENS)
        check_count(self.max_line_bytes, "--max-line-bytes", MIN_LINE_BYTES, MAX_LINE_BYTES)
        _check_rps(self.rps)
        _require(
            self.arrival in ARRIVALS,
            f"--arrival must be {', '.join(ARRIVALS[:-1])} or {ARRIVALS[-1]}, got {self.arrival!r}",
        )
        shape = self.burstiness
        _require(shape > 0, f"--burstiness must be > 0, got {shape}")
        _require(
            MIN_BURSTINESS <= shape <= MAX_BURSTINESS,
            f"--burstiness must be in {MIN_BURSTINESS:g}..{MAX_BURSTINESS:g}, got {shape}",
        )
        for flag, value, zero_ok in (
            ("--duration", self.duration_s, False),
            ("--ramp-up", self.ramp_up_s, True),
            ("--warmup-s", self.warmup_s, True),
            ("--grace", self.grace_s, True),
            ("--timeout", self.timeout_s, False),
            ("--connect-timeout", self.connect_timeout_s, False),
            ("--ttft-timeout", self.ttft_timeout_s, False),
            ("--stall-timeout", self.stall_timeout_s, False),
        ):
            _check_seconds(value, flag, zero_ok=zero_ok)
        for name, text in self.headers:
            check_header(name, text, "-H/--header")
        check_json(dict(self.extra_body), "--extra-body")
        _require(self.transport in TRANSPORTS, f"unknown --transport {self.transport!r}")
        _require(
            not (self.http2 and self.transport == "fast"),
            "--http2 needs --transport httpx (the fast transport speaks HTTP/1.1)",
        )
        _require(
            self.client_key is None or self.client_cert is not None,
            "--client-key needs --client-cert",
        )
        _require(
            self.token_mode in TOKEN_MODES,
            f"--token-mode must be one of {', '.join(TOKEN_MODES)}, got {self.token_mode!r}",
        )
        _require(  # --tokenizer alone makes prompt lengths exact; counting follows the mode
            self.token_mode != "tokenizer" or self.tokenizer is not None,
            "--token-mode tokenizer needs --tokenizer PATH: the two go together",
        )
        self._check_trace()
        self._check_prefixes()
        self._check_sessions()
        _require(
            self.provider_options is None or _is_dataclass_value(self.provider_options),
            "provider_options must be a provider's options dataclass, "
            f"got {type(self.provider_options).__name__}",
        )
        self._check_server_metrics()

    def _check_trace(self) -> None:
        """--trace gives the arrival times and the lengths: the flags that would give
        them too are refused, not silently ignored."""
        speed = self.trace_speed
        _require(
            MIN_TRACE_SPEED <= speed <= MAX_TRACE_SPEED,
            f"--trace-speed must be in {MIN_TRACE_SPEED:g}..{MAX_TRACE_SPEED:g}, got {speed}",
        )
        if self.trace is None:
            return
        for flag, given in (
            ("--rps", self.rps is not None),
            ("--ramp-up", self.ramp_up_s > 0),
            ("--prompts-file", self.prompts_file is not None),
            ("--input-tokens", self.input_tokens is not None),
            ("--output-tokens", self.output_tokens is not None),
            ("--max-tokens", self.max_tokens is not None),
        ):
            _require(not given, f"--trace and {flag} are alternatives: {_TRACE_GIVES}")
        # A warm-up would have to end at a request every shard agrees on, and keep the
        # trace's gap to the next: not built yet, so refused rather than shifted.
        _require(
            not (self.warmup_requests or self.warmup_s),
            "--trace with --warmup/--warmup-s is not supported: a trace replays from its "
            "first request, measured",
        )

    def _check_sessions(self) -> None:
        """What can be known from the flags alone; whether a prompts file holds
        sessions is known when it is read (llmbench.prepare)."""
        _require(
            self.history in HISTORY_SOURCES,
            f"--history must be {' or '.join(HISTORY_SOURCES)}, got {self.history!r}",
        )
        if self.trace is not None:
            for flag, given in (
                ("--turns", self.turns is not None),
                ("--sessions", self.sessions),
                ("--think-time", self.think_time is not None),
            ):
                _require(not given, f"--trace and {flag} are alternatives: a trace is requests")
        if self.turns is not None:
            _require(
                self.prompts_file is None,
                "--turns makes synthetic sessions; a prompts file's sessions are its "
                '{"turns": [...]} lines (or --sessions for ShareGPT)',
            )
            _require(
                self.history == "actual",
                "--history reference needs the dataset's replies; synthetic sessions "
                "(--turns) have none",
            )
        if self.sessions:
            _require(
                self.prompts_file is not None and self.prompts_file.suffix.lower() == ".json",
                "--sessions reads a ShareGPT .json --prompts-file's conversations as sessions",
            )

    def _check_prefixes(self) -> None:
        """--prefix-tokens and its two companions; the trace gives its own sharing."""
        check_count(self.prefix_tokens, "--prefix-tokens", 1, MAX_INPUT_TOKENS)
        check_count(self.prefix_groups, "--prefix-groups", 1, MAX_PREFIX_GROUPS)
        _require(
            self.prefix_pick in PREFIX_PICKS,
            f"--prefix-pick must be {' or '.join(PREFIX_PICKS)}, got {self.prefix_pick!r}",
        )
        if self.prefix_tokens is None:
            _require(
                self.prefix_groups == 1 and self.prefix_pick == PREFIX_PICKS[0],
                "--prefix-groups and --prefix-pick need --prefix-tokens P (the prefixes' length)",
            )
        _require(
            self.trace is None or self.prefix_tokens is None,
            "--trace and --prefix-tokens are alternatives: the trace's hash_ids give its "
            "prefix sharing",
        )

    def _check_server_metrics(self) -> None:
        """--server-metrics URLs (http or https, never echoed with their credentials),
        the interval, and --server-metric patterns that compile."""
        n = len(self.server_metrics)
        _require(n <= MAX_SCRAPE_URLS, f"--server-metrics: at most {MAX_SCRAPE_URLS}, got {n}")
        for url in self.server_metrics:
            _check_scrape_url(url)
        keys = [_scrape_key(url) for url in self.server_metrics]
        _require(
            len(set(keys)) == len(keys),
            "--server-metrics: a URL is given twice (its counters would be counted twice)",
        )
        interval = self.server_metrics_interval_s
        _require(
            MIN_SCRAPE_INTERVAL_S <= interval <= MAX_DURATION_S,
            f"--server-metrics-interval must be in {MIN_SCRAPE_INTERVAL_S:g}.."
            f"{MAX_DURATION_S:.0f} seconds, got {interval}",
        )
        patterns = self.server_metric_patterns
        _require(
            not patterns or bool(self.server_metrics),
            "--server-metric REGEX picks families of the --server-metrics URL's page: give one",
        )
        _require(
            len(patterns) <= MAX_SCRAPE_PATTERNS,
            f"--server-metric: at most {MAX_SCRAPE_PATTERNS} patterns, got {len(patterns)}",
        )
        for pattern in patterns:
            _require(
                len(pattern) <= MAX_PATTERN_CHARS,
                f"--server-metric: a pattern of at most {MAX_PATTERN_CHARS} characters",
            )
            try:
                re.compile(pattern)
            except re.error as exc:
                message = f"--server-metric {pattern!r}: not a regular expression: {exc}"
                raise ConfigError(message) from None
            _require(
                not _backtracks(pattern),
                f"--server-metric {pattern!r}: a repetition or alternation inside a "
                "repetition can take exponential time on one name; write it without "
                "(e.g. 'vllm:.*_seconds', '(vllm|sglang):num_.*')",
            )

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(
            total_s=self.timeout_s,
            connect_s=self.connect_timeout_s,
            ttft_s=self.ttft_timeout_s,
            stall_s=self.stall_timeout_s,
        )

    @property
    def open_loop(self) -> bool:
        return self.rps is not None or self.trace is not None

    def public(self) -> dict[str, Any]:
        """The config as written to summary.json: plain JSON values, URL credentials removed."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        out["url"] = redact_url(self.url)
        # -H values that carry credentials (Authorization, x-api-key, ...): names only.
        out["headers"] = [
            [name, REDACTED if is_secret_name(name) else value] for name, value in self.headers
        ]
        out["extra_body"] = dict(self.extra_body)
        out["provider_options"] = public_options(self.provider_options)
        out["server_metrics"] = [redact_url(url) for url in self.server_metrics]
        if self.prompts_file is not None or self.input_tokens is not None or self.trace:
            out["prompt"] = None  # not sent: another source gave the prompts
        return out


_TRACE_GIVES = "the trace gives each request's send time, prompt length and max_tokens"


def _is_dataclass_value(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _plain(value: Any) -> Any:
    """An option value as JSON: paths as text, mappings and nested options as objects."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if _is_dataclass_value(value):
        return public_options(value)
    return value


def public_options(options: object | None) -> dict[str, Any]:
    """A provider's options as written to summary.json: every field by name, except
    those marked :data:`PRIVATE_OPTION`; nothing for no options."""
    if options is None or not _is_dataclass_value(options):
        return {}
    return {
        f.name: _plain(getattr(options, f.name))
        for f in dataclasses.fields(options)  # type: ignore[arg-type]
        if f.metadata.get("public", True)
    }


def parse_json_object(text: str | None, flag: str) -> dict[str, Any]:
    """A flag's JSON object (``--extra-body``, ``--inputs``); {} when not given."""
    if text is None:
        return {}
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ConfigError(f"{flag} nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise ConfigError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{flag} must be a JSON object, got {type(obj).__name__}")
    check_json(obj, flag)
    return obj


def _no_constant(name: str) -> Any:
    """json.loads takes NaN and Infinity, which are not JSON (orjson writes them as null)."""
    raise ValueError(f"{name} is not a JSON number")
