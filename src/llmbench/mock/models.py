"""Which models the mock serves: the `GET /v1/models` list, and the 404 an OpenAI-compatible
request naming another model gets, written from vLLM's OpenAI server.

vLLM (`vllm/entrypoints/openai/engine/serving.py`, `OpenAIServing._check_model` and
`create_error_response`; the shapes in `engine/protocol.py`, `ErrorResponse`/`ErrorInfo`
and `ModelCard`/`ModelList`) serves the names of `--served-model-name` (one or more),
lists each as a model card, accepts a request whose `model` is absent or empty (it then
uses the first name), and answers any other name with HTTP 404 and

    {"error": {"message": "The model `X` does not exist.", "type": "NotFoundError",
               "param": "model", "code": 404}}

(vLLM before the `ErrorInfo` change sent the same fields flat, with `"object": "error"`;
the nested form is OpenAI's own and what the mock's other errors use).

`llmbench mock --model NAME` (repeatable) does the same for the OpenAI family's routes.
Without it the mock lists `llmbench-mock` and accepts any name, echoing it back, so a
benchmark's `--model` never has to match the mock's. Other families keep their own
rules (Dify's app picks the model; DashScope and Ollama require one but the mock does
not check which).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmbench.mock.formats_base import DEFAULT_MODEL

__all__ = ["CHECKED_FAMILIES", "ServedModels", "not_found_message"]

# The API families whose requests are checked against --model: the OpenAI-compatible
# ones, whose `model` field vLLM checks.
CHECKED_FAMILIES = frozenset({"openai"})
# What vLLM reports as the context length when the model card has one; a constant here.
_MAX_MODEL_LEN = 131072


def not_found_message(model: str) -> str:
    """vLLM's words for a model it does not serve."""
    return f"The model `{model}` does not exist."


@dataclass(frozen=True, slots=True)
class ServedModels:
    """The names `--model` gave (none: list the default, accept every name)."""

    names: tuple[str, ...] = ()

    @property
    def default(self) -> str:
        """The name a request without `model` is answered as."""
        return self.names[0] if self.names else DEFAULT_MODEL

    def accepts(self, family: str, model: str) -> bool:
        """Whether a request of `family` naming `model` ("" when it named none) is served."""
        return not self.names or not model or family not in CHECKED_FAMILIES or model in self.names

    def listing(self, created: int) -> dict[str, object]:
        """`GET /v1/models`: an OpenAI model list with one card per served name."""
        cards = [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "llmbench-mock",
                "root": name,
                "parent": None,
                "max_model_len": _MAX_MODEL_LEN,
            }
            for name in self.names or (DEFAULT_MODEL,)
        ]
        return {"object": "list", "data": cards}
