"""`POST /v1/chat/completions`: an OpenAI-shaped completion without a model.

A request whose instructions ask for a summary (any system or user text mentioning summarise / summary /
résumé) gets a deterministic *extractive* summary of the conversation it carries, in the language and
style the instructions ask for (paragraph, bullets, JSON with the requested keys; English or French): see
`summary.py`. Any other request gets a short echo of the last user message. `stream: true` is answered
with server-sent events.
Errors follow the OpenAI REST shape: `{"error": {"message", "type", "param", "code"}}`. Reasoning chat models
(the o-series and gpt-5.x) refuse `max_tokens` and a `temperature` other than the default 1, as the real
service does, so a client that sends the seed model's parameters to a current model fails here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from pipeline.server.ids import IdGenerator
from pipeline.server.summary import SUMMARY_WORDS, first_sentence, summarise, text_of
from pipeline.server.usage import text_tokens
from pipeline.server.words import word_groups

__all__ = ["completion", "error_body", "reply_for", "sse_chunks", "summarise"]


def error_body(message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


_REASONING_CHAT = re.compile(r"^(o\d|gpt-5)")


def unsupported(body: dict[str, Any]) -> dict[str, Any] | None:
    """The error a reasoning chat model gives for the parameters it does not take, or None."""
    if not _REASONING_CHAT.match(str(body.get("model", ""))):
        return None
    if "max_tokens" in body:
        return error_body(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            code="unsupported_parameter", param="max_tokens",
        )  # fmt: skip
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return error_body(
            f"Unsupported value: 'temperature' does not support {temperature} with this model. Only the default (1) value is supported.",
            code="unsupported_value", param="temperature",
        )  # fmt: skip
    return None


def reply_for(messages: list[dict[str, Any]]) -> str:
    if any(SUMMARY_WORDS.search(text_of(m)) for m in messages if m.get("role") in ("system", "user", "developer")):
        return summarise(messages)
    last_user = next((text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"You said: {first_sentence(last_user, 300)}" if last_user.strip() else "Hello."


def completion(body: Any, ids: IdGenerator, *, now: float) -> tuple[int, dict[str, Any]]:
    """(status, JSON) for a chat completions request body (already parsed), answered at `now` (epoch seconds)."""
    if not isinstance(body, dict):
        return 400, error_body("The request body must be a JSON object.", code="invalid_request_body")
    if "model" not in body:
        return 400, error_body("you must provide a model parameter", code=None, param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return 400, error_body("Invalid 'messages': expected a non-empty array of message objects.", code="invalid_value", param="messages")
    refused = unsupported(body)
    if refused is not None:
        return 400, refused
    content = reply_for(messages)
    prompt_tokens = sum(text_tokens(text_of(m)) + 4 for m in messages)
    completion_tokens = text_tokens(content)
    return 200, {
        "id": "chatcmpl-" + ids.new("c")[2:],
        "object": "chat.completion",
        "created": int(now),
        "model": str(body["model"]),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content, "refusal": None}, "logprobs": None, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": "fp_rtpipe",
    }


async def sse_chunks(result: dict[str, Any]) -> AsyncIterator[bytes]:
    """The same completion as `chat.completion.chunk` server-sent events."""
    base = {"id": result["id"], "object": "chat.completion.chunk", "created": result["created"], "model": result["model"]}
    content = result["choices"][0]["message"]["content"]
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    yield f"data: {json.dumps(first)}\n\n".encode()
    for piece in word_groups(content, 8):
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": result["usage"]}
    yield f"data: {json.dumps(last)}\n\n".encode()
    yield b"data: [DONE]\n\n"
