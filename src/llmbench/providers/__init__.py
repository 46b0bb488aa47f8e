"""Provider registry: API families by name, never an if-chain on names.

Built-in providers are the table below: one :class:`ProviderSpec` each, declared in the
provider's module with its options and flags. Third parties add providers through the
entry-point group ``llmbench.providers``: an entry point names a ``ProviderSpec`` (a
provider with options and flags of its own) or a plain factory
``Callable[[RunConfig], Provider]``. Plugins are looked up only for a name that is not
built in (built-ins win a clash), and loaded only when that name is asked for.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from importlib import metadata
from typing import Any

from llmbench.config import ConfigError, RunConfig
from llmbench.providers import anthropic, dashscope, dify, openai, template
from llmbench.providers.base import FRAMINGS, FlagGroup, OptionSources, Provider, ProviderSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "Provider",
    "ProviderSpec",
    "add_plugin_flags",
    "builtin_specs",
    "make_provider",
    "options_for",
    "plugin_names",
    "provider_names",
    "provider_spec",
]

ENTRY_POINT_GROUP = "llmbench.providers"

_REGISTRY: dict[str, ProviderSpec[Any]] = {
    spec.name: spec
    for spec in (
        openai.CHAT_SPEC,
        openai.COMPLETIONS_SPEC,
        dify.SPEC,
        dashscope.SPEC,
        anthropic.SPEC,
        template.SPEC,
    )
}


def provider_names() -> list[str]:
    """The built-in provider names, sorted."""
    return sorted(_REGISTRY)


def builtin_specs() -> list[ProviderSpec[Any]]:
    """The built-in providers, in the registry's order."""
    return list(_REGISTRY.values())


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def plugin_names() -> list[str]:
    """Names installed plugins register that no built-in takes, sorted."""
    return sorted({ep.name for ep in _entry_points()} - set(_REGISTRY))


def _where(ep: metadata.EntryPoint) -> str:
    return f"--provider {ep.name!r} (plugin {ep.value})"


def _plugin(name: str) -> metadata.EntryPoint | None:
    return next((ep for ep in _entry_points() if ep.name == name), None)


def _plugin_where(name: str) -> str:
    ep = _plugin(name)
    return _where(ep) if ep is not None else f"--provider {name!r}"


def provider_spec(name: str) -> ProviderSpec[Any]:
    """The provider called ``name``: built in, else an installed plugin (loaded now);
    a ConfigError listing the known names if neither has it."""
    spec = _REGISTRY.get(name)
    if spec is not None:
        return spec
    ep = _plugin(name)
    if ep is not None:
        return _load(ep)
    known = ", ".join(provider_names())
    plugins = plugin_names()
    extra = f"; plugins: {', '.join(plugins)}" if plugins else ""
    raise ConfigError(f"unknown --provider {name!r}; known: {known}{extra}")


def _load(ep: metadata.EntryPoint) -> ProviderSpec[Any]:
    """A plugin's ProviderSpec, or its plain factory wrapped as one; whatever goes
    wrong is one ConfigError line."""
    try:
        target = ep.load()
    except Exception as exc:  # a broken plugin is a config problem, not a crash
        raise ConfigError(f"{_where(ep)}: cannot load it: {type(exc).__name__}: {exc}") from None
    if isinstance(target, ProviderSpec):
        return target
    if not callable(target):
        raise ConfigError(f"{_where(ep)}: {type(target).__name__} is not callable")
    return ProviderSpec.plain(ep.name, target)


def add_plugin_flags(name: str, group: FlagGroup) -> None:
    """Add the flags of plugin ``name`` (loaded now) to ``group``; a flag that clashes
    with another, or any other failure, is one ConfigError line."""
    spec = provider_spec(name)
    _guarded(_plugin_where(name), "its flags", lambda: spec.add_flags(group))


def options_for(name: str, args: Namespace, sources: OptionSources) -> object:
    """Provider ``name``'s options from the parsed flags (ConfigError naming the flag)."""
    spec = provider_spec(name)
    if name in _REGISTRY:
        return spec.options(args, sources)
    return _guarded(_plugin_where(name), "its options", lambda: spec.options(args, sources))


def make_provider(cfg: RunConfig) -> Provider:
    """The provider ``cfg.provider`` names, made with ``cfg.provider_options`` (its
    defaults when None); a ConfigError for an unknown name or a broken plugin."""
    spec = provider_spec(cfg.provider)
    if cfg.provider in _REGISTRY:
        return spec.factory(cfg, _options(cfg, spec))
    where = _plugin_where(cfg.provider)
    options = _guarded(where, "its options", lambda: _options(cfg, spec))
    provider = _guarded(where, "its factory", lambda: spec.factory(cfg, options))
    _check(provider, where)
    return provider  # type: ignore[no-any-return]


def _options(cfg: RunConfig, spec: ProviderSpec[Any]) -> Any:
    """``cfg.provider_options``, checked to be this provider's; its defaults if None."""
    if cfg.provider_options is None:
        return spec.options_type()
    if not isinstance(cfg.provider_options, spec.options_type):
        want, got = spec.options_type.__name__, type(cfg.provider_options).__name__
        raise ConfigError(f"--provider {cfg.provider!r} takes {want} options, got {got}")
    return cfg.provider_options


def _guarded(where: str, what: str, call: Callable[[], Any]) -> Any:
    """``call()``; a ConfigError passes through, anything else becomes one line."""
    try:
        return call()
    except ConfigError:
        raise
    except Exception as exc:  # a broken plugin is a config problem, not a crash
        raise ConfigError(f"{where}: {what} failed: {type(exc).__name__}: {exc}") from None


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
