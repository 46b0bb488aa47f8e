"""Where multi-turn sessions come from: a prompts file's ``{"turns": [...]}`` lines, a
ShareGPT file's conversations (``--sessions``), or the synthetic generator
(``--turns N``). Files are read and checked before the run (a bad line is one
ConfigError naming the file, the line and the field: exit 2); during the run sessions
are handed out like prompts: in file order or reshuffled per pass, forever, or made per
position, so stop rules alone decide how many are sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmbench.config import MAX_TOKENS, ConfigError, check_json
from llmbench.sessions import MAX_TURNS, Session, Spread, Turn
from llmbench.tokens import estimate_tokens
from llmbench.workload import WorkloadItem, cycle

__all__ = [
    "PrefixedSessions",
    "SessionFile",
    "SyntheticSessions",
    "cycle_sessions",
    "is_session_file",
    "load_sessions",
]

# What a turn object may hold besides its text.
_TURN_FIELDS = frozenset({"content", "max_tokens", "reference"})
# Body fields a session builds per turn (the history; Dify's query and conversation):
# a line's own would replace them in every turn.
_BUILT_FIELDS = ("messages", "query", "conversation_id")


@dataclass(frozen=True, slots=True)
class SessionFile:
    """A file's sessions, and what the console should say about what it skipped."""

    sessions: tuple[Session, ...]
    note: str = ""

    @property
    def turns(self) -> int:
        return sum(len(s.turns) for s in self.sessions)


def is_session_file(path: Path, sharegpt_sessions: bool) -> bool:
    """Whether ``path`` is read as sessions: a ShareGPT ``.json`` with ``--sessions``, or a
    ``.jsonl`` with a ``"turns"`` line (one is enough: every line then is a session).
    The full check is :func:`load_sessions`'s; unreadable files are left to it."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return sharegpt_sessions
    if suffix != ".jsonl":
        return False
    try:
        with path.open("rb") as lines:
            while line := lines.readline(_SCAN_LINE_BYTES):
                if b'"turns"' in line and _is_session_line(line):
                    return True
    except OSError:
        pass
    return False


# A line longer than this is read in pieces by the scan (none of which parses): a
# sessions file's lines are far shorter, and the scan's memory stays bounded.
_SCAN_LINE_BYTES = 16 * 1024 * 1024


def _is_session_line(line: bytes) -> bool:
    """Whether a JSONL line is an object with a top-level "turns" key (a word "turns"
    inside a prompt is not one)."""
    try:
        obj = json.loads(line.removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and "turns" in obj


def load_sessions(path: Path, *, reference: bool) -> SessionFile:
    """Read a session file (see :func:`is_session_file`). ``reference``
    (``--history reference``) needs every turn but the last to have the dataset's reply."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--prompts-file {path}: cannot read it ({exc})") from None
    loaded = _sharegpt(text, path) if path.suffix.lower() == ".json" else _jsonl(text, path)
    if not loaded.sessions:
        why = f": {loaded.note}" if loaded.note else ""
        raise ConfigError(f"--prompts-file {path}: no sessions in it{why}")
    if reference:
        for number, session in enumerate(loaded.sessions, 1):
            for k, turn in enumerate(session.turns[:-1], 1):
                if turn.reference is None:
                    raise ConfigError(
                        f"--prompts-file {path}: session {number}, turn {k} has no reference "
                        "reply; --history reference needs one for every turn but the last"
                    )
    return loaded


# -- JSONL -----------------------------------------------------------------------------


def _jsonl(text: str, path: Path) -> SessionFile:
    sessions = []
    # split on LF only: str.splitlines() also splits on U+2028, U+0085, ..., which JSON
    # strings may hold as they are
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"--prompts-file {path}:{number}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{where}: invalid JSON ({exc})") from None
        sessions.append(_jsonl_session(obj, where))
    return SessionFile(tuple(sessions))


