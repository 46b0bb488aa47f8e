"""Where --tokenizer finds its tokenizer.json (llmbench.tokenizer_lookup): a file, a
directory, or a model id in a Hugging Face cache laid out in a temporary directory as
https://huggingface.co/docs/hub/local-cache describes it (blobs, symlinked snapshots,
refs/main). Nothing here is downloaded, and huggingface_hub is not used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import llmbench.tokenizer_lookup as lookup_module
from llmbench.config import ConfigError
from llmbench.tokenizer_lookup import hf_cache_dir, resolve_tokenizer
from llmbench.tokens import local_files
from test_sans_io import forbidden_import, imported_modules, io_reads, package_of

REPO = "Org/Tiny-Model"
TOKENIZER = '{"version": "1.0"}'


def _resolve(spec: str, home: Path, **environ: str) -> Path:
    return resolve_tokenizer(spec, environ, home, local_files())


def _snapshot(cache: Path, repo: str, rev: str, mtime: float, *, tokenizer: bool = True) -> Path:
    """One snapshot as huggingface_hub writes it: the file in blobs/, a relative
    symlink to it under snapshots/<rev>/."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snap = base / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    if tokenizer:
        blobs = base / "blobs"
        blobs.mkdir(exist_ok=True)
        (blobs / f"sha-{rev}").write_text(TOKENIZER)
        (snap / "tokenizer.json").symlink_to(Path("../../blobs") / f"sha-{rev}")
    os.utime(snap, (mtime, mtime))
    return snap


def _refs_main(cache: Path, repo: str, rev: str) -> None:
    refs = cache / ("models--" + repo.replace("/", "--")) / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(rev)  # huggingface_hub writes the hash without a newline


def test_a_file_is_taken_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "qwen-tokenizer.json"
    path.write_text(TOKENIZER)
    assert _resolve(str(path), tmp_path) == path


def test_a_directory_gives_its_tokenizer_json(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tokenizer.json").write_text(TOKENIZER)
    assert _resolve(str(tmp_path / "model"), tmp_path) == tmp_path / "model" / "tokenizer.json"


def test_a_directory_without_one_is_one_line(tmp_path: Path) -> None:
    expected = r"^--tokenizer /\S+: the directory has no tokenizer\.json$"
    with pytest.raises(ConfigError, match=expected):
        _resolve(str(tmp_path), tmp_path)


@pytest.mark.parametrize(
    "spec", ["/nonexistent-llmbench/tokenizer.json", "tokenizer.json", "./models/x"]
)
def test_a_missing_path_is_one_line(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        _resolve(spec, tmp_path, HF_HUB_CACHE=str(tmp_path))
    assert str(info.value) == f"--tokenizer {spec}: no such file or directory"


def test_refs_main_picks_the_snapshot(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    main = _snapshot(cache, REPO, "a" * 40, mtime=1_000)
    _snapshot(cache, REPO, "b" * 40, mtime=2_000)  # newer, but not what main points at
    _refs_main(cache, REPO, "a" * 40)
    found = _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache))
    assert found == main / "tokenizer.json"
    assert found.read_text() == TOKENIZER  # through the symlink into blobs/


def test_without_refs_main_the_newest_snapshot_with_a_tokenizer_wins(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _snapshot(cache, REPO, "a" * 40, mtime=1_000)
    newer = _snapshot(cache, REPO, "b" * 40, mtime=2_000)
    _snapshot(cache, REPO, "c" * 40, mtime=3_000, tokenizer=False)  # newest, no tokenizer
    assert _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache)) == newer / "tokenizer.json"


def test_refs_main_without_a_tokenizer_falls_back_to_a_snapshot_that_has_one(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "hub"
    other = _snapshot(cache, REPO, "a" * 40, mtime=1_000)
    _snapshot(cache, REPO, "b" * 40, mtime=2_000, tokenizer=False)
    _refs_main(cache, REPO, "b" * 40)
    assert _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache)) == other / "tokenizer.json"


@pytest.mark.parametrize("ref", ["../../../etc", "", "a/b"])
def test_a_strange_refs_main_is_ignored(tmp_path: Path, ref: str) -> None:
    cache = tmp_path / "hub"
    snap = _snapshot(cache, REPO, "a" * 40, mtime=1_000)
    _refs_main(cache, REPO, ref)
    assert _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache)) == snap / "tokenizer.json"


