"""Where prompts come from, and which API key each request uses.

One workload item becomes one request body. Files are read and validated before
the run starts (a bad file is a ConfigError, exit 2); during the run, items are
handed out in order or shuffled per pass, forever, so stop rules alone decide
how many requests are sent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmbench.config import ConfigError
from llmbench.redaction import REDACTED
from llmbench.tokens import estimate_tokens

__all__ = [
    "DEFAULT_PROMPT",
    "KeyRing",
    "WorkloadItem",
    "cycle_items",
    "load_keys",
    "load_prompts",
    "parse_length",
    "synthetic_items",
]

DEFAULT_PROMPT = "Explain in a few sentences why the sky is blue."

# Common English words that are one token each in the GPT, Llama and Qwen
# vocabularies (with their leading space), so N words make about N tokens.
_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their been has when who will "
    "more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made "
    "after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used take "
    "three"
).split()


@dataclass(frozen=True, slots=True)
class WorkloadItem:
    """One request's content. ``messages`` wins over ``prompt`` for chat APIs."""

    prompt: str
    messages: tuple[Mapping[str, Any], ...] | None = None
    max_tokens: int | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    def chat_messages(self) -> list[Mapping[str, Any]]:
        if self.messages is not None:
            return list(self.messages)
        return [{"role": "user", "content": self.prompt}]


def cycle_items(items: Sequence[WorkloadItem], order: str, seed: int) -> Iterator[WorkloadItem]:
    """The items forever: in file order, or reshuffled (seeded) on every pass."""
    rng = random.Random(seed)
    pool = list(items)
    while True:
        if order == "shuffle":
            rng.shuffle(pool)
        yield from pool


# -- prompt files --------------------------------------------------------------


def load_prompts(path: Path) -> list[WorkloadItem]:
    """Read .txt (one prompt per line), .jsonl or ShareGPT .json; ConfigError if unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--prompts-file {path}: cannot read it ({exc})") from None
    loader = {".jsonl": _load_jsonl, ".json": _load_sharegpt}.get(path.suffix.lower(), _load_txt)
    items = loader(text, path)
    if not items:
        raise ConfigError(f"--prompts-file {path}: no prompts in it")
    return items


def _load_txt(text: str, path: Path) -> list[WorkloadItem]:
    return [WorkloadItem(prompt=line) for line in text.splitlines() if line.strip()]


def _load_jsonl(text: str, path: Path) -> list[WorkloadItem]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"--prompts-file {path}:{number}: invalid JSON ({exc})") from None
        items.append(_jsonl_item(obj, f"{path}:{number}"))
    return items


def _jsonl_item(obj: Any, where: str) -> WorkloadItem:
    if not isinstance(obj, dict) or not ("prompt" in obj or "messages" in obj):
        raise ConfigError(f"--prompts-file {where}: needs a 'prompt' or 'messages' field")
    extra = {k: v for k, v in obj.items() if k not in ("prompt", "messages", "max_tokens")}
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ConfigError(f"--prompts-file {where}: max_tokens must be a positive integer")
    messages = obj.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ConfigError(f"--prompts-file {where}: messages must be a list of objects")
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        return WorkloadItem(prompt, tuple(messages), max_tokens, extra)
    return WorkloadItem(str(obj["prompt"]), None, max_tokens, extra)


def _load_sharegpt(text: str, path: Path) -> list[WorkloadItem]:
    """ShareGPT: the first human turn is the prompt; the reply's length (estimated
    tokens) is the output-length hint, as vLLM's benchmark uses it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--prompts-file {path}: invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ConfigError(f"--prompts-file {path}: expected a ShareGPT list of conversations")
    items = []
    for convo in data:
        turns = convo.get("conversations") if isinstance(convo, dict) else None
        if not isinstance(turns, list):
            continue
        for i, turn in enumerate(turns):
            if isinstance(turn, dict) and turn.get("from") == "human" and turn.get("value"):
                reply = turns[i + 1] if i + 1 < len(turns) else None
                hint = (
                    estimate_tokens(str(reply.get("value", ""))) if isinstance(reply, dict) else 0
                )
                items.append(WorkloadItem(str(turn["value"]), max_tokens=hint or None))
                break
    return items


# -- synthetic prompts -----------------------------------------------------------


def parse_length(text: str, flag: str) -> tuple[int, int]:
    """``512`` or ``512:64`` (mean:stddev) to (mean, stddev)."""
    mean_text, _, sd_text = text.partition(":")
    try:
        mean, sd = int(mean_text), int(sd_text or 0)
    except ValueError:
        raise ConfigError(f"{flag} must be N or MEAN:STDDEV, got {text!r}") from None
    if mean < 1 or sd < 0:
        raise ConfigError(f"{flag} needs a mean >= 1 and a stddev >= 0, got {text!r}")
    return mean, sd


def synthetic_items(
    input_tokens: tuple[int, int], output_tokens: int | None, seed: int
) -> Iterator[WorkloadItem]:
    """Prompts of about N tokens from a word list, each different (so no prefix
    cache serves them), lengths drawn from a normal distribution when stddev > 0."""
    rng = random.Random(seed)
    mean, sd = input_tokens
    while True:
        n = max(1, round(rng.gauss(mean, sd))) if sd else mean
        words = rng.choices(_WORDS, k=n)
        yield WorkloadItem(prompt=" ".join(words), max_tokens=output_tokens)


# -- API keys --------------------------------------------------------------------


def load_keys(path: Path) -> list[str]:
    """One key per line (blank lines and # comments skipped); ConfigError if none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"--api-key-file {path}: cannot read it ({exc.__class__.__name__})"
        ) from None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise ConfigError(f"--api-key-file {path}: no keys in it")
    return keys


# Shorter secrets are not redacted: replacing every "ab" in the output would mangle
# it, and a 3-character credential protects nothing anyway.
_MIN_SECRET_CHARS = 4


class KeyRing:
    """API keys used round-robin; results record the index, never the key.

    It also knows the run's other credentials (``secrets``: secret -H header values),
    so :meth:`redact` scrubs everything a server might echo or a file might carry."""

    def __init__(self, keys: Sequence[str], secrets: Sequence[str] = ()) -> None:
        self._keys = list(keys)
        self._next = 0
        found = {s for s in (*keys, *secrets) if len(s) >= _MIN_SECRET_CHARS}
        self._secrets = sorted(found, key=len, reverse=True)  # "Bearer X" before "X"

    def next(self) -> tuple[int | None, str | None]:
        if not self._keys:
            return None, None
        index = self._next
        self._next = (index + 1) % len(self._keys)
        return index, self._keys[index]

    def redact(self, text: str) -> str:
        """``text`` with every key and secret replaced: for what a server might echo."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact_tree(self, obj: Any) -> Any:
        """Every string in a JSON-like tree (dict keys too) passed through :meth:`redact`."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact_tree(k): self.redact_tree(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_tree(v) for v in obj]
        return obj
