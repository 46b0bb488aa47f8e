"""Token counting modes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmbench.config import ConfigError, RunConfig
from llmbench.prompt_text import TokenizerText, WordText
from llmbench.tokens import (
    TokenPolicy,
    count_input,
    count_output,
    counts_true_tokens,
    estimate_tokens,
    load_codec,
    load_tokenizer,
    prompt_text_for,
    run_token_unit,
    unit_label,
)


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("", 0),
        ("hello world", 2),
        ("你好世界", 4),
        ("hello 世界 again", 4),
        ("  spaced\tout\nwords ", 3),
        ("こんにちは", 5),
    ],
)
def test_estimate_is_cjk_characters_plus_words(text: str, n: int) -> None:
    assert estimate_tokens(text) == n


@pytest.mark.parametrize(
    ("mode", "usage", "expected"),
    [
        ("auto", 7, (7, "usage")),
        ("auto", None, (11, "chars")),
        ("usage", 7, (7, "usage")),
        ("usage", None, (None, "none")),
        ("chars", 7, (11, "chars")),
        ("estimate", 7, (2, "estimate")),
        ("disabled", 7, (None, "disabled")),
    ],
)
def test_count_output_modes(mode: str, usage: int | None, expected: tuple[int | None, str]) -> None:
    assert count_output(mode, usage, "hello world", 11, None) == expected


def test_tokenizer_mode_uses_the_counter() -> None:
    def counter(text: str) -> int:
        return len(text)

    assert count_output("tokenizer", 99, "abc", 3, counter) == (3, "tokenizer")
    assert count_input("tokenizer", 99, "abcd", counter) == 4


def test_count_input_modes() -> None:
    assert count_input("auto", 12, "a b", None) == 12
    assert count_input("auto", None, "a b", None) == 3
    assert count_input("usage", None, "a b", None) is None
    assert count_input("estimate", None, "a b", None) == 2
    assert count_input("disabled", 5, "a b", None) is None


def test_labels() -> None:
    assert unit_label("chars") == "chars"
    assert TokenPolicy("chars").unit == "chars"
    assert TokenPolicy("auto").unit == "tokens"
    assert TokenPolicy("estimate").keeps_text
    assert not TokenPolicy("auto").keeps_text


def _tiny_tokenizer(path: Path) -> Path:
    """A real tokenizer.json, built here: three words, split on whitespace."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({"hello": 0, "world": 1, "[UNK]": 2}, unk_token="[UNK]")
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def test_tokenizer_from_a_file(tmp_path: Path) -> None:
    count = load_tokenizer(_tiny_tokenizer(tmp_path / "tok.json"), {}, tmp_path)
    assert count("hello world hello") == 3


def test_tokenizer_from_a_directory(tmp_path: Path) -> None:
    _tiny_tokenizer(tmp_path / "model" / "tokenizer.json")
    assert load_tokenizer(tmp_path / "model", {}, tmp_path)("hello there") == 2


def test_tokenizer_from_the_hugging_face_cache_by_model_id(tmp_path: Path) -> None:
    snap = tmp_path / "hf" / "hub" / "models--Org--Tiny" / "snapshots" / ("0" * 40)
    _tiny_tokenizer(snap / "tokenizer.json")
    count = load_tokenizer("Org/Tiny", {"HF_HOME": str(tmp_path / "hf")}, tmp_path)
    assert count("world world") == 2


def test_tokenizer_not_found_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--tokenizer Org/None: no tokenizer.json .* cache at "):
        load_tokenizer("Org/None", {"HF_HUB_CACHE": str(tmp_path)}, tmp_path)


def test_a_file_that_is_not_a_tokenizer(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"^--tokenizer /\S+ \(/\S+/tokenizer.json\): not a "):
        load_tokenizer(tmp_path, {}, tmp_path)


def test_without_the_tokenizers_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'llmbench\[tokenizer\]'"):
        load_tokenizer(tmp_path / "tokenizer.json", {}, tmp_path)


# -- the unit follows what was counted (issue 13, item 1) ------------------------------


