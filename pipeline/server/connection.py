"""The per-connection protocol core: client events in, server events and effects out. No I/O, no clock.

Theory of operation
-------------------
A `RealtimeCore` is one WebSocket session. The shell feeds it client frames (`receive`) and the results of
the work it asked for (`recognized` after ASR, `transcription_due` after the transcript delay,
`synthesized` after TTS, `advance` once per audio chunk, `expire` at the session limit); every call
returns a list of `Output`s: events to send, in order, and effects for the shell to perform.

Input audio. Appends are decoded to 24 kHz PCM and buffered silently. With `server_vad`/`semantic_vad` the
energy VAD (`vad.py`) runs on every append: speech start sends `input_audio_buffer.speech_started` with the
id the user item will get (and, with `interrupt_response`, cancels the active response with reason
`turn_detected`); speech stop sends `speech_stopped`, then commits the speech (prefix padding included):
`committed` → `conversation.item.added` → `conversation.item.done`, an ASR effect, and a response when
`create_response` is true. With `turn_detection: null` only `input_audio_buffer.commit` commits (at least
100 ms, else `input_audio_buffer_commit_empty`) and no response follows.

Responses. At most one response runs in the default conversation (a second `response.create` gets
`conversation_already_has_active_response`); out-of-band ones (`conversation: "none"`) may overlap. Each is
a small state machine in `responses.py`: WAITING_INPUT (its context's user audio not yet heard) → the
brain's plan of items (`reasoning.py`: one item for the seed models; a reasoning model may add a spoken
preamble, several function calls, or a preamble before a long answer) → per message SYNTHESIZING (audio:
the shell runs TTS) → STREAMING (the shell calls `advance`, pausing between chunks, so a cancel or barge-in
lands mid-item) → the next item → DONE. Cancellation from any state closes every open item with what was
sent, then `response.done` (`cancelled`, `client_cancelled` or `turn_detected`) with usage and
`rate_limits.updated`. A truncate reaches any assistant item, open or not, bounded by that item's sent audio.

Transcription is separate from hearing: the brain always hears committed audio (ASR), while the
`conversation.item.input_audio_transcription.*` events are sent only when `audio.input.transcription` was
set at commit time, after the configured delay (possibly after `response.done`), subject to the fault
switch (`fail` → `.failed`, `never` → nothing sent but `retrieve` shows the transcript).

Every error a client causes becomes one `error` event echoing its `event_id`; the connection survives.
"""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Any, Final

import attrs
import numpy as np

from pipeline.models import is_reasoning_realtime
from pipeline.server import reasoning
from pipeline.server import session as session_rules
from pipeline.server.audio_format import BYTES_PER_SECOND, decode_input, format_type
from pipeline.server.brain import CallTool
from pipeline.server.conversation import Conversation, StoredItem, stored_from_client
from pipeline.server.effects import Close, Output, Recognize, Send, Stream, Synthesize
from pipeline.server.errors import ClientError, invalid_value, session_expired, string_too_long
from pipeline.server.ids import IdGenerator
from pipeline.server.protocol import parse_client_event
from pipeline.server.responses import MessageStream, Response, ResponseState, brain_turns
from pipeline.server.transcription import transcription_events
from pipeline.server.usage import (
    Cost,
    Segment,
    cached_cost,
    empty_usage,
    input_segments,
    usage_json,
)
from pipeline.server.vad import EnergyVad, SpeechStarted

MAX_APPEND_BYTES: Final = 15 * 1024 * 1024
SILENCE_KEEP_MS: Final = 10_000  # in VAD mode, silence older than this is dropped from the buffer
SEMANTIC_SILENCE_MS: Final = {"low": 1200, "medium": 700, "auto": 700, "high": 400}


def _server_error() -> ClientError:
    return ClientError(
        "The server had an error while processing your request. Sorry about that!",
        code="server_error",
        error_type="server_error",
    )


class ConnectionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@attrs.frozen(kw_only=True)
class CoreConfig:
    """The knobs of one connection (a subset of `ServerConfig`)."""

    model: str = "gpt-realtime"
    now_s: float = 0.0
    max_session_s: float = 3600.0
    transcript_delay_ms: int = 150
    transcript_fault: str = "none"
    error_after_responses: int | None = None
    chunk_ms: int = 200
    rate_limit_tokens: int = 40_000
    item_done_order: str = "at-end"  # a multi-item response's messages: closed "at-end" or "sequential"


