"""Server message → typed events: the router's pure parser (the hot path of every session).

Theory of operation
-------------------
One text frame carries one server event. ``ServerMessageParser.parse(text)`` does ``json.loads`` once, looks
the ``type`` up in a dict of small functions, and each function reads only the fields its event needs,
checking their types as it goes. That is all the validation there is, and it is enough: every field an event
keeps is checked, and unknown fields (``obfuscation``, ``logprobs``, whatever the server adds next) are never
looked at. Audio deltas are base64-decoded here, strictly, into raw PCM; nothing downstream sees base64.

Outcomes of one message, and the only ones:

- a known GA (or legacy beta) type → its events (usually one);
- a type the router reads but deliberately drops (content parts, argument deltas, ``output_item.done``,
  ``conversation.created``) → nothing;
- any other well-formed type → ``UnknownServerEvent`` with the JSON, big strings (audio) elided;
- malformed JSON, a non-object, a missing ``type``, a missing or mistyped field, bad base64, odd PCM length
  → ``ProtocolViolation`` with a one-line detail and the raw text cut to ~2 KB.

``parse`` never raises: a bad message becomes one event and the next message parses as usual.

State: the parser remembers function-call names by item id and call id (from ``output_item.added`` or
``conversation.item.added``), so ``function_call_arguments.done`` without a ``name`` still names its tool.
Entries are dropped when the call is done or its response is done, so memory stays bounded.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from typing import Any

from actors.router.fields import (
    FieldError,
    elide,
    item_text,
    lenient_str,
    opt_obj,
    opt_str,
    req_int,
    req_obj,
    req_str,
    violation,
)
from events.base import Event
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AssistantTextDelta,
    AssistantTextDone,
    AudioBufferCleared,
    AudioCommitted,
    FunctionCallRequested,
    InputTranscriptCompleted,
    InputTranscriptDelta,
    InputTranscriptFailed,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemRetrieved,
    ItemTruncated,
    OutputItemAdded,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    UnknownServerEvent,
)

UNKNOWN_RAW_LIMIT = 8192  # characters of an unknown event's JSON kept (after eliding big strings)
MAX_REMEMBERED_CALLS = 256

# Read and dropped on purpose: their content reaches us again in a richer event (content parts in the item
# and text events, argument deltas in ``function_call_arguments.done``, ``output_item.done`` in
# ``conversation.item.done``), or they are legacy noise (``conversation.created``).
IGNORED_TYPES = frozenset(
    {
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.output_item.done",
        "conversation.created",
    }
)

_a2b = binascii.a2b_base64
Handler = Callable[[dict[str, Any]], list[Event]]


class ServerMessageParser:
    """Parse server text frames into events. One instance per connection (it remembers tool names)."""

    def __init__(self) -> None:
        # item_id or call_id → (call_id, name) of function calls announced but not yet done
        self._calls: dict[str, tuple[str | None, str]] = {}
        self._handlers: dict[str, Handler] = {
            "session.created": self._session_created,
            "session.updated": self._session_updated,
            "input_audio_buffer.speech_started": self._speech_started,
            "input_audio_buffer.speech_stopped": self._speech_stopped,
            "input_audio_buffer.committed": self._committed,
            "input_audio_buffer.cleared": self._cleared,
            "conversation.item.added": self._item_added,
            "conversation.item.created": self._item_added,  # beta name
            "conversation.item.done": self._item_done,
            "conversation.item.deleted": self._item_deleted,
            "conversation.item.truncated": self._item_truncated,
            "conversation.item.retrieved": self._item_retrieved,
            "conversation.item.input_audio_transcription.delta": self._transcript_delta,
            "conversation.item.input_audio_transcription.completed": self._transcript_completed,
            "conversation.item.input_audio_transcription.failed": self._transcript_failed,
            "response.created": self._response_created,
            "response.output_item.added": self._output_item_added,
            "response.output_audio.delta": self._audio_delta,
            "response.audio.delta": self._audio_delta,  # beta name
            "response.output_audio.done": self._audio_done,
            "response.audio.done": self._audio_done,  # beta name
            "response.output_audio_transcript.delta": self._transcript_text_delta,
            "response.audio_transcript.delta": self._transcript_text_delta,  # beta name
            "response.output_audio_transcript.done": self._transcript_text_done,
            "response.audio_transcript.done": self._transcript_text_done,  # beta name
            "response.output_text.delta": self._text_delta,
            "response.text.delta": self._text_delta,  # beta name
            "response.output_text.done": self._text_done,
            "response.text.done": self._text_done,  # beta name
            "response.function_call_arguments.done": self._function_call_done,
            "response.done": self._response_done,
            "rate_limits.updated": self._rate_limits,
            "error": self._error,
        }

    @property
    def known_types(self) -> frozenset[str]:
        return frozenset(self._handlers) | IGNORED_TYPES

    def parse(self, text: str | bytes) -> list[Event]:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [violation(f"malformed JSON: {exc}", text)]
        if message.__class__ is not dict:
            return [violation(f"expected a JSON object, got {type(message).__name__}", text)]
        kind = message.get("type")
        if kind.__class__ is not str:
            return [violation("the 'type' field is missing or not a string", text)]
        handler = self._handlers.get(kind)
        if handler is None:
            if kind in IGNORED_TYPES:
                return []
            return [self._unknown(kind, message, text)]
        try:
            return handler(message)
        except KeyError as exc:
            return [violation(f"{kind}: missing field {exc.args[0]!r}", text)]
        except FieldError as exc:
            return [violation(f"{kind}: {exc}", text)]
        except Exception as exc:  # a bad value an event validator refused, or a shape we did not expect
            return [violation(f"{kind}: {type(exc).__name__}: {exc}", text)]

    # -- session and input buffer ---------------------------------------------------------------------
    def _session_created(self, m: dict[str, Any]) -> list[Event]:
        session = req_obj(m, "session")
        return [SessionCreated(session_id=opt_str(session, "id") or "", session=session)]

    def _session_updated(self, m: dict[str, Any]) -> list[Event]:
        return [SessionUpdated(session=req_obj(m, "session"))]

    def _speech_started(self, m: dict[str, Any]) -> list[Event]:
        return [SpeechStarted(item_id=req_str(m, "item_id"), audio_start_ms=req_int(m, "audio_start_ms"))]

    def _speech_stopped(self, m: dict[str, Any]) -> list[Event]:
        return [SpeechStopped(item_id=req_str(m, "item_id"), audio_end_ms=req_int(m, "audio_end_ms"))]

    def _committed(self, m: dict[str, Any]) -> list[Event]:
        return [AudioCommitted(item_id=req_str(m, "item_id"), previous_item_id=opt_str(m, "previous_item_id"))]

    def _cleared(self, m: dict[str, Any]) -> list[Event]:
        return [AudioBufferCleared()]

    # -- conversation items ---------------------------------------------------------------------------
    def _remember_call(self, item: dict[str, Any], item_id: str) -> None:
        if item.get("type") == "function_call":
            name = opt_str(item, "name")
            call_id = opt_str(item, "call_id")
            if name:
                self._calls[item_id] = (call_id, name)
                if call_id:
                    self._calls[call_id] = (call_id, name)
                while len(self._calls) > MAX_REMEMBERED_CALLS:  # calls created by clients never finish here
                    del self._calls[next(iter(self._calls))]

    def _item_added(self, m: dict[str, Any]) -> list[Event]:
        item = req_obj(m, "item")
        item_id = req_str(item, "id")
        self._remember_call(item, item_id)
        return [
            ItemAdded(
                item_id=item_id,
                previous_item_id=opt_str(m, "previous_item_id"),
                item_type=req_str(item, "type"),
                role=opt_str(item, "role"),
                status=opt_str(item, "status"),
                text=item_text(item),
                call_id=opt_str(item, "call_id"),
                name=opt_str(item, "name"),
            )
        ]

    def _item_done(self, m: dict[str, Any]) -> list[Event]:
        item = req_obj(m, "item")
        return [
            ItemDone(
                item_id=req_str(item, "id"),
                previous_item_id=opt_str(m, "previous_item_id"),
                item_type=req_str(item, "type"),
                role=opt_str(item, "role"),
                status=opt_str(item, "status"),
                text=item_text(item),
            )
        ]

    def _item_deleted(self, m: dict[str, Any]) -> list[Event]:
        return [ItemDeleted(item_id=req_str(m, "item_id"))]

    def _item_truncated(self, m: dict[str, Any]) -> list[Event]:
        return [
            ItemTruncated(
                item_id=req_str(m, "item_id"),
                content_index=req_int(m, "content_index", 0),
                audio_end_ms=req_int(m, "audio_end_ms"),
            )
        ]

    def _item_retrieved(self, m: dict[str, Any]) -> list[Event]:
        item = req_obj(m, "item")
        return [
            ItemRetrieved(
                item_id=req_str(item, "id"),
                item_type=req_str(item, "type"),
                role=opt_str(item, "role"),
                status=opt_str(item, "status"),
                text=item_text(item),
            )
        ]

    # -- input transcription --------------------------------------------------------------------------
    def _transcript_delta(self, m: dict[str, Any]) -> list[Event]:
        return [
            InputTranscriptDelta(
                item_id=req_str(m, "item_id"), content_index=req_int(m, "content_index", 0), delta=opt_str(m, "delta") or ""
            )
        ]

    def _transcript_completed(self, m: dict[str, Any]) -> list[Event]:
        return [
            InputTranscriptCompleted(
                item_id=req_str(m, "item_id"),
                content_index=req_int(m, "content_index", 0),
                transcript=req_str(m, "transcript"),
                usage=opt_obj(m, "usage"),
            )
        ]

    def _transcript_failed(self, m: dict[str, Any]) -> list[Event]:
        return [
            InputTranscriptFailed(
                item_id=req_str(m, "item_id"), content_index=req_int(m, "content_index", 0), error=opt_obj(m, "error")
            )
        ]

    # -- responses ------------------------------------------------------------------------------------
    def _response_created(self, m: dict[str, Any]) -> list[Event]:
        response = req_obj(m, "response")
        # the protocol says "none" with a null conversation_id; a server that leaves the key out says nothing
        out_of_band = "conversation_id" in response and response["conversation_id"] is None
        return [ResponseCreated(response_id=req_str(response, "id"), out_of_band=out_of_band)]

    def _output_item_added(self, m: dict[str, Any]) -> list[Event]:
        item = req_obj(m, "item")
        item_id = req_str(item, "id")
        self._remember_call(item, item_id)
        return [
            OutputItemAdded(
                response_id=req_str(m, "response_id"),
                item_id=item_id,
                output_index=req_int(m, "output_index", 0),
                item_type=req_str(item, "type"),
                role=opt_str(item, "role"),
            )
        ]

    def _audio_delta(self, m: dict[str, Any]) -> list[Event]:
        delta = m["delta"]
        if delta.__class__ is not str:
            raise FieldError("'delta' must be a base64 string")
        try:
            pcm = _a2b(delta, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise FieldError(f"'delta' is not valid base64 ({exc})") from None
        return [
            AssistantAudioDelta(
                response_id=req_str(m, "response_id"),
                item_id=req_str(m, "item_id"),
                content_index=req_int(m, "content_index", 0),
                pcm=pcm,
            )
        ]

    def _audio_done(self, m: dict[str, Any]) -> list[Event]:
        return [AssistantAudioDone(response_id=req_str(m, "response_id"), item_id=req_str(m, "item_id"))]

    def _transcript_text_delta(self, m: dict[str, Any]) -> list[Event]:
        return [
            AssistantTextDelta(
                response_id=req_str(m, "response_id"), item_id=req_str(m, "item_id"), modality="audio", delta=req_str(m, "delta")
            )
        ]

    def _transcript_text_done(self, m: dict[str, Any]) -> list[Event]:
        return [
            AssistantTextDone(
                response_id=req_str(m, "response_id"),
                item_id=req_str(m, "item_id"),
                modality="audio",
                text=req_str(m, "transcript"),
            )
        ]

    def _text_delta(self, m: dict[str, Any]) -> list[Event]:
        return [
            AssistantTextDelta(
                response_id=req_str(m, "response_id"), item_id=req_str(m, "item_id"), modality="text", delta=req_str(m, "delta")
            )
        ]

    def _text_done(self, m: dict[str, Any]) -> list[Event]:
        return [
            AssistantTextDone(
                response_id=req_str(m, "response_id"), item_id=req_str(m, "item_id"), modality="text", text=req_str(m, "text")
            )
        ]

    def _function_call_done(self, m: dict[str, Any]) -> list[Event]:
        item_id = req_str(m, "item_id")
        call_id = opt_str(m, "call_id")
        name = opt_str(m, "name")
        known = self._calls.pop(item_id, None) or (self._calls.pop(call_id, None) if call_id else None)
        if known is not None:
            if known[0]:
                self._calls.pop(known[0], None)
            call_id = call_id or known[0]
            name = name or known[1]
        if not call_id:
            raise FieldError("missing 'call_id' (and no earlier item announced one)")
        if not name:
            raise FieldError("missing 'name' (and no earlier item announced the call)")
        return [
            FunctionCallRequested(
                response_id=req_str(m, "response_id"),
                item_id=item_id,
                call_id=call_id,
                name=name,
                arguments=req_str(m, "arguments"),
            )
        ]

    def _response_done(self, m: dict[str, Any]) -> list[Event]:
        response = req_obj(m, "response")
        output = response.get("output") or []
        if output.__class__ is not list:
            raise FieldError("'response.output' must be a list")
        items = [o for o in output if isinstance(o, dict)]
        ids = tuple(str(o.get("id") or "") for o in items)
        for item_id in ids:
            known = self._calls.pop(item_id, None)
            if known is not None and known[0]:
                self._calls.pop(known[0], None)
        return [
            ResponseDone(
                response_id=req_str(response, "id"),
                status=req_str(response, "status"),
                status_details=opt_obj(response, "status_details"),
                usage=opt_obj(response, "usage"),
                output_item_ids=ids,
                output_types=tuple(str(o.get("type") or "") for o in items),
            )
        ]

    def _rate_limits(self, m: dict[str, Any]) -> list[Event]:
        limits = m["rate_limits"]
        if limits.__class__ is not list or not all(isinstance(x, dict) for x in limits):
            raise FieldError("'rate_limits' must be a list of objects")
        return [RateLimitsUpdated(rate_limits=limits)]

    def _error(self, m: dict[str, Any]) -> list[Event]:
        error = req_obj(m, "error")
        return [
            ServerError(
                error_type=lenient_str(error.get("type")) or "",
                code=lenient_str(error.get("code")),
                message=lenient_str(error.get("message")) or "",
                param=lenient_str(error.get("param")),
                client_event_id=lenient_str(error.get("event_id")),
            )
        ]

    # -- everything else ------------------------------------------------------------------------------
    def _unknown(self, kind: str, message: dict[str, Any], text: str | bytes) -> UnknownServerEvent:
        raw = json.dumps(elide(message), separators=(",", ":"), ensure_ascii=False)
        if len(raw) > UNKNOWN_RAW_LIMIT:
            raw = raw[: UNKNOWN_RAW_LIMIT - 1] + "…"
        return UnknownServerEvent(type=kind, raw=raw)


def parse_server_message(text: str | bytes, parser: ServerMessageParser | None = None) -> list[Event]:
    """Parse one message with a fresh parser (or the given one). Never raises."""
    return (parser or ServerMessageParser()).parse(text)
