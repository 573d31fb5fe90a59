"""Small attrs validators shared by event families."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs


def str_tuple(values: Iterable[Any]) -> tuple[str, ...]:
    """Converter: any iterable of ids or names (a list read back from msgpack, a tuple) as a tuple of str."""
    return tuple(str(v) for v in values)


def non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float | int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def positive(_inst: Any, attribute: attrs.Attribute[Any], value: float | int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def non_empty(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


def even_length(_inst: Any, attribute: attrs.Attribute[Any], value: bytes) -> None:
    if len(value) % 2:
        raise ValueError(f"{attribute.name} must hold whole PCM16 samples (even length), got {len(value)} bytes")
