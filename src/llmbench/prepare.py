"""`llmbench run`'s checks: parsed flags into a :class:`Prepared` run. Everything
that can be wrong with the user's input is found here, before anything is created on
disk or sent (the model list aside: asked last, once every local input has passed), so
a bad flag leaves no half-written run directory behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmbench import slo
from llmbench.config import ConfigError, RunConfig, check_header
from llmbench.discovery import DEFAULT_TIMEOUT_S as DISCOVERY_TIMEOUT_S
from llmbench.discovery import ModelListUnavailable, discover_model
from llmbench.environment import check_environment, env_api_keys, proxy_for
from llmbench.fdlimit import ensure_fd_limit
from llmbench.http.tls import ssl_context
from llmbench.prefixes import PrefixedItems, shared_prefixes
from llmbench.prompt_text import PromptLengthError, PromptText
from llmbench.providers import Provider, make_provider, provider_spec
from llmbench.redaction import secret_values, url_secrets
from llmbench.report_command import check_output_paths
from llmbench.run_options import build_config
from llmbench.scale_options import start_at
from llmbench.session_plan import session_plan, session_source
from llmbench.sessions import SessionPlan
from llmbench.synthetic import parse_length, synthetic_items
from llmbench.tokens import TokenPolicy, counts_true_tokens, load_tokenizer, prompt_text_for
from llmbench.trace import TraceItems, scan_trace
from llmbench.workload import (
    KeyRing,
    WorkloadItem,
    check_key,
    cycle_items,
    load_keys,
    load_prompts,
)

__all__ = ["Prepared", "criteria", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run that passed every check and is ready to start."""

    cfg: RunConfig
    provider: Provider
    items: Iterator[WorkloadItem]
    keys: KeyRing
    tokens: TokenPolicy
    checks: list[slo.SloCheck]
    goodput: slo.GoodputSpec | None
    tls: ssl.SSLContext | None  # built once, here: a bad certificate file fails before the run
    note: str = ""
    preflight: bool = True  # one request before the clock starts (--no-preflight: none)
    max_error_rate: float | None = None  # --max-error-rate, a share; None: no limit
    allow_char_slo: bool = False  # --allow-char-slo: per-token SLOs on any unit
    start_at: float | None = None  # --start-at: Unix seconds when the shards all begin
    coordinated: bool = False  # a --workers coordinator's worker (progress and start via pipes)
    stop_overloaded: bool = False  # a sweep step: end early when overloaded (llmbench.overload)
    sessions: SessionPlan | None = None  # multi-turn sessions (llmbench.sessions); items unused


def _items(args: argparse.Namespace, cfg: RunConfig) -> tuple[Iterator[WorkloadItem], str]:
    """The workload, and a console note about it ("" when there is nothing to say).
    With --tokenizer, synthetic prompts, shared prefixes and a trace's prompts are
    exactly their lengths in its tokens."""
    text = prompt_text_for(cfg.tokenizer)
    if cfg.trace is not None:  # every line checked here, in one pass, before the run
        trace = scan_trace(cfg.trace)
        how = "exactly" if text.exact else "about"
        unit = "--tokenizer's tokens" if text.exact else "a word a token"
        note = f"--trace: {trace.count:,} requests; prompts of {how} their lengths ({unit})"
        return TraceItems(trace, cfg.seed, text), note
    prefixes = shared_prefixes(cfg, text)
    notes = [] if prefixes is None else [f"prompts: {prefixes.note}"]
    items: Iterator[WorkloadItem]
    if args.prompts_file:
        prompts = load_prompts(Path(args.prompts_file))
        items = cycle_items(prompts.items, cfg.order, cfg.seed)
        notes.insert(0, prompts.note)
    elif args.input_tokens:
        length = parse_length(args.input_tokens, "--input-tokens")
        items = synthetic_items(length, cfg.max_tokens, cfg.seed, text, prefixes)
        return items, "; ".join(notes)  # the synthetic prompts take their prefixes
    else:
        items = cycle_items([WorkloadItem(prompt=cfg.prompt, max_tokens=cfg.max_tokens)], "x", 0)
    if prefixes is not None:
        items = PrefixedItems(items, prefixes)
    return items, "; ".join(n for n in notes if n)


