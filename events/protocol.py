"""Typed events the router publishes for what the Realtime server sends (all are edges: they bring the
server's words into the session). Audio arrives here as raw PCM16 bytes; base64 stays on the wire.

Open-ended protocol bodies (usage, status details, errors, session objects) are read-only mappings.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from events.base import Event, FrozenDict, freeze, freeze_mapping, register
from events.validators import even_length, non_negative, str_tuple


def _pcm_repr(b: bytes) -> str:
    return f"<{len(b)} bytes>"


def _frozen_tuple(values: Any) -> tuple[Any, ...]:
    return tuple(freeze(v) for v in values)


class ServerEvent(Event):
    """Base of router events."""

    EDGE: ClassVar[bool] = True


@register
@attrs.frozen(kw_only=True)
class SessionCreated(ServerEvent):
    TAG: ClassVar[str] = "rt.session.created"
    session_id: str
    session: FrozenDict = attrs.field(converter=freeze_mapping, repr=False)


@register
@attrs.frozen(kw_only=True)
class SessionUpdated(ServerEvent):
    TAG: ClassVar[str] = "rt.session.updated"
    session: FrozenDict = attrs.field(converter=freeze_mapping, repr=False)


@register
@attrs.frozen(kw_only=True)
class SpeechStarted(ServerEvent):
    """Server VAD heard the user start speaking; ``item_id`` is the user item the commit will create."""

    TAG: ClassVar[str] = "rt.speech.started"
    item_id: str
    audio_start_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class SpeechStopped(ServerEvent):
    TAG: ClassVar[str] = "rt.speech.stopped"
    item_id: str
    audio_end_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class AudioCommitted(ServerEvent):
    TAG: ClassVar[str] = "rt.audio.committed"
    item_id: str
    previous_item_id: str | None = None


@register
@attrs.frozen(kw_only=True)
class AudioBufferCleared(ServerEvent):
    TAG: ClassVar[str] = "rt.audio.cleared"


@register
@attrs.frozen(kw_only=True)
class ItemAdded(ServerEvent):
    """``conversation.item.added`` (or the beta ``.created``): any item entered the conversation.

    ``text`` is what the item already carries (input_text, a transcript, output text), None when unknown.
    """

    TAG: ClassVar[str] = "rt.item.added"
    item_id: str
    previous_item_id: str | None = None
    item_type: str  # message | function_call | function_call_output | ...
    role: str | None = None
    status: str | None = None
    text: str | None = None
    call_id: str | None = None
    name: str | None = None


@register
@attrs.frozen(kw_only=True)
class ItemDone(ServerEvent):
    TAG: ClassVar[str] = "rt.item.done"
    item_id: str
    previous_item_id: str | None = None
    item_type: str
    role: str | None = None
    status: str | None = None
    text: str | None = None


@register
@attrs.frozen(kw_only=True)
class ItemDeleted(ServerEvent):
    TAG: ClassVar[str] = "rt.item.deleted"
    item_id: str


@register
@attrs.frozen(kw_only=True)
class ItemTruncated(ServerEvent):
    TAG: ClassVar[str] = "rt.item.truncated"
    item_id: str
    content_index: int = 0
    audio_end_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class ItemRetrieved(ServerEvent):
    """``conversation.item.retrieved``: the item as the server holds it (audio bytes are not kept)."""

    TAG: ClassVar[str] = "rt.item.retrieved"
    item_id: str
    item_type: str
    role: str | None = None
    status: str | None = None
    text: str | None = None  # transcript or text content, None when the server has none yet


@register
@attrs.frozen(kw_only=True)
class InputTranscriptDelta(ServerEvent):
    TAG: ClassVar[str] = "rt.input_transcript.delta"
    item_id: str
    content_index: int = 0
    delta: str


@register
@attrs.frozen(kw_only=True)
class InputTranscriptCompleted(ServerEvent):
    TAG: ClassVar[str] = "rt.input_transcript.completed"
    item_id: str
    content_index: int = 0
    transcript: str
    usage: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)


@register
@attrs.frozen(kw_only=True)
class InputTranscriptFailed(ServerEvent):
    TAG: ClassVar[str] = "rt.input_transcript.failed"
    item_id: str
    content_index: int = 0
    error: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)


@register
@attrs.frozen(kw_only=True)
class ResponseCreated(ServerEvent):
    """``response.created``. ``out_of_band``: the response's ``conversation_id`` is null, i.e. it was created
    with ``conversation: "none"`` (its items never enter the conversation, and it answers no user turn)."""

    TAG: ClassVar[str] = "rt.response.created"
    response_id: str
    out_of_band: bool = False


@register
@attrs.frozen(kw_only=True)
class OutputItemAdded(ServerEvent):
    """``response.output_item.added``: the response started an item (assistant message or function call)."""

    TAG: ClassVar[str] = "rt.output_item.added"
    response_id: str
    item_id: str
    output_index: int = 0
    item_type: str
    role: str | None = None


@register
@attrs.frozen(kw_only=True)
class AssistantAudioDelta(ServerEvent):
    """A piece of assistant speech (24 kHz PCM16). Not droppable: playback must hear all of it."""

    TAG: ClassVar[str] = "rt.assistant.audio.delta"
    response_id: str
    item_id: str
    content_index: int = 0
    pcm: bytes = attrs.field(validator=even_length, repr=_pcm_repr)


@register
@attrs.frozen(kw_only=True)
class AssistantAudioDone(ServerEvent):
    TAG: ClassVar[str] = "rt.assistant.audio.done"
    response_id: str
    item_id: str


@register
@attrs.frozen(kw_only=True)
class AssistantTextDelta(ServerEvent):
    """Assistant transcript (``modality="audio"``) or text (``modality="text"``) delta."""

    TAG: ClassVar[str] = "rt.assistant.text.delta"
    response_id: str
    item_id: str
    modality: str = attrs.field(validator=attrs.validators.in_(("audio", "text")))
    delta: str


@register
@attrs.frozen(kw_only=True)
class AssistantTextDone(ServerEvent):
    TAG: ClassVar[str] = "rt.assistant.text.done"
    response_id: str
    item_id: str
    modality: str = attrs.field(validator=attrs.validators.in_(("audio", "text")))
    text: str


@register
@attrs.frozen(kw_only=True)
class FunctionCallRequested(ServerEvent):
    """``response.function_call_arguments.done``: the model wants a tool run. ``arguments`` is raw JSON text."""

    TAG: ClassVar[str] = "rt.function_call"
    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: str


@register
@attrs.frozen(kw_only=True)
class ResponseDone(ServerEvent):
    """``response.done``: status (completed, cancelled, failed, incomplete), why, usage, and output items."""

    TAG: ClassVar[str] = "rt.response.done"
    response_id: str
    status: str
    status_details: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)
    usage: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)
    output_item_ids: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    output_types: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)

    @property
    def total_tokens(self) -> int | None:
        value = self.usage.get("total_tokens")
        return int(value) if isinstance(value, int) else None

    @property
    def has_function_calls(self) -> bool:
        return "function_call" in self.output_types


@register
@attrs.frozen(kw_only=True)
class RateLimitsUpdated(ServerEvent):
    TAG: ClassVar[str] = "rt.rate_limits"
    rate_limits: tuple[FrozenDict, ...] = attrs.field(default=(), converter=_frozen_tuple)


@register
@attrs.frozen(kw_only=True)
class ServerError(ServerEvent):
    """An ``error`` event. ``client_event_id`` names the client event that caused it, when the server says."""

    TAG: ClassVar[str] = "rt.error"
    error_type: str = ""
    code: str | None = None
    message: str = ""
    param: str | None = None
    client_event_id: str | None = None

    def one_line(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"server error{code}: {self.message}".strip()


@register
@attrs.frozen(kw_only=True)
class UnknownServerEvent(ServerEvent):
    """A well-formed event of a type the router does not model; kept verbatim (audio-free) for the record."""

    TAG: ClassVar[str] = "rt.unknown"
    type: str
    raw: str


@register
@attrs.frozen(kw_only=True)
class ProtocolViolation(ServerEvent):
    """A server message the router could not accept (malformed JSON, a missing field). The session goes on."""

    TAG: ClassVar[str] = "rt.protocol_violation"
    detail: str
    raw: str = attrs.field(repr=lambda s: repr(s[:60]))


@register
@attrs.frozen(kw_only=True)
class StateViolation(ServerEvent):
    """A well-formed server event that contradicts what this connection has said so far: a ``response.done``
    for a response never created (or already done), an output item or delta of such a response, a
    ``conversation.item.done``/``.deleted``/``.truncated`` of an item the conversation never had. The router
    publishes this instead of the event, so nothing else changes: the turn, the tools, the ledger and the
    conversation never see it. ``server_type`` is the GA type of the refused event; ``reason`` is one line."""

    TAG: ClassVar[str] = "rt.state_violation"
    server_type: str
    reason: str
    response_id: str | None = None
    item_id: str | None = None

    def one_line(self) -> str:
        return f"protocol violation: {self.reason}"


@register
@attrs.frozen(kw_only=True)
class ConnectionClosed(ServerEvent):
    """The WebSocket closed (by the server, the network, or us)."""

    TAG: ClassVar[str] = "rt.connection.closed"
    code: int | None = None
    reason: str = ""
    by_us: bool = False

