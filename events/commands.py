"""Client commands: what cores ask the uploader to send to the server.

One event type carries every client event except audio appends (those come from ``AudioChunk``). The core
that asks chooses the ``event_id`` (from its own counter or a seq), so replay reproduces it and a server
``error`` can be traced back to the command that caused it. ``body`` is the client event without ``type``
and ``event_id``. Constructors below build the GA shapes of realtime-protocol.md §4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from events.base import Event, FrozenDict, freeze_mapping, register
from events.validators import non_empty, non_negative

CLIENT_EVENT_TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)


@register
@attrs.frozen(kw_only=True)
class ClientCommand(Event):
    TAG: ClassVar[str] = "client.command"
    event_id: str = attrs.field(validator=non_empty)
    type: str = attrs.field(validator=attrs.validators.in_(CLIENT_EVENT_TYPES))
    body: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)

    def wire(self) -> dict[str, Any]:
        """The JSON object sent on the WebSocket."""
        return {"type": self.type, "event_id": self.event_id, **self.body.thaw()}


@register
@attrs.frozen(kw_only=True)
class ClientEventSent(Event):
    """The uploader's edge: a command left on the socket (``bytes`` of JSON)."""

    TAG: ClassVar[str] = "client.sent"
    EDGE: ClassVar[bool] = True
    event_id: str
    type: str
    bytes: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class ClientSendFailed(Event):
    TAG: ClassVar[str] = "client.send_failed"
    EDGE: ClassVar[bool] = True
    event_id: str
    type: str
    error: str


def session_update(event_id: str, session: Mapping[str, Any]) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="session.update", body={"session": dict(session)})


def item_create(event_id: str, item: Mapping[str, Any], previous_item_id: str | None = None) -> ClientCommand:
    body: dict[str, Any] = {"item": dict(item)}
    if previous_item_id is not None:
        body["previous_item_id"] = previous_item_id
    return ClientCommand(event_id=event_id, type="conversation.item.create", body=body)


def system_message(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}


def function_call_output(event_id: str, call_id: str, output: str) -> ClientCommand:
    return item_create(event_id, {"type": "function_call_output", "call_id": call_id, "output": output})


def item_delete(event_id: str, item_id: str) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="conversation.item.delete", body={"item_id": item_id})


def item_retrieve(event_id: str, item_id: str) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="conversation.item.retrieve", body={"item_id": item_id})


def item_truncate(event_id: str, item_id: str, audio_end_ms: int, content_index: int = 0) -> ClientCommand:
    return ClientCommand(
        event_id=event_id,
        type="conversation.item.truncate",
        body={"item_id": item_id, "content_index": content_index, "audio_end_ms": audio_end_ms},
    )


def response_create(event_id: str, response: Mapping[str, Any] | None = None) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="response.create", body={"response": dict(response)} if response else {})


def response_cancel(event_id: str) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="response.cancel")


def commit(event_id: str) -> ClientCommand:
    return ClientCommand(event_id=event_id, type="input_audio_buffer.commit")


def tools_param(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(t) for t in tools]
