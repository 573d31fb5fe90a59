"""The event base: tags, versions, the registry, and read-only payload values.

An event is a small frozen attrs class (kw_only) with a stable ``TAG`` and an integer ``VERSION``. Tags are
registered once, at import; a duplicate tag is an import error. Where events live in the journal, only the
tag and version are written, never the import path.

Two class-level flags describe how the runtime treats an event type:

- ``DROPPABLE``: audio. When a subscriber's inbox is full the bus drops it for that subscriber (and journals
  the drop) instead of blocking the publisher.
- ``EDGE``: the event brings the outside world in (a microphone chunk, a server message, a tool result, a
  timer expiry). Edge events are produced by shells, never by cores, and replay does not expect a core to
  reproduce them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar, cast

import attrs


class EventError(ValueError):
    """An event cannot be registered, encoded or decoded."""


class FrozenDict(Mapping[str, Any]):
    """A read-only, hashable mapping for genuinely open-ended protocol payloads (usage, error bodies)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self._data.items(), key=lambda kv: kv[0])))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def thaw(self) -> dict[str, Any]:
        return thaw(self)  # type: ignore[no-any-return]


def freeze(value: Any) -> Any:
    """Deep-convert dicts to FrozenDict and lists to tuples so payload values stay immutable."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def freeze_mapping(value: Mapping[str, Any] | None) -> FrozenDict:
    """attrs converter for mapping fields."""
    return freeze(value or {})  # type: ignore[no-any-return]


def thaw(value: Any) -> Any:
    """Inverse of freeze: plain dicts and lists, e.g. for JSON output."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


class Event:
    """Base class of every event. Subclasses are ``@attrs.frozen(kw_only=True)`` and ``@register``-ed."""

    TAG: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    DROPPABLE: ClassVar[bool] = False
    EDGE: ClassVar[bool] = False
    # field names in declaration order, filled in by @register (the codec's fast path)
    FIELDS: ClassVar[tuple[str, ...]] = ()


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}


def register(cls: E) -> E:
    """Class decorator: record the tag of an attrs event class. A duplicate tag raises at import."""
    if not attrs.has(cast(type, cls)):
        raise EventError(f"{cls.__name__} must be an attrs class before @register")
    tag = cls.TAG
    if not tag or not isinstance(tag, str):
        raise EventError(f"{cls.__name__} has no TAG")
    if not isinstance(cls.VERSION, int) or cls.VERSION < 1:
        raise EventError(f"{cls.__name__}.VERSION must be a positive int")
    existing = _REGISTRY.get(tag)
    if existing is not None and existing is not cls:
        raise EventError(f"duplicate event tag {tag!r}: {existing.__qualname__} and {cls.__qualname__}")
    cls.FIELDS = tuple(a.name for a in attrs.fields(cast(Any, cls)))
    _REGISTRY[tag] = cls
    return cls


def event_class(tag: str) -> type[Event]:
    try:
        return _REGISTRY[tag]
    except KeyError:
        raise EventError(f"unknown event tag {tag!r}") from None


def registered_tags() -> dict[str, type[Event]]:
    return dict(_REGISTRY)
