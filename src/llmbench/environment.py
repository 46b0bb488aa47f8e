"""What a run needs of this machine, read at the edge: proxies and API keys from the
environment, output paths and optional packages from the filesystem, and the
:class:`~llmbench.providers.base.OptionSources` that provider options read files and
variables through.

The pure modules (``config``, ``providers``, the parsers) read none of this
themselves; the CLI/app layer calls these functions and hands the values in.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from llmbench.config import ConfigError, RunConfig
from llmbench.providers.base import OptionSources
from llmbench.workload import check_key, strip_line_ending

__all__ = [
    "check_environment",
    "check_junit",
    "check_out_dir",
    "env_api_keys",
    "local_sources",
    "make_output_parents",
    "proxy_for",
]

# Where a key comes from when no --api-key/--api-key-file is given, first set wins.
_KEY_VARIABLES = ("LLMBENCH_API_KEY", "OPENAI_API_KEY")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def local_sources(environ: Mapping[str, str] | None = None) -> OptionSources:
    """This process's environment (or ``environ``) and its files, for provider options."""
    return OptionSources(environ=os.environ if environ is None else environ, read_file=_read_text)


def env_api_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """LLMBENCH_API_KEY, then OPENAI_API_KEY: the first one set, without one trailing
    line ending (a variable sourced from a CRLF ``.env`` file ends in CR); ConfigError
    naming the variable if the key is not printable ASCII."""
    env = os.environ if environ is None else environ
    for name in _KEY_VARIABLES:
        key = strip_line_ending(env.get(name, ""))
        if key:
            check_key(key, name)
            return [key]
    return []


def proxy_for(url: str) -> str | None:
    """The proxy the environment routes ``url`` through, as httpx reads it:
    ``<SCHEME>_PROXY``, else ``ALL_PROXY``, unless ``NO_PROXY`` names the host."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def check_out_dir(out: Path) -> None:
    """--out must be a directory we can make: not a file, not under one."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    for parent in out.parents:
        if parent.exists():
            _require(parent.is_dir(), f"--out {out}: {parent} is a file, not a directory")
            break


def check_junit(junit: Path) -> None:
    """A file we can create: not a directory, not under a regular file. A missing
    directory is fine (``--junit "$RUN_DIR/junit.xml"`` before the run made it): the run
    creates it when it starts (:func:`make_output_parents`)."""
    _require(not junit.is_dir(), f"--junit {junit}: is a directory; give a file path")
    parent = next((p for p in junit.resolve().parents if p.exists()), None)
    _require(
        parent is None or parent.is_dir(), f"--junit {junit}: {parent} is a file, not a directory"
    )


def make_output_parents(paths: Mapping[str, str | None]) -> None:
    """Create the directories of the output files (flag -> path, None when not asked
    for) as the run starts, so a path that cannot be made fails before any request."""
    for flag, text in paths.items():
        if not text:
            continue
        parent = Path(text).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{flag} {text}: cannot create {parent}: {exc.strerror}") from None


def check_environment(cfg: RunConfig, junit: Path | None = None) -> None:
    """What a config needs of this machine (output paths, optional packages), checked
    before the run dir is made, so a bad one leaves nothing behind."""
    if cfg.out_dir is not None:
        check_out_dir(cfg.out_dir)
    if junit is not None:
        check_junit(junit)
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
