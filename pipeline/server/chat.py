"""`POST /v1/chat/completions`: an OpenAI-shaped completion without a model.

A request whose instructions ask for a summary (any system or user text mentioning summarise / summary /
résumé) gets a deterministic *extractive* summary of the conversation it carries: the first sentence of
each user and assistant turn, role-labelled, trimmed, in the original order, so the key nouns survive into
the summary (and a later "what did we talk about first" finds them). Tool lines and the assistant's
"(called the tool ...)" lines are left out: the spoken answer that follows says what mattered. A previous
summary (a "system:" line) comes first, without its heading and at most half the length, so summaries of
summaries neither nest nor grow. Asked for French, it is headed in French. Any other
request gets a short echo of the last user message. `stream: true` is answered with server-sent events.
Errors follow the OpenAI REST shape: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Final

from pipeline.server.ids import IdGenerator
from pipeline.server.usage import text_tokens

_ROLE_LINE: Final = re.compile(r"^\s*\[?\s*(user|assistant|system|tool)\s*\]?\s*[:\-]?\s*(.*)$", re.IGNORECASE)
_SUMMARY_WORDS: Final = re.compile(r"summari[sz]|summary|résum|resum", re.IGNORECASE)
_MAX_SUMMARY_CHARS: Final = 900
_ENGLISH_ROLES: Final = {"user": "the user", "assistant": "the assistant"}
_FRENCH_ROLES: Final = {"user": "l'utilisateur", "assistant": "l'assistant"}
_FRENCH_HEAD: Final = "Résumé de la conversation. "
_ENGLISH_HEAD: Final = "Summary of the conversation so far. "


def error_body(message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _first_sentence(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return _shorten(match.group(1) if match else text, limit)


def _conversation_lines(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) turns: role-labelled lines inside the prompt if any, else the non-instruction messages."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        for line in _text_of(message).splitlines():
            match = _ROLE_LINE.match(line)
            if match and match.group(2).strip():
                turns.append((match.group(1).lower(), match.group(2).strip()))
    if turns:
        return turns
    return [
        (str(m.get("role", "user")), _text_of(m))
        for m in messages
        if _text_of(m).strip() and not _SUMMARY_WORDS.search(_text_of(m))
    ]


def summarise(messages: list[dict[str, Any]]) -> str:
    instructions = " ".join(_text_of(m) for m in messages if _SUMMARY_WORDS.search(_text_of(m)))
    french = bool(re.search(r"\bfrench\b|français|francais", instructions, re.IGNORECASE))
    names = _FRENCH_ROLES if french else _ENGLISH_ROLES
    previous: list[str] = []
    pieces: list[str] = []
    for role, text in _conversation_lines(messages):
        if role == "tool" or (role == "assistant" and text.startswith("(called the tool")):
            continue
        if role == "system":  # an earlier summary, folded in first without its heading
            body = text
            for head in (_FRENCH_HEAD.strip(), _ENGLISH_HEAD.strip()):
                while body.startswith(head):
                    body = body[len(head) :].strip()
            if body:
                previous.append(_shorten(body, _MAX_SUMMARY_CHARS // 2))
            continue
        sentence = _first_sentence(text)
        if sentence:
            pieces.append(f"{names.get(role, role)}: {sentence}")
    head = _FRENCH_HEAD if french else _ENGLISH_HEAD
    pieces = previous + pieces
    summary = _shorten(head + " ".join(pieces), _MAX_SUMMARY_CHARS)
    return summary if pieces else head + ("Rien à résumer." if french else "Nothing to summarise.")


def reply_for(messages: list[dict[str, Any]]) -> str:
    if any(_SUMMARY_WORDS.search(_text_of(m)) for m in messages if m.get("role") in ("system", "user", "developer")):
        return summarise(messages)
    last_user = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"You said: {_first_sentence(last_user, 300)}" if last_user.strip() else "Hello."


def completion(body: Any, ids: IdGenerator, *, now: float | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON) for a chat completions request body (already parsed)."""
    if not isinstance(body, dict):
        return 400, error_body("The request body must be a JSON object.", code="invalid_request_body")
    if "model" not in body:
        return 400, error_body("you must provide a model parameter", code=None, param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return 400, error_body("Invalid 'messages': expected a non-empty array of message objects.", code="invalid_value", param="messages")
    content = reply_for(messages)
    prompt_tokens = sum(text_tokens(_text_of(m)) + 4 for m in messages)
    completion_tokens = text_tokens(content)
    return 200, {
        "id": "chatcmpl-" + ids.new("c")[2:],
        "object": "chat.completion",
        "created": int(time.time() if now is None else now),
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
    words = content.split(" ")
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    yield f"data: {json.dumps(first)}\n\n".encode()
    for index in range(0, len(words), 8):
        piece = " ".join(words[index : index + 8]) + (" " if index + 8 < len(words) else "")
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": result["usage"]}
    yield f"data: {json.dumps(last)}\n\n".encode()
    yield b"data: [DONE]\n\n"
