"""Field readers and small helpers of the router's parser: typed access to one JSON object's fields.

Each reader checks the one field it reads and raises ``KeyError`` (missing) or ``FieldError`` (wrong type);
``ServerMessageParser.parse`` turns either into a ``ProtocolViolation``. Checks use ``value.__class__ is``
rather than ``isinstance``: JSON only produces exact builtins, and this is the hot path.
"""

from __future__ import annotations

from typing import Any

from events.protocol import ProtocolViolation

RAW_LIMIT = 2048  # characters of a bad message kept in ProtocolViolation.raw
ELIDE_OVER = 256  # strings longer than this in an unknown event are replaced by a marker
DETAIL_LIMIT = 300


class FieldError(Exception):
    """A field is present but has the wrong type or value."""


def req_str(m: dict[str, Any], key: str) -> str:
    value = m[key]
    if value.__class__ is not str:
        raise FieldError(f"{key!r} must be a string")
    return value


def opt_str(m: dict[str, Any], key: str) -> str | None:
    value = m.get(key)
    if value is not None and value.__class__ is not str:
        raise FieldError(f"{key!r} must be a string or null")
    return value


def req_int(m: dict[str, Any], key: str, default: int | None = None) -> int:
    value = m.get(key, default) if default is not None else m[key]
    if value is None and default is not None:
        return default
    if value.__class__ is not int:
        raise FieldError(f"{key!r} must be an integer")
    return value


def req_obj(m: dict[str, Any], key: str) -> dict[str, Any]:
    value = m[key]
    if value.__class__ is not dict:
        raise FieldError(f"{key!r} must be an object")
    return value


def opt_obj(m: dict[str, Any], key: str) -> dict[str, Any]:
    value = m.get(key)
    if value is None:
        return {}
    if value.__class__ is not dict:
        raise FieldError(f"{key!r} must be an object or null")
    return value


def lenient_str(value: Any) -> str | None:
    return None if value is None else str(value)


_TEXT_KEY = {
    "input_audio": "transcript",
    "output_audio": "transcript",
    "audio": "transcript",  # beta content type
    "input_text": "text",
    "output_text": "text",
    "text": "text",  # beta content type
}


def item_text(item: dict[str, Any]) -> str | None:
    """What an item says: the transcript of audio content or the text of text content; None if none yet."""
    content = item.get("content")
    if not isinstance(content, list):
        return None
    pieces: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        key = _TEXT_KEY.get(part.get("type", ""))
        value = part.get(key) if key else None
        if isinstance(value, str):
            pieces.append(value)
    return " ".join(pieces) if pieces else None


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def elide(value: Any) -> Any:
    """A copy of a JSON value with long strings (base64 audio, long instructions) replaced by a marker."""
    if isinstance(value, str):
        return value if len(value) <= ELIDE_OVER else f"<{len(value)} chars elided>"
    if isinstance(value, dict):
        return {k: elide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [elide(v) for v in value]
    return value


def violation(detail: str, raw: str | bytes) -> ProtocolViolation:
    text = raw if isinstance(raw, str) else raw[:RAW_LIMIT].decode("utf-8", "replace")
    return ProtocolViolation(detail=one_line(detail), raw=text[:RAW_LIMIT])
