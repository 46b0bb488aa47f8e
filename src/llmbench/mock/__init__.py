"""The built-in mock server, `llmbench mock`: every provider's wire format on an ideal clock.

The CLI calls `add_arguments(parser)` for the `mock` subcommand and `run(args)`, which
serves until SIGINT/SIGTERM and returns the exit code (0 clean stop, 1 cannot listen,
2 bad flag). `python -m llmbench.mock` runs it without the CLI. On start it prints one
line, `llmbench mock listening on http://HOST:PORT` (`https://` with `--tls-cert`), with
the real port for `--port 0`.

What it serves (`formats.py` lists the families, `formats_*.py` have the exact bytes;
besides OpenAI: Dify, DashScope, Anthropic, Ollama and TGI, each at its own paths):

- `POST /v1/chat/completions`, `POST /v1/completions`: streamed as vLLM does when
  `"stream": true` (head at once; at the first-token time a role chunk plus the first
  token; then one chunk per token; a finish chunk; a usage chunk when
  `stream_options.include_usage`; `data: [DONE]`), else one JSON body. A reply has
  `min(--tokens, max_tokens)` tokens; `finish_reason` is "length" when the request's
  `max_tokens`/`max_completion_tokens` ended it, else "stop". `prompt_tokens` is an
  estimate: whitespace-separated words of the messages/prompt. Without `--model` any
  `model` is accepted and echoed back; `--model NAME` (repeatable) serves only those
  names and answers another with vLLM's 404 body (see `models.py`); a request naming
  none is answered as the first.
- `--text STRING`: the tokens are that text's words instead of the built-in word list.
- `GET /health`, `GET /v1/models` (the `--model` names, else `llmbench-mock`), `GET /stats`
  (the mock's own first-token lateness, counters and slot queue, see `stats.py`).
- `GET /metrics`: its running/waiting requests, token counters and a simulated KV-cache
  use in vLLM's Prometheus names, for `llmbench run --server-metrics` (see `metrics_page.py`).

`--slots K` gives the mock a capacity: at most K replies generate at once and the rest
wait in a FIFO queue, their wait showing up as TTFT; `--itl-per-active-ms A` slows every
token gap by A per active request, as batching does (see `capacity.py`).

Dify's `conversation_id` is issued, echoed and checked (an unknown id gets Dify's 404;
see `conversations.py`); `--prefix-cache` shortens TTFT by the share of the prompt seen
before (see `prefix_cache.py`).

Module map: `http11` (sans-IO request parsing, response bytes), `formats*` (what bytes a
reply is made of, per API family), `models` (the served names, vLLM's 404), `capacity`
(slots and their queue, sans-IO), `conversations` (Dify's conversation ids, sans-IO),
`prefix_cache` (the simulated prefix cache, sans-IO), `engine` (admission, timelines),
`streams` (when each piece is written), `scheduler` (the timer wheel), `server`
(connections and routes), `main` (process).
"""

from llmbench.mock.main import run
from llmbench.mock.options import add_arguments

__all__ = ["add_arguments", "run"]
