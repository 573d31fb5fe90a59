"""The tracer core: turn session events into trace operations (plain data), never touching a backend.

Theory of operation
-------------------
A run is one trace *session*. Inside it:

* a **trace per user turn**: a user message item (``ItemAdded`` role user) opens one; its transcript
  (``TranscriptResolved``, or the item's own text) becomes the trace input, the assistant's reply its output.
  A response that starts with no turn open (a greeting) opens an "assistant turn" trace of its own.
* a **generation per response**, written at ``response.done`` when everything about it is known: model,
  the turn's messages (the user's words, earlier tool calls and their outputs), the reply, usage mapped to
  ``prompt_tokens``/``completion_tokens``/``total_tokens``, and its status: ``completed`` (a result),
  ``cancelled``/``incomplete`` (a result carrying the status and the server's reason), ``failed`` (an error).
  A transcript that lands after its turn's generations is added to them as a user message.
  Per item, not per response: a response of the current models carries several message items (a spoken
  preamble, then the answer) and function calls, in any order. The generation's assistant message holds the
  text of every message item, in output order, one per line, and every function call as a tool call; its
  ``output_items`` (metadata in Maxim) lists the items one by one (id, type, and the text or the call), so
  that none is lost and none is merged into another where it matters. A response the connection lost
  (``ConnectionLost.interrupted``) is a generation error ("connection lost before response.done"), on its
  turn's trace, which stays open: the call goes on on the next connection.
* a **tool call** per ``FunctionCallRequested``, finished by the first of: the tools edge (``tool.result`` /
  ``tool.rejected``, matched by tag) or our own ``function_call_output`` command. An output that is the tools
  actor's error object (``{"error": ..., "kind": ...}``) or a failed result is recorded as a tool error.
* a **summary trace** per summary (``summary.requested`` / ``summary.generated`` / ``summary.failed`` /
  ``summary.applied`` / ``summary.abandoned``, matched by tag), holding the summary-model generation.
* **errors** (``ServerError``, ``ProtocolViolation``, ``ActorFailed``, ``SessionFailed``) on the open turn's
  trace, or on a one-error trace when no turn is open.
* the **connection lifecycle** (lost, reconnect attempts, reconnected, re-seeded, held audio sent, retired,
  resumed) as a trace of its own per reconnect/recycle/resume, with one event per fact (link.py). Items a
  re-seed creates again (``ReseedPlanned``) are the old conversation: they open no turn.
* **audio attachments** (``attachment``): each user turn's speech as the server heard it and each assistant
  item's audio as it was played (cut where a barge-in cut it), as mono WAV data on the turn's trace, cut by
  ``AudioCutter`` (audio.py) from the capture chunks, the VAD span, the deltas and playback's reports. The
  operation carries the PCM and its session-time span; a backend makes it a Maxim ``FileDataAttachment`` or,
  in the local file, a span without the bytes.

A turn's trace ends when a response of it finishes without function calls (the reply is complete) and no
other response of it is still running, or, once a newer turn has started, when its last response finishes.
``finish()`` closes what is still open (running responses and tool calls become errors) and ends the session.

Ids derive from the session id and per-kind counters (``<session>-trace-3``), so the same journal gives the
same operations. The core folds the conversation projection for the assistant's text.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from actors.tracer.audio import AUDIO_EVENTS, RATE, AudioCut, AudioCutter
from actors.tracer.link import CONNECTION_EVENTS, ConnectionTraces
from actors.tracer.ops import Op, chat_usage, parse_tags, safe_id, tool_error
from events.base import thaw
from events.commands import ClientCommand
from events.connection import ConnectionLost, ReseedPlanned
from events.envelope import Envelope
from events.playback import SessionFailed
from events.protocol import (
    FunctionCallRequested,
    ItemAdded,
    OutputItemAdded,
    ProtocolViolation,
    ResponseCreated,
    ResponseDone,
    ServerError,
)
from events.runtime import ActorFailed
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import Conversation

NAME = "tracer"

# Events of modules built concurrently (tools, summariser), handled by tag so the tracer never imports them.
TOOL_TAGS = ("tool.result", "tool.rejected")
SUMMARY_TAGS = ("summary.requested", "summary.generated", "summary.failed", "summary.applied", "summary.abandoned")
OPTIONAL_TAGS = TOOL_TAGS + SUMMARY_TAGS


class TracerState(enum.Enum):
    IDLE = "idle"  # nothing seen yet: the session is opened by the first event
    TRACING = "tracing"
    FINISHED = "finished"


class TraceState(enum.Enum):
    OPEN = "open"  # the current turn
    SUPERSEDED = "superseded"  # a newer turn started; ends when its last response finishes
    ENDED = "ended"


@attrs.define
class _Trace:
    id: str
    user_item: str | None = None
    state: TraceState = TraceState.OPEN
    user_text: str | None = None
    open_responses: set[str] = attrs.Factory(set)
    context: list[dict[str, Any]] = attrs.Factory(list)  # chat messages after the user's words
    awaiting_transcript: list[str] = attrs.Factory(list)  # generations written before the transcript


@attrs.define
class _Response:
    trace_id: str
    created_t_ns: int
    context_len: int  # the turn's messages before this response: its request
    tool_calls: list[dict[str, Any]] = attrs.Factory(list)
    items: dict[str, int] = attrs.Factory(dict)  # its output items (from output_item.added) -> output index
    calls: dict[str, tuple[str, str]] = attrs.Factory(dict)  # function call item -> (call_id, name)


@attrs.define
class _ToolCall:
    id: str
    trace_id: str
    name: str
    done: bool = False


@attrs.define
class _Summary:
    trace_id: str
    generation_id: str
    model: str
    done: bool = False


class TraceCore:
    def __init__(
        self,
        *,
        session_id: str,
        session_name: str = "rtpipe session",
        session_tags: Mapping[str, str] | None = None,
        model: str = "gpt-realtime",
        summary_model: str = "gpt-4o-mini",
    ) -> None:
        self.session_id = safe_id(session_id)
        self.session_name = session_name
        self.session_tags = dict(session_tags or {})
        self.model = model
        self.summary_model = summary_model
        self.state = TracerState.IDLE
        self.conversation = Conversation()
        self._counts: dict[str, int] = {}
        self._turns = 0
        self._current: _Trace | None = None
        self._traces: dict[str, _Trace] = {}
        self._trace_of_item: dict[str, str] = {}
        self._responses: dict[str, _Response] = {}
        self._tool_calls: dict[str, _ToolCall] = {}
        self._summaries: dict[str, _Summary] = {}
        self._ops: list[Op] = []
        self.audio = AudioCutter()
        self._trace_of_response: dict[str, str] = {}
        self._pending_audio: dict[str, AudioCut] = {}  # user speech cut before its item (and trace) exists
        self._last_t_ns = 0
        self._reseeding: set[str] = set()  # ids a re-seed creates again: the old conversation, not new turns
        self.link = ConnectionTraces(session_id=self.session_id, emit=self._emit, next_id=self._next_id)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TraceCore:
        return cls(
            session_id=str(config.get("maxim_session_id") or "rtpipe"),
            session_name=str(config.get("maxim_session_name") or "rtpipe session"),
            session_tags=parse_tags(config.get("maxim_session_tags")),
            model=str(config.get("model") or "gpt-realtime"),
            summary_model=str(config.get("summary_model") or "gpt-4o-mini"),
        )

    # -- entry points ---------------------------------------------------------------------------------------

    def handle(self, env: Envelope) -> list[Op]:
        if self.state is TracerState.FINISHED:
            return []
        self._ops = []
        if self.state is TracerState.IDLE:
            self.state = TracerState.TRACING
            self._emit("session.start", self.session_id, name=self.session_name, tags=self.session_tags)
        self.conversation.apply(env)
        self._last_t_ns = env.t_ns
        ev = env.event
        if type(ev) in AUDIO_EVENTS:
            for cut in self.audio.apply(env):
                self._attach(cut)
            return self._ops
        if isinstance(ev, ItemAdded):
            if ev.item_id in self._reseeding:
                self._reseeding.discard(ev.item_id)
            elif ev.item_type == "message" and ev.role == "user":
                self.link.conversation_goes_on()
                self._on_user_item(ev.item_id)
        elif isinstance(ev, TranscriptResolved):
            self._on_transcript(ev.item_id, ev.text, "transcript", {"item_id": ev.item_id, "via": ev.via})
        elif isinstance(ev, TranscriptUnavailable):
            meta = {"item_id": ev.item_id, "reason": ev.reason, "detail": ev.detail}
            self._on_transcript(ev.item_id, None, "transcript.unavailable", meta, f"[transcript unavailable: {ev.reason}]")
        elif isinstance(ev, ResponseCreated):
            self.link.conversation_goes_on()
            self._response(ev.response_id, env.t_ns)
        elif isinstance(ev, OutputItemAdded):
            self._response(ev.response_id, env.t_ns).items.setdefault(ev.item_id, ev.output_index)
        elif isinstance(ev, FunctionCallRequested):
            self._on_function_call(ev, env.t_ns)
        elif isinstance(ev, ResponseDone):
            self._on_response_done(ev, env.t_ns)
        elif isinstance(ev, ClientCommand):
            self._on_command(ev)
        elif isinstance(ev, ServerError):
            self._error(ev.message or ev.one_line(), code=ev.code or "", type=ev.error_type or "server_error", name="server error")
        elif isinstance(ev, ProtocolViolation):
            self._error(ev.detail, type="protocol_violation", name="protocol violation")
        elif isinstance(ev, ActorFailed):
            self._error(f"{ev.actor}: {ev.error}", type="actor_failed", name="actor failed")
        elif isinstance(ev, SessionFailed):
            self._error(ev.reason, type="session_failed", name="session failed")
        elif ev.TAG in TOOL_TAGS:
            self._on_tool_edge(ev)
        elif ev.TAG in SUMMARY_TAGS:
            self._on_summary(ev, env.t_ns)
        elif type(ev) in CONNECTION_EVENTS:
            if isinstance(ev, ConnectionLost):
                self._on_connection_lost(ev)
            elif isinstance(ev, ReseedPlanned):
                self._reseeding = set(ev.items)
            self.link.handle(ev)
        return self._ops

    def finish(self) -> list[Op]:
        """End of the run: what is still running is recorded as such, every trace ends, the session ends."""
        if self.state is not TracerState.TRACING:
            self.state = TracerState.FINISHED
            return []
        self._ops = []
        for cut in self.audio.finish(self._last_t_ns):
            self._attach(cut)
        for response_id, response in list(self._responses.items()):
            gen_id = self._next_id("gen")
            self._emit("generation.start", gen_id, **self._generation_head(response, response_id))
            self._emit("generation.error", gen_id, message="the session ended before response.done", code="", type="incomplete")
        self._responses.clear()
        for call in self._tool_calls.values():
            if not call.done:
                call.done = True
                self._emit("tool_call.error", call.id, message="the session ended before the tool result", code="", type="incomplete")
        for summary in self._summaries.values():
            if not summary.done:
                summary.done = True
                self._emit("generation.error", summary.generation_id, message="the session ended before the summary", code="", type="incomplete")
        for trace in self._traces.values():
            if trace.state is not TraceState.ENDED:
                trace.state = TraceState.ENDED
                self._emit("trace.end", trace.id)
        self.link.end()
        self._current = None
        self._emit("session.end", self.session_id)
        self.state = TracerState.FINISHED
        return self._ops

    # -- turns ----------------------------------------------------------------------------------------------

    def _on_user_item(self, item_id: str) -> None:
        if item_id in self._trace_of_item:
            return
        previous = self._current
        if previous is not None:
            previous.state = TraceState.SUPERSEDED
            self._maybe_end(previous)
        self._turns += 1
        trace = self._open_trace(f"turn {self._turns}", item_id=item_id)
        trace.user_item = item_id
        self._trace_of_item[item_id] = trace.id
        turn = self.conversation.turn(item_id)
        if turn is not None and turn.text is not None:  # typed text, or a transcript that came first
            trace.user_text = turn.text
            self._emit("trace.update", trace.id, input=turn.text)
        speech = self._pending_audio.pop(item_id, None)
        if speech is not None:
            self._attach(speech)

    def _open_trace(self, name: str, **tags: str) -> _Trace:
        trace = _Trace(id=self._next_id("trace"))
        self._traces[trace.id] = trace
        self._current = trace
        self._emit("trace.start", trace.id, session_id=self.session_id, name=name, tags=tags)
        return trace

    def _current_or_new(self) -> _Trace:
        if self._current is None or self._current.state is not TraceState.OPEN:
            return self._open_trace("assistant turn")
        return self._current

    def _maybe_end(self, trace: _Trace, *, reply_complete: bool = False) -> None:
        if trace.state is TraceState.ENDED or trace.open_responses:
            return
        if reply_complete or trace.state is TraceState.SUPERSEDED:
            trace.state = TraceState.ENDED
            if self._current is trace:
                self._current = None
            self._emit("trace.end", trace.id)

    def _on_transcript(
        self, item_id: str, text: str | None, event: str, metadata: Mapping[str, Any], placeholder: str = ""
    ) -> None:
        trace = self._traces.get(self._trace_of_item.get(item_id, ""))
        if trace is None:
            return
        self._emit("trace.update", trace.id, input=text if text is not None else placeholder)
        self._emit("trace.event", trace.id, event_id=self._next_id("event"), name=event, metadata=dict(metadata))
        if text is None:
            return
        trace.user_text = text
        for gen_id in trace.awaiting_transcript:
            self._emit("generation.message", gen_id, role="user", content=text)
        trace.awaiting_transcript.clear()

    # -- responses and tools --------------------------------------------------------------------------------

    def _response(self, response_id: str, t_ns: int) -> _Response:
        response = self._responses.get(response_id)
        if response is None:
            trace = self._current_or_new()
            response = _Response(trace_id=trace.id, created_t_ns=t_ns, context_len=len(trace.context))
            self._responses[response_id] = response
            self._trace_of_response[response_id] = trace.id
            trace.open_responses.add(response_id)
        return response

    def _on_function_call(self, ev: FunctionCallRequested, t_ns: int) -> None:
        if ev.call_id in self._tool_calls:
            return
        response = self._response(ev.response_id, t_ns)
        call = _ToolCall(id=self._next_id("tool"), trace_id=response.trace_id, name=ev.name)
        self._tool_calls[ev.call_id] = call
        response.tool_calls.append(
            {"id": ev.call_id, "type": "function", "function": {"name": ev.name, "arguments": ev.arguments}}
        )
        response.calls[ev.item_id] = (ev.call_id, ev.name)
        self._emit("tool_call.start", call.id, trace_id=call.trace_id, name=ev.name, args=ev.arguments, call_id=ev.call_id)

    def _generation_head(self, response: _Response, response_id: str) -> dict[str, Any]:
        trace = self._traces[response.trace_id]
        user = [{"role": "user", "content": trace.user_text}] if trace.user_text is not None else []
        return {
            "trace_id": trace.id,
            "name": "response",
            "provider": "openai",
            "model": self.model,
            "messages": user + [dict(m) for m in trace.context[: response.context_len]],
            "start_t_ns": response.created_t_ns,
            "response_id": response_id,
        }

    def _on_response_done(self, ev: ResponseDone, t_ns: int) -> None:
        response = self._response(ev.response_id, t_ns)
        del self._responses[ev.response_id]
        trace = self._traces[response.trace_id]
        trace.open_responses.discard(ev.response_id)
        gen_id = self._next_id("gen")
        self._emit("generation.start", gen_id, **self._generation_head(response, ev.response_id))
        if trace.user_text is None and trace.user_item is not None:
            trace.awaiting_transcript.append(gen_id)
        items = self._output_items(response, ev.output_item_ids)
        texts = [item["text"] for item in items if item["type"] == "message" and item.get("text")]
        text = "\n".join(texts) if texts else None
        reason = ev.status_details.get("reason")
        if ev.status == "failed":
            error = ev.status_details.get("error")
            error = error if isinstance(error, Mapping) else {}
            self._emit(
                "generation.error",
                gen_id,
                message=str(error.get("message") or "response failed"),
                code=str(error.get("code") or ""),
                type=str(error.get("type") or "failed"),
                **({"output_items": items} if items else {}),
            )
        else:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if response.tool_calls:
                message["tool_calls"] = [dict(c) for c in response.tool_calls]
            finish = ("tool_calls" if response.tool_calls else "stop") if ev.status == "completed" else str(reason or ev.status)
            result: dict[str, Any] = {
                "id": ev.response_id,
                "object": "realtime.response",
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
            usage = chat_usage(ev.usage)
            if usage is not None:
                result["usage"] = usage
            status: dict[str, Any] = {"status": ev.status}
            if ev.status != "completed":
                status["reason"] = str(reason or "")
            if items:
                status["output_items"] = items
            self._emit("generation.result", gen_id, result=result, **status)
        if text:
            self._emit("trace.update", trace.id, output=text)
        if response.tool_calls or text:
            entry: dict[str, Any] = {"role": "assistant", "content": text}
            if response.tool_calls:
                entry["tool_calls"] = [dict(c) for c in response.tool_calls]
            trace.context.append(entry)
        self._maybe_end(trace, reply_complete=not (response.tool_calls or ev.has_function_calls))

    def _output_items(self, response: _Response, done_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every output item of the response, in output order (``response.done``'s list, then any item
        the response started that the list left out), each as the trace shows it."""
        known = (*done_ids, *response.calls)
        extra = sorted((index, item_id) for item_id, index in response.items.items() if item_id not in known)
        later_calls = [item_id for item_id in response.calls if item_id not in done_ids]
        out: list[dict[str, Any]] = []
        for item_id in dict.fromkeys((*done_ids, *(item_id for _, item_id in extra), *later_calls)):
            if item_id in response.calls:
                call_id, name = response.calls[item_id]
                out.append({"item_id": item_id, "type": "function_call", "call_id": call_id, "name": name})
                continue
            turn = self.conversation.turn(item_id)
            if turn is not None and turn.kind == "message" and turn.role == "assistant":
                entry: dict[str, Any] = {"item_id": item_id, "type": "message", "text": turn.text}
                if turn.status == "interrupted":
                    entry["interrupted"] = True
                out.append(entry)
        return out

    def _on_connection_lost(self, ev: ConnectionLost) -> None:
        """The responses in flight never finish: each is a generation error on its turn's trace, which stays
        open (the call goes on); a superseded turn whose last response this was ends."""
        for response_id in ev.interrupted:
            response = self._responses.pop(response_id, None)
            if response is None:
                continue
            trace = self._traces[response.trace_id]
            trace.open_responses.discard(response_id)
            gen_id = self._next_id("gen")
            self._emit("generation.start", gen_id, **self._generation_head(response, response_id))
            if trace.user_text is None and trace.user_item is not None:
                trace.awaiting_transcript.append(gen_id)
            message = f"connection lost before response.done: {' '.join(ev.reason.split())}"
            error: dict[str, Any] = {"message": message, "code": str(ev.code or ""), "type": "connection_lost"}
            items = self._output_items(response, ())
            if items:
                error["output_items"] = items
            self._emit("generation.error", gen_id, **error)
            self._maybe_end(trace)

    def _on_command(self, ev: ClientCommand) -> None:
        item = ev.body.get("item")
        if ev.type != "conversation.item.create" or not isinstance(item, Mapping):
            return
        if item.get("type") == "function_call_output" and isinstance(item.get("call_id"), str):
            output = str(item.get("output", ""))
            failure = tool_error(output)
            self._tool_done(item["call_id"], output, failure)

    def _on_tool_edge(self, ev: Any) -> None:
        output = str(getattr(ev, "output", ""))
        if ev.TAG == "tool.result" and getattr(ev, "ok", False):
            self._tool_done(str(ev.call_id), output, None)
        else:
            message = (tool_error(output) or (output, ""))[0]
            self._tool_done(str(ev.call_id), output, (message, str(getattr(ev, "error_kind", None) or "tool_error")))

    def _tool_done(self, call_id: str, output: str, failure: tuple[str, str] | None) -> None:
        call = self._tool_calls.get(call_id)
        if call is None or call.done:
            return
        call.done = True
        if failure is None:
            self._emit("tool_call.result", call.id, result=output)
        else:
            self._emit("tool_call.error", call.id, message=failure[0], code=failure[1], type=failure[1])
        self._traces[call.trace_id].context.append({"role": "tool", "tool_call_id": call_id, "content": output})

    # -- summaries and errors -------------------------------------------------------------------------------

    def _on_summary(self, ev: Any, t_ns: int) -> None:
        summary_id = str(ev.summary_id)
        summary = self._summaries.get(summary_id)
        if summary is None:
            if ev.TAG in ("summary.applied", "summary.abandoned"):
                return
            trace = _Trace(id=self._next_id("trace"))
            self._traces[trace.id] = trace
            self._emit("trace.start", trace.id, session_id=self.session_id, name=f"summary {summary_id}", tags={"summary_id": summary_id})
            model = str(getattr(ev, "model", "") or self.summary_model)
            summary = _Summary(trace_id=trace.id, generation_id=self._next_id("gen"), model=model)
            self._summaries[summary_id] = summary
            messages = [thaw(m) for m in getattr(ev, "messages", ())]
            self._emit(
                "generation.start",
                summary.generation_id,
                trace_id=trace.id,
                name="summary",
                provider="openai",
                model=model,
                messages=messages,
                model_parameters={"temperature": 0},
                start_t_ns=t_ns,
            )
        trace = self._traces[summary.trace_id]
        if ev.TAG == "summary.generated" and not summary.done:
            summary.done = True
            result: dict[str, Any] = {
                "id": summary_id,
                "object": "chat.completion",
                "model": summary.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ev.text}, "finish_reason": "stop"}],
            }
            usage = chat_usage(getattr(ev, "usage", {}))
            if usage is not None:
                result["usage"] = usage
            self._emit("generation.result", summary.generation_id, result=result, status="completed")
            self._emit("trace.update", trace.id, output=ev.text)
        elif ev.TAG == "summary.failed" and not summary.done:
            summary.done = True
            self._emit("generation.error", summary.generation_id, message=str(ev.error), code="", type="summary_failed")
        elif ev.TAG in ("summary.applied", "summary.abandoned") and trace.state is not TraceState.ENDED:
            metadata = {k: thaw(getattr(ev, k)) for k in ("replaced_turns", "window_before", "reason") if hasattr(ev, k)}
            self._emit("trace.event", trace.id, event_id=self._next_id("event"), name=ev.TAG, metadata=metadata)
            trace.state = TraceState.ENDED
            self._emit("trace.end", trace.id)

    def _error(self, message: str, *, type: str, name: str, code: str = "") -> None:
        current = self._current if self._current is not None and self._current.state is TraceState.OPEN else None
        trace = current or _Trace(id=self._next_id("trace"))
        if current is None:
            self._traces[trace.id] = trace
            self._emit("trace.start", trace.id, session_id=self.session_id, name=name, tags={})
        self._emit("trace.error", trace.id, error_id=self._next_id("error"), message=message, code=code, type=type, name=name)
        if current is None:
            trace.state = TraceState.ENDED
            self._emit("trace.end", trace.id)

    # -- audio ----------------------------------------------------------------------------------------------

    def _attach(self, cut: AudioCut) -> None:
        """The cut as a WAV attachment on its turn's trace (the user's once its item's trace exists)."""
        if cut.role == "user":
            trace_id = self._trace_of_item.get(cut.item_id)
            if trace_id is None:
                self._pending_audio[cut.item_id] = cut
                while len(self._pending_audio) > 16:  # speech whose item never came
                    del self._pending_audio[next(iter(self._pending_audio))]
                return
        else:
            trace_id = self._trace_of_response.get(str(cut.detail.get("response_id")))
            if trace_id is None:
                return
        self._emit(
            "attachment",
            self._next_id("attachment"),
            trace_id=trace_id,
            name=f"{cut.role}-{cut.item_id}.wav",
            role=cut.role,
            item_id=cut.item_id,
            mime_type="audio/wav",
            rate=RATE,
            pcm=cut.pcm,
            start_t_ns=cut.start_t_ns,
            end_t_ns=cut.end_t_ns,
            duration_ms=cut.duration_ms,
            **cut.detail,
        )

    # -- helpers --------------------------------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        return f"{self.session_id}-{kind}-{n}"

    def _emit(self, kind: str, entity_id: str, **data: Any) -> None:
        self._ops.append(Op(kind, entity_id, data))