def test_a_model_id_without_an_org(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path / "hub", "gpt2", "a" * 40, mtime=1_000)
    assert _resolve("gpt2", tmp_path, HF_HUB_CACHE=str(tmp_path / "hub")) == snap / "tokenizer.json"


def test_a_dangling_snapshot_link_is_not_a_tokenizer(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    snap = _snapshot(cache, REPO, "a" * 40, mtime=1_000)
    (cache / "models--Org--Tiny-Model" / "blobs" / ("sha-" + "a" * 40)).unlink()
    assert (snap / "tokenizer.json").is_symlink()
    with pytest.raises(ConfigError, match=r"has Org/Tiny-Model but no tokenizer\.json in it"):
        _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache))


def test_a_local_directory_wins_over_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _snapshot(tmp_path / "hub", REPO, "a" * 40, mtime=1_000)
    local = tmp_path / "work" / "Org" / "Tiny-Model"
    local.mkdir(parents=True)
    (local / "tokenizer.json").write_text(TOKENIZER)
    monkeypatch.chdir(tmp_path / "work")
    found = _resolve(REPO, tmp_path, HF_HUB_CACHE=str(tmp_path / "hub"))
    assert found == Path(REPO) / "tokenizer.json"


def test_an_uncached_model_names_what_was_looked_for_where(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    expected = (
        f"--tokenizer Qwen/Qwen2.5-7B: no tokenizer.json as a file, in a directory, or in "
        f"the Hugging Face cache at {cache} (offline; download it with "
        "`hf download Qwen/Qwen2.5-7B tokenizer.json`)"
    )
    with pytest.raises(ConfigError) as info:
        _resolve("Qwen/Qwen2.5-7B", tmp_path, HF_HUB_CACHE=str(cache))
    assert str(info.value) == expected


def test_a_cached_model_without_a_tokenizer_says_so(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _snapshot(cache, REPO, "a" * 40, mtime=1_000, tokenizer=False)
    with pytest.raises(ConfigError, match=r"at \S+/hub has Org/Tiny-Model but no tokenizer"):
        _resolve(REPO, tmp_path, HF_HUB_CACHE=str(cache))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HF_HUB_CACHE": "/c", "HUGGINGFACE_HUB_CACHE": "/l", "HF_HOME": "/h"}, "/c"),
        ({"HUGGINGFACE_HUB_CACHE": "/l", "HF_HOME": "/h"}, "/l"),
        ({"HF_HOME": "/h", "XDG_CACHE_HOME": "/x"}, "/h/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({}, "/home/u/.cache/huggingface/hub"),
        ({"HF_HUB_CACHE": ""}, "/home/u/.cache/huggingface/hub"),
        ({"HF_HOME": "~/hf"}, "/home/u/hf/hub"),
    ],
)
def test_cache_directory_follows_huggingface_hub(environ: dict[str, str], expected: str) -> None:
    assert hf_cache_dir(environ, Path("/home/u")) == Path(expected)


def test_a_tilde_spec_means_home(tmp_path: Path) -> None:
    (tmp_path / "tok.json").write_text(TOKENIZER)
    assert _resolve("~/tok.json", tmp_path) == tmp_path / "tok.json"


class _DictProbe:
    """A filesystem of a few named paths: the resolver asks only these four questions."""

    def __init__(self, files: set[str], dirs: dict[str, list[tuple[str, float]]]) -> None:
        self.files, self.dirs = files, dirs

    def has_file(self, path: Path) -> bool:
        return str(path) in self.files

    def has_dir(self, path: Path) -> bool:
        return str(path) in self.dirs

    def small_text(self, path: Path) -> str | None:
        return None

    def subdirs(self, path: Path) -> list[tuple[str, float]]:
        return self.dirs.get(str(path), [])


def test_the_resolver_touches_nothing_but_its_probe() -> None:
    repo = "/c/models--Org--M"
    probe = _DictProbe(
        files={f"{repo}/snapshots/r1/tokenizer.json", f"{repo}/snapshots/r2/tokenizer.json"},
        dirs={repo: [], f"{repo}/snapshots": [("r1", 5.0), ("r2", 1.0)]},
    )
    found = resolve_tokenizer("Org/M", {"HF_HUB_CACHE": "/c"}, Path("/nowhere"), probe)
    assert found == Path(f"{repo}/snapshots/r1/tokenizer.json")


def test_the_resolver_module_is_sans_io() -> None:
    path = Path(lookup_module.__file__)
    assert io_reads(path) == set()
    assert not [m for m in imported_modules(path, package_of(path)) if forbidden_import(m)]
