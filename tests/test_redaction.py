"""Tests for llmbench.redaction.redact_result: a result's error never carries a key,
and stays within the error cap after "<redacted>" replaced a shorter key. (The name
and URL helpers are tested in test_config_secrets.py and test_config.py.)"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmbench.caps import MAX_ERROR_BYTES
from llmbench.redaction import REDACTED, redact_result, secret_forms, url_secrets
from llmbench.result import RequestResult, Status
from llmbench.workload import KeyRing


def result(error: str | None) -> RequestResult:
    status: Status = "ok" if error is None else "http_error"
    return RequestResult(index=0, phase="measure", status=status, t0_ns=0, end_ns=1, error=error)


def test_a_key_in_the_error_is_redacted() -> None:
    out = redact_result(result("HTTP 401: bad key sk-live-123 for org"), KeyRing(["sk-live-123"]))
    assert out.error == f"HTTP 401: bad key {REDACTED} for org"
    assert out.status == "http_error"


def test_nothing_to_scrub_returns_the_same_result() -> None:
    keys = KeyRing(["sk-live-123"], ["Bearer tok-9"])
    for r in (result(None), result(""), result("HTTP 500: upstream down")):
        assert redact_result(r, keys) is r


def test_the_redacted_error_stays_within_the_cap() -> None:
    key = "abcd"  # shorter than "<redacted>": replacing it makes the text longer
    error = (key + " ") * (MAX_ERROR_BYTES // 5)
    assert len(error.encode()) <= MAX_ERROR_BYTES
    out = redact_result(result(error), KeyRing([key]))
    assert out.error is not None
    assert key not in out.error
    assert out.error.startswith(REDACTED)
    assert len(out.error.encode()) <= MAX_ERROR_BYTES


def test_secrets_besides_keys_are_redacted() -> None:
    keys = KeyRing([], ["Bearer tok-secret-9", "tok-secret-9"])
    out = redact_result(result("echo: Authorization: Bearer tok-secret-9"), keys)
    assert out.error == f"echo: Authorization: {REDACTED}"


# -- a secret in any of its common encodings (issue 12, item 2) -------------------------

KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=4, max_size=64
)
TEXT = st.text(max_size=200)


def json_escaped(key: str, escape: list[bool]) -> str:
    """``key`` as a JSON writer may put it: the chosen characters as ``\\uXXXX``, the
    rest as json.dumps writes them (``"`` and ``\\`` escaped)."""
    return "".join(
        f"\\u{ord(ch):04{'x' if i % 2 else 'X'}}" if esc else json.dumps(ch)[1:-1]
        for i, (ch, esc) in enumerate(zip(key, escape, strict=True))
    )


def url_encoded(key: str, escape: list[bool]) -> str:
    """``key`` URL-encoded: the unsafe characters always, the chosen ones too."""
    return "".join(
        f"%{ord(ch):02X}" if esc else urllib.parse.quote(ch, safe="")
        for ch, esc in zip(key, escape, strict=True)
    )


ENCODINGS: dict[str, Callable[[str, list[bool]], str]] = {
    "raw": lambda key, _: key,
    "json \\u escapes": json_escaped,
    "json \\/ escapes": lambda key, _: (
        key.replace("\\", "\\\\").replace("/", "\\/").replace('"', '\\"')
    ),
    "json in json": lambda key, esc: json.dumps(json_escaped(key, esc))[1:-1],
    "url": url_encoded,
    "url, plus for space": lambda key, _: urllib.parse.quote_plus(key),
    "url, twice": lambda key, esc: urllib.parse.quote(url_encoded(key, esc), safe=""),
    "bytes repr": lambda key, _: repr(key.encode())[2:-1],
    "html": lambda key, _: html.escape(key),
    "html numeric": lambda key, esc: "".join(
        f"&#{ord(c)};" if e else c for c, e in zip(key, esc, strict=True)
    ),
    "bearer": lambda key, _: f"Bearer {key}",
    "base64 of the key": lambda key, _: base64.b64encode(key.encode()).decode(),
    "base64 url-safe": lambda key, _: base64.urlsafe_b64encode(key.encode()).decode(),
    "basic auth": lambda key, _: "Basic " + base64.b64encode(f"user:{key}".encode()).decode(),
    "basic auth, user 2": lambda key, _: "Basic " + base64.b64encode(f"ab:{key}".encode()).decode(),
    "basic auth, user 3": lambda key, _: (
        "Basic " + base64.b64encode(f"abc:{key}".encode()).decode()
    ),
    "basic auth in JSON": lambda key, _: json.dumps(base64.b64encode(f"u:{key}".encode()).decode()),
}


def decoded(text: str) -> list[str]:
    """Every reading of ``text`` a reader might apply to get the key back."""
    out = [text, urllib.parse.unquote(text), urllib.parse.unquote_plus(text), html.unescape(text)]
    out.append(urllib.parse.unquote(urllib.parse.unquote(text)))
    unescaped = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    unescaped = re.sub(r"\\+x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), unescaped)
    out.append(re.sub(r"\\+([^A-Za-z0-9])", r"\1", unescaped))
    return out


def base64_readings(text: str) -> list[str]:
    """The text base64-decoded from every offset of every base64 run in it."""
    out = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{4,}", text):
        run = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            out.append(base64.b64decode(chunk).decode("latin-1"))
    return out


@settings(max_examples=300, deadline=None)
@given(key=KEYS, before=TEXT, after=TEXT, name=st.sampled_from(sorted(ENCODINGS)), data=st.data())
def test_every_encoding_of_a_key_is_redacted_anywhere(
    key: str, before: str, after: str, name: str, data: st.DataObject
) -> None:
    assume(key not in REDACTED)  # "<red" is still there, as part of the marker
    escape = data.draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    encoded = ENCODINGS[name](key, escape)
    out = KeyRing([key]).redact(before + encoded + after)
    assert encoded not in out
    assert REDACTED in out
    if name.startswith(("base64", "basic")):
        for reading in base64_readings(out):  # at most the key's first or last byte
            assert key[1:-1] not in reading
    else:
        for reading in decoded(out):
            assert key not in reading


@settings(max_examples=300, deadline=None)
@given(key=KEYS, text=TEXT)
def test_text_without_the_key_is_unchanged(key: str, text: str) -> None:
    assume(key not in text)
    assume(not any(key[i : i + 8] in text for i in range(len(key) - 7)))  # no partial echo
    assert KeyRing([key]).redact(text) == text


@settings(max_examples=300, deadline=None)
@given(key=KEYS, text=st.text(alphabet="sk-ab%&#;\\ux0123456789dDfF+/=", max_size=120))
def test_escapes_that_spell_no_key_are_left_alone(key: str, text: str) -> None:
    """Text full of escape characters comes back unchanged unless it spells the key."""
    assume(all(key not in reading for reading in decoded(text)))
    assume(all(key not in reading for reading in base64_readings(text)))
    assert KeyRing([key]).redact(text) == text


def test_many_keys_make_one_pattern() -> None:
    # a key file of a thousand keys: one trie-shaped regex, built once, a pass per text
    keys = [f"sk-{i:04d}-" + "x" * 40 for i in range(1000)]
    ring = KeyRing(keys)
    text = "e: " + " ".join(keys[::97]) + " sk\\u002d0500-" + "x" * 40 + " sk-9999-" + "y" * 40
    out = ring.redact(text)
    assert out.count(REDACTED) == len(keys[::97]) + 1
    assert out.endswith(" sk-9999-" + "y" * 40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"error": "bad key sk\\u002dtest\\u002dSECRET123"}', '{"error": "bad key <redacted>"}'),
        ("/v1/sk%2Dtest%2dSECRET123/x", "/v1/<redacted>/x"),
        ("h11: b'Bearer sk-test-SECRET123\\r'", "h11: b'Bearer <redacted>\\r'"),
        ("auth=Basic dXNlcjpzay10ZXN0LVNFQ1JFVDEyMw==", "auth=Basic dXNlcjp<redacted>w=="),
        ("sk&#45;test&#x2d;SECRET123", "<redacted>"),
    ],
)
def test_named_encodings(text: str, expected: str) -> None:
    assert KeyRing(["sk-test-SECRET123"]).redact(text) == expected