@pytest.mark.parametrize(
    ("sources", "mode", "unit"),
    [
        ({"usage": 4}, "auto", ("tokens", False)),
        ({"tokenizer": 4, "usage": 2}, "tokenizer", ("tokens", False)),
        ({"chars": 4}, "auto", ("chars", False)),  # no usage came: characters, said so
        ({"usage": 3, "chars": 1}, "auto", ("mixed", True)),
        ({"estimate": 2}, "estimate", ("estimated tokens", False)),
        ({"none": 2}, "usage", ("tokens", False)),
        ({}, "chars", ("chars", False)),
    ],
)
def test_the_run_unit_is_what_was_counted(
    sources: dict[str, int], mode: str, unit: tuple[str, bool]
) -> None:
    assert run_token_unit(sources, mode) == unit


def test_only_usage_or_a_tokenizer_count_true_tokens() -> None:
    assert counts_true_tokens("auto", tokenizer=False, usage_requested=True)
    assert not counts_true_tokens("auto", tokenizer=False, usage_requested=False)  # --no-usage
    assert counts_true_tokens("tokenizer", tokenizer=True, usage_requested=False)
    assert not counts_true_tokens("chars", tokenizer=True, usage_requested=True)
    assert not counts_true_tokens("estimate", tokenizer=False, usage_requested=True)


# -- the encode/decode pair behind exact prompt lengths (issue 16) ------------------------


def _with_bos_and_truncation(path: Path) -> Path:
    """A word-level tokenizer.json whose post-processor adds a BOS, saved with a
    truncation of 4 tokens: neither may change what a text counts."""
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[BOS]": 0, "[UNK]": 1, "hello": 2, "world": 3}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", 0)]
    )
    tok.enable_truncation(max_length=4)
    tok.save(str(path))
    return path


def test_counts_leave_out_special_tokens_and_ignore_a_saved_truncation(tmp_path: Path) -> None:
    path = _with_bos_and_truncation(tmp_path / "tokenizer.json")
    encode, decode = load_codec(path, {}, tmp_path)
    assert encode("hello world") == [2, 3]  # no [BOS]: add_special_tokens=False
    assert len(encode(" ".join(["hello"] * 50))) == 50  # not cut at 4
    assert decode([2, 3]) == "hello world"
    assert load_tokenizer(path, {}, tmp_path)("hello " * 9) == 9


def test_a_tokenizer_file_is_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    path = _tiny_tokenizer(tmp_path / "once.json")
    loads: list[str] = []
    real = tokenizers.Tokenizer.from_file

    def from_file(name: str) -> object:
        loads.append(name)
        return real(name)

    monkeypatch.setattr(tokenizers.Tokenizer, "from_file", from_file)
    load_tokenizer(path, {}, tmp_path)
    load_codec(path, {}, tmp_path)
    assert loads == [str(path)]  # the run's counter and its prompts share one


def test_prompt_text_for_the_tokenizer_flag(tmp_path: Path) -> None:
    assert isinstance(prompt_text_for(None), WordText)
    text = prompt_text_for(_tiny_tokenizer(tmp_path / "tok.json"))
    assert isinstance(text, TokenizerText)
    assert text.count("hello world hello") == 3
    with pytest.raises(ConfigError, match=r"^--tokenizer \S+missing\.json: no such file"):
        prompt_text_for(tmp_path / "missing.json")


def test_a_broken_tokenizer_file_is_one_line_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    path = tmp_path / "broken.json"
    path.write_text('{"model": {"type": "BPE", "vocab": 3}}')
    with pytest.raises(ConfigError, match=rf"^--tokenizer {path}: not a tokenizer.json \(") as info:
        prompt_text_for(path)
    assert "\n" not in str(info.value)


def test_the_tokenizer_alone_is_accepted_and_token_mode_tokenizer_needs_it() -> None:
    url = "http://127.0.0.1:9"
    assert RunConfig(url=url, tokenizer=Path("t.json")).token_mode == "auto"
    with pytest.raises(ConfigError, match=r"^--token-mode tokenizer needs --tokenizer PATH"):
        RunConfig(url=url, token_mode="tokenizer")
