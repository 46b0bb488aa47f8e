"""An llmbench provider plugin: an OpenAI-compatible gateway that wants every request
signed with HMAC-SHA256.

The gateway checks ``X-Signature: hex(HMAC-SHA256(secret, METHOD + "\\n" + PATH + "\\n" +
BODY))`` with a secret shared out of band; the secret comes from the environment
variable ``HMAC_GATEWAY_SECRET``, never from a flag (flags end up in shell history and
in summary.json). The body and the stream are plain OpenAI chat, so the plugin reuses
llmbench's ``OpenAIChat`` for both and only adds the signature.

Its own flag, ``--hmac-key-id``, names which secret signed (sent as ``X-Key-Id``): the
plugin registers it with a ``ProviderSpec``, and ``llmbench run --provider hmac-gateway
--help`` lists it. The OpenAI flags (``--no-usage``, ``--continuous-usage``) work too.

Install it as a plugin by naming its ``ProviderSpec`` in your package's ``pyproject.toml``::

    [project.entry-points."llmbench.providers"]
    hmac-gateway = "hmac_gateway:PROVIDER"

then ``llmbench run --provider hmac-gateway --url https://gw.example ...``.
"""

from __future__ import annotations

import hashlib
import hmac
from argparse import Namespace
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from llmbench.config import PRIVATE_OPTION, ConfigError, RunConfig
from llmbench.events import StreamEvent
from llmbench.http.request import HttpRequest
from llmbench.providers import openai
from llmbench.providers.base import FlagGroup, Framing, OptionSources, ProviderSpec, merge_headers
from llmbench.providers.openai import OpenAIChat, OpenAIOptions
from llmbench.workload import WorkloadItem

__all__ = ["PROVIDER", "SECRET_ENV", "HmacGateway", "HmacOptions", "signature"]

SECRET_ENV = "HMAC_GATEWAY_SECRET"


def signature(secret: bytes, method: str, path: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``METHOD\\nPATH\\nBODY``: what the gateway recomputes."""
    message = method.encode() + b"\n" + path.encode() + b"\n" + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class HmacOptions:
    """The plugin's own options. The secret comes from the environment, never a flag,
    and stays out of summary.json (``PRIVATE_OPTION``)."""

    key_id: str = ""  # --hmac-key-id
    chat: OpenAIOptions = field(default_factory=OpenAIOptions)  # --no-usage, --continuous-usage
    secret: str = field(default="", repr=False, metadata=PRIVATE_OPTION)


def add_flags(group: FlagGroup) -> None:
    group.add_argument("--hmac-key-id", default="", help="sent as X-Key-Id: the secret's name")


def options_from(args: Namespace, sources: OptionSources) -> HmacOptions:
    chat = openai.options_from(args, sources)
    return HmacOptions(args.hmac_key_id, chat, sources.environ.get(SECRET_ENV, ""))


class HmacGateway:
    """OpenAI chat requests with an ``X-Signature`` header over method, path and body."""

    name = "hmac-gateway"

    def __init__(self, cfg: RunConfig, options: HmacOptions = HmacOptions()) -> None:
        if not options.secret:
            raise ConfigError(f"--provider hmac-gateway needs the shared secret in ${SECRET_ENV}")
        self._secret = options.secret.encode()
        self._key_id = (("x-key-id", options.key_id),) if options.key_id else ()
        self._chat = OpenAIChat(cfg, options.chat)
        self.framing: Framing = self._chat.framing

    def build_request(self, item: WorkloadItem, api_key: str | None) -> HttpRequest:
        request = self._chat.build_request(item, api_key)
        path = urlsplit(request.url).path
        sig = signature(self._secret, request.method, path, request.body)
        headers = merge_headers(request.headers, self._key_id, [("x-signature", sig)])
        return HttpRequest(request.method, request.url, headers, request.body)

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        return self._chat.decode(event, data)


# The entry point: the provider, its options and its flags. (A plain factory
# ``def factory(cfg: RunConfig) -> Provider`` works too, for a plugin without options.)
PROVIDER = ProviderSpec("hmac-gateway", HmacGateway, HmacOptions, add_flags, options_from)
