"""The run's configuration: one frozen value, validated when it is made.

Every rule lives in :meth:`RunConfig.__post_init__`, so a config built from flags,
from a file or in a test is checked the same way, and a bad value stops the run
before anything is sent, with a message that names the flag and the rule.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmbench.http.deadlines import Timeouts

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "REDACTED",
    "ConfigError",
    "RunConfig",
    "check_environment",
    "is_secret_name",
    "proxy_for",
    "redact_url",
    "secret_values",
]

# Matches llmbench.sse's default; repeated here so config does not import the parser.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

Transport = Literal["fast", "httpx"]
# tokens.TOKEN_MODES, repeated so config does not import the counting code.
_TOKEN_MODES = ("auto", "usage", "tokenizer", "chars", "estimate", "disabled")
Arrival = Literal["constant", "poisson", "gamma"]


class ConfigError(ValueError):
    """A bad flag, file or setting. The CLI prints it as one line and exits 2."""


REDACTED = "<redacted>"

# Header and query-parameter names whose values are credentials: Authorization,
# X-Api-Key, Api-Key, X-Auth-Token, Cookie, X-Signature, ... (matched anywhere in the name).
_SECRET_NAME = re.compile(r"auth|token|secret|key|cookie|session|passw|credential|sign", re.I)


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter called ``name`` carries a credential."""
    return _SECRET_NAME.search(name) is not None


def secret_values(headers: tuple[tuple[str, str], ...]) -> list[str]:
    """The credentials in ``headers``: each secret-named value, and its token without
    the scheme (``Bearer X`` gives ``X`` too: a server may echo either)."""
    out: list[str] = []
    for name, value in headers:
        if is_secret_name(name) and value:
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token.strip() and scheme.isalpha():
                out.append(token.strip())
    return out


def redact_url(url: str) -> str:
    """The URL without user:password or secret-named query values (``?key=...``),
    for anything we print or write."""
    parts = urlsplit(url)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs])
    if parts.username is None and parts.password is None and query == parts.query:
        return url
    host = parts.netloc.rpartition("@")[2]  # keeps [::1] brackets and the port as given
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know. Secrets (API keys) live elsewhere, never here."""

    url: str
    provider: str = "openai-chat"
    endpoint: str | None = None
    model: str | None = None
    prompt: str = ""
    max_tokens: int | None = None
    include_usage: bool = True
    continuous_usage: bool = False
    stream: bool = True
    ignore_eos: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    user: str = "llmbench"
    conversation_id: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    provider_config: Path | None = None
    anthropic_version: str = "2023-06-01"
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
            self.arrival in ("constant", "poisson", "gamma"),
            f"--arrival must be constant, poisson or gamma, got {self.arrival!r}",
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
        _require(self.transport in ("fast", "httpx"), f"unknown --transport {self.transport!r}")
        _require(
            not (self.http2 and self.transport == "fast"),
            "--http2 needs --transport httpx (the fast transport speaks HTTP/1.1)",
        )
        _require(
            self.client_key is None or self.client_cert is not None,
            "--client-key needs --client-cert",
        )
        _require(
            self.token_mode in _TOKEN_MODES,
            f"--token-mode must be one of {', '.join(_TOKEN_MODES)}, got {self.token_mode!r}",
        )
        _require(
            (self.token_mode == "tokenizer") == (self.tokenizer is not None),
            "--token-mode tokenizer and --tokenizer PATH go together",
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
        out["inputs"] = dict(self.inputs)
        return out


def _check_out_dir(out: Path) -> None:
    """--out must be a directory we can make: not a file, not under one."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    for parent in out.parents:
        if parent.exists():
            _require(parent.is_dir(), f"--out {out}: {parent} is a file, not a directory")
            break


def _check_junit(junit: Path) -> None:
    _require(not junit.is_dir(), f"--junit {junit}: is a directory; give a file path")
    _require(junit.resolve().parent.is_dir(), f"--junit {junit}: its directory does not exist")


def proxy_for(url: str) -> str | None:
    """The proxy the environment routes ``url`` through, as httpx reads it:
    ``<SCHEME>_PROXY``, else ``ALL_PROXY``, unless ``NO_PROXY`` names the host."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def check_environment(cfg: RunConfig, junit: Path | None = None) -> None:
    """What a config needs of this machine (output paths, optional packages), checked
    before the run dir is made, so a bad one leaves nothing behind."""
    if cfg.out_dir is not None:
        _check_out_dir(cfg.out_dir)
    if junit is not None:
        _check_junit(junit)
    _require(
        not cfg.http2 or importlib.util.find_spec("h2") is not None,
        "--http2 needs the h2 package: pip install 'llmbench[h2]'",
    )
    proxy = proxy_for(cfg.url) or ""
    _require(
        not proxy.lower().startswith("socks") or importlib.util.find_spec("socksio") is not None,
        "a SOCKS proxy is set in the environment (ALL_PROXY/HTTPS_PROXY): it needs the "
        "socksio package (pip install 'httpx[socks]'), or unset it or name the host in NO_PROXY",
    )
