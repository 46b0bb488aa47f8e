"""`llmbench run`'s session checks: whether a run sends multi-turn sessions, and its
:class:`~llmbench.sessions.SessionPlan`. Like :mod:`llmbench.prepare`, every mistake
is found here, before the run (ConfigError, exit 2).

A run sends sessions when ``--turns`` is given (synthetic), ``--sessions`` reads a
ShareGPT file, or a ``.jsonl`` prompts file has ``{"turns": [...]}`` lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from llmbench.config import ConfigError, RunConfig
from llmbench.session_sources import (
    PrefixedSessions,
    SyntheticSessions,
    cycle_sessions,
    is_session_file,
    load_sessions,
)
from llmbench.sessions import (
    MAX_THINK_S,
    MAX_TURNS,
    Session,
    SessionPlan,
    SessionState,
    Spread,
    history_style,
    parse_spread,
)
from llmbench.workload import WorkloadItem

__all__ = ["SessionSource", "first_turn", "session_plan", "session_source"]

# A turn's item at a position, and the first turn's rewrite (a shared prefix).
PromptAt = Callable[[int], WorkloadItem]
FirstTurn = Callable[[WorkloadItem, int], WorkloadItem]


@dataclass(frozen=True, slots=True)
class SessionSource:
    """A run's sessions, before the provider (and so the history style) is known."""

    sessions: Iterator[Session]
    note: str


def sends_sessions(cfg: RunConfig) -> bool:
    """Whether the run's unit of work is a session (see the module docstring)."""
    path = cfg.prompts_file
    return cfg.turns is not None or (path is not None and is_session_file(path, cfg.sessions))


def session_source(
    cfg: RunConfig, prompt_at: PromptAt, first: FirstTurn | None
) -> SessionSource | None:
    """The run's sessions (None: it sends single requests). ``prompt_at(position)`` is
    the synthetic prompt source a ``--turns`` session's turns come from, ``first`` the
    shared prefix's rewrite of a session's first turn (None without one)."""
    if not sends_sessions(cfg):
        for flag, given in (
            ("--think-time", cfg.think_time is not None),
            ("--history", cfg.history != "actual"),
        ):
            if given:
                raise ConfigError(
                    f"{flag} applies to sessions: give --turns N, a --prompts-file with "
                    '{"turns": [...]} lines, or --sessions with a ShareGPT file'
                )
        return None
    if cfg.prompts_file is not None:
        loaded = load_sessions(cfg.prompts_file, reference=cfg.history == "reference")
        sessions = cycle_sessions(loaded.sessions, cfg.order, cfg.seed)
        if first is not None:
            sessions = PrefixedSessions(sessions, first)
        count = len(loaded.sessions)
        note = f"sessions: {count:,} in the file, {loaded.turns / count:.1f} turns each on average"
        return SessionSource(sessions, "; ".join(n for n in (loaded.note, note) if n))
    assert cfg.turns is not None
    turns = parse_spread(cfg.turns, "--turns", low=1, high=MAX_TURNS, integer=True)
    return SessionSource(
        SyntheticSessions(prompt_at, turns, cfg.seed, first),
        f"sessions: synthetic, {cfg.turns} turns each",
    )


def session_plan(cfg: RunConfig, source: SessionSource, provider: object) -> SessionPlan:
    """How the sessions are sent to ``provider`` (its history style)."""
    style = history_style(provider)
    reference = cfg.history == "reference"
    given: object = getattr(cfg.provider_options, "conversation_id", None)
    if style == "server" and given:
        raise ConfigError(
            "--conversation-id: each session starts its own conversation (give it for "
            "single requests only)"
        )
    if reference and style == "server":
        raise ConfigError(
            f"--history reference: --provider {cfg.provider} keeps the history itself "
            "(a later turn sends only its conversation_id)"
        )
    think: Spread | None = None
    if cfg.think_time is not None:
        think = parse_spread(cfg.think_time, "--think-time", low=0, high=MAX_THINK_S, integer=False)
    return SessionPlan(source.sessions, style, reference, think)


def first_turn(plan: SessionPlan, session: Session) -> WorkloadItem:
    """A session's first request, as the run sends it (the pre-flight's)."""
    return SessionState(session, 0, plan.style, reference=plan.reference).request()
