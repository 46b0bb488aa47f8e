"""Tiny real tokenizers, built by the tests with the `tokenizers` library (no download),
for the exact-length tests (issue 16): one where every word of the prompt word list is
one token, and a byte-level BPE with no pre-tokenizer split, trained so that most
words are several tokens and tokens run across the spaces between words (a cut of its
ids can then re-encode to another count: what the fitting must cope with)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from llmbench.prompt_text import WORDS, TokenizerText
from llmbench.tokens import load_codec

__all__ = ["merging_bpe", "mute", "text_of", "word_level"]

# Enough merges for frequent pairs (and pairs across a space), too few for whole words.
_BPE_VOCAB = 420


def word_level(path: Path) -> Path:
    """A tokenizer.json whose vocabulary is the word list: a word, a token."""
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {word: i for i, word in enumerate(WORDS)} | {"[UNK]": len(WORDS)}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def mute(path: Path) -> Path:
    """A tokenizer that loads but can make no text: its normalizer drops every letter,
    so every word encodes to nothing (a broken tokenizer.json)."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.normalizer = tokenizers.normalizers.Replace(tokenizers.Regex("[a-z]"), "")
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def merging_bpe(path: Path) -> Path:
    """A byte-level BPE without the usual split at spaces (``use_regex=False``): whole
    sentences are its words, so merges such as ``e`` + ``Ġ`` join words."""
    tokenizers = pytest.importorskip("tokenizers")
    byte_level = tokenizers.pre_tokenizers.ByteLevel
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = byte_level(add_prefix_space=False, use_regex=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=_BPE_VOCAB, initial_alphabet=byte_level.alphabet(), show_progress=False
    )
    rng = random.Random(0)
    corpus = [" ".join(rng.choices(WORDS, k=8)) for _ in range(3000)]
    tok.train_from_iterator(corpus, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def text_of(path: Path) -> TokenizerText:
    """The exact-length text maker over the tokenizer in ``path``."""
    return TokenizerText(*load_codec(path, {}, path.parent))
