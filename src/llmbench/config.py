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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from llmbench.http.deadlines import Timeouts
from llmbench.redaction import REDACTED, is_secret_name, redact_url
from llmbench.sse import DEFAULT_MAX_LINE_BYTES
from llmbench.tokens import TOKEN_MODES

__all__ = [
    "ARRIVALS",
    "EXIT_USAGE",
    "PRIVATE_OPTION",
    "TRANSPORTS",
    "Arrival",
    "ConfigError",
    "RunConfig",
    "Transport",
    "parse_json_object",
    "public_options",
]

Transport = Literal["fast", "httpx"]
TRANSPORTS: tuple[Transport, ...] = get_args(Transport)
Arrival = Literal["constant", "poisson", "gamma"]
ARRIVALS: tuple[Arrival, ...] = get_args(Arrival)

# The exit code of bad input (a ConfigError, an argparse usage error): nothing was sent.
EXIT_USAGE = 2

# Field metadata for a provider option that stays out of summary.json: a parsed file,
# a secret read from the environment (``field(default=..., metadata=PRIVATE_OPTION)``).
PRIVATE_OPTION: Mapping[str, Any] = MappingProxyType({"public": False})


class ConfigError(ValueError):
    """A bad flag, file or setting. The CLI prints it as one line and exits 2."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


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

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        _require(
            parts.scheme in ("http", "https"),
            f"--url must start with http:// or https://, got {redact_url(self.url)!r}",
        )
        _require(bool(parts.hostname), f"--url has no host: {redact_url(self.url)!r}")
        _require(self.concurrency >= 1, f"--concurrency must be >= 1, got {self.concurrency}")
        _require(
            self.requests is None or self.requests >= 1,
            f"--requests must be >= 1, got {self.requests}",
        )
        _require(
            self.duration_s is None or (self.duration_s > 0 and math.isfinite(self.duration_s)),
            f"--duration must be > 0 seconds, got {self.duration_s}",
        )
        _require(
            self.rps is None or (self.rps > 0 and math.isfinite(self.rps)),
            f"--rps must be > 0, got {self.rps}",
        )
        _require(
            self.arrival in ARRIVALS,
            f"--arrival must be {', '.join(ARRIVALS[:-1])} or {ARRIVALS[-1]}, got {self.arrival!r}",
        )
        _require(0 < self.burstiness < math.inf, f"--burstiness must be > 0, got {self.burstiness}")
        _require(self.burst >= 1, f"--burst must be >= 1, got {self.burst}")
        _require(
            0 <= self.ramp_up_s < math.inf, f"--ramp-up must be >= 0 seconds, got {self.ramp_up_s}"
        )
        _require(self.warmup_requests >= 0, f"--warmup must be >= 0, got {self.warmup_requests}")
        _require(
            0 <= self.warmup_s < math.inf, f"--warmup-s must be >= 0 seconds, got {self.warmup_s}"
        )
        _require(0 <= self.grace_s < math.inf, f"--grace must be >= 0 seconds, got {self.grace_s}")
        _require(
            0 < self.timeout_s < math.inf, f"--timeout must be > 0 seconds, got {self.timeout_s}"
        )
        _require(
            0 < self.connect_timeout_s < math.inf,
            f"--connect-timeout must be > 0 seconds, got {self.connect_timeout_s}",
        )
        for flag, value in (
            ("--ttft-timeout", self.ttft_timeout_s),
            ("--stall-timeout", self.stall_timeout_s),
        ):
            _require(
                value is None or 0 < value < math.inf, f"{flag} must be > 0 seconds, got {value}"
            )
        _require(0 <= self.retries <= 100, f"--retries must be in 0..100, got {self.retries}")
        _require(
            self.max_tokens is None or self.max_tokens >= 1,
            f"--max-tokens must be >= 1, got {self.max_tokens}",
        )
        _require(
            self.max_line_bytes >= 1024,
            f"--max-line-bytes must be >= 1024, got {self.max_line_bytes}",
        )
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
        _require(
            (self.token_mode == "tokenizer") == (self.tokenizer is not None),
            "--token-mode tokenizer and --tokenizer PATH go together",
        )
        _require(
            self.provider_options is None or _is_dataclass_value(self.provider_options),
            "provider_options must be a provider's options dataclass, "
            f"got {type(self.provider_options).__name__}",
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
        return self.rps is not None

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
        return out


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
        obj = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{flag} must be a JSON object, got {type(obj).__name__}")
    return obj