def _jsonl_session(obj: Any, where: str) -> Session:
    """``{"turns": [...]}`` (strings, or objects with ``content`` and optionally
    ``max_tokens`` and ``reference``), or ``{"prompt": ...}``: a one-turn session. Other
    fields go into every turn's body, as a prompt line's do."""
    if not isinstance(obj, dict) or not ("turns" in obj or "prompt" in obj):
        raise ConfigError(
            f"{where}: a file with sessions takes 'turns' lines (or 'prompt' lines: "
            "one-turn sessions)"
        )
    check_json(obj, where)
    for field in _BUILT_FIELDS:  # the session writes these itself, turn by turn
        if field in obj:
            raise ConfigError(
                f"{where}: '{field}' cannot be given on a session line (each turn's request "
                "carries the conversation itself)"
            )
    if "turns" in obj and "prompt" in obj:
        raise ConfigError(f"{where}: 'turns' and 'prompt' are alternatives: give one")
    default_max = _max_tokens(obj.get("max_tokens"), f"{where}: max_tokens")
    extra = {k: v for k, v in obj.items() if k not in ("turns", "prompt", "max_tokens")}
    if "turns" not in obj:
        if not isinstance(obj["prompt"], str):
            raise ConfigError(f"{where}: prompt must be a string")
        return Session((Turn(obj["prompt"], default_max),), extra)
    raw = obj["turns"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TURNS:
        raise ConfigError(f"{where}: turns must be a list of 1..{MAX_TURNS} turns")
    turns = tuple(_turn(t, f"{where}: turns[{i}]", default_max) for i, t in enumerate(raw))
    return Session(turns, extra)


def _turn(raw: Any, where: str, default_max: int | None) -> Turn:
    if isinstance(raw, str):
        return Turn(raw, default_max)
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), str):
        raise ConfigError(f"{where}: a turn is a string or an object with a 'content' string")
    unknown = sorted(set(raw) - _TURN_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (a turn takes content, "
                          "max_tokens, reference)")  # fmt: skip
    reference = raw.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise ConfigError(f"{where}: reference must be a string")
    max_tokens = _max_tokens(raw.get("max_tokens"), f"{where}: max_tokens")
    return Turn(raw["content"], default_max if max_tokens is None else max_tokens, reference)


def _max_tokens(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_TOKENS:
        raise ConfigError(f"{where} must be an integer in 1..{MAX_TOKENS}")
    return value


# -- ShareGPT ----------------------------------------------------------------------------


def _sharegpt(text: str, path: Path) -> SessionFile:
    """Each conversation is a session: each human turn with the reply after it. The
    reply is the turn's reference and its length (estimated tokens) the turn's
    max_tokens, as the single-prompt reading uses the first reply. A human turn with no
    reply after it ends the session there (no length to ask for); a conversation with
    no answered human turn is skipped and counted."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"--prompts-file {path}: invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ConfigError(f"--prompts-file {path}: expected a ShareGPT list of conversations")
    sessions = []
    cut = 0
    for number, convo in enumerate(data, 1):
        raw = convo.get("conversations") if isinstance(convo, dict) else None
        turns = _sharegpt_turns(raw) if isinstance(raw, list) else ()
        if turns:
            check_json([t.text for t in turns], f"--prompts-file {path} entry {number}")
            check_json([t.reference for t in turns], f"--prompts-file {path} entry {number}")
            sessions.append(Session(turns))
            cut += len(turns) == MAX_TURNS
    skipped = len(data) - len(sessions)
    notes = []
    if skipped:
        notes.append(
            f"sessions: {len(sessions):,} of {len(data):,} ShareGPT entries "
            f"({skipped:,} had no answered human turn)"
        )
    if cut:
        notes.append(f"{cut:,} conversations cut at {MAX_TURNS:,} turns")
    return SessionFile(tuple(sessions), "; ".join(notes))


def _sharegpt_turns(messages: Sequence[Any]) -> tuple[Turn, ...]:
    """Each human turn and the model's reply right after it, from the first human turn
    on; the first human turn without such a reply ends the session."""
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("from") != "human":
            continue
        text = message.get("value")
        reply = messages[i + 1] if i + 1 < len(messages) else None
        if not isinstance(text, str) or not text or not _is_reply(reply):
            break  # no answered turn here: the conversation cannot go on past it
        assert isinstance(reply, dict)
        answer = reply.get("value")
        if not isinstance(answer, str) or not answer:
            break
        turns.append(Turn(text, max(1, min(MAX_TOKENS, estimate_tokens(answer))), answer))
        if len(turns) == MAX_TURNS:
            break
    return tuple(turns)


def _is_reply(message: Any) -> bool:
    """A ShareGPT message the model wrote ("gpt", "chatgpt", "bard", ...): not a human
    or system turn, nor a malformed entry."""
    return isinstance(message, dict) and message.get("from") not in ("human", "system", None)


# -- handing them out -------------------------------------------------------------------


def cycle_sessions(sessions: Sequence[Session], order: str, seed: int) -> Iterator[Session]:
    """The sessions forever (as a file's prompts), each with its index (``prompt_id``)."""
    return cycle([replace(s, prompt_id=i) for i, s in enumerate(sessions)], order, seed)


class SyntheticSessions:
    """``--turns N`` (or MEAN:STDDEV) sessions whose user turns are synthetic prompts.
    Session ``p``'s turn count is drawn from its own seeded generator and its turn ``k``
    is the prompt source's item at ``p * MAX_TURNS + k``: the same sessions whatever
    process makes them (:meth:`at`, as shards ask). ``first_turn(item, p)`` may rewrite
    the first turn (a shared prefix starts the session)."""

    def __init__(
        self,
        prompt_at: Callable[[int], WorkloadItem],
        turns: Spread,
        seed: int,
        first_turn: Callable[[WorkloadItem, int], WorkloadItem] | None = None,
    ) -> None:
        self._prompt_at = prompt_at
        self._turns = turns
        self._seed = seed
        self._first_turn = first_turn
        self._next = 0

    def __iter__(self) -> SyntheticSessions:
        return self

    def __next__(self) -> Session:
        session = self.at(self._next)
        self._next += 1
        return session

    def unsent(self) -> Session:
        """A session of the same shape that the run never sends (position -1): the
        pre-flight's first turn, so it warms no cache the run measures."""
        return self.at(-1)

    def at(self, position: int) -> Session:
        count = round(self._turns.draw(self._seed, "turns", position))
        count = min(MAX_TURNS, max(1, count))
        items = [self._prompt_at(position * MAX_TURNS + k) for k in range(count)]
        if self._first_turn is not None:
            items[0] = self._first_turn(items[0], position)
        first = items[0]
        turns = tuple(Turn(item.prompt, item.max_tokens) for item in items)
        return Session(
            turns,
            first.extra_body,
            prompt_id=position,
            prefix_group=first.prefix_group,
            prefix_first=first.prefix_first,
        )


class PrefixedSessions:
    """A file's sessions, each one's first turn rewritten by ``first_turn(item, n)`` (a
    shared prefix; ``n``: the session's position in the run)."""

    def __init__(
        self, sessions: Iterator[Session], first_turn: Callable[[WorkloadItem, int], WorkloadItem]
    ) -> None:
        self._sessions = sessions
        self._first_turn = first_turn
        self._position = 0
        self._peeked: Session | None = None  # read by unsent(), still to be sent

    def __iter__(self) -> PrefixedSessions:
        return self

    def __next__(self) -> Session:
        session, self._peeked = self._peeked or next(self._sessions), None
        self._position += 1
        return self._prefixed(session, self._position - 1)

    def unsent(self) -> Session:
        """The first session with position -1's rewrite (a prefix no session of the run
        takes): the pre-flight's, so it warms no prefix the run measures."""
        if self._peeked is None:
            self._peeked = next(self._sessions)
        return self._prefixed(self._peeked, -1)

    def _prefixed(self, session: Session, position: int) -> Session:
        first = session.turns[0]
        item = self._first_turn(WorkloadItem(first.text, max_tokens=first.max_tokens), position)
        turns = (replace(first, text=item.prompt), *session.turns[1:])
        return replace(
            session, turns=turns, prefix_group=item.prefix_group, prefix_first=item.prefix_first
        )
