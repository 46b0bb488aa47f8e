"""The model to ask for when ``--model`` is absent: ``GET <base>/v1/models`` on an
OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, Ollama's ``/v1``, most
gateways), once, before the run.

The server's one model is the answer. Several models stop the run before a request is
sent, with one :class:`~llmbench.config.ConfigError` line (exit 2) listing them by name
(up to :data:`MAX_LISTED`): guessing would measure the wrong model. A server that gives
no usable list (unreachable, an error status, a body that is not a model list, an empty
list) raises :class:`ModelListUnavailable` saying why: many gateways have no
``/v1/models`` yet serve requests that name no model, so the caller goes on without one
and says so. No traceback, and no credential: the URL is shown without userinfo or
secret query values, and the key and every secret-named header value are scrubbed from
whatever the server said.

:func:`model_ids` and :func:`pick_model` are pure (bytes and names in, a name or a
message out); :func:`discover_model` is the edge call and the one place where httpx's
exceptions become a reason.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import httpx
import orjson

from llmbench.caps import bounded
from llmbench.config import ConfigError
from llmbench.providers.base import Header, bearer, error_text, join_url, merge_headers
from llmbench.redaction import REDACTED, redact_url, secret_values

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_LISTED",
    "MAX_MODEL_ID_CHARS",
    "MODELS_PATH",
    "ModelListUnavailable",
    "discover_model",
    "model_ids",
    "pick_model",
]

MODELS_PATH = "/v1/models"
# Model names shown when a server lists several: enough to pick from, still one line.
MAX_LISTED = 10
# The longest model id taken from a server: Hugging Face ids and local paths are far
# shorter; anything longer is not a name.
MAX_MODEL_ID_CHARS = 1024
# One small GET before the run: a server that cannot list its models in 10 s will not
# serve a benchmark either, and the user is waiting.
DEFAULT_TIMEOUT_S = 10.0
# A model list is a few KiB (vLLM: one card per served name and LoRA adapter); gateways
# that list hundreds of models with descriptions stay under a few MiB. A larger body is
# not a list worth reading.
_MAX_BODY_BYTES = 8 * 1024 * 1024
# What a failure shows of its reason (an error body's message, not a page of HTML).
_MAX_SHOWN_BYTES = 300
# Read past what is shown: a key that starts inside the shown part ends inside what is
# read, so it is scrubbed whole before the cut (as error_body.SECRET_ROOM).
_SECRET_ROOM = 4096
_REQUIRED = "--model is required"


class ModelListUnavailable(Exception):
    """The server gave no usable model list; the message says why (one line, scrubbed)."""


class _Failed(Exception):
    """Why the model list could not be had (one line, not yet scrubbed)."""


def model_ids(body: bytes) -> list[str]:
    """The model ids of an OpenAI model list, ``{"object": "list", "data": [{"id": ...}]}``,
    in the server's order without repeats; ValueError saying what is wrong otherwise."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("the answer is not JSON") from None
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        raise ValueError('the answer is not an OpenAI model list (no "data" array)')
    ids: list[str] = []
    for card in data:
        model = card.get("id") if isinstance(card, dict) else None
        if not isinstance(model, str) or not model.strip():
            raise ValueError('a model in the list has no "id"')
        if len(model) > MAX_MODEL_ID_CHARS or not model.isprintable():
            # It is printed and sent in every request: no terminal escapes, no megabytes.
            raise ValueError(
                f"a model id is longer than {MAX_MODEL_ID_CHARS} characters "
                "or holds control characters"
            )
        if model not in ids:
            ids.append(model)
    return ids


def pick_model(ids: Sequence[str], where: str) -> str:
    """The only model of ``ids`` (listed at ``where``); ConfigError for several,
    ModelListUnavailable for none."""
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise ModelListUnavailable(f"GET {where}: the server lists no models")
    shown = ", ".join(ids[:MAX_LISTED])
    if len(ids) > MAX_LISTED:
        shown += f", and {len(ids) - MAX_LISTED} more"
    raise ConfigError(f"{_REQUIRED}: the server lists {len(ids)} models: {shown}")


def discover_model(
    base_url: str,
    headers: Sequence[Header] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    *,
    api_key: str | None = None,
    trust_env: bool = False,
) -> str:
    """The one model the server at ``base_url`` (``--url``) lists at ``/v1/models``.

    ``headers`` are the run's ``-H`` headers; ``api_key``, when given, is sent as
    ``Authorization: Bearer`` (a ``-H Authorization`` wins, as in the run). ``ssl_context``
    is the run's (None: system CAs). ``trust_env`` lets httpx take proxies and CA
    variables from the environment: pass True when the run itself goes through httpx
    with them. Raises ConfigError when the server lists several models and
    ModelListUnavailable when it gives no usable list, each with one line."""
    url = join_url(base_url, MODELS_PATH, None)
    where = redact_url(url)
    sent = merge_headers(bearer(api_key), headers)
    secrets = [api_key or "", *secret_values(sent)]
    try:
        ids = model_ids(_get(url, sent, timeout_s, ssl_context, trust_env))
    except (_Failed, ValueError) as exc:
        reason = bounded(_scrub(str(exc), secrets), _MAX_SHOWN_BYTES)
        raise ModelListUnavailable(_scrub(f"GET {where} failed: {reason}", secrets)) from None
    try:
        return pick_model(ids, where)
    except ModelListUnavailable as exc:
        raise ModelListUnavailable(_scrub(str(exc), secrets)) from None
    except ConfigError as exc:
        raise ConfigError(_scrub(str(exc), secrets)) from None


def _get(
    url: str,
    headers: Sequence[Header],
    timeout_s: float,
    ssl_context: ssl.SSLContext | None,
    trust_env: bool,
) -> bytes:
    """The body of a 200 answer; _Failed naming anything else (httpx's errors included)."""
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    try:
        with (
            httpx.Client(timeout=timeout_s, verify=verify, trust_env=trust_env) as client,
            client.stream("GET", url, headers=list(headers)) as response,
        ):
            status = response.status_code
            limit = _MAX_BODY_BYTES if status == 200 else _MAX_SHOWN_BYTES + _SECRET_ROOM
            body, cut = _read(response, limit)
    except httpx.TimeoutException:
        raise _Failed(f"no answer within {timeout_s:g} s") from None
    except (httpx.ConnectError, httpx.ProxyError) as exc:
        raise _Failed(f"cannot connect ({exc or type(exc).__name__})") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise _Failed(f"{type(exc).__name__}: {exc}") from None
    if status != 200:
        raise _Failed(_status_reason(status, body))
    if cut:
        raise _Failed(f"the answer is larger than {_MAX_BODY_BYTES >> 20} MiB")
    return body


def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more."""
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) > limit:
            return bytes(kept[:limit]), True
    return bytes(kept), False


def _status_reason(status: int, body: bytes) -> str:
    """``HTTP 404: <the server's message>``: an OpenAI ``{"error": ...}``, a flat
    ``{"message": ...}`` (older vLLM), else the body's start as one line."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and obj.get("error"):
        text = error_text(obj["error"])
    elif isinstance(obj, dict) and isinstance(obj.get("message"), str):
        text = obj["message"]
    else:
        text = body.decode("utf-8", "replace")
    text = " ".join(text.split())  # cut by the caller, after the credentials are scrubbed
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every credential replaced, longest first (a key inside its
    ``Bearer`` header value goes with it)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
