"""Credentials kept out of everything llmbench prints or writes. Pure: strings in,
strings out.

Which header and query names carry credentials (:func:`is_secret_name`), the
credentials in a set of headers (:func:`secret_values`) and in a URL
(:func:`url_secrets`), a URL without them (:func:`redact_url`), one pattern that finds
secrets however a server wrote them back (:class:`SecretPattern`), and a result whose
error text no longer echoes a key (:func:`redact_result`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

from llmbench.caps import bounded
from llmbench.result import RequestResult

__all__ = [
    "MIN_SECRET_CHARS",
    "PARTIAL_SECRET_CHARS",
    "REDACTED",
    "Redactor",
    "SecretPattern",
    "is_secret_name",
    "redact_result",
    "redact_url",
    "secret_forms",
    "secret_values",
    "url_secrets",
]

REDACTED = "<redacted>"

# Header and query-parameter names whose values are credentials: Authorization,
# X-Api-Key, Api-Key, X-Auth-Token, Cookie, X-Signature, ... (matched anywhere in the name).
_SECRET_NAME = re.compile(r"auth|token|secret|key|cookie|session|passw|credential|sign", re.I)


class Redactor(Protocol):
    """Anything that scrubs known secrets from a text (``workload.KeyRing``)."""

    def redact(self, text: str) -> str: ...


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter called ``name`` carries a credential."""
    return _SECRET_NAME.search(name) is not None


