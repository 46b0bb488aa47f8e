"""The model list of GET /v1/models, parsed and chosen from (llmbench.discovery's pure
half). The request itself is tested against the real mock in
tests/integration/test_mock.py."""

from __future__ import annotations

import orjson
import pytest

from llmbench.config import ConfigError
from llmbench.discovery import (
    MAX_LISTED,
    MAX_MODEL_ID_CHARS,
    ModelListUnavailable,
    model_ids,
    pick_model,
)

WHERE = "http://h:8000/v1/models"


def _list(*ids: object) -> bytes:
    cards = [{"id": i, "object": "model", "owned_by": "vllm"} for i in ids]
    return orjson.dumps({"object": "list", "data": cards})


def test_one_model_is_the_answer() -> None:
    # vLLM's card, as its ModelList/ModelCard serialize it (engine/protocol.py).
    body = (
        b'{"object":"list","data":[{"id":"Qwen/Qwen2.5-7B-Instruct","object":"model",'
        b'"created":1718000000,"owned_by":"vllm","root":"/models/qwen","parent":null,'
        b'"max_model_len":32768,"permission":[]}]}'
    )
    assert model_ids(body) == ["Qwen/Qwen2.5-7B-Instruct"]
    assert pick_model(model_ids(body), WHERE) == "Qwen/Qwen2.5-7B-Instruct"


def test_several_models_are_listed_by_name() -> None:
    with pytest.raises(ConfigError) as info:
        pick_model(model_ids(_list("a", "b", "c")), WHERE)
    assert str(info.value) == "--model is required: the server lists 3 models: a, b, c"


def test_a_long_list_is_cut() -> None:
    ids = [f"m{i}" for i in range(MAX_LISTED + 5)]
    with pytest.raises(ConfigError, match=r"lists 15 models: m0, m1, .*, m9, and 5 more$"):
        pick_model(ids, WHERE)


def test_repeated_ids_count_once() -> None:
    assert model_ids(_list("a", "a")) == ["a"]


def test_an_empty_list() -> None:
    assert model_ids(_list()) == []
    with pytest.raises(ModelListUnavailable) as info:
        pick_model([], WHERE)
    assert str(info.value) == "GET http://h:8000/v1/models: the server lists no models"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>Not Found</html>", "the answer is not JSON"),
        (b"", "the answer is not JSON"),
        (b'["a"]', 'no "data" array'),
        (b'{"object": "list"}', 'no "data" array'),
        (b'{"data": {"id": "a"}}', 'no "data" array'),
        (b'{"data": ["a"]}', 'a model in the list has no "id"'),
        (b'{"data": [{"name": "a"}]}', 'a model in the list has no "id"'),
        (b'{"data": [{"id": 7}]}', 'a model in the list has no "id"'),
        (b'{"data": [{"id": " "}]}', 'a model in the list has no "id"'),
        (b'{"data": [{"id": "a\\u001b[2Jb"}]}', "holds control characters"),
        (b'{"data": [{"id": "a\\nb"}]}', "holds control characters"),
        (_list("x" * (MAX_MODEL_ID_CHARS + 1)), f"longer than {MAX_MODEL_ID_CHARS} characters"),
    ],
)
def test_a_malformed_answer_says_what_is_wrong(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=f"^{why}|{why}"):
        model_ids(body)
