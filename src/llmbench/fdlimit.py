"""Open-file headroom: every in-flight request holds a socket.

A concurrency above the soft RLIMIT_NOFILE would fail mid-run with EMFILE, which
looks like a server problem. Raise the soft limit up to the hard one before the
run, or stop with a clear message when even the hard limit is too low.
"""

from __future__ import annotations

from llmbench.config import ConfigError

__all__ = ["FD_HEADROOM", "ensure_fd_limit"]

# Files the process needs besides one socket per request: stdio, results.jsonl,
# the event loop's own descriptors, TLS/CA files, a few spares.
FD_HEADROOM = 64


def ensure_fd_limit(concurrency: int) -> int | None:
    """The new soft limit when it had to be raised, else None; ConfigError if impossible."""
    try:
        import resource
    except ImportError:  # not on this platform: nothing to check
        return None
    needed = concurrency + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"--concurrency {concurrency} needs {needed} open files, but the hard limit is "
            f"{hard}: raise it (ulimit -Hn) or lower --concurrency"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed
