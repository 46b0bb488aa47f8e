"""TLS settings shared by both transports: one SSLContext per run."""

from __future__ import annotations

import ssl
from pathlib import Path

from llmbench.config import ConfigError

__all__ = ["ssl_context"]


def ssl_context(
    *,
    insecure: bool,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
) -> ssl.SSLContext | None:
    """None when the defaults do (system CAs, verification on); else a context.

    Built before the run, so a missing or bad file stops it with one clear line."""
    if not (insecure or ca_cert or client_cert):
        return None
    try:
        context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--ca-cert {ca_cert}: cannot load it ({exc})") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--client-cert {client_cert}: cannot load it ({exc})") from None
    return context
