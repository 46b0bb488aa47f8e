"""Where prompts come from, and which API key each request uses.

One workload item becomes one request body. Files are read and validated before
the run starts (a bad file is a ConfigError, exit 2); during the run, items are
handed out in order or shuffled per pass, forever, so stop rules alone decide
how many requests are sent. Synthetic prompts are :mod:`llmbench.synthetic`'s, shared
prefixes :mod:`llmbench.prefixes`', a trace's requests :mod:`llmbench.trace`'s.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from llmbench.config import MAX_TOKENS, ConfigError, check_json, unprintable
from llmbench.redaction import SecretPattern, secret_forms
from llmbench.tokens import estimate_tokens

__all__ = [
    "DEFAULT_PROMPT",
    "KeyRing",
    "Prompts",
    "WorkloadItem",
    "check_key",
    "cycle",
    "cycle_items",
    "load_keys",
    "load_prompts",
    "strip_line_ending",
]

T = TypeVar("T")
DEFAULT_PROMPT = "Explain in a few sentences why the sky is blue."


@dataclass(frozen=True, slots=True)
class WorkloadItem:
    """One request's content. ``messages`` wins over ``prompt`` for chat APIs."""

    prompt: str
    messages: tuple[Mapping[str, Any], ...] | None = None
    max_tokens: int | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    # Its index in the prompt source (a file's prompts in file order, or the n-th
    # synthetic prompt): results.jsonl's ``prompt_id`` with --save-detailed.
    prompt_id: int | None = None
    # A session's turn (llmbench.sessions): its session and turn numbers (from 1), and
    # the conversation a server keeps the history of (Dify's conversation_id).
    session: int | None = None
    turn: int | None = None
    conversation_id: str | None = None
    # --prefix-groups: which shared prefix the prompt starts with (llmbench.prefixes), and
    # whether no earlier request of the run sends it.
    prefix_group: int | None = None
    prefix_first: bool | None = None

    def chat_messages(self) -> list[Mapping[str, Any]]:
        if self.messages is not None:
            return list(self.messages)
        return [{"role": "user", "content": self.prompt}]


def cycle_items(items: Sequence[WorkloadItem], order: str, seed: int) -> Iterator[WorkloadItem]:
    """The items forever, each with its index in the file (``prompt_id``)."""
    return cycle([replace(item, prompt_id=i) for i, item in enumerate(items)], order, seed)


def cycle(pool: list[T], order: str, seed: int) -> Iterator[T]:
    """``pool`` forever: in its order, or reshuffled (seeded) on every pass (``order``
    "shuffle"); a file's prompts and its sessions are handed out so."""
    rng = random.Random(seed)
    while True:
        if order == "shuffle":
            rng.shuffle(pool)
        yield from pool


# -- prompt files --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompts:
    """A prompts file's items, and what the console should say about entries it skipped
    ("" when none were)."""

    items: tuple[WorkloadItem, ...]
    note: str = ""


def load_prompts(path: Path) -> Prompts:
    """Read .txt (one prompt per line), .jsonl or ShareGPT .json; ConfigError if unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--prompts-file {path}: cannot read it ({exc})") from None
    loader = {".jsonl": _load_jsonl, ".json": _load_sharegpt}.get(path.suffix.lower(), _load_txt)
    prompts = loader(text, path)
    if not prompts.items:
        why = f": {prompts.note.removeprefix('prompts: ')}" if prompts.note else ""
        raise ConfigError(f"--prompts-file {path}: no prompts in it{why}")
    return prompts


def _load_txt(text: str, path: Path) -> Prompts:
    return Prompts(tuple(WorkloadItem(prompt=line) for line in _lines(text) if line.strip()))


def _lines(text: str) -> list[str]:
    """A file's lines, split on LF (CRLF too) only: str.splitlines() also splits on
    U+2028, U+0085, VT, FF, ..., which a prompt (and a JSON string) may hold as they are."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _load_jsonl(text: str, path: Path) -> Prompts:
    items = []
    for number, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"--prompts-file {path}:{number}: invalid JSON ({exc})") from None
        items.append(_jsonl_item(obj, f"{path}:{number}"))
    return Prompts(tuple(items))


def _jsonl_item(obj: Any, where: str) -> WorkloadItem:
    if not isinstance(obj, dict) or not ("prompt" in obj or "messages" in obj):
        raise ConfigError(f"--prompts-file {where}: needs a 'prompt' or 'messages' field")
    check_json(obj, f"--prompts-file {where}")
    extra = {k: v for k, v in obj.items() if k not in ("prompt", "messages", "max_tokens")}
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (
        type(max_tokens) is not int or not 1 <= max_tokens <= MAX_TOKENS
    ):
        raise ConfigError(
            f"--prompts-file {where}: max_tokens must be an integer in 1..{MAX_TOKENS}"
        )
    messages = obj.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ConfigError(f"--prompts-file {where}: messages must be a list of objects")
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        return WorkloadItem(prompt, tuple(messages), max_tokens, extra)
    if not isinstance(obj["prompt"], str):
        raise ConfigError(f"--prompts-file {where}: prompt must be a string")
    return WorkloadItem(obj["prompt"], None, max_tokens, extra)