def _session_prompt_at(
    args: argparse.Namespace, cfg: RunConfig, text: PromptText
) -> Callable[[int], WorkloadItem]:
    """Where a synthetic session's turns come from: the synthetic prompts (exact with
    --tokenizer; a shared prefix is added to the first turn only), else the prompt."""
    if args.input_tokens:
        length = parse_length(args.input_tokens, "--input-tokens")
        return synthetic_items(length, cfg.max_tokens, cfg.seed, text).at
    item = WorkloadItem(prompt=cfg.prompt, max_tokens=cfg.max_tokens)
    return lambda _position: item


def _regular_file(path: Path, flag: str) -> None:
    """A file the run reads whole must be a regular file: a FIFO would wait for a
    writer, /dev/zero never end. One that cannot be read is left to its reader."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{flag} {path}: not a regular file (a FIFO or a device cannot be read)")


def _prompt_text(cfg: RunConfig) -> PromptText:
    """The run's text maker (exact with --tokenizer); a tokenizer that loads but fits no
    text (a normalizer that drops every word) is refused here, not mid-run."""
    text = prompt_text_for(cfg.tokenizer)
    if text.exact:
        try:
            for tokens in (1, 2, 64):
                text.make(tokens, random.Random(tokens))
        except PromptLengthError as exc:
            raise ConfigError(
                f"--tokenizer {cfg.tokenizer}: it makes no prompt text ({exc})"
            ) from None
    return text


def _sessions_note(cfg: RunConfig, note: str, prefix_note: str) -> str:
    """The sessions' console note, saying what the counts count."""
    counted = [prefix_note] if prefix_note else []
    if cfg.requests is not None:
        counted.append(f"--requests {cfg.requests:,} counts sessions")
    if cfg.warmup_requests:
        counted.append(f"--warmup {cfg.warmup_requests:,} counts sessions")
    if cfg.rps is not None:
        counted.append(f"--rps {cfg.rps:g} starts sessions")
    return "; ".join([note, *counted])


def _api_keys(args: argparse.Namespace) -> list[str]:
    """--api-key, else --api-key-file's keys, else the environment's; each checked."""
    if args.api_key:
        check_key(args.api_key, "--api-key")
        return [args.api_key]
    if args.api_key_file:
        return load_keys(Path(args.api_key_file))
    return env_api_keys()


def _keys(keys: list[str], cfg: RunConfig, provider: Provider) -> KeyRing:
    """The keys, and every credential the run knows of (secret -H values, the URL's
    password, the provider's own secret headers), so outputs can be scrubbed. One
    request is built to check every header it would send: a provider's option that
    lands in a header (``--anthropic-version``, a template's ``${ENV}``) is held to
    the -H rules too."""
    sample = provider.build_request(WorkloadItem(prompt=""), keys[0] if keys else None)
    for name, value in sample.headers:
        check_header(name, value, f"--provider {cfg.provider}: header")
    secrets = [*secret_values(sample.headers), *secret_values(cfg.headers), *url_secrets(cfg.url)]
    secrets += [secret for url in cfg.server_metrics for secret in url_secrets(url)]
    return KeyRing(keys, secrets)


def _tokens(cfg: RunConfig) -> TokenPolicy:
    if cfg.token_mode != "tokenizer" or cfg.tokenizer is None:
        return TokenPolicy(cfg.token_mode)
    try:
        return TokenPolicy(cfg.token_mode, load_tokenizer(cfg.tokenizer))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _planned_unit(cfg: RunConfig) -> str:
    """What the run's per-token figures will be in, known before sending: "tokens"
    only when every count can come from usage or a tokenizer."""
    mode = cfg.token_mode
    usage = bool(getattr(cfg.provider_options, "include_usage", True))  # --no-usage: False
    if mode == "disabled" or counts_true_tokens(
        mode, tokenizer=cfg.tokenizer is not None, usage_requested=usage
    ):
        return "tokens"  # disabled: no per-token figure exists to judge
    return "estimated tokens" if mode == "estimate" else "chars"


def _proxied(cfg: RunConfig) -> RunConfig:
    """The fast transport speaks no proxy protocol: when the environment routes the
    target through a proxy (as httpx would honour), use httpx instead."""
    if cfg.transport == "fast" and proxy_for(cfg.url) is not None:
        return _replace(cfg, transport="httpx")
    return cfg


