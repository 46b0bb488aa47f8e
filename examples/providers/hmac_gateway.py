"""An llmbench provider plugin: an OpenAI-compatible gateway that wants every request
signed with HMAC-SHA256.

The gateway checks ``X-Signature: hex(HMAC-SHA256(secret, METHOD + "\\n" + PATH + "\\n" +
BODY))`` with a secret shared out of band; the secret comes from the environment
variable ``HMAC_GATEWAY_SECRET``, never from a flag (flags end up in shell history and
in summary.json). The body and the stream are plain OpenAI chat, so the plugin reuses
llmbench's ``OpenAIChat`` for both and only adds the signature.

Install it as a plugin by naming the factory in your package's ``pyproject.toml``::

    [project.entry-points."llmbench.providers"]
    hmac-gateway = "hmac_gateway:factory"

then ``llmbench run --provider hmac-gateway --url https://gw.example ...``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from llmbench.config import ConfigError, RunConfig
from llmbench.events import StreamEvent
from llmbench.http.request import HttpRequest
from llmbench.providers.base import Framing, Provider, merge_headers
from llmbench.providers.openai import OpenAIChat
from llmbench.workload import WorkloadItem

__all__ = ["SECRET_ENV", "HmacGateway", "factory", "signature"]

SECRET_ENV = "HMAC_GATEWAY_SECRET"


def signature(secret: bytes, method: str, path: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``METHOD\\nPATH\\nBODY``: what the gateway recomputes."""
    message = method.encode() + b"\n" + path.encode() + b"\n" + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class HmacGateway:
    """OpenAI chat requests with an ``X-Signature`` header over method, path and body."""

    name = "hmac-gateway"

    def __init__(self, cfg: RunConfig, env: Mapping[str, str] = os.environ) -> None:
        secret = env.get(SECRET_ENV)
        if not secret:
            raise ConfigError(f"--provider hmac-gateway needs the shared secret in ${SECRET_ENV}")
        self._secret = secret.encode()
        self._chat = OpenAIChat(cfg)
        self.framing: Framing = self._chat.framing

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        request = self._chat.build_request(item, api_key)
        path = urlsplit(request.url).path
        sig = signature(self._secret, request.method, path, request.body)
        headers = merge_headers(request.headers, [("x-signature", sig)])
        return HttpRequest(request.method, request.url, headers, request.body)

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        return self._chat.decode(event, data)


def factory(cfg: RunConfig) -> Provider:
    """The entry point: ``llmbench.providers`` calls this with the run's config."""
    return HmacGateway(cfg)
