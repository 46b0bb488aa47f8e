"""llmbench: a load generator and benchmark for streaming LLM inference endpoints."""

__all__ = ["__version__"]

__version__ = "0.1.0"
