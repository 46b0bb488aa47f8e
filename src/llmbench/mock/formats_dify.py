"""Dify chat apps: `POST /v1/chat-messages`.

Written from Dify's "Send Chat Message" API reference
(https://docs.dify.ai/en/api-reference/chat-messages/send-chat-message) and its
streaming guide. With `response_mode: "streaming"` each event is `data: {json}` naming
itself in `event`; only the keep-alive ping is a bare `event: ping` block with no data.
A chatflow app streams `workflow_started` and `node_started` first, then one `message`
event per token (`answer` is the new text), then `node_finished`, `workflow_finished`
and `message_end` with `metadata.usage`. `response_mode: "blocking"` (the default)
answers one JSON object with the whole `answer`. `query` and `user` are required.

`conversation_id` (empty or absent: a new conversation) is handed to the server, which
issues or checks it (`conversations.py`); every message event and `message_end` carry
the id it settled on.
"""

from __future__ import annotations

import orjson

from llmbench.mock.formats_base import (
    DEFAULT_MODEL,
    JSON_TYPE,
    SSE_TYPE,
    Body,
    Endpoint,
    FormatError,
    GenRequest,
    HeaderLookup,
    Reply,
    StreamEvents,
    Vocab,
    count_words,
    get_str,
    load_object,
    sse,
)

__all__ = ["ChatMessages", "endpoints"]

_PING = b"event: ping\n\n"
_MODES = ("streaming", "blocking")


def _usage(reply: Reply) -> dict[str, object]:
    """`metadata.usage` as documented; prices are zero (the mock is free) and the
    `latency` field is left out (a format has no clock)."""
    prompt = reply.request.prompt_tokens
    usage: dict[str, object] = {"prompt_tokens": prompt}
    usage.update(dict.fromkeys(("prompt_unit_price", "prompt_price_unit", "prompt_price"), "0"))
    usage["completion_tokens"] = reply.n
    usage.update(
        dict.fromkeys(("completion_unit_price", "completion_price_unit", "completion_price"), "0")
    )
    usage.update({"total_tokens": prompt + reply.n, "total_price": "0", "currency": "USD"})
    return usage


def _ids(reply: Reply) -> dict[str, object]:
    """The ids every message event of one reply carries."""
    rid = reply.rid
    return {
        "task_id": f"task-{rid}",
        "id": rid,
        "message_id": rid,
        "conversation_id": reply.request.conversation or "",
        "created_at": reply.created,
    }


def _workflow(reply: Reply, event: str, data: dict[str, object]) -> bytes:
    run = f"run-{reply.rid}"
    body = {"event": event, "task_id": f"task-{reply.rid}", "workflow_run_id": run, "data": data}
    return sse(orjson.dumps(body))


class ChatMessages:
    """`POST /v1/chat-messages` of a chatflow app whose one LLM node streams the answer."""

    family = "dify"
    path = "/v1/chat-messages"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def parse(self, body: bytes, header: HeaderLookup) -> GenRequest:
        data = load_object(body)
        query = data.get("query")
        if not isinstance(query, str) or not query:
            raise FormatError("query is required", "query")
        user = get_str(data, "user", "")
        if not user:
            raise FormatError("user is required", "user")
        mode = get_str(data, "response_mode", "blocking")
        if mode not in _MODES:
            raise FormatError(f"response_mode must be streaming or blocking, got {mode!r}")
        if not isinstance(data.get("inputs", {}), dict):
            raise FormatError("inputs must be an object", "inputs")
        return GenRequest(
            model=DEFAULT_MODEL,  # the app picks the model, the request cannot
            max_tokens=None,
            stream=mode == "streaming",
            include_usage=True,
            prompt_tokens=count_words(query),
            prompt=query,
            conversation=get_str(data, "conversation_id", ""),
            user=user,
        )

    def stream(self, reply: Reply) -> StreamEvents:
        ids = orjson.dumps(_ids(reply))[1:-1]  # the fields, without the braces
        rid, created = reply.rid, reply.created
        run = {"id": f"run-{rid}", "workflow_id": "llmbench-mock", "created_at": created}
        node = {
            "id": f"node-{rid}",
            "node_id": "llm",
            "node_type": "llm",
            "title": "LLM",
            "index": 1,
            "predecessor_node_id": "start",
            "inputs": {},
            "created_at": created,
        }
        spent = {"total_tokens": reply.n, "total_price": 0.0, "currency": "USD"}
        node_done = {**node, "outputs": {}, "status": "succeeded", "execution_metadata": spent}
        run_done = {**run, "outputs": {}, "status": "succeeded", "total_tokens": reply.n}
        run_done.update({"total_steps": 1, "finished_at": created})
        end = {"event": "message_end", **_ids(reply), "metadata": _metadata(reply)}
        return StreamEvents(
            content_type=SSE_TYPE,
            preamble=(
                _PING,
                _workflow(reply, "workflow_started", run),
                _workflow(reply, "node_started", node),
            ),
            first=(),
            tokens=tuple(
                sse(b'{"event":"message",' + ids + b',"answer":' + w + b"}")
                for w in self.vocab.json
            ),
            tail=(
                _workflow(reply, "node_finished", node_done),
                _workflow(reply, "workflow_finished", run_done),
                sse(orjson.dumps(end)),
            ),
        )

    def body(self, reply: Reply) -> Body:
        answer = {
            "event": "message",
            **_ids(reply),
            "mode": "advanced-chat",
            "answer": self.vocab.text(reply.n),
            "metadata": _metadata(reply),
        }
        return Body(JSON_TYPE, orjson.dumps(answer))


def _metadata(reply: Reply) -> dict[str, object]:
    return {"usage": _usage(reply), "retriever_resources": []}


def endpoints(vocab: Vocab) -> tuple[Endpoint, ...]:
    """The family's routes, rendering replies from `vocab`."""
    return (ChatMessages(vocab),)
