"""Provider registry: API families by name, never an if-chain on names.

Built-in providers are the table below. Third parties add providers through the
entry-point group ``llmbench.providers``: each entry point names a factory
``Callable[[RunConfig], Provider]``. Plugins are looked up only for a name that is not
built in (built-ins win a clash), and loaded only when that name is asked for.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from llmbench.config import ConfigError, RunConfig
from llmbench.providers.anthropic import Anthropic
from llmbench.providers.base import FRAMINGS, Provider, ProviderFactory
from llmbench.providers.dashscope import DashScope
from llmbench.providers.dify import Dify
from llmbench.providers.openai import OpenAIChat, OpenAICompletions
from llmbench.providers.template import Template

__all__ = ["ENTRY_POINT_GROUP", "Provider", "make_provider", "plugin_names", "provider_names"]

ENTRY_POINT_GROUP = "llmbench.providers"

_REGISTRY: dict[str, ProviderFactory] = {
    OpenAIChat.name: OpenAIChat,
    OpenAICompletions.name: OpenAICompletions,
    Dify.name: Dify,
    DashScope.name: DashScope,
    Anthropic.name: Anthropic,
    Template.name: Template,
}


def provider_names() -> list[str]:
    """The built-in provider names, sorted."""
    return sorted(_REGISTRY)


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def plugin_names() -> list[str]:
    """Names installed plugins register that no built-in takes, sorted."""
    return sorted({ep.name for ep in _entry_points()} - set(_REGISTRY))


def make_provider(cfg: RunConfig) -> Provider:
    """The provider ``cfg.provider`` names: built in, else an installed plugin; a
    ConfigError listing the known names if neither has it."""
    factory = _REGISTRY.get(cfg.provider)
    if factory is not None:
        return factory(cfg)
    for ep in _entry_points():
        if ep.name == cfg.provider:
            return _from_plugin(ep, cfg)
    known = ", ".join(provider_names())
    plugins = plugin_names()
    extra = f"; plugins: {', '.join(plugins)}" if plugins else ""
    raise ConfigError(f"unknown --provider {cfg.provider!r}; known: {known}{extra}")


def _from_plugin(ep: metadata.EntryPoint, cfg: RunConfig) -> Provider:
    """Load and call a plugin's factory; whatever goes wrong is one ConfigError line."""
    where = f"--provider {ep.name!r} (plugin {ep.value})"
    try:
        factory = ep.load()
    except Exception as exc:  # a broken plugin is a config problem, not a crash
        raise ConfigError(f"{where}: cannot load it: {type(exc).__name__}: {exc}") from None
    if not callable(factory):
        raise ConfigError(f"{where}: {type(factory).__name__} is not callable")
    try:
        provider = factory(cfg)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{where}: its factory failed: {type(exc).__name__}: {exc}") from None
    _check(provider, where)
    return provider  # type: ignore[no-any-return]


def _check(provider: Any, where: str) -> None:
    """The Provider contract, checked once at start-up rather than mid-run."""
    for attr in ("build_request", "decode"):
        if not callable(getattr(provider, attr, None)):
            raise ConfigError(f"{where}: the provider it made has no {attr}() method")
    if getattr(provider, "framing", None) not in FRAMINGS:
        framing = getattr(provider, "framing", None)
        raise ConfigError(f"{where}: framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
    if not isinstance(getattr(provider, "name", None), str):
        raise ConfigError(f"{where}: the provider it made has no name")
