"""The event vocabulary: one module per family, all registered on import of this package."""

from events import (
    audio,
    commands,
    connection,
    levels,
    playback,
    protocol,
    runtime,
    summary,
    tools,
    transcripts,
)
from events.base import Event, EventError, FrozenDict, event_class, freeze, register, registered_tags, thaw
from events.codec import decode_event, encode_event, event_from_payload, payload_of, upcaster
from events.envelope import Envelope

__all__ = [
    "Envelope",
    "Event",
    "EventError",
    "FrozenDict",
    "audio",
    "commands",
    "connection",
    "decode_event",
    "encode_event",
    "event_class",
    "event_from_payload",
    "freeze",
    "levels",
    "payload_of",
    "playback",
    "protocol",
    "register",
    "registered_tags",
    "runtime",
    "summary",
    "thaw",
    "tools",
    "transcripts",
    "upcaster",
]