def _load_sharegpt(text: str, path: Path) -> Prompts:
    """ShareGPT: the first human turn is the prompt; the reply's length (estimated
    tokens) is the output-length hint, as vLLM's benchmark uses it. A conversation with
    no reply after that turn gives no hint, so it is skipped and counted (vLLM drops
    conversations of fewer than two turns), as are entries with no human turn."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"--prompts-file {path}: invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ConfigError(f"--prompts-file {path}: expected a ShareGPT list of conversations")
    items: list[WorkloadItem] = []
    no_reply = 0
    for number, convo in enumerate(data, 1):
        turns = convo.get("conversations") if isinstance(convo, dict) else None
        prompt, hint = _sharegpt_pair(turns) if isinstance(turns, list) else (None, 0)
        if prompt is not None:  # text every writer can send (no lone surrogate)
            check_json(prompt, f"--prompts-file {path} entry {number}")
        if prompt is not None and hint:
            items.append(WorkloadItem(prompt, max_tokens=hint))
        elif prompt is not None:
            no_reply += 1
    if len(items) == len(data):
        return Prompts(tuple(items))
    unusable = len(data) - len(items) - no_reply
    why = [f"{no_reply:,} had no reply"] if no_reply else []
    why += [f"{unusable:,} had no human turn"] if unusable else []
    note = f"prompts: {len(items):,} of {len(data):,} ShareGPT entries ({', '.join(why)})"
    return Prompts(tuple(items), note)


def _sharegpt_pair(turns: list[Any]) -> tuple[str | None, int]:
    """The first human turn's text and its reply's estimated tokens (0: no reply)."""
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and turn.get("from") == "human" and turn.get("value"):
            reply = turns[i + 1] if i + 1 < len(turns) else None
            text = str(reply.get("value") or "") if isinstance(reply, dict) else ""
            return str(turn["value"]), estimate_tokens(text) if text else 0
    return None, 0


# -- API keys --------------------------------------------------------------------


def strip_line_ending(text: str) -> str:
    """``text`` without one trailing line ending: ``\\r\\n``, ``\\n``, or a lone ``\\r``
    (what sourcing a CRLF ``.env`` file leaves in a variable). One only: whatever
    else is left is the key's, and a control character in it is refused."""
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def check_key(key: str, where: str) -> None:
    """An API key goes into a header as it is: printable ASCII only (a CR or LF would
    inject headers, and httpx's error would then echo the key). The message names
    ``where`` the key came from and what is wrong, never the key."""
    problem = unprintable(key)
    if problem is not None:
        raise ConfigError(f"{where}: the key contains {problem}; keys must be printable ASCII")
    if len(key) > MAX_KEY_CHARS:
        raise ConfigError(f"{where}: the key is {len(key):,} characters; at most {MAX_KEY_CHARS:,}")


# Real API keys are tens to a few hundred characters (JWTs ~1-2 KB); a longer "key" is a
# wrong file, and each key's redaction pattern grows with its length.
MAX_KEY_CHARS = 8192


def load_keys(path: Path) -> list[str]:
    """One key per line (blank lines and # comments skipped); ConfigError if none or
    one is not printable ASCII. Lines end in LF or CRLF; a UTF-8 BOM is ignored."""
    try:  # bytes, then decoded: text mode would turn a lone CR into a line break
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"--api-key-file {path}: cannot read it ({exc.__class__.__name__})"
        ) from None
    keys = []
    # split on LF only: str.splitlines() also splits on VT, FF, NEL, ..., which would
    # cut a key in two instead of refusing it
    for number, line in enumerate(text.split("\n"), 1):
        key = line.removesuffix("\r").strip(" ")
        if key and not key.startswith("#"):
            check_key(key, f"--api-key-file {path} line {number}")
            keys.append(key)
    if not keys:
        raise ConfigError(f"--api-key-file {path}: no keys in it")
    return keys


class KeyRing:
    """API keys used round-robin; results record the index, never the key.

    It also knows the run's other credentials (``secrets``: secret -H header values,
    the URL's password), so :meth:`redact` scrubs everything a server might echo or a
    file might carry: each secret as written and in its common encodings (JSON
    ``\\u`` escapes, URL encoding, base64 as in Basic auth; see
    :class:`llmbench.redaction.SecretPattern`)."""

    def __init__(self, keys: Sequence[str], secrets: Sequence[str] = ()) -> None:
        for key in keys:
            check_key(key, "an API key")
        self._keys = list(keys)
        self._next = 0
        self._pattern = SecretPattern([f for s in (*keys, *secrets) for f in secret_forms(s)])

    def next(self) -> tuple[int | None, str | None]:
        if not self._keys:
            return None, None
        index = self._next
        self._next = (index + 1) % len(self._keys)
        return index, self._keys[index]

    def at(self, position: int) -> tuple[int | None, str | None]:
        """The key the run's ``position``-th request uses (a shard's request takes the
        key the single-process run gives it: position mod the number of keys)."""
        if not self._keys:
            return None, None
        index = position % len(self._keys)
        return index, self._keys[index]

    def redact(self, text: str) -> str:
        """``text`` with every key and secret replaced: for what a server might echo."""
        return self._pattern.redact(text)

    def redact_tree(self, obj: Any) -> Any:
        """Every string in a JSON-like tree (dict keys too) passed through :meth:`redact`."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact_tree(k): self.redact_tree(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_tree(v) for v in obj]
        return obj