def secret_forms(value: str) -> list[str]:
    """A credential and what a server may echo of it: with an auth scheme, the token
    alone too (``Bearer X`` gives ``X``); for ``Basic``, the decoded ``user:password``
    and the password."""
    out = [value]
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if not token or not scheme.isalpha():
        return out
    out.append(token)
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(token, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return out
        out += [pair, pair.partition(":")[2]]
    return out


def secret_values(headers: tuple[tuple[str, str], ...]) -> list[str]:
    """The credentials in ``headers``: each secret-named value, and its token without
    the scheme (``Bearer X`` gives ``X`` too: a server may echo either)."""
    out: list[str] = []
    for name, value in headers:
        if is_secret_name(name) and value:
            out += [form for form in secret_forms(value) if form]
    return out


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: its password and ``user:password`` (what Basic
    auth encodes; a user with no password is itself the credential), and secret-named
    query values (``?key=...``). Each as decoded: :class:`SecretPattern` finds the
    percent-encoded form too."""
    parts = urlsplit(url)
    out: list[str] = []
    user, password = parts.username, parts.password
    if password:
        out += [unquote(password), f"{unquote(user or '')}:{unquote(password)}"]
    elif user:
        out.append(unquote(user))
    out += [v for k, v in parse_qsl(parts.query) if is_secret_name(k) and v]
    return out


def redact_url(url: str) -> str:
    """The URL without user:password or secret-named query values (``?key=...``),
    for anything we print or write."""
    parts = urlsplit(url)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs])
    if parts.username is None and parts.password is None and query == parts.query:
        return url
    host = parts.netloc.rpartition("@")[2]  # keeps [::1] brackets and the port as given
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


# Shorter secrets are not redacted: replacing every "ab" in the output would mangle
# it, and a 3-character credential protects nothing anyway.
MIN_SECRET_CHARS = 4
# A server may echo part of a key (cut to a length, split across events, masked as
# ``sk-abc****wxyz``): any run of this many consecutive characters of a secret is
# replaced too. 8 characters of a random key are as good as unique in any output.
PARTIAL_SECRET_CHARS = 8

# The escapes an echo may write any character of a secret in, each decoding to one
# character: JSON \u002d (also inside a JSON string, \\u002d), a bytes repr's \x2d,
# URL %2D (also double-encoded, %252D), HTML &#45; &#x2d; &amp;; and backslashes before
# a quote, an apostrophe or a slash (JSON's \" and \/, a repr's \'), dropped. Each
# alternative starts with a literal: the regex engine skips other text at C speed.
_ESCAPE = re.compile(
    r"(\\+)(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(?=[\"'/]))"
    r"|%(?:25)*([0-9a-fA-F]{2})"
    r"|&(?:#([0-9]{1,7});|#[xX]([0-9a-fA-F]{1,6});|(amp|lt|gt|quot|apos);)"
)
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _decoded(match: re.Match[str]) -> str | None:
    """What an escape stands for: a character, after the backslashes that escape
    backslashes before it (an odd run is one JSON level, an even run two); "" for
    backslashes before a mark; None when it names no character (``&#99999999;``)."""
    slashes, hex4, hex2, pct, dec, hexn, name = match.groups()
    if name is not None:
        return _ENTITIES[name]
    number = next((int(h, 16) for h in (hex4, hex2, pct, hexn) if h is not None), None)
    if number is None and dec is None:
        return ""
    number = int(dec) if number is None else number
    if number > 0x10FFFF:
        return None
    kept = "" if slashes is None else slashes[: -1 if len(slashes) % 2 else -2]
    return kept + chr(number)


def _canonical(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with every escape decoded, and for each of its characters where it
    starts and ends in ``text``."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for match in _ESCAPE.finditer(text):
        ch = _decoded(match)
        if ch is None:
            continue  # left as written
        a, b = match.span()
        pieces += [text[pos:a], ch]
        starts += range(pos, a)
        ends += range(pos + 1, a + 1)
        starts += [a] * len(ch)  # all of it comes from the escape
        ends += [b] * len(ch)
        pos = b
    pieces.append(text[pos:])
    starts += range(pos, len(text))
    ends += range(pos + 1, len(text) + 1)
    return "".join(pieces), starts, ends


def _base64_cores(secret: str) -> list[str]:
    """What base64 of any text containing ``secret`` must contain, whatever precedes
    it (``Basic base64(user:key)``): for each of the three alignments, the characters
    whose six bits all come from the secret; standard and URL-safe alphabets."""
    data = secret.encode("utf-8")
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        core = encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return [c for c in cores if len(c) >= MIN_SECRET_CHARS]


def _json(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _spellings(secret: str) -> set[str]:
    """``secret`` as an echo may spell it, besides escaping any of its characters: as
    is, URL-, form- and HTML-encoded whole, with ``%`` as ``%25``, as UTF-8 bytes
    (``%C3%A9``), inside a JSON string (once or twice, ``/`` maybe as ``\\/``) or a
    bytes repr (backslashes doubled, ``\\'``), and its base64 (of the secret, or of
    ``user:secret``)."""
    out = set()
    utf8 = secret.encode("utf-8").decode("latin-1")
    for form in {secret, secret.replace(" ", "+"), secret.replace("%", "%25"), utf8}:
        once = _json(form)
        slashed = once.replace("/", "\\/")
        doubled = form.replace("\\", "\\\\")
        out |= {form, once, slashed, _json(once), _json(slashed), doubled}
        out.add(doubled.replace("'", "\\'"))
    out |= {quote(secret, safe=""), quote_plus(secret, safe=""), html.escape(secret)}
    return out | set(_base64_cores(secret))


def _hex(number: int, width: int = 2) -> str:
    """A number as hex digits, either case: ``2[dD]``."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")


_NAMED = {v: f"&{k};" for k, v in _ENTITIES.items()}


def _char(ch: str) -> str:
    """A regex for one character as an echo may write it: as is (maybe after
    backslashes), or as any escape :data:`_ESCAPE` decodes (``+`` for a space)."""
    code = ord(ch)
    units = ch.encode("utf-16-be")
    forms = [
        re.escape(ch) if ch.isalnum() else r"\\*" + re.escape(ch),
        "".join(r"%(?:25)*" + _hex(b) for b in ch.encode("utf-8")),
        "".join(
            r"\\+u" + _hex(int.from_bytes(units[i : i + 2]), 4) for i in range(0, len(units), 2)
        ),
        f"&#0*{code};",
        f"&#[xX]0*{_hex(code, 1)};",
    ]
    forms += [r"\\+x" + _hex(code)] if code < 0x100 else []
    forms += [_NAMED[ch]] if ch in _NAMED else []
    forms += [r"\+"] if ch == " " else []
    return "(?:" + "|".join(forms) + ")"


# A secret holding one of these can read as an escape itself, so decoding the text
# first is ambiguous for it ("%41" is "A" or three characters): it is matched
# character by character instead, with backtracking (slower, and rare in keys).
_INTRODUCERS = frozenset("\\%&")


_Trie = dict[str, "_Trie"]


def _alternation(words: list[str]) -> str:
    """One regex for many literals, as a trie (shared prefixes written once, so each
    position tries one branch per distinct next character, not one per word); at a
    word's end, a longer word is tried first."""
    end = ""  # the key that marks a word's end
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[end] = {}

    def run(ch: str, node: _Trie) -> tuple[str, _Trie]:
        """The literal from ``ch`` down a chain of only children, and where it stops."""
        chars = [ch]
        while len(node) == 1 and end not in node:
            ((ch, node),) = node.items()
            chars.append(ch)
        return "".join(chars), node

    regex: dict[int, str] = {}
    stack: list[tuple[_Trie, bool]] = [(trie, False)]
    while stack:  # post-order without recursion: a key may be thousands of characters
        node, children_done = stack.pop()
        runs = [run(ch, child) for ch, child in node.items() if ch != end]
        if not children_done:
            stack.append((node, True))
            stack += [(stop, False) for _, stop in runs]
            continue
        alts = [re.escape(literal) + regex.pop(id(stop)) for literal, stop in runs]
        alts += [""] if end in node else []
        regex[id(node)] = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return regex[id(trie)]


class SecretPattern:
    """Finds secrets in a text as written and in their common encodings, so that a
    server echoing a key in a JSON string (``sk\\u002dabc``), a URL (``sk%2Dabc``), an
    escaped repr (``\\x2d``), HTML (``&#45;``) or a Basic auth header (base64 of
    ``user:key``) is scrubbed as surely as one echoing it verbatim.

    Each spelling (:func:`_spellings`) is looked for in the text as it is; then, if
    the text has escapes, each spelling with its escapes decoded in the text with its
    escapes decoded (:func:`_canonical` keeps where each character came from). Both
    passes are trie-shaped regexes, one branch per distinct next character however many
    secrets there are. A secret that itself holds ``\\``, ``%`` or ``&`` reads
    ambiguously once decoded, so it is also matched character by character, each in
    any escape. Whatever a match came from is replaced; longer secrets win (``Bearer
    X`` over ``X``); secrets shorter than :data:`MIN_SECRET_CHARS` are left alone."""

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        raw = {w for s in found for w in _spellings(s)}
        decoded = {_canonical(w)[0] if _ESCAPE.search(w) else w for w in raw}
        self._plain = _compile(raw | decoded)
        self._decoded = _compile(decoded)
        odd = sorted((s for s in found if _INTRODUCERS & set(s)), key=len, reverse=True)
        exact = "|".join("".join(_char(ch) for ch in s) for s in odd)
        self._exact = re.compile(exact) if exact else None
        # Runs are taken within a secret's words: "Bearer X" gives runs of X, not of
        # " X", so the text around an echoed key is kept as it was.
        words = {w for s in found for w in s.split()}
        self._secrets = sorted(w for w in words if len(w) >= PARTIAL_SECRET_CHARS)
        n = PARTIAL_SECRET_CHARS
        grams = sorted({s[i : i + n] for s in self._secrets for i in range(len(s) - n + 1)})
        self._partial = re.compile(_alternation(grams)) if grams else None

    def redact(self, text: str) -> str:
        """``text`` with every secret, in any of its forms, replaced by ``<redacted>``."""
        if self._plain is None or self._decoded is None:
            return text
        spans = [m.span() for m in self._plain.finditer(text)]
        if _ESCAPE.search(text) is not None:
            canonical, starts, ends = _canonical(text)
            found = self._decoded.finditer(canonical)
            spans += [(starts[m.start()], ends[m.end() - 1]) for m in found]
            if self._exact is not None:
                spans += [m.span() for m in self._exact.finditer(text)]
        if self._partial is not None:
            spans += [self._widened(text, *m.span()) for m in self._partial.finditer(text)]
        return _replaced(text, spans) if spans else text

    def _widened(self, text: str, start: int, end: int) -> tuple[int, int]:
        """A partial match grown to the right while it is still part of some secret:
        the leftmost match of a fragment already starts where the fragment does."""
        while end < len(text) and any(text[start : end + 1] in s for s in self._secrets):
            end += 1
        return start, end


def _compile(words: set[str]) -> re.Pattern[str] | None:
    usable = sorted(w for w in words if len(w) >= MIN_SECRET_CHARS)
    return re.compile(_alternation(usable)) if usable else None


def _replaced(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by ``<redacted>``."""
    out: list[str] = []
    pos, start, end = 0, -1, -1
    for a, b in sorted(spans):
        if a < end:  # overlaps the span being built
            end = max(end, b)
            continue
        if start >= 0:
            out += [text[pos:start], REDACTED]
            pos = end
        start, end = a, b
    out += [text[pos:start], REDACTED, text[end:]]
    return "".join(out)


def redact_result(result: RequestResult, keys: Redactor) -> RequestResult:
    """``result`` with every key and secret scrubbed from its error: a server may echo
    what it was sent. Returned as is when there was nothing to scrub."""
    if not result.error:
        return result
    redacted = keys.redact(result.error)
    if redacted == result.error:
        return result
    # "<redacted>" may be longer than a short key: the error stays within its cap.
    return dataclasses.replace(result, error=bounded(redacted))
