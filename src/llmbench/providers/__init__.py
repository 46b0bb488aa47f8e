"""Provider registry: API families by name, never an if-chain on names."""

from __future__ import annotations

from llmbench.config import ConfigError, RunConfig
from llmbench.providers.base import Provider, ProviderFactory
from llmbench.providers.openai import OpenAIChat, OpenAICompletions

__all__ = ["Provider", "make_provider", "provider_names"]

_REGISTRY: dict[str, ProviderFactory] = {
    OpenAIChat.name: OpenAIChat,
    OpenAICompletions.name: OpenAICompletions,
}


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def make_provider(cfg: RunConfig) -> Provider:
    """The provider ``cfg.provider`` names, or a ConfigError listing the known ones."""
    factory = _REGISTRY.get(cfg.provider)
    if factory is None:
        known = ", ".join(provider_names())
        raise ConfigError(f"unknown --provider {cfg.provider!r}; known: {known}")
    return factory(cfg)
