"""msgpack codec for events, and the ordered upcaster chain.

An event's payload is a msgpack map of its fields; ``bytes`` stay raw ``bin`` (PCM never becomes base64 in a
journal), tuples are arrays, read-only mappings are maps. Decoding an older ``VERSION`` runs the ordered
``dict -> dict`` upcasters for its tag, then builds the current class, so its validators run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from events.base import Event, EventError, FrozenDict, event_class, thaw

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# tag -> {from_version: function producing the payload of from_version + 1}
_UPCASTERS: dict[str, dict[int, Upcaster]] = {}


def upcaster(tag: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a pure ``dict -> dict`` step turning version ``from_version`` of ``tag`` into the next."""

    def wrap(fn: Upcaster) -> Upcaster:
        steps = _UPCASTERS.setdefault(tag, {})
        if from_version in steps:
            raise EventError(f"duplicate upcaster for {tag!r} v{from_version}")
        steps[from_version] = fn
        return fn

    return wrap


def upcast(tag: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    cls = event_class(tag)
    if version > cls.VERSION:
        raise EventError(f"{tag!r} v{version} is newer than this rtpipe knows (v{cls.VERSION}): upgrade rtpipe")
    steps = _UPCASTERS.get(tag, {})
    while version < cls.VERSION:
        step = steps.get(version)
        if step is None:
            raise EventError(f"no upcaster for {tag!r} v{version} -> v{version + 1}")
        payload = step(dict(payload))
        version += 1
    return payload


def _plain(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return thaw(value)
    if isinstance(value, tuple) and any(isinstance(v, FrozenDict) for v in value):
        return thaw(value)
    return value


_NEEDS_THAW: dict[type[Event], bool] = {}


def _needs_thaw(cls: type[Event]) -> bool:
    """Whether any field of ``cls`` may hold a FrozenDict (decided once per class from its annotations)."""
    import attrs

    flag = _NEEDS_THAW.get(cls)
    if flag is None:
        flag = any(
            "FrozenDict" in str(a.type) or "Any" in str(a.type) or a.type is None for a in attrs.fields(cls)  # type: ignore[arg-type]
        )
        _NEEDS_THAW[cls] = flag
    return flag


def payload_of(event: Event) -> dict[str, Any]:
    """The event's fields as a plain map (the msgpack payload)."""
    if _needs_thaw(type(event)):
        return {name: _plain(getattr(event, name)) for name in event.FIELDS}
    return {name: getattr(event, name) for name in event.FIELDS}


def event_from_payload(tag: str, version: int, payload: dict[str, Any]) -> Event:
    """Build the current class from a stored payload, upcasting older versions first."""
    cls = event_class(tag)
    if version != cls.VERSION:
        payload = upcast(tag, version, payload)
    try:
        return cls(**payload)
    except (TypeError, ValueError) as exc:
        raise EventError(f"bad payload for {tag!r} v{version}: {exc}") from exc


_packer_options = {"use_bin_type": True}


def encode_event(event: Event) -> bytes:
    """Stand-alone encoding of one event: ``[tag, version, payload]``."""
    data: bytes = msgpack.packb([event.TAG, event.VERSION, payload_of(event)], **_packer_options)
    return data


def decode_event(data: bytes) -> Event:
    try:
        tag, version, payload = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise EventError(f"not an encoded event: {exc}") from exc
    return event_from_payload(tag, version, dict(payload))