class RealtimeCore:
    """One Realtime session's protocol state (see the module docstring)."""

    def __init__(self, config: CoreConfig, ids: IdGenerator) -> None:
        self.config = config
        self.ids = ids
        self.state = ConnectionState.OPEN
        self.reasoning = is_reasoning_realtime(config.model)  # a reasoning model: see `reasoning.py`
        self.session = session_rules.default_session(
            session_id=ids.new("sess"), model=config.model, expires_at=int(config.now_s + config.max_session_s),
            reasoning=self.reasoning,
        )  # fmt: skip
        self.conversation_id = ids.new("conv")
        self.conversation = Conversation()
        ids.avoid(("item", "call"), self.conversation.in_use)  # a client may have re-seeded ids a same-seed run made
        self.responses: dict[str, Response] = {}
        self.voice_locked = False
        self.responses_done = 0
        self._previous_input: list[Segment] = []
        self._buffer = bytearray()
        self._buffer_start_ms = 0
        self._odd_byte = b""
        self._speech_item_id: str | None = None
        self._speech_start_ms = 0
        td = self._turn_detection()
        self.vad = EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200)
        self._configure_vad(td)
        self._transcribe: dict[str, dict[str, Any]] = {}
        self.last_accepted: dict[str, Any] | None = None  # the last client event accepted as valid
        self.internal_errors: list[str] = []  # server bugs met while handling client events (see receive)

    # ----------------------------------------------------------------- helpers

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return {"type": event_type, "event_id": self.ids.new("event"), **fields}

    def _send(self, event_type: str, **fields: Any) -> Send:
        return Send(self._event(event_type, **fields))

    def _error(self, error: ClientError, event_id: str | None) -> Send:
        return self._send("error", error=error.body(event_id))

    def _turn_detection(self) -> dict[str, Any] | None:
        td: dict[str, Any] | None = self.session["audio"]["input"]["turn_detection"]
        return td

    def _configure_vad(self, td: dict[str, Any] | None) -> None:
        if td is None:
            return
        if td["type"] == "semantic_vad":
            self.vad.configure(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=SEMANTIC_SILENCE_MS[td.get("eagerness") or "auto"])
        else:
            self.vad.configure(threshold=td["threshold"], prefix_padding_ms=td["prefix_padding_ms"], silence_duration_ms=td["silence_duration_ms"])

    def _input_format(self) -> str:
        return format_type(self.session["audio"]["input"]["format"])

    def active_response(self) -> Response | None:
        return next((r for r in self.responses.values() if r.active and r.in_conversation), None)

    # ----------------------------------------------------------------- entry points

    def open(self) -> list[Output]:
        return [self._send("session.created", session=self.session)]

    def receive(self, raw: str | bytes) -> list[Output]:
        """One client frame: its answer, or exactly one `error` event; the session always goes on.

        The SDK's `RealtimeErrorEvent`: "Most errors are recoverable and the session will stay open". The
        real service closes only when the session expires (`session_expired`, §7/§8 of the protocol notes).
        An exception that is not a `ClientError` is a bug of this server: the client gets the service's
        generic `server_error` (as the real one does) and the bug is kept in `internal_errors` for the
        shell to report.
        """
        self.last_accepted = None
        if self.state is ConnectionState.CLOSED:
            return []
        event_id: str | None = None
        try:
            event = parse_client_event(raw)
            event_id = event.get("event_id")
            handler = getattr(self, "_on_" + event["type"].replace(".", "_"))
            outputs: list[Output] = handler(event)
        except ClientError as error:
            return [self._error(error, error.event_id if event_id is None else event_id)]
        except Exception as exc:  # no client message may kill the connection
            self.internal_errors.append(f"{type(exc).__name__}: {exc}")
            return [self._error(_server_error(), event_id)]
        self.last_accepted = event
        return outputs

    def oversized(self, size: int, limit: int) -> list[Output]:
        """A client message longer than the transport accepts was dropped unread: one `error`, session goes on."""
        if self.state is ConnectionState.CLOSED:
            return []
        error = ClientError(
            f"The event is too large: {size} bytes, but at most {limit} bytes are accepted per event. "
            "Send audio in smaller input_audio_buffer.append events.",
            code="invalid_event",
        )
        return [self._error(error, None)]

    def expire(self) -> list[Output]:
        """The session hit its maximum duration: `session_expired`, then close with 1001."""
        if self.state is ConnectionState.CLOSED:
            return []
        self.state = ConnectionState.CLOSED
        return [self._error(session_expired(self.config.max_session_s), None), Close(1001, "session expired")]

    # ----------------------------------------------------------------- session

    def _on_session_update(self, event: dict[str, Any]) -> list[Output]:
        update = event["session"]
        session_rules.validate_update(update, self.session, voice_locked=self.voice_locked, reasoning=self.reasoning)
        self.session = session_rules.merge_update(self.session, update)
        self._configure_vad(self._turn_detection())
        return [self._send("session.updated", session=self.session)]

    # ----------------------------------------------------------------- input audio

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> list[Output]:
        encoded = event["audio"]
        try:
            wire = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ClientError("Invalid 'audio'. Expected base64-encoded audio.", code="invalid_value", param="audio") from None
        if len(wire) > MAX_APPEND_BYTES:
            raise string_too_long("audio", encoded, MAX_APPEND_BYTES * 4 // 3)
        fmt = self._input_format()
        if fmt == "audio/pcm":
            wire = self._odd_byte + wire
            self._odd_byte = wire[len(wire) // 2 * 2 :]
            wire = wire[: len(wire) // 2 * 2]
        pcm = decode_input(wire, fmt)
        self._buffer += pcm
        td = self._turn_detection()
        if td is None:
            return []
        outputs: list[Output] = []
        for change in self.vad.feed(np.frombuffer(pcm, dtype=np.int16)):
            if isinstance(change, SpeechStarted):
                self._speech_item_id = self.ids.new("item")
                self._speech_start_ms = change.audio_start_ms
                outputs.append(
                    self._send("input_audio_buffer.speech_started", audio_start_ms=change.audio_start_ms, item_id=self._speech_item_id)
                )
                active = self.active_response()
                if active is not None and td.get("interrupt_response", True):
                    outputs += self._finish(active, status="cancelled", reason="turn_detected")
            else:
                item_id = self._speech_item_id or self.ids.new("item")
                outputs.append(self._send("input_audio_buffer.speech_stopped", audio_end_ms=change.audio_end_ms, item_id=item_id))
                outputs += self._commit(item_id, self._speech_start_ms, change.audio_end_ms)
                if td.get("create_response", True) and self.active_response() is None:
                    outputs += self._create_response({}, event_id=None)
        if self._speech_item_id is None:
            self._drop_old_silence()
        return outputs

    def _drop_old_silence(self) -> None:
        excess_ms = (len(self._buffer) * 1000 // BYTES_PER_SECOND) - SILENCE_KEEP_MS
        if excess_ms > 1000:
            cut = excess_ms * BYTES_PER_SECOND // 1000 // 2 * 2
            del self._buffer[:cut]
            self._buffer_start_ms += excess_ms
            self.vad.floor_ms = self._buffer_start_ms

    def _offset(self, ms: int) -> int:
        return max(0, (ms - self._buffer_start_ms) * BYTES_PER_SECOND // 1000 // 2 * 2)

    def _commit(self, item_id: str, start_ms: int, end_ms: int) -> list[Output]:
        """Turn buffered audio [start_ms, end_ms) into a user item; the buffer then starts at end_ms."""
        pcm = bytes(self._buffer[self._offset(start_ms) : self._offset(end_ms)])
        del self._buffer[: self._offset(end_ms)]
        self._buffer_start_ms = end_ms
        self.vad.reset(end_ms)
        self._speech_item_id = None
        item = StoredItem(
            data={"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                  "content": [{"type": "input_audio", "transcript": None}]},
            pcm=pcm,
        )  # fmt: skip
        previous = self.conversation.insert(item)
        transcription = self.session["audio"]["input"]["transcription"]
        delay = None
        if transcription is not None:
            self._transcribe[item_id] = dict(transcription)
            delay = self.config.transcript_delay_ms / 1000
        return [
            self._send("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            self._send("conversation.item.added", previous_item_id=previous, item=item.public()),
            self._send("conversation.item.done", previous_item_id=previous, item=item.public()),
            Recognize(item_id=item_id, pcm=pcm, transcript_delay_s=delay),
        ]

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> list[Output]:
        buffered_ms = len(self._buffer) / BYTES_PER_SECOND * 1000
        if buffered_ms < 100:
            raise ClientError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item_id or self.ids.new("item")
        return self._commit(item_id, self._buffer_start_ms, self._buffer_start_ms + round(buffered_ms))

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> list[Output]:
        self._buffer_start_ms += round(len(self._buffer) / BYTES_PER_SECOND * 1000)
        self._buffer.clear()
        self._speech_item_id = None
        self.vad.reset(self._buffer_start_ms)
        return [self._send("input_audio_buffer.cleared")]

    def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> list[Output]:
        raise ClientError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            code="invalid_value",
            param="type",
        )

    # ----------------------------------------------------------------- hearing and transcription

    def recognized(self, item_id: str, text: str) -> list[Output]:
        """ASR finished for a committed or created audio item; responses waiting on it may proceed."""
        item = self.conversation.get(item_id)
        if item is not None:
            item.heard = text
        for response in self.responses.values():
            for context_item in response.context:
                if context_item.id == item_id and context_item.heard is None:
                    context_item.heard = text
        if item_id in self._transcribe:
            self._transcribe[item_id]["heard"] = text
        outputs: list[Output] = []
        for response in list(self.responses.values()):
            if response.state is ResponseState.WAITING_INPUT:
                outputs += self._plan(response)
        return outputs

    def transcription_due(self, item_id: str) -> list[Output]:
        """Deliver the transcript of a committed item (if transcription was on), per the fault switch."""
        config = self._transcribe.pop(item_id, None)
        if config is None or self.state is ConnectionState.CLOSED:
            return []
        events = transcription_events(item_id, self.conversation.get(item_id), config, fault=self.config.transcript_fault,
                                      event=self._event, obfuscation=self.ids.obfuscation)  # fmt: skip
        return [Send(e) for e in events]

    # ----------------------------------------------------------------- conversation items

    def _stored_from_client(self, raw_item: dict[str, Any]) -> StoredItem:
        return stored_from_client(raw_item, new_id=self.ids.new, input_format=self._input_format())

    def _on_conversation_item_create(self, event: dict[str, Any]) -> list[Output]:
        item = self._stored_from_client(event["item"])
        previous = self.conversation.insert(item, event.get("previous_item_id"))
        outputs: list[Output] = [
            self._send("conversation.item.added", previous_item_id=previous, item=item.public()),
            self._send("conversation.item.done", previous_item_id=previous, item=item.public()),
        ]
        if item.pcm and item.heard is None:
            outputs.append(Recognize(item_id=item.id, pcm=item.pcm, transcript_delay_s=None))
        return outputs

    def _on_conversation_item_delete(self, event: dict[str, Any]) -> list[Output]:
        self.conversation.delete(event["item_id"])
        return [self._send("conversation.item.deleted", item_id=event["item_id"])]

    def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> list[Output]:
        item = self.conversation.retrieve(event["item_id"])
        audio_format = self._input_format() if item.data.get("role") == "user" else format_type(self.session["audio"]["output"]["format"])
        return [self._send("conversation.item.retrieved", item=item.public(with_audio=True, fmt_type=audio_format))]

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> list[Output]:
        stream = self._open_message(event["item_id"])
        if stream is not None:  # still open (streaming, or waiting for response.done): bounded by what was sent
            stream.item.pcm, stream.item.planned_transcript = bytes(stream.sent_pcm), stream.sent_text
        self.conversation.truncate(event["item_id"], event["content_index"], event["audio_end_ms"])
        if stream is not None:
            stream.truncated_ms = event["audio_end_ms"]
        return [
            self._send("conversation.item.truncated", item_id=event["item_id"], content_index=event["content_index"], audio_end_ms=event["audio_end_ms"])
        ]

    # ----------------------------------------------------------------- responses

    def _on_response_create(self, event: dict[str, Any]) -> list[Output]:
        return self._create_response(event.get("response") or {}, event_id=event.get("event_id"))

    def _create_response(self, params: dict[str, Any], *, event_id: str | None) -> list[Output]:
        in_conversation = params.get("conversation", "auto") != "none"
        if params.get("conversation") not in (None, "auto", "none"):
            raise invalid_value("response.conversation", params["conversation"], ["auto", "none"])
        active = self.active_response()
        if in_conversation and active is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        if "output_modalities" in params:
            session_rules.check_modalities(params["output_modalities"], "response.output_modalities")
        if "max_output_tokens" in params:
            session_rules.check_max_output_tokens(params["max_output_tokens"], "response.max_output_tokens")
        metadata = params.get("metadata")
        if isinstance(metadata, dict) and len(metadata) > 16:
            raise ClientError("Invalid 'response.metadata': too many keys (at most 16).", code="invalid_value", param="response.metadata")
        audio_out = (params.get("audio") or {}).get("output") or {}
        if "voice" in audio_out:
            session_rules.check_voice(audio_out["voice"], "response.audio.output.voice")
        if not self.reasoning:
            session_rules.check_reasoning_params(params, "response")
        context = self._context(params.get("input"))
        session = self.session
        voice = audio_out.get("voice") or session["audio"]["output"]["voice"]
        response = Response(
            id=self.ids.new("resp"),
            in_conversation=in_conversation,
            conversation_id=self.conversation_id if in_conversation else None,
            modalities=list(params.get("output_modalities") or session["output_modalities"]),
            instructions=params["instructions"] if isinstance(params.get("instructions"), str) else session["instructions"],
            tools=list(params["tools"] if params.get("tools") is not None else session["tools"]),
            tool_choice=params.get("tool_choice", session["tool_choice"]),
            voice=voice if isinstance(voice, str) else str(voice.get("id")),
            speed=float(session["audio"]["output"].get("speed") or 1.0),
            output_format=dict(audio_out.get("format") or session["audio"]["output"]["format"]),
            max_output_tokens=params.get("max_output_tokens", session["max_output_tokens"]),
            metadata=metadata,
            context=context,
            reasoning=self.reasoning,
            effort=((params.get("reasoning") or session.get("reasoning") or {}).get("effort")),
            parallel_tool_calls=bool(params.get("parallel_tool_calls", session.get("parallel_tool_calls", True))),
        )
        response.input_segments = input_segments(response.instructions, response.tools, context)
        self.responses[response.id] = response
        outputs: list[Output] = [self._send("response.created", response=response.shape(status="in_progress"))]
        return outputs + self._plan(response)

    def _context(self, given: Any) -> list[StoredItem]:
        if given is None:
            return list(self.conversation)
        items = []
        for index, entry in enumerate(given):
            if entry.get("type") == "item_reference":
                found = self.conversation.get(entry["id"])
                if found is None:
                    raise ClientError(
                        f"Item with id '{entry['id']}' not found in the conversation.", code="invalid_value", param=f"response.input[{index}].id"
                    )
                items.append(found)
            else:
                items.append(self._stored_from_client(entry))
        return items

    def _plan(self, response: Response) -> list[Output]:
        if response.state is not ResponseState.WAITING_INPUT:
            return []
        if any(item.pcm and item.heard is None and item.data.get("role") == "user" for item in response.context):
            return []  # the shell's ASR will call recognized()
        turns = brain_turns(response.context)
        steps = reasoning.plan(turns, response.tools, response.tool_choice, reasoning=response.reasoning,
                               parallel=response.parallel_tool_calls)  # fmt: skip
        response.steps = list(steps)
        if response.reasoning:
            thought = reasoning.reasoning_tokens(response.effort, steps)
            response.output_cost += Cost(text=thought, reasoning=thought)
            response.planned_tokens += thought
        return self._next_step(response)

    def _next_step(self, response: Response) -> list[Output]:
        """Start the response's next planned item; finish the response when none is left (see responses.py)."""
        outputs: list[Output] = []
        while response.steps and not response.incomplete:
            if response.budget is not None and response.budget <= 0:
                response.incomplete = True
                break
            step = response.steps.pop(0)
            previous = self.conversation.last_id() if response.in_conversation else None
            if isinstance(step, CallTool):
                item = StoredItem(data={"id": self.ids.new("item"), "object": "realtime.item", "type": "function_call", "status": "in_progress",
                                        "name": step.name, "call_id": self.ids.new("call"), "arguments": ""})  # fmt: skip
                if response.in_conversation:
                    self.conversation.insert(item)
                outputs += [Send(e) for e in response.function_call(step, item, self._event, previous, self.ids.obfuscation)]
                continue
            item = StoredItem(data={"id": self.ids.new("item"), "object": "realtime.item", "type": "message", "status": "in_progress",
                                    "role": "assistant", "content": []})  # fmt: skip
            if response.in_conversation:
                self.conversation.insert(item)
            outputs += [Send(e) for e in response.open_message(item, self._event, previous, step.text)]
            if response.audio:
                response.state = ResponseState.SYNTHESIZING
                self.voice_locked = True
                outputs.append(Synthesize(response_id=response.id, text=step.text, voice=response.voice, speed=response.speed))
            else:
                response.load_text()
                response.state = ResponseState.STREAMING
                outputs.append(Stream(response_id=response.id))
            return outputs
        return outputs + self._finish(response, status="incomplete" if response.incomplete else "completed")

    def synthesized(self, response_id: str, pcm: bytes) -> list[Output]:
        response = self.responses.get(response_id)
        if response is None or response.state is not ResponseState.SYNTHESIZING:
            return []
        response.load_audio(pcm, self.config.chunk_ms)
        response.state = ResponseState.STREAMING
        return [Stream(response_id=response.id)]

    def synthesis_failed(self, response_id: str, message: str) -> list[Output]:
        response = self.responses.get(response_id)
        if response is None or not response.active:
            return []
        return self._finish(response, status="failed", error={"type": "server_error", "code": "audio_synthesis_failed", "message": message})

    def advance(self, response_id: str) -> tuple[list[Output], bool]:
        """The next chunk of a streaming message; True once it is over (the next item, if any, has started)."""
        response = self.responses.get(response_id)
        if response is None or response.state is not ResponseState.STREAMING or response.current is None:
            return [], True
        outputs: list[Output] = [Send(e) for e in response.advance(self._event, self.ids.obfuscation)]
        stream = response.current
        if not stream.exhausted:
            return outputs, False
        if self.config.item_done_order == "sequential" or stream.incomplete:
            outputs += self._close(response, stream)
        response.current = None
        return outputs + self._next_step(response), True

    def _close(self, response: Response, stream: MessageStream) -> list[Output]:
        previous = self._previous_of(stream.item) if response.in_conversation else None
        outputs: list[Output] = [Send(e) for e in response.close_message(stream, self._event, previous)]
        if stream.truncated_ms is not None and response.in_conversation:
            # the client truncated it while it was still open: what it has heard stays the item's content
            self.conversation.truncate(stream.item.id, 0, min(stream.truncated_ms, stream.item.audio_ms))
        return outputs

    def _open_message(self, item_id: str) -> MessageStream | None:
        for response in self.responses.values():
            for stream in response.open_messages():
                if stream.item.id == item_id:
                    return stream
        return None

    def audio_chunks(self, item_id: str) -> int:
        """How many audio deltas the assistant item `item_id` of an active response is cut into (0: unknown)."""
        stream = self._open_message(item_id)
        return stream.audio_chunks if stream is not None else 0

    def _on_response_cancel(self, event: dict[str, Any]) -> list[Output]:
        wanted = event.get("response_id")
        if wanted:
            response = self.responses.get(wanted)
            response = response if response is not None and response.active else None
        else:
            response = self.active_response() or next((r for r in self.responses.values() if r.active), None)
        if response is None:
            raise ClientError("Cancellation failed: no active response found", code="response_cancel_not_active")
        return self._finish(response, status="cancelled", reason="client_cancelled")

    def _finish(self, response: Response, *, status: str, reason: str | None = None, error: dict[str, Any] | None = None) -> list[Output]:
        """Close what is open, then response.done (+ usage) and rate_limits.updated."""
        if not response.active:
            return []
        outputs: list[Output] = []
        for stream in response.open_messages():
            outputs += self._close(response, stream)
        response.state = ResponseState.DONE
        produced = response.output_cost.total > 0 or status in ("completed", "incomplete")
        input_cost = sum((s.cost for s in response.input_segments), Cost()) if produced else Cost()
        cached = cached_cost(self._previous_input, response.input_segments) if produced else Cost()
        if produced and response.in_conversation:
            self._previous_input = response.input_segments
        usage = usage_json(input_cost, cached, response.output_cost, reasoning=response.reasoning) if produced else empty_usage()
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": reason}
        elif status == "incomplete":
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        elif status == "failed":
            details = {"type": "failed", "error": error}
        outputs.append(self._send("response.done", response=response.shape(status=status, status_details=details, usage=usage)))
        total = usage["total_tokens"]
        remaining = max(0, self.config.rate_limit_tokens - total)
        outputs.append(self._send("rate_limits.updated", rate_limits=[
            {"name": "tokens", "limit": self.config.rate_limit_tokens, "remaining": remaining,
             "reset_seconds": round(60.0 * total / self.config.rate_limit_tokens, 3)}]))  # fmt: skip
        self.responses_done += 1
        if self.config.error_after_responses is not None and self.responses_done == self.config.error_after_responses:
            outputs.append(self._error(_server_error(), None))
        del self.responses[response.id]
        return outputs

    def _previous_of(self, item: StoredItem) -> str | None:
        ids = self.conversation.ids()
        if item.id not in ids:
            return None
        index = ids.index(item.id)
        return ids[index - 1] if index > 0 else None
