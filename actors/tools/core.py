"""Tools core: the tool-call lifecycle, from ``function_call_arguments.done`` to the one ``response.create``.

Theory of operation
-------------------
Each ``FunctionCallRequested`` is checked before anything runs: the tool must be one the session declared
(config key ``session.tools``: the list the model was given; a ``tool_schemas`` key, when present, takes its place), the arguments must parse
as a JSON object (an empty string counts as ``{}``), and they must validate against the tool's JSON schema
(``jsonschema``, Draft 2020-12). A call that fails a check is answered at once with a ``function_call_output``
carrying ``{"error": "...", "kind": "unknown_tool" | "invalid_json" | "invalid_arguments"}`` and journaled as
``ToolRejected``; a call that passes becomes ``ToolRunRequested`` and the shell runs it. The shell's
``ToolResult`` (an edge event: replay never runs a tool) is sent back as the ``function_call_output``.

The calls of one response form a batch, which asks for exactly one ``response.create``::

    COLLECTING ──ResponseDone──► AWAITING_OUTPUTS ──last output sent──► READY ──no response active──► (sent)
        │   (calls arrive; outputs may be sent already)                   │
        └──ResponseDone with every output already sent────────────────────┘
    READY/AWAITING_OUTPUTS ──the response was cancelled──► dropped, outputs still sent, no response.create

* ``response.create`` waits for both the response's ``response.done`` and every output of its calls,
  whichever comes last, so the server never answers ``conversation_already_has_active_response`` for it.
* It also waits while another response is active (created, not done) or while our previous
  ``response.create`` has not been answered by a ``response.created``: ready batches go out one at a time,
  oldest first. A server error naming one of our ``response.create``s (e.g. a response the user's speech
  started in the meantime) puts its batch back (at most ``MAX_CREATE`` attempts in all).
* A cancelled response (the user spoke over it) still gets its outputs, but no ``response.create``: the
  user's new turn has its own response, which sees the outputs.
* A call id seen twice, or a result for a call we do not know, is ignored. A call that arrives after its
  response's ``response.done`` (not the protocol's order) still gets its output and one ``response.create``.

Across a lost connection (``ConnectionLost``, then a re-seed on a new one: events/connection.py)::

    connected ──ConnectionLost──► HOLDING (outputs held) ──ConversationReseeded──► connected
                                                          (held outputs sent, ONE response.create)

* The responses that were open are gone: a batch still collecting is treated as done (not cancelled: nobody
  spoke over it), and a batch whose ``response.create`` was unanswered, or answered by a response that was
  still open, needs its response again.
* An output becomes known to the server with its ``conversation.item.added`` (type function_call_output,
  matched by call id). Outputs already acknowledged are in the conversation projection, so in the re-seed;
  outputs not acknowledged yet (sent as the socket died) and outputs of tools that finish while there is no
  connection are held, and sent after ``ConversationReseeded``, each only when its ``function_call`` item
  is among the re-seeded items (``items`` less ``missing``). An output whose call was not re-seeded has
  nowhere to go: it is dropped: ``ToolOutputDropped`` (its ``ToolResult`` is in the journal; ``dropped_outputs`` names it).
* After ``ConversationReseeded``, every batch whose outputs are all in the new conversation is answered by
  exactly one ``response.create`` (several such batches share it: one answer, not one per batch); a batch
  whose tools are still running gets its own once they finish, as ever.
* A recycle (``ReconnectRequested(recycle=True)``: the old connection stays until the new one is seeded)
  holds outputs from the request to ``ConversationReseeded`` likewise, since commands go to the new socket
  once it is open; no response is lost, so no extra ``response.create``.

Ids: client ``event_id``s are ``tools_0001``, ``tools_0002``...
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import jsonschema

from events import commands
from events.base import Event, thaw
from events.connection import ConnectionLost, ConversationReseeded, ReconnectRequested
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ItemAdded, ResponseCreated, ResponseDone, ServerError
from events.tools import ToolOutputDropped, ToolRejected, ToolResult, ToolRunRequested

NAME = "tools"
MAX_CREATE = 3
MAX_REMEMBERED_CREATES = 16
MAX_REMEMBERED_RESPONSES = 64
MAX_ERROR_CHARS = 300
MAX_UNACKNOWLEDGED = 64  # outputs sent and not yet seen added: a server that never answers cannot grow memory


def error_output(message: str, kind: str) -> str:
    """The error object the model reads in a ``function_call_output``: one line, bounded."""
    line = " ".join(message.split()).encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot travel
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 3] + "..."
    return json.dumps({"error": line, "kind": kind}, ensure_ascii=False)


class BatchState(enum.Enum):
    COLLECTING = "collecting"  # the response is still streaming; calls may still arrive
    AWAITING_OUTPUTS = "awaiting_outputs"  # response.done seen; some outputs not sent yet
    READY = "ready"  # response.done seen and every output sent: a response.create is due


@attrs.define
class _Batch:
    response_id: str
    state: BatchState = BatchState.COLLECTING
    running: set[str] = attrs.field(factory=set)  # call ids whose output is not sent yet
    calls: set[str] = attrs.field(factory=set)  # every call id of the batch
    cancelled: bool = False
    attempts: int = 0


def _not_json(constant: str) -> Any:
    """``json.loads`` accepts NaN and infinities; strict JSON (and the model's contract) does not."""
    raise ValueError(f"{constant} is not a JSON value")


def _schema_error(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"arguments{where}: {error.message}"


class ToolsCore:
    def __init__(self, tools: Sequence[Mapping[str, Any]] = ()) -> None:
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        for entry in tools:
            plain = thaw(entry)
            if not isinstance(plain, dict):
                continue
            name = plain.get("name")
            if plain.get("type", "function") != "function" or not isinstance(name, str):
                continue
            schema = plain.get("parameters") or {"type": "object"}
            self._validators[name] = jsonschema.Draft202012Validator(schema)
        self._calls: dict[str, str] = {}  # call_id -> response_id, for every call ever seen
        self._batches: dict[str, _Batch] = {}  # response_id -> its batch, oldest first
        self._active: set[str] = set()  # responses created and not done
        self._finished: dict[str, str] = {}  # recently done responses -> status (for a call arriving late)
        self._create_pending: str | None = None  # event_id of our response.create not yet answered
        self._creates: dict[str, _Batch] = {}  # our recent response.create ids -> their batch (for errors)
        self._answers: dict[str, _Batch] = {}  # responses our response.create started (open) -> their batch
        self._call_items: dict[str, str] = {}  # call_id -> its function_call item id
        self._unacknowledged: dict[str, str] = {}  # call_id -> output sent, its item not added yet
        self._held: dict[str, str] = {}  # call_id -> output to send once the conversation is re-seeded
        self._holding = False  # no connection to send on (lost, or a recycle in progress)
        self._lost = False  # the connection was lost: the responses that follow outputs were lost with it
        self._gone: set[str] = set()  # calls whose function_call was not re-seeded
        self.dropped_outputs: list[str] = []  # call ids whose output had nowhere to go
        self._counter = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ToolsCore:
        tools = config.get("tool_schemas")
        if tools is None:
            session = config.get("session") or {}
            tools = session.get("tools") if isinstance(session, Mapping) else None
        return cls(tools or ())

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(self._validators)

    def handle(self, env: Envelope) -> Sequence[Event]:
        ev = env.event
        if isinstance(ev, FunctionCallRequested):
            return self._on_call(ev)
        if isinstance(ev, ToolResult):
            return self._on_result(ev)
        if isinstance(ev, ResponseCreated):
            self._active.add(ev.response_id)
            if self._create_pending is not None:
                batch = self._creates.get(self._create_pending)
                if batch is not None:
                    self._answers[ev.response_id] = batch
            self._create_pending = None
            return []
        if isinstance(ev, ItemAdded):
            if ev.item_type == "function_call_output" and ev.call_id is not None:
                self._unacknowledged.pop(ev.call_id, None)
            return []
        if isinstance(ev, ResponseDone):
            return self._on_response_done(ev)
        if isinstance(ev, ServerError):
            return self._on_error(ev)
        if isinstance(ev, ConnectionLost):
            return self._on_connection_lost(ev)
        if isinstance(ev, ReconnectRequested):
            self._holding = self._holding or ev.recycle
            return []
        if isinstance(ev, ConversationReseeded):
            return self._on_reseeded(ev)
        return []

    def _next_id(self) -> str:
        self._counter += 1
        return f"{NAME}_{self._counter:04d}"

    # -- calls --------------------------------------------------------------------------------------------

    def _check(self, ev: FunctionCallRequested) -> tuple[str, str] | None:
        """(kind, message) when the call must not run."""
        validator = self._validators.get(ev.name)
        if validator is None:
            known = ", ".join(self._validators) or "none"
            return "unknown_tool", f"unknown tool {ev.name!r} (available: {known})"
        text = ev.arguments if ev.arguments.strip() else "{}"
        try:
            arguments = json.loads(text, parse_constant=_not_json)
        except RecursionError:
            return "invalid_json", "arguments are not valid JSON: nested too deeply"
        except ValueError as exc:
            return "invalid_json", f"arguments are not valid JSON: {exc}"
        if not isinstance(arguments, dict):
            return "invalid_arguments", f"arguments must be a JSON object, got {type(arguments).__name__}"
        try:
            best = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        except RecursionError:
            return "invalid_arguments", "arguments are nested too deeply to check"
        if best is not None:
            return "invalid_arguments", _schema_error(best)
        return None

    def _on_call(self, ev: FunctionCallRequested) -> list[Event]:
        if ev.call_id in self._calls:
            return []
        self._calls[ev.call_id] = ev.response_id
        self._call_items[ev.call_id] = ev.item_id
        batch = self._batches.get(ev.response_id)
        if batch is None:
            batch = self._batches[ev.response_id] = _Batch(response_id=ev.response_id)
            status = self._finished.get(ev.response_id)
            if status is not None:  # its response.done came first (not the protocol's order, but possible)
                batch.state, batch.cancelled = BatchState.READY, status == "cancelled"
        batch.calls.add(ev.call_id)
        problem = self._check(ev)
        if problem is None:
            batch.running.add(ev.call_id)
            if batch.state is BatchState.READY:
                batch.state = BatchState.AWAITING_OUTPUTS
            arguments = ev.arguments if ev.arguments.strip() else "{}"
            return [ToolRunRequested(call_id=ev.call_id, name=ev.name, arguments_json=arguments, response_id=ev.response_id)]
        kind, message = problem
        output = error_output(message, kind)
        return [
            ToolRejected(call_id=ev.call_id, name=ev.name, response_id=ev.response_id, error_kind=kind, output=output),
            *self._output(ev.call_id, output),
            *self._create_due(),
        ]

    def _on_result(self, ev: ToolResult) -> list[Event]:
        response_id = self._calls.get(ev.call_id)
        batch = self._batches.get(response_id) if response_id is not None else None
        if batch is None or ev.call_id not in batch.running:
            return []
        batch.running.discard(ev.call_id)
        out = self._output(ev.call_id, ev.output)
        if batch.state is BatchState.AWAITING_OUTPUTS and not batch.running:
            batch.state = BatchState.READY
        return out + self._create_due()

    def _output(self, call_id: str, output: str) -> list[Event]:
        """The ``function_call_output`` now, or held while there is no connection, or nothing for a call that
        is no longer in the conversation (its function_call was not re-seeded)."""
        if call_id in self._gone:
            return self._drop(call_id)
        if self._holding:
            self._held[call_id] = output
            return []
        self._unacknowledged[call_id] = output
        while len(self._unacknowledged) > MAX_UNACKNOWLEDGED:
            del self._unacknowledged[next(iter(self._unacknowledged))]
        return [commands.function_call_output(self._next_id(), call_id, output)]

    def _drop(self, call_id: str) -> list[Event]:
        self.dropped_outputs.append(call_id)
        response_id = self._calls.get(call_id)
        batch = self._batches.get(response_id) if response_id is not None else None
        if batch is not None:
            batch.calls.discard(call_id)
        return [ToolOutputDropped(call_id=call_id)]

    # -- responses ----------------------------------------------------------------------------------------

    def _on_response_done(self, ev: ResponseDone) -> list[Event]:
        if ev.status == "in_progress":
            return []
        self._active.discard(ev.response_id)
        self._answers.pop(ev.response_id, None)
        self._finished[ev.response_id] = ev.status
        while len(self._finished) > MAX_REMEMBERED_RESPONSES:
            del self._finished[next(iter(self._finished))]
        batch = self._batches.get(ev.response_id)
        if batch is not None and batch.state is BatchState.COLLECTING:
            batch.cancelled = ev.status == "cancelled"
            batch.state = BatchState.AWAITING_OUTPUTS if batch.running else BatchState.READY
        return self._create_due()

    def _on_error(self, ev: ServerError) -> list[Event]:
        batch = self._creates.pop(ev.client_event_id, None) if ev.client_event_id else None
        if batch is None:
            return []
        if self._create_pending == ev.client_event_id:
            self._create_pending = None
        if batch.attempts < MAX_CREATE:
            # put it back at the front: it is still the oldest ready batch
            self._batches = {batch.response_id: batch, **self._batches}
        return self._create_due()

    # -- connections ----------------------------------------------------------------------------------------

    def _requeue(self, batch: _Batch) -> None:
        """A batch whose response.create (or the response it started) was lost: due again, oldest first."""
        if batch.response_id not in self._batches and not batch.cancelled:
            batch.state = BatchState.READY
            batch.attempts = 0
            self._batches = {batch.response_id: batch, **self._batches}

    def _on_connection_lost(self, ev: ConnectionLost) -> list[Event]:
        self._holding = self._lost = True
        for response_id in [*self._active, *ev.interrupted]:
            batch = self._answers.pop(response_id, None)
            if batch is not None:
                self._requeue(batch)
        self._active.clear()
        if self._create_pending is not None:
            batch = self._creates.pop(self._create_pending, None)
            self._create_pending = None
            if batch is not None:
                self._requeue(batch)
        for batch in self._batches.values():
            if batch.state is BatchState.COLLECTING:  # its response ended with the connection, unfinished
                batch.state = BatchState.AWAITING_OUTPUTS if batch.running else BatchState.READY
        # outputs the server may never have received come back first, then those already held
        self._held = {**self._unacknowledged, **self._held}
        self._unacknowledged.clear()
        return []

    def _on_reseeded(self, ev: ConversationReseeded) -> list[Event]:
        if not self._holding:
            return []
        self._holding = False
        present = set(ev.items) - set(ev.missing)
        open_calls = {c for batch in self._batches.values() for c in batch.calls} | set(self._held)
        self._gone |= {c for c in open_calls if self._call_items.get(c) not in present}
        out: list[Event] = []
        held, self._held = self._held, {}
        for call_id, output in held.items():
            out += self._output(call_id, output)
        if self._lost:
            self._lost = False
            self._merge_due_batches()
        return out + self._create_due()

    def _merge_due_batches(self) -> None:
        """The responses that would have followed the outputs were lost: every batch now complete, whose
        calls are still in the conversation, is answered by one ``response.create`` (queued first)."""
        due = [b for b in self._batches.values() if b.state is BatchState.READY and not b.cancelled]
        for batch in due:
            del self._batches[batch.response_id]
        alive = [b for b in due if b.calls]
        if alive:
            merged = _Batch(response_id=alive[0].response_id, state=BatchState.READY)
            for batch in alive:
                merged.calls |= batch.calls
            self._batches = {merged.response_id: merged, **self._batches}

    def _create_due(self) -> list[Event]:
        """At most one ``response.create``: for the oldest ready batch, when nothing else is in flight."""
        if self._holding:
            return []
        for response_id, batch in list(self._batches.items()):
            if batch.state is not BatchState.READY:
                continue
            if batch.cancelled or not batch.calls:  # the user spoke over it, or none of its calls is left
                del self._batches[response_id]
                continue
            if self._active or self._create_pending is not None:
                return []
            del self._batches[response_id]
            batch.attempts += 1
            self._create_pending = self._next_id()
            self._creates[self._create_pending] = batch
            while len(self._creates) > MAX_REMEMBERED_CREATES:
                del self._creates[next(iter(self._creates))]
            return [commands.response_create(self._create_pending)]
        return []
