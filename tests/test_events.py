"""Tests for llmbench.events: the StreamEvent union a provider decodes into."""

from __future__ import annotations

import dataclasses

import pytest

from llmbench.events import Content, End, Meta, StreamError, Usage


def test_an_end_is_final_unless_the_provider_says_otherwise() -> None:
    """``final=False`` is OpenAI's finish_reason: the clock stops, reading goes on
    (a usage chunk may follow before ``[DONE]``)."""
    assert End("stop").final is True
    assert End().final is True
    assert End("stop", final=False) != End("stop")


@pytest.mark.parametrize(
    "event", [Content("a"), Usage(1, 2), End("x"), StreamError("e"), Meta("ping")]
)
def test_events_are_frozen(event: object) -> None:
    field = dataclasses.fields(event)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, None)
