"""Trace operations (plain data) and the small pure helpers the tracer core uses to build them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from events.base import thaw


class Op(NamedTuple):
    """One trace operation: ``kind`` (``trace.start``, ``generation.result``...), the entity id, its data."""

    kind: str
    id: str
    data: Mapping[str, Any]


def parse_tags(value: Any) -> dict[str, str]:
    """Session tags from a mapping or ``"k=v,k2=v2"`` text (the seed's ``maxim-session-tags`` header)."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    tags: dict[str, str] = {}
    for part in str(value or "").split(","):
        key, sep, val = part.partition("=")
        if key.strip() and sep:
            tags[key.strip()] = val.strip()
    return tags


def safe_id(text: str) -> str:
    """Maxim accepts ids of ``[A-Za-z0-9_-]`` only; anything else becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text) or "session"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def chat_usage(usage: Mapping[str, Any]) -> dict[str, Any] | None:
    """Realtime usage (``input_tokens``/``output_tokens``) as chat-completions usage; chat usage passes through."""
    if not usage:
        return None
    if "prompt_tokens" in usage:
        return thaw(usage)  # type: ignore[no-any-return]
    prompt = _int(usage.get("input_tokens")) or 0
    completion = _int(usage.get("output_tokens")) or 0
    total = _int(usage.get("total_tokens"))
    mapped: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    for ours, theirs in (("input_token_details", "prompt_tokens_details"), ("output_token_details", "completion_tokens_details")):
        details = usage.get(ours)
        if isinstance(details, Mapping):
            mapped[theirs] = {k: v for k, v in thaw(details).items() if _int(v) is not None}
    return mapped


def tool_error(output: str) -> tuple[str, str] | None:
    """``(message, kind)`` when a tool output is the tools actor's error object, else None."""
    try:
        value = json.loads(output)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        kind = value.get("kind")
        return value["error"], kind if isinstance(kind, str) else "tool_error"
    return None