def test_a_key_that_carries_its_scheme_is_redacted_without_it() -> None:
    ring = KeyRing(["Bearer sk-test-SECRET123"])
    assert ring.redact("echo sk-test-SECRET123!") == "echo <redacted>!"


def test_basic_auth_header_values_give_the_pair_and_the_password() -> None:
    value = "Basic " + base64.b64encode(b"alice:pw-SECRET000").decode()
    assert secret_forms(value) == [value, value[6:], "alice:pw-SECRET000", "pw-SECRET000"]
    assert secret_forms("Basic not-base64!") == ["Basic not-base64!", "not-base64!"]


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("http://alice:pw-SECRET000@h:8000/v1", ["pw-SECRET000", "alice:pw-SECRET000"]),
        ("http://alice:p%40ss%3Aword@h/v1", ["p@ss:word", "alice:p@ss:word"]),
        ("http://tok-SECRET777@h/v1", ["tok-SECRET777"]),  # a user alone is the credential
        ("https://h/v1?key=sk-q-SECRET&alt=sse", ["sk-q-SECRET"]),
        ("https://h/v1", []),
    ],
)
def test_url_secrets(url: str, secrets: list[str]) -> None:
    assert url_secrets(url) == secrets


def test_the_url_password_and_its_basic_auth_are_redacted() -> None:
    ring = KeyRing([], url_secrets("http://alice:pw-SECRET000@h/v1"))
    basic = base64.b64encode(b"alice:pw-SECRET000").decode()
    out = ring.redact(f"got Authorization: Basic {basic} from alice:pw%2DSECRET000")
    assert "SECRET" not in out
    assert basic not in out
    assert "pw-SECRET000" not in base64.b64decode(out.split()[3] + "==").decode("latin-1")


