"""What counts as a credential, and how outputs are scrubbed of it (llmbench.redaction
and workload.KeyRing.redact/redact_tree)."""

from __future__ import annotations

import pytest

from llmbench.config import RunConfig
from llmbench.redaction import is_secret_name, redact_url, secret_values
from llmbench.workload import KeyRing


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("X-Api-Key", True),
        ("api-key", True),
        ("X-Auth-Token", True),
        ("X-Client-Secret", True),
        ("Cookie", True),
        ("X-Signature", True),
        ("X-Tenant", False),
        ("Accept", False),
        ("Content-Type", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_secret_values_include_the_token_without_its_scheme() -> None:
    headers = (("Authorization", "Bearer tok-1234"), ("X-Api-Key", "k-5678"), ("X-Tenant", "a"))
    assert secret_values(headers) == ["Bearer tok-1234", "tok-1234", "k-5678"]


def test_public_config_shows_only_harmless_header_values() -> None:
    cfg = RunConfig(url="http://h", headers=(("X-Api-Key", "k-5678"), ("X-Tenant", "team-a")))
    assert cfg.public()["headers"] == [["X-Api-Key", "<redacted>"], ["X-Tenant", "team-a"]]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://h/v1?key=sk-1&alt=sse", "https://h/v1?key=%3Credacted%3E&alt=sse"),
        ("https://h/v1?alt=sse", "https://h/v1?alt=sse"),
        ("https://u:p@h/v1?access_token=t", "https://h/v1?access_token=%3Credacted%3E"),
    ],
)
def test_redact_url_removes_secret_query_values(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_keyring_redacts_keys_and_secrets_longest_first() -> None:
    ring = KeyRing(["sk-abcdef"], ["Bearer tok-1234", "tok-1234"])
    assert ring.redact("got Bearer tok-1234 and sk-abcdef") == "got <redacted> and <redacted>"
    assert ring.redact("tok-1234 alone") == "<redacted> alone"


def test_keyring_leaves_too_short_secrets_alone() -> None:
    assert KeyRing(["ab"]).redact("a cab") == "a cab"


def test_redact_tree_scrubs_every_string() -> None:
    ring = KeyRing(["sk-abcdef"])
    tree = {"a": ["x sk-abcdef", 3, None], "sk-abcdef": {"b": ("sk-abcdef",)}}
    assert ring.redact_tree(tree) == {
        "a": ["x <redacted>", 3, None],
        "<redacted>": {"b": ["<redacted>"]},
    }
