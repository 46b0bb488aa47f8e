"""Where prompts come from. One workload item becomes one request body."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_PROMPT", "KeyRing", "WorkloadItem", "single_prompt"]

DEFAULT_PROMPT = "Explain in a few sentences why the sky is blue."


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


def single_prompt(prompt: str, max_tokens: int | None) -> Iterator[WorkloadItem]:
    """The same prompt forever: the workload of a plain `--prompt` run."""
    item = WorkloadItem(prompt=prompt, max_tokens=max_tokens)
    while True:
        yield item


class KeyRing:
    """API keys used round-robin; results record the index, never the key."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys
        self._next = 0

    def next(self) -> tuple[int | None, str | None]:
        if not self._keys:
            return None, None
        index = self._next
        self._next = (index + 1) % len(self._keys)
        return index, self._keys[index]