PARTIAL_KEY = "sk-LEAKCHECK-0123456789abcdefABCDEF"


@pytest.mark.parametrize(
    "echo",
    [
        PARTIAL_KEY[:-1],  # a server that cut the key
        PARTIAL_KEY[:-8],
        PARTIAL_KEY[5:],
        PARTIAL_KEY[3:11],  # exactly PARTIAL_SECRET_CHARS
        "sk-LEAKCH****CDEF",  # masked as OpenAI does
        PARTIAL_KEY[:17] + "\n" + PARTIAL_KEY[17:],  # split across two events
    ],
)
def test_a_partly_echoed_key_leaves_no_run_of_eight_characters(echo: str) -> None:
    text = KeyRing([PARTIAL_KEY]).redact(f"Unauthorized: {echo} (retry)")
    runs = {PARTIAL_KEY[i : i + 8] for i in range(len(PARTIAL_KEY) - 7)}
    assert not any(run in text for run in runs), text
    assert text.startswith("Unauthorized: ")
    assert text.endswith(" (retry)")


@given(st.integers(0, 27), st.integers(8, 35), st.text(max_size=20))
def test_any_run_of_eight_key_characters_is_redacted(start: int, length: int, around: str) -> None:
    fragment = PARTIAL_KEY[start : start + length]
    assume(len(fragment) >= 8)
    text = KeyRing([PARTIAL_KEY]).redact(around + fragment + around)
    assert not any(PARTIAL_KEY[i : i + 8] in text for i in range(len(PARTIAL_KEY) - 7))