def _with_model(
    cfg: RunConfig, tls: ssl.SSLContext | None, api_keys: list[str]
) -> tuple[RunConfig, str]:
    """Without --model, an OpenAI-compatible server is asked which model it serves
    (the last check before the run, once every local input has passed): its only
    model is used, several stop the run (ConfigError), and a server with no usable
    list is sent requests that name no model, with a note saying why."""
    if cfg.model is not None or not provider_spec(cfg.provider).lists_models:
        return cfg, ""
    try:
        model = discover_model(
            cfg.url,
            cfg.headers,
            min(DISCOVERY_TIMEOUT_S, cfg.timeout_s),
            tls,
            api_key=api_keys[0] if api_keys else None,
            trust_env=cfg.transport == "httpx",  # the run's own proxy and CA settings
        )
    except ModelListUnavailable as exc:
        return cfg, f"no --model, and {exc}: requests name no model"
    return _replace(cfg, model=model), f"--model {model}: the one model the server lists"


def _replace(cfg: RunConfig, **changes: Any) -> RunConfig:
    return dataclasses.replace(cfg, **changes)


def criteria(
    args: argparse.Namespace, cfg: RunConfig
) -> tuple[list[slo.SloCheck], slo.GoodputSpec | None]:
    """The --slo checks and the --goodput bounds, checked against the run they judge
    (ConfigError naming the flag). Pure: what a lint (--print-config) checks too."""
    try:
        checks = slo.parse_slos(args.slo)
        goodput = slo.parse_goodput(args.goodput) if args.goodput else None
        slo.require_goodput(checks, goodput)
        if not getattr(args, "allow_char_slo", False):
            slo.refuse_per_token_criteria(checks, goodput, _planned_unit(cfg))
        slo.require_open_loop(checks, cfg.open_loop)
    except slo.SloError as exc:
        message = str(exc)  # name the flag: --goodput's messages already do
        raise ConfigError(message if "--goodput" in message else f"--slo: {message}") from None
    return checks, goodput


def prepare(args: argparse.Namespace) -> Prepared:
    """Validate everything and load every file; raises ConfigError (exit 2)."""
    cfg = build_config(args)
    ensure_fd_limit(cfg.concurrency)
    transport_before = cfg.transport
    cfg = _proxied(cfg)
    note = "" if cfg.transport == transport_before else "a proxy is set: using --transport httpx"
    tls = ssl_context(
        insecure=cfg.insecure,
        ca_cert=cfg.ca_cert,
        client_cert=cfg.client_cert,
        client_key=cfg.client_key,
    )
    checks, goodput = criteria(args, cfg)
    check_environment(cfg, Path(args.junit) if args.junit else None)
    check_output_paths(args.html_report, args.csv)
    if cfg.prompts_file is not None:
        _regular_file(cfg.prompts_file, "--prompts-file")
    text = _prompt_text(cfg)
    prefixes = shared_prefixes(cfg, text)
    first = None if prefixes is None else prefixes.apply
    source = session_source(cfg, _session_prompt_at(args, cfg, text), first)
    if source is None:
        items, items_note = _items(args, cfg)
    else:
        prefix_note = "" if prefixes is None else f"first turns: {prefixes.note}"
        items, items_note = iter(()), _sessions_note(cfg, source.note, prefix_note)
    api_keys = _api_keys(args)
    cfg, model_note = _with_model(cfg, tls, api_keys)
    provider = make_provider(cfg)
    plan = None if source is None else session_plan(cfg, source, provider)
    note = "; ".join(n for n in (note, items_note, model_note) if n)
    keys = _keys(api_keys, cfg, provider)
    return Prepared(
        cfg, provider, items, keys, _tokens(cfg), checks, goodput, tls, note,
        preflight=getattr(args, "preflight", True),
        allow_char_slo=getattr(args, "allow_char_slo", False),
        max_error_rate=getattr(args, "max_error_rate", None),
        start_at=start_at(args, time.time()),
        coordinated=bool(getattr(args, "coordinated", False)),
        stop_overloaded=bool(getattr(args, "stop_overloaded", False)),
        sessions=plan,
    )  # fmt: skip
