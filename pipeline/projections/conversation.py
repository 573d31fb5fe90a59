"""The conversation as a projection: a pure fold over envelopes (no I/O, no trio, no clock).

Whoever needs the conversation (console, summariser, tracer, inspect) folds the events it receives into
its own ``Conversation``; no actor owns a shared mutable history. ``apply`` is cheap per event (a dict
lookup and O(1) work, except inserting or deleting in the middle of the item list) and keeps text only:
audio deltas are never consumed, so memory grows with words, not with sound.

What it folds, and from which events:

* the server's item list and its order: ``ItemAdded`` places an item after ``previous_item_id`` when that
  item is known, appends when it names an unknown one, and for ``previous_item_id=None`` (the server says
  "no predecessor") puts it at the head when it was inserted at the root (we saw our own
  ``conversation.item.create`` with ``previous_item_id="root"``, or it is a system message, which is how
  summaries are inserted) and otherwise appends (a server that omits the field for ordinary appends must
  not scramble the history). ``ItemDeleted`` removes an item.
* user text from the transcript outcomes (``TranscriptResolved``/``TranscriptUnavailable``), or from the
  item itself when it was typed; a ``TranscriptLate`` (the transcript came after a ``timed_out`` or ``session
  ended`` outcome) fills in the text of its item, marked ``late``, as long as the item is still in the
  conversation (once summarised and deleted, there is nothing left to fill in and it is ignored); assistant text from ``AssistantTextDelta``/``AssistantTextDone`` (and the
  final ``ItemDone``); tool calls from ``FunctionCallRequested``; tool outputs from our own
  ``conversation.item.create`` commands (``ClientCommand``) or the item.
* interruption: ``ItemTruncated``, an ``ItemDone`` with status ``incomplete``, a ``ResponseDone`` that
  ends an item still streaming with a status other than ``completed``, or a ``ConnectionLost`` naming the
  item's response in ``interrupted`` (it can never finish). The server trims the transcript of a truncated
  item; the projection keeps what it has and marks the turn ``interrupted``.
* everything is keyed by item, never by response: one response can carry several message items (a spoken
  preamble, then the answer) and function calls, in any order. Which response produced an item is learnt
  from ``OutputItemAdded`` (and the text deltas and function calls, which name it), so that a cancelled or
  lost response interrupts exactly its own items that were still streaming, and not the ones it had
  finished (a preamble that was said in full stays ``resolved``).
* re-seeding (issue 12): after a reconnect the conversation is created again on the new connection with the
  same item ids (``ReseedPlanned`` lists them). An ``ItemAdded`` for an item already held is that item
  coming back: the entry is kept as it is (text, status, late flag), moved only if it now stands before the
  item the server names as its predecessor, and never counted again in ``totals``. A planned item the
  projection never held (``--resume``: the conversation of another journal) is added with what the item
  carries, but is not counted either: it is the old conversation, not a new turn of this session.
* usage: ``ResponseDone`` sets the token window (``usage.total_tokens``), appends to ``usage_history`` and
  counts responses.

Events may arrive before their item (a transcript outcome, text deltas, a tool call): they are kept, keyed by
item id and bounded, and applied when the item is added.

``totals`` counts over the whole session (items later deleted by the summariser still count): ``user``,
``assistant``, ``system``, ``function_call``, ``function_call_output``; ``unavailable`` (user items with no
transcript: their outcome was ``TranscriptUnavailable`` and no late transcript came while the item was still
in the conversation), ``empty`` (user items whose transcript is the empty string: the recogniser heard no
words) and ``late`` (user items whose transcript was attached late). ``Turn.late`` marks the latter; an empty
transcript is a resolved turn with ``text == ""``, shown by ``history_line`` as ``(empty transcript)``.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from events.base import Event
from events.commands import ClientCommand
from events.connection import ConnectionLost, ReseedPlanned
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemTruncated,
    OutputItemAdded,
    ResponseDone,
)
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable

TurnStatus = Literal["pending", "resolved", "unavailable", "streaming", "interrupted"]
TurnKind = Literal["message", "function_call", "function_call_output"]
KINDS: tuple[TurnKind, ...] = ("message", "function_call", "function_call_output")
MAX_EARLY = 256  # facts kept for items not (yet) added

# The event types a Conversation folds: subscribe to these to keep one up to date.
PROJECTION_EVENTS: frozenset[type[Event]] = frozenset(
    {
        ItemAdded,
        ItemDone,
        ItemDeleted,
        ItemTruncated,
        TranscriptResolved,
        TranscriptUnavailable,
        TranscriptLate,
        AssistantTextDelta,
        AssistantTextDone,
        FunctionCallRequested,
        OutputItemAdded,
        ResponseDone,
        ClientCommand,
        ConnectionLost,
        ReseedPlanned,
    }
)


@attrs.frozen(kw_only=True)
class Turn:
    """One item of the conversation as a reader sees it. ``text`` is None while unknown."""

    item_id: str
    role: str
    text: str | None
    status: TurnStatus
    kind: TurnKind
    name: str | None = None  # function_call: the tool
    call_id: str | None = None  # function_call and its output
    # function_call: the raw JSON arguments once complete, the same fact ``text`` shows as ``name(arguments)``
    # (so not compared: equal texts mean equal arguments)
    arguments: str | None = attrs.field(default=None, eq=False)
    detail: str | None = None  # unavailable: why
    late: bool = False  # user: the transcript came after a timed_out / session ended outcome (TranscriptLate)


@attrs.frozen(kw_only=True)
class ResponseUsage:
    """What one ``response.done`` reported."""

    response_id: str
    status: str
    total_tokens: int | None
    input_tokens: int | None
    output_tokens: int | None


@attrs.define
class _Entry:
    role: str
    kind: TurnKind
    status: TurnStatus
    pieces: list[str] = attrs.Factory(list)  # text so far; joined lazily
    has_text: bool = False
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None
    detail: str | None = None
    late: bool = False
    response_id: str | None = None  # the response that produced it (assistant messages, function calls)

    def set_text(self, text: str) -> None:
        self.pieces = [text]
        self.has_text = True

    def add_text(self, delta: str) -> None:
        self.pieces.append(delta)
        self.has_text = True

    @property
    def text(self) -> str | None:
        if not self.has_text:
            return None
        if len(self.pieces) > 1:
            self.pieces = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Conversation:
    def __init__(self) -> None:
        self._order: list[str] = []
        self._entries: dict[str, _Entry] = {}
        self._early: OrderedDict[str, list[Event]] = OrderedDict()
        self._root_creates: set[str] = set()
        self._append_creates: set[str] = set()
        self._tool_outputs: OrderedDict[str, str] = OrderedDict()  # call_id -> output we sent
        self._call_creates: OrderedDict[str, str] = OrderedDict()  # item_id -> arguments of a call we created
        self._reseeding: set[str] = set()  # ids a re-seed is about to create (ReseedPlanned), until added
        self._open_items: dict[str, list[str]] = {}  # response not done yet -> its items, in the order learnt
        self.token_window: int | None = None
        self.usage_history: list[ResponseUsage] = []
        self.responses = 0
        # session-wide counts (items later deleted by the summariser still count): "user", "assistant",
        # "system", "function_call", "function_call_output", and user transcripts "unavailable", "empty" and
        # "late" (see the module docstring)
        self.totals: Counter[str] = Counter()
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            ItemAdded: self._on_added,
            ItemDone: self._on_done,
            ItemDeleted: self._on_deleted,
            ItemTruncated: self._on_truncated,
            TranscriptResolved: self._on_item_fact,
            TranscriptUnavailable: self._on_item_fact,
            TranscriptLate: self._on_late,
            AssistantTextDelta: self._on_item_fact,
            AssistantTextDone: self._on_item_fact,
            FunctionCallRequested: self._on_item_fact,
            OutputItemAdded: self._on_item_fact,
            ResponseDone: self._on_response_done,
            ClientCommand: self._on_command,
            ConnectionLost: self._on_connection_lost,
            ReseedPlanned: self._on_reseed_planned,
        }

    @classmethod
    def fold(cls, envelopes: Iterable[Envelope]) -> Conversation:
        conversation = cls()
        for env in envelopes:
            conversation.apply(env)
        return conversation

    def apply(self, env: Envelope) -> None:
        handler = self._handlers.get(type(env.event))
        if handler is not None:
            handler(env.event)

    # -- views ----------------------------------------------------------------------------------------------

    @property
    def turns(self) -> list[Turn]:
        return [self._turn(item_id, self._entries[item_id]) for item_id in self._order]

    def turn(self, item_id: str) -> Turn | None:
        entry = self._entries.get(item_id)
        return self._turn(item_id, entry) if entry is not None else None

    def __len__(self) -> int:
        return len(self._order)

    @property
    def peak_tokens(self) -> int | None:
        totals = [u.total_tokens for u in self.usage_history if u.total_tokens is not None]
        return max(totals) if totals else None

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(self._order)

    def render_history(self) -> str:
        """The seed's printout: one line per turn ``[role     ] text  (item_id)``, then the token window."""
        lines = [history_line(turn) for turn in self.turns]
        window = f"{self.token_window} tokens" if self.token_window is not None else "unknown (no response yet)"
        lines.append(f"token window: {window}")
        return "\n".join(lines)

    @staticmethod
    def _turn(item_id: str, entry: _Entry) -> Turn:
        return Turn(
            item_id=item_id,
            role=entry.role,
            text=entry.text,
            status=entry.status,
            kind=entry.kind,
            name=entry.name,
            call_id=entry.call_id,
            arguments=entry.arguments,
            detail=entry.detail,
            late=entry.late,
        )

    # -- folding --------------------------------------------------------------------------------------------

    def _on_added(self, ev: ItemAdded) -> None:
        if ev.item_type not in KINDS:
            return
        if ev.item_id in self._entries:  # a re-seed (or the server saying it twice): the entry stands
            self._reseeding.discard(ev.item_id)
            self._reposition(ev.item_id, ev.previous_item_id)
            return
        kind: TurnKind = ev.item_type  # type: ignore[assignment]
        entry = _Entry(role=ev.role or ("tool" if kind == "function_call_output" else "assistant"), kind=kind, status="pending")
        entry.call_id = ev.call_id
        entry.name = ev.name
        if kind == "function_call_output":
            output = ev.text if ev.text is not None else self._tool_outputs.pop(ev.call_id or "", None)
            if output is not None:
                entry.set_text(output)
            entry.status = "resolved"
        elif kind == "function_call":
            # a call we created ourselves (a re-seed, a resumed call): no arguments.done will come for it
            arguments = self._call_creates.pop(ev.item_id, None)
            if arguments is not None:
                entry.arguments = arguments
                entry.set_text(f"{ev.name}({arguments})")
                entry.status = "resolved"
        elif kind == "message":
            if ev.text:
                entry.set_text(ev.text)
                entry.status = "resolved"
            elif entry.role == "assistant":
                entry.status = "streaming"
            if ev.status == "incomplete":
                entry.status = "interrupted"
        self._entries[ev.item_id] = entry
        if ev.item_id in self._reseeding:  # the old conversation coming back (--resume): not a new turn
            self._reseeding.discard(ev.item_id)
        else:
            self.totals[entry.role if kind == "message" else kind] += 1
        self._place(ev.item_id, ev.previous_item_id, entry.role)
        for fact in self._early.pop(ev.item_id, ()):
            self._on_item_fact(fact)

    def _place(self, item_id: str, previous_item_id: str | None, role: str) -> None:
        if previous_item_id is not None and previous_item_id in self._entries and previous_item_id != item_id:
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        elif previous_item_id is None and self._order and self._at_root(item_id, role):
            self._order.insert(0, item_id)
        else:
            self._order.append(item_id)
        self._root_creates.discard(item_id)
        self._append_creates.discard(item_id)

    def _reposition(self, item_id: str, previous_item_id: str | None) -> None:
        """A held item added again after ``previous_item_id``: move it only if it stands before that item now
        (items the re-seed left out may stay between them; the order of what was seeded is kept)."""
        self._root_creates.discard(item_id)
        self._append_creates.discard(item_id)
        if previous_item_id is None or previous_item_id == item_id or previous_item_id not in self._entries:
            return
        if self._order.index(item_id) < self._order.index(previous_item_id):
            self._order.remove(item_id)
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)

    def _at_root(self, item_id: str, role: str) -> bool:
        if item_id in self._root_creates:
            return True
        if item_id in self._append_creates:
            return False
        return role == "system"

    def _on_done(self, ev: ItemDone) -> None:
        entry = self._entries.get(ev.item_id)
        if entry is None or entry.kind != "message" or entry.role == "user":
            return  # user text comes from the transcript outcome, never from the item
        if ev.text is not None and entry.status != "interrupted":
            entry.set_text(ev.text)
        if ev.status == "incomplete":
            entry.status = "interrupted"
        elif entry.status in ("streaming", "pending") and entry.has_text:
            entry.status = "resolved"

    def _on_deleted(self, ev: ItemDeleted) -> None:
        if self._entries.pop(ev.item_id, None) is not None:
            self._order.remove(ev.item_id)
        self._early.pop(ev.item_id, None)

    def _on_truncated(self, ev: ItemTruncated) -> None:
        entry = self._entries.get(ev.item_id)
        if entry is not None:
            entry.status = "interrupted"

    def _on_item_fact(self, ev: Any) -> None:
        """Facts about one item (transcripts, assistant text, tool calls): applied now or when it arrives."""
        entry = self._entries.get(ev.item_id)
        if entry is None:
            self._early.setdefault(ev.item_id, []).append(ev)
            while len(self._early) > MAX_EARLY:
                self._early.popitem(last=False)
            return
        if isinstance(ev, OutputItemAdded | AssistantTextDelta | AssistantTextDone | FunctionCallRequested):
            if entry.response_id is None:
                entry.response_id = ev.response_id
                self._open_items.setdefault(ev.response_id, []).append(ev.item_id)
        if isinstance(ev, TranscriptResolved):
            if entry.status != "resolved" and not ev.text.strip():
                self.totals["empty"] += 1
            entry.set_text(ev.text)
            entry.status = "resolved"
        elif isinstance(ev, TranscriptUnavailable):
            if entry.status != "unavailable":
                self.totals["unavailable"] += 1
            entry.status = "unavailable"
            entry.detail = f"{ev.reason}: {ev.detail}" if ev.detail else ev.reason
        elif isinstance(ev, AssistantTextDelta):
            if entry.status in ("pending", "streaming"):
                entry.add_text(ev.delta)
                entry.status = "streaming"
        elif isinstance(ev, AssistantTextDone):
            if entry.status != "interrupted":
                entry.set_text(ev.text)
                entry.status = "resolved"
            elif not entry.has_text:  # cut before any of its text came: what the server says it was
                entry.set_text(ev.text)
        elif isinstance(ev, FunctionCallRequested):
            entry.name = ev.name
            entry.call_id = ev.call_id
            entry.arguments = ev.arguments
            entry.set_text(f"{ev.name}({ev.arguments})")
            entry.status = "resolved"

    def _on_late(self, ev: TranscriptLate) -> None:
        entry = self._entries.get(ev.item_id)
        if entry is None or entry.role != "user" or entry.late:
            return  # summarised (deleted) before it came: nothing to fill in
        if entry.status == "unavailable":
            self.totals["unavailable"] -= 1
        elif entry.status == "resolved":
            return  # never happens (a late transcript follows an unavailable outcome); the first text stands
        self.totals["late"] += 1
        if not ev.text.strip():
            self.totals["empty"] += 1
        entry.set_text(ev.text)
        entry.status = "resolved"
        entry.detail = None
        entry.late = True

    def _on_response_done(self, ev: ResponseDone) -> None:
        self.responses += 1
        usage = ev.usage
        total = _int_or_none(usage.get("total_tokens"))
        if total is not None:
            self.token_window = total
        self.usage_history.append(
            ResponseUsage(
                response_id=ev.response_id,
                status=ev.status,
                total_tokens=total,
                input_tokens=_int_or_none(usage.get("input_tokens")),
                output_tokens=_int_or_none(usage.get("output_tokens")),
            )
        )
        items = dict.fromkeys((*ev.output_item_ids, *self._open_items.pop(ev.response_id, ())))
        for item_id in items:
            entry = self._entries.get(item_id)
            if entry is not None and entry.status in ("streaming", "pending") and entry.kind == "message":
                entry.status = "resolved" if ev.status == "completed" else "interrupted"

    def _on_connection_lost(self, ev: ConnectionLost) -> None:
        """The responses in flight will never finish: their items still streaming are interrupted (a function
        call whose arguments never completed too); what they had finished stays as it is."""
        for response_id in ev.interrupted:
            for item_id in self._open_items.pop(response_id, ()):
                entry = self._entries.get(item_id)
                if entry is not None and entry.status in ("streaming", "pending"):
                    entry.status = "interrupted"

    def _on_reseed_planned(self, ev: ReseedPlanned) -> None:
        self._reseeding = set(ev.items)  # a new plan replaces an unfinished one (its items never came)

    def _on_command(self, ev: ClientCommand) -> None:
        if ev.type != "conversation.item.create":
            return
        item = ev.body.get("item")
        if not isinstance(item, Mapping):
            return
        item_id = item.get("id")
        if isinstance(item_id, str):
            if ev.body.get("previous_item_id") == "root":
                self._root_creates.add(item_id)
            else:
                self._append_creates.add(item_id)
        if item.get("type") == "function_call_output" and isinstance(item.get("call_id"), str):
            self._tool_outputs[item["call_id"]] = str(item.get("output", ""))
            while len(self._tool_outputs) > MAX_EARLY:
                self._tool_outputs.popitem(last=False)
        elif item.get("type") == "function_call" and isinstance(item_id, str):
            self._call_creates[item_id] = str(item.get("arguments", ""))
            while len(self._call_creates) > MAX_EARLY:
                self._call_creates.popitem(last=False)


def history_line(turn: Turn) -> str:
    """``[role     ] text  (item_id)``, with the status shown where the text is not final: a user turn reads
    ``(transcript pending)``, ``(transcript unavailable: why)`` or ``(empty transcript)`` when it has no
    words, and ends with ``[late]`` when its transcript came late."""
    if turn.status == "unavailable":
        text = f"(transcript unavailable: {turn.detail or 'unknown'})"
    elif turn.text is None:
        text = "(transcript pending)" if turn.role == "user" else "…"
    else:
        text = " ".join(turn.text.split())
        if not text and turn.role == "user":
            text = "(empty transcript)"
    if turn.status == "interrupted":
        text = f"{text} [interrupted]"
    if turn.late:
        text = f"{text} [late]"
    return f"[{turn.role:<9}] {text}  ({turn.item_id})"
