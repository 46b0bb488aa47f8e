"""The names the mock serves (llmbench.mock.models) and its --model flag."""

from __future__ import annotations

import argparse

import pytest

from llmbench.mock.models import ServedModels, not_found_message
from llmbench.mock.options import MockOptions, OptionsError, add_arguments, options_from_args


def _options(*argv: str) -> MockOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_model_flag_repeats() -> None:
    assert _options().models == ()
    assert _options("--model", "a", "--model", "b/c").models == ("a", "b/c")


def test_an_empty_model_name_is_refused() -> None:
    with pytest.raises(OptionsError, match=r"^--model must name a model, got ' '$"):
        _options("--model", " ")


def test_without_model_everything_is_served_as_the_default() -> None:
    served = ServedModels()
    assert served.default == "llmbench-mock"
    assert served.accepts("openai", "anything")
    listing = served.listing(created=5)
    assert listing["object"] == "list"
    assert listing["data"] == [
        {
            "id": "llmbench-mock",
            "object": "model",
            "created": 5,
            "owned_by": "llmbench-mock",
            "root": "llmbench-mock",
            "parent": None,
            "max_model_len": 131072,
        }
    ]


def test_with_model_only_those_names_are_served() -> None:
    served = ServedModels(("qwen", "qwen-lora"))
    assert served.default == "qwen"
    assert [card["id"] for card in served.listing(0)["data"]] == ["qwen", "qwen-lora"]  # type: ignore[index]
    assert served.accepts("openai", "qwen-lora")
    assert not served.accepts("openai", "llama")
    assert served.accepts("openai", "")  # no model named: vLLM answers as its first name
    assert served.accepts("anthropic", "llama")  # only the OpenAI family is checked


def test_vllms_words() -> None:
    assert not_found_message("gpt-4") == "The model `gpt-4` does not exist."
