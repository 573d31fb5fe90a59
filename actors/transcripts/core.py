"""Transcript resolver core: every user item ends with exactly one outcome.

Theory of operation
-------------------
A user message item enters the conversation with ``ItemAdded`` (role ``user``, type ``message``). From then
on the item has its own small state machine, and it ends in exactly one of two outcomes:
``TranscriptResolved(item_id, text, via)`` or ``TranscriptUnavailable(item_id, reason, detail)``.

::

    ItemAdded(text)        ──────────────────────────────────────────────────► DONE  resolved via "event"
    ItemAdded(no text) ──► AWAITING_EVENT ──completed────────────────────────► DONE  resolved via "event"
                              │           ──failed───────────────────────────► DONE  unavailable "failed"
                              │ timer :wait (transcript_timeout_ms)
                              ▼
                           RETRIEVING(n) ──retrieved with text───────────────► DONE  resolved via "retrieve"
                              │  ▲        ──completed (late, still wins)─────► DONE  resolved via "event"
          retrieved empty,    │  │ timer :backoff:n (backoff_ms * n)
          timer :retrieve:n,  ▼  │
          our retrieve errs  BACKING_OFF(n) ── after attempt ``retries`` ────► DONE  unavailable "timed_out"

* Transcription events may come before the item (they are kept, keyed by item id, and applied when it is
  added) or long after ``response.done``: they always attach to their own item id, never to "the current
  turn", so a late transcript cannot be mistaken for the next one.
* Every wait is a ``TimerRequested`` with a key naming the item, the phase and the attempt
  (``transcripts:<item>:wait``, ``transcripts:<item>:retrieve:<n>``, ``transcripts:<item>:backoff:<n>``).
  A ``TimerFired`` whose key is not the one the item is waiting for is stale and ignored.
* Retrieve requests carry our own ids (``transcripts_0001``...), so a server ``error`` naming one of them
  counts as a failed attempt of that item.
* Deleting a pending item (the summariser prunes, or the user's client does) ends it as
  ``TranscriptUnavailable(reason="failed", detail="item deleted ...")``: the invariant "exactly one outcome
  per user item" holds even for items that disappear, so whoever waits for outcomes (the conductor) never
  waits for a transcript that can no longer come.
* ``SessionEnding`` ends every item still waiting with ``TranscriptUnavailable(reason="session ended")``
  (and cancels its timer), so the invariant holds across any ending: end of input, Ctrl-C, a signal, a fatal
  error. A user item added after that (the server's last messages while the session drains) gets the same
  outcome at once, unless its transcript is already here.
* After its outcome an item is remembered only by id. The one thing still accepted is its transcript when
  the outcome was ``timed_out`` or ``session ended``: a transcription ``completed`` event (or a retrieve
  answer with text) that arrives after that is published as ``TranscriptLate``, once, so the transcript is
  attached to its item (marked late) instead of being thrown away; it is not a second outcome. Anything else
  about a finished item is ignored.
* ``ConnectionLost`` ends every item still waiting with ``TranscriptUnavailable(reason="connection lost")`` at
  once (timers cancelled): the server that would have transcribed it is gone, and waiting on retrieves
  against a new connection cannot help. Its transcript, should it still come (a recycle's old connection
  delivers what it had), is a ``TranscriptLate``, as after ``timed_out``.
* ``ReseedPlanned`` lists the items a new connection (reconnect, recycle, ``--resume``) is about to create with
  their old ids: the ``ItemAdded`` that follows for each is the old conversation coming back, not a new user
  turn. An item this core already knows keeps its one outcome; one it never saw (the parent call's, on a
  ``--resume``) needs none here (its outcome is in the parent journal): nothing is awaited or retrieved.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from events import commands
from events.base import Event
from events.connection import ConnectionLost, ReseedPlanned
from events.envelope import Envelope
from events.protocol import (
    InputTranscriptCompleted,
    InputTranscriptFailed,
    ItemAdded,
    ItemDeleted,
    ItemRetrieved,
    ServerError,
)
from events.runtime import SessionEnding, TimerCancelled, TimerFired, TimerRequested
from events.transcripts import (
    CONNECTION_LOST,
    LATE_AFTER,
    SESSION_ENDED,
    TranscriptLate,
    TranscriptResolved,
    TranscriptUnavailable,
)

NAME = "transcripts"
# Transcription events for items we have not seen yet; bounded so a server that transcribes items we never
# hear about (or a bug) cannot grow memory without limit.
MAX_EARLY = 256


class ItemState(enum.Enum):
    AWAITING_EVENT = "awaiting_event"
    RETRIEVING = "retrieving"
    BACKING_OFF = "backing_off"


@attrs.define
class _Pending:
    state: ItemState
    timer: str  # the key of the one timer this item is waiting for
    attempt: int = 0
    retrieve_id: str | None = None


class TranscriptCore:
    def __init__(
        self,
        *,
        timeout_ms: int = 3000,
        retries: int = 5,
        backoff_ms: int = 400,
        retrieve_wait_ms: int = 2000,
    ) -> None:
        if retries < 1:
            raise ValueError("transcript_retries must be >= 1")
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.backoff_ms = backoff_ms
        self.retrieve_wait_ms = retrieve_wait_ms
        self._pending: dict[str, _Pending] = {}
        self._done: set[str] = set()
        self._may_be_late: set[str] = set()  # done as timed_out / session ended: a late transcript attaches
        self._ended = False
        self._early: OrderedDict[str, InputTranscriptCompleted | InputTranscriptFailed] = OrderedDict()
        self._retrieve_ids: dict[str, str] = {}  # our retrieve event_id -> item_id, while that attempt is live
        self._seeded: set[str] = set()  # ids a re-seed (reconnect, recycle, --resume) creates again
        self._counter = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TranscriptCore:
        return cls(
            timeout_ms=int(config.get("transcript_timeout_ms", 3000)),
            retries=int(config.get("transcript_retries", 5)),
            backoff_ms=int(config.get("transcript_backoff_ms", 400)),
            retrieve_wait_ms=int(config.get("transcript_retrieve_wait_ms", 2000)),
        )

    # -- views (for tests and the shell's logs) ------------------------------------------------------------

    def state_of(self, item_id: str) -> ItemState | None:
        pending = self._pending.get(item_id)
        return pending.state if pending is not None else None

    @property
    def pending_items(self) -> tuple[str, ...]:
        return tuple(self._pending)

    # -- the state machine ----------------------------------------------------------------------------------

    def handle(self, env: Envelope) -> Sequence[Event]:
        ev = env.event
        if isinstance(ev, ItemAdded):
            return self._on_added(ev)
        if isinstance(ev, InputTranscriptCompleted | InputTranscriptFailed):
            return self._on_transcription(ev)
        if isinstance(ev, TimerFired):
            return self._on_timer(ev)
        if isinstance(ev, ItemRetrieved):
            return self._on_retrieved(ev)
        if isinstance(ev, ServerError):
            return self._on_error(ev)
        if isinstance(ev, ItemDeleted):
            return self._on_deleted(ev)
        if isinstance(ev, SessionEnding):
            return self._on_session_ending()
        if isinstance(ev, ConnectionLost):
            return self._on_connection_lost(ev)
        if isinstance(ev, ReseedPlanned):
            self._seeded.update(ev.items)
        return []

    def _on_added(self, ev: ItemAdded) -> list[Event]:
        if ev.item_type != "message" or ev.role != "user":
            return []
        item_id = ev.item_id
        if item_id in self._done or item_id in self._pending:
            return []  # a repeated added/created for the same item, or a re-seed of one we know
        if item_id in self._seeded:  # the parent call's item, created again by --resume: not a new turn
            self._done.add(item_id)
            self._early.pop(item_id, None)
            return []
        if ev.text:
            self._done.add(item_id)
            self._early.pop(item_id, None)
            return [TranscriptResolved(item_id=item_id, text=ev.text, via="event")]
        early = self._early.pop(item_id, None)
        if early is not None:
            self._done.add(item_id)
            return [self._outcome_of(early)]
        if self._ended:
            self._done.add(item_id)
            self._may_be_late.add(item_id)
            return [TranscriptUnavailable(item_id=item_id, reason=SESSION_ENDED, detail="added as the session ended")]
        key = f"{NAME}:{item_id}:wait"
        self._pending[item_id] = _Pending(state=ItemState.AWAITING_EVENT, timer=key)
        return [TimerRequested(key=key, delay_ms=self.timeout_ms)]

    def _on_transcription(self, ev: InputTranscriptCompleted | InputTranscriptFailed) -> list[Event]:
        item_id = ev.item_id
        if item_id in self._done:
            if item_id in self._may_be_late and isinstance(ev, InputTranscriptCompleted):
                return self._late(item_id, ev.transcript, "event")
            return []
        if item_id not in self._pending:
            # before its item: keep it (the first one wins, like the outcome it will become)
            if item_id not in self._early:
                self._early[item_id] = ev
                while len(self._early) > MAX_EARLY:
                    self._early.popitem(last=False)
            return []
        return self._finish(item_id, self._outcome_of(ev))

    def _on_timer(self, ev: TimerFired) -> list[Event]:
        item_id = _item_of_timer(ev.key)
        pending = self._pending.get(item_id) if item_id is not None else None
        if item_id is None or pending is None or pending.timer != ev.key:
            return []  # not ours, or stale (replaced or already answered)
        if pending.state is ItemState.RETRIEVING:  # the wait for the retrieve's answer ran out
            return self._attempt_failed(item_id, pending)
        return self._retrieve(item_id, pending)  # the first wait, or a backoff, ran out

    def _on_retrieved(self, ev: ItemRetrieved) -> list[Event]:
        pending = self._pending.get(ev.item_id)
        if pending is None:
            if ev.text and ev.item_id in self._may_be_late:
                return self._late(ev.item_id, ev.text, "retrieve")
            return []
        if ev.text:
            # any retrieve of a pending item that shows text settles it, even a late answer to an attempt
            # whose wait already ran out (or one somebody else asked for)
            return self._finish(ev.item_id, TranscriptResolved(item_id=ev.item_id, text=ev.text, via="retrieve"))
        if pending.state is ItemState.RETRIEVING:
            return self._attempt_failed(ev.item_id, pending, cancel_timer=True)
        return []

    def _on_error(self, ev: ServerError) -> list[Event]:
        if ev.client_event_id is None:
            return []
        item_id = self._retrieve_ids.get(ev.client_event_id)
        pending = self._pending.get(item_id) if item_id is not None else None
        if item_id is None or pending is None or pending.retrieve_id != ev.client_event_id:
            return []
        if pending.state is not ItemState.RETRIEVING:
            return []
        return self._attempt_failed(item_id, pending, cancel_timer=True)

    def _on_deleted(self, ev: ItemDeleted) -> list[Event]:
        if ev.item_id not in self._pending:
            return []
        outcome = TranscriptUnavailable(
            item_id=ev.item_id, reason="failed", detail="item deleted before its transcript arrived"
        )
        return self._finish(ev.item_id, outcome)

    def _on_session_ending(self) -> list[Event]:
        self._ended = True
        out: list[Event] = []
        for item_id in list(self._pending):  # in the order the items were added
            detail = "the session ended while the item was waiting for its transcript"
            out += self._finish(item_id, TranscriptUnavailable(item_id=item_id, reason=SESSION_ENDED, detail=detail))
        return out

    def _on_connection_lost(self, ev: ConnectionLost) -> list[Event]:
        out: list[Event] = []
        code = f", code {ev.code}" if ev.code is not None else ""
        detail = f"{CONNECTION_LOST} ({ev.reason}{code}) while the item was waiting for its transcript"
        for item_id in list(self._pending):  # in the order the items were added
            out += self._finish(item_id, TranscriptUnavailable(item_id=item_id, reason=CONNECTION_LOST, detail=detail))
            self._may_be_late.add(item_id)
        return out

    # -- steps ----------------------------------------------------------------------------------------------

    def _retrieve(self, item_id: str, pending: _Pending) -> list[Event]:
        self._forget_retrieve_id(pending)
        self._counter += 1
        event_id = f"{NAME}_{self._counter:04d}"
        pending.attempt += 1
        pending.state = ItemState.RETRIEVING
        pending.retrieve_id = event_id
        pending.timer = f"{NAME}:{item_id}:retrieve:{pending.attempt}"
        self._retrieve_ids[event_id] = item_id
        return [
            commands.item_retrieve(event_id, item_id),
            TimerRequested(key=pending.timer, delay_ms=self.retrieve_wait_ms),
        ]

    def _attempt_failed(self, item_id: str, pending: _Pending, *, cancel_timer: bool = False) -> list[Event]:
        out: list[Event] = [TimerCancelled(key=pending.timer)] if cancel_timer else []
        self._forget_retrieve_id(pending)
        if pending.attempt >= self.retries:
            detail = (
                f"no transcript {self.timeout_ms} ms after the item was added, "
                f"nor from {pending.attempt} retrieve attempts"
            )
            del self._pending[item_id]
            self._done.add(item_id)
            self._may_be_late.add(item_id)
            return [*out, TranscriptUnavailable(item_id=item_id, reason="timed_out", detail=detail)]
        pending.state = ItemState.BACKING_OFF
        pending.timer = f"{NAME}:{item_id}:backoff:{pending.attempt}"
        return [*out, TimerRequested(key=pending.timer, delay_ms=self.backoff_ms * pending.attempt)]

    def _finish(self, item_id: str, outcome: Event) -> list[Event]:
        pending = self._pending.pop(item_id)
        self._forget_retrieve_id(pending)
        self._done.add(item_id)
        if isinstance(outcome, TranscriptUnavailable) and outcome.reason in LATE_AFTER:
            self._may_be_late.add(item_id)
        return [outcome, TimerCancelled(key=pending.timer)]

    def _late(self, item_id: str, text: str, via: str) -> list[Event]:
        self._may_be_late.discard(item_id)  # at most one late transcript per item
        return [TranscriptLate(item_id=item_id, text=text, via=via)]

    def _forget_retrieve_id(self, pending: _Pending) -> None:
        if pending.retrieve_id is not None:
            self._retrieve_ids.pop(pending.retrieve_id, None)
            pending.retrieve_id = None

    @staticmethod
    def _outcome_of(ev: InputTranscriptCompleted | InputTranscriptFailed) -> Event:
        if isinstance(ev, InputTranscriptCompleted):
            return TranscriptResolved(item_id=ev.item_id, text=ev.transcript, via="event")
        message = ev.error.get("message") or ev.error.get("code") or "transcription failed"
        return TranscriptUnavailable(item_id=ev.item_id, reason="failed", detail=str(message))


def _item_of_timer(key: str) -> str | None:
    """``transcripts:<item>:<phase>[:<n>]`` -> ``<item>`` (item ids never contain ':' in practice, but the
    phase is parsed from the right so one that did would still work)."""
    prefix = f"{NAME}:"
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    head, _, last = rest.rpartition(":")
    if last == "wait":
        return head or None
    item, _, phase = head.rpartition(":")
    if phase in ("retrieve", "backoff") and last.isdigit():
        return item or None
    return None
