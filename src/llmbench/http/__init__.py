"""HTTP plumbing owned by the runner: the request value, the wire parser, the transports."""

from llmbench.http.request import HttpRequest

__all__ = ["HttpRequest"]
