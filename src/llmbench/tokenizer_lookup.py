"""Where ``--tokenizer`` finds its tokenizer.json. Pure: the environment, the home
directory and a filesystem probe come in as arguments; a path, or one ConfigError
line saying what was looked for where, comes out.

``--tokenizer SPEC`` is, first match wins:

1. a tokenizer.json file (any file name);
2. a directory holding a ``tokenizer.json`` (a model checkout, ``hf download --local-dir``);
3. a model id (``Org/Name`` or ``Name``) in the local Hugging Face cache, offline:
   nothing is ever downloaded, and huggingface_hub is not imported (it would be a
   dependency for one directory walk, and its lookups may go online).

The cache layout is Hugging Face's documented one (https://huggingface.co/docs/hub/local-cache,
"a reference for reimplementing the cache system in any language")::

    <cache>/models--<org>--<name>/refs/main                          commit hash of "main"
    <cache>/models--<org>--<name>/snapshots/<commit>/tokenizer.json  (a link into blobs/)

``<cache>`` is ``$HF_HUB_CACHE`` (or its legacy name ``$HUGGINGFACE_HUB_CACHE``), else
``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
``~/.cache/huggingface/hub``: the order of huggingface_hub's ``constants.py``. The
snapshot ``refs/main`` names wins; else the most recently modified snapshot that has a
tokenizer.json (a cache filled with ``--revision`` only has no ``refs/main``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from llmbench.config import ConfigError

__all__ = ["TOKENIZER_FILE", "FileProbe", "hf_cache_dir", "resolve_tokenizer"]

TOKENIZER_FILE = "tokenizer.json"

# A Hub repo id: "name" or "org/name", each part starting with a letter, digit or "_"
# (so "./x", "../x" and absolute paths are never taken for one).
_MODEL_ID = re.compile(r"(?:\w[\w.-]*/)?\w[\w.-]*")
# What refs/main may hold to be used as a directory name: a commit hash in practice.
_REVISION = re.compile(r"\w[\w.-]*")


class FileProbe(Protocol):
    """The few filesystem questions the lookup asks (``tokens.local_files`` answers
    them from the disk; tests may answer from a dict). None of them raises."""

    def has_file(self, path: Path) -> bool:
        """Whether ``path`` is a readable regular file (a link to one counts)."""
        ...

    def has_dir(self, path: Path) -> bool:
        """Whether ``path`` is a directory."""
        ...

    def small_text(self, path: Path) -> str | None:
        """The start of a small text file (``refs/main``), or None when unreadable."""
        ...

    def subdirs(self, path: Path) -> list[tuple[str, float]]:
        """``(name, modification time)`` of each directory in ``path``; [] if none."""
        ...


def hf_cache_dir(environ: Mapping[str, str], home: Path) -> Path:
    """The Hugging Face hub cache this environment points at (see the module doc)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(name):
            return _expand(environ[name], home)
    if environ.get("HF_HOME"):
        return _expand(environ["HF_HOME"], home) / "hub"
    xdg = environ.get("XDG_CACHE_HOME")
    return (_expand(xdg, home) if xdg else home / ".cache") / "huggingface" / "hub"


def resolve_tokenizer(spec: str, environ: Mapping[str, str], home: Path, probe: FileProbe) -> Path:
    """The tokenizer.json ``--tokenizer spec`` means; ConfigError when there is none."""
    path = _expand(spec, home)
    if probe.has_file(path):
        return path
    is_dir = probe.has_dir(path)
    if is_dir and probe.has_file(path / TOKENIZER_FILE):
        return path / TOKENIZER_FILE
    if not _MODEL_ID.fullmatch(spec) or spec.endswith(".json"):  # a path, not a model
        what = "the directory has no tokenizer.json" if is_dir else "no such file or directory"
        raise ConfigError(f"--tokenizer {spec}: {what}")
    cache = hf_cache_dir(environ, home)
    repo = cache / ("models--" + spec.replace("/", "--"))
    found = _in_snapshot(repo, probe)
    if found is not None:
        return found
    download = f"(offline; download it with `hf download {spec} {TOKENIZER_FILE}`)"
    if probe.has_dir(repo):
        raise ConfigError(
            f"--tokenizer {spec}: the Hugging Face cache at {cache} has {spec} "
            f"but no {TOKENIZER_FILE} in it {download}"
        )
    raise ConfigError(
        f"--tokenizer {spec}: no {TOKENIZER_FILE} as a file, in a directory, or in the "
        f"Hugging Face cache at {cache} {download}"
    )


def _in_snapshot(repo: Path, probe: FileProbe) -> Path | None:
    """The repo's tokenizer.json: in the snapshot of ``refs/main``, else in the newest."""
    snapshots = repo / "snapshots"
    main = (probe.small_text(repo / "refs" / "main") or "").strip()
    if _REVISION.fullmatch(main):
        candidate = snapshots / main / TOKENIZER_FILE
        if probe.has_file(candidate):
            return candidate
    for name, _ in sorted(probe.subdirs(snapshots), key=lambda e: (e[1], e[0]), reverse=True):
        candidate = snapshots / name / TOKENIZER_FILE
        if probe.has_file(candidate):
            return candidate
    return None


def _expand(value: str, home: Path) -> Path:
    """``value`` as a path, with a leading ``~`` meaning ``home`` (as huggingface_hub's
    ``expanduser`` reads its variables, and as a quoted ``--tokenizer '~/x'`` means)."""
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value)
