"""The router's conversation guard: server events that contradict what the connection has said so far.

Theory of operation
-------------------
The parser (parse.py) judges one message at a time: is it well formed? The guard judges it against the
messages before it, on the same connection, and keeps just enough state to do so:

- responses: created (``response.created``) and still open; recently finished;
- items: every item this connection showed us, by ``conversation.item.added`` (or the beta ``.created``) or as
  an output item of a response we know (an out-of-band response's items never enter the conversation but are
  still announced by ``response.output_item.added``); deleted items leave.

A contradiction is a well-formed event about something that does not exist:

- ``response.done`` for a response never created on this connection, or already done;
- an output item, audio, transcript, text or function call of such a response;
- ``conversation.item.done``, ``.deleted`` or ``.truncated`` of an item the connection never showed.

It becomes one ``StateViolation`` (the GA type, the ids, why) published *instead of* the event, so the event
changes nothing: a stray ``response.done`` cannot end the user's turn, start a ``response.create``, add a
response to the ledger or a phantom item to the conversation. Out-of-band responses (``conversation: "none"``)
are legitimate: their ``response.created`` arrives, so they are known.

Why here and not in the cores: the router is the edge where the server's words enter the session, and a
word the session cannot accept is refused there once, for every consumer (conductor, tools, summariser,
ledger, projections), rather than by each core on its own. The refusal is itself the journaled edge event, so
replay is unchanged: cores are fed exactly what they were fed live, and old journals replay as they did.

Input transcription events are not checked: the protocol lets them arrive late and out of order (matched by
item id), and the transcripts actor already tolerates strays. Memory is bounded: remembered ids are capped.

Pure and synchronous: no I/O, no clock. One guard per connection (a new connection is a new conversation).
"""

from __future__ import annotations

from events.base import Event
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemTruncated,
    OutputItemAdded,
    ResponseCreated,
    ResponseDone,
    StateViolation,
)

MAX_ITEMS = 65_536  # items remembered per connection (the oldest are forgotten first)
MAX_FINISHED = 1_024  # finished responses remembered (to tell "already done" from "never created")

ResponseScoped = AssistantAudioDelta | AssistantAudioDone | AssistantTextDelta | AssistantTextDone | FunctionCallRequested


_RESPONSE_SCOPED = frozenset({AssistantAudioDelta, AssistantAudioDone, AssistantTextDelta, AssistantTextDone, FunctionCallRequested})


def _scoped_type(ev: ResponseScoped) -> str:
    """The GA type of the message an event came from."""
    if isinstance(ev, AssistantAudioDelta | AssistantAudioDone):
        return f"response.output_audio.{'delta' if isinstance(ev, AssistantAudioDelta) else 'done'}"
    if isinstance(ev, FunctionCallRequested):
        return "response.function_call_arguments.done"
    kind = "output_audio_transcript" if ev.modality == "audio" else "output_text"
    return f"response.{kind}.{'delta' if isinstance(ev, AssistantTextDelta) else 'done'}"


_ITEM_TYPE: dict[type[Event], str] = {
    ItemDone: "conversation.item.done",
    ItemDeleted: "conversation.item.deleted",
    ItemTruncated: "conversation.item.truncated",
}


class ConversationGuard:
    """``check(event)`` returns the event, or the ``StateViolation`` that replaces it."""

    def __init__(self) -> None:
        self._open: set[str] = set()  # responses created and not done
        self._finished: dict[str, None] = {}  # recently done responses, oldest first
        self._items: dict[str, None] = {}  # items the connection showed, oldest first

    def check(self, ev: Event) -> Event:
        cls = type(ev)
        if cls is AssistantAudioDelta:  # the hot path: one set lookup
            assert isinstance(ev, AssistantAudioDelta)
            return ev if ev.response_id in self._open else self._unknown_response(ev)
        if cls is ResponseCreated:
            assert isinstance(ev, ResponseCreated)
            self._open.add(ev.response_id)
            self._finished.pop(ev.response_id, None)
            return ev
        if cls is ResponseDone:
            assert isinstance(ev, ResponseDone)
            return self._response_done(ev)
        if cls is OutputItemAdded:
            assert isinstance(ev, OutputItemAdded)
            if ev.response_id not in self._open:
                return self._violation(
                    "response.output_item.added", ev.response_id, ev.item_id, f"an output item {ev.item_id} of {self._describe(ev.response_id)}"
                )
            self._remember(ev.item_id)
            return ev
        if cls is ItemAdded:
            assert isinstance(ev, ItemAdded)
            self._remember(ev.item_id)
            return ev
        if cls in _RESPONSE_SCOPED:
            assert isinstance(ev, ResponseScoped)
            return ev if ev.response_id in self._open else self._unknown_response(ev)
        server_type = _ITEM_TYPE.get(cls)
        if server_type is not None:
            assert isinstance(ev, ItemDone | ItemDeleted | ItemTruncated)
            if ev.item_id not in self._items:
                return self._violation(server_type, None, ev.item_id, f"{server_type} of item {ev.item_id}, which this connection never showed")
            if cls is ItemDeleted:
                del self._items[ev.item_id]
        return ev

    def _response_done(self, ev: ResponseDone) -> Event:
        if ev.response_id not in self._open:
            return self._violation("response.done", ev.response_id, None, f"response.done for {self._describe(ev.response_id)}")
        if ev.status != "in_progress":  # not a real end (the cores ignore it too): the response stays open
            self._open.discard(ev.response_id)
            self._finished[ev.response_id] = None
            while len(self._finished) > MAX_FINISHED:
                del self._finished[next(iter(self._finished))]
        return ev

    def _unknown_response(self, ev: ResponseScoped) -> StateViolation:
        server_type = _scoped_type(ev)
        return self._violation(server_type, ev.response_id, ev.item_id, f"{server_type} of {self._describe(ev.response_id)}")

    def _describe(self, response_id: str) -> str:
        if response_id in self._finished:
            return f"response {response_id}, which is already done"
        return f"response {response_id}, which this connection never saw created"

    def _remember(self, item_id: str) -> None:
        self._items[item_id] = None
        while len(self._items) > MAX_ITEMS:
            del self._items[next(iter(self._items))]

    @staticmethod
    def _violation(server_type: str, response_id: str | None, item_id: str | None, reason: str) -> StateViolation:
        return StateViolation(server_type=server_type, reason=reason, response_id=response_id, item_id=item_id)
