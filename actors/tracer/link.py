"""The connection in the trace (issue 12): a call outlives its connection, and the Maxim session shows it.

Each reconnect (and each recycle, and a ``--resume``) is a trace of its own in the session, named for what
it is ("reconnect 1: connection closed by the server (code 1006)", "recycle 1", "resume from J"), holding one
event per fact of the lifecycle in events/connection.py, in order:

* ``connection.lost`` (reason, code, whether the call goes on, the responses in flight),
* ``connection.reconnect_requested`` (attempt, delay), ``connection.reconnect_failed`` (attempt, one line),
* ``connection.reconnected`` (attempt, connection number),
* ``connection.reseed_planned`` (how many items, the root summary, the user turns sent as audio),
* ``connection.reseeded`` (the same, ``restored`` and what the server refused),
* ``connection.held_audio_sent`` and ``connection.retired`` (after a recycle), which follow the re-seed.

A fatal attempt, a loss without reconnecting, and a re-seed the server did not fully take are trace errors
too, so they stand out in Maxim. The trace ends when the conversation goes on after the re-seed (the next
user turn or response), when another loss opens the next one, or at the end of the session.

The turn that was in flight keeps its own trace: its interrupted responses become generation errors there
(core.py), and its tool calls stay open (their outputs may still come, into the new connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from events.base import Event
from events.connection import (
    ConnectionLost,
    ConnectionRetired,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
    ReseedPlanned,
)

CONNECTION_EVENTS: frozenset[type[Event]] = frozenset(
    {
        ConnectionLost,
        ReconnectRequested,
        ReconnectFailed,
        Reconnected,
        ReseedPlanned,
        ConversationReseeded,
        HeldAudioSent,
        ConnectionRetired,
    }
)

Emit = Callable[..., None]


def _metadata(ev: Event) -> dict[str, Any]:
    """The event's fields as plain JSON values (tuples as lists, lengths beside id lists)."""
    out: dict[str, Any] = {}
    for name in ev.__attrs_attrs__:  # type: ignore[attr-defined]
        value = getattr(ev, name.name)
        if isinstance(value, tuple):
            out[name.name] = list(value)
        elif value is not None:
            out[name.name] = value
    return out


class ConnectionTraces:
    """Turns the connection lifecycle into trace operations through the core's ``emit`` and ``next_id``."""

    def __init__(self, *, session_id: str, emit: Emit, next_id: Callable[[str], str]) -> None:
        self.session_id = session_id
        self._emit = emit
        self._next_id = next_id
        self._trace: str | None = None  # the open connection trace
        self._reseeded = False  # its re-seed is done: the next turn or response ends it
        self._counts = {"reconnect": 0, "recycle": 0}

    def handle(self, ev: Event) -> None:
        if isinstance(ev, ConnectionLost):
            self.end()
            self._open("reconnect", f": {' '.join(ev.reason.split())}")
            self._event(ev)
            if not ev.reconnecting:
                self._error(f"connection lost, not reconnecting: {ev.reason}", "connection_lost")
            return
        if isinstance(ev, ReconnectRequested) and ev.recycle and (self._trace is None or self._reseeded):
            self.end()
            self._open("recycle", "")
        elif isinstance(ev, ReseedPlanned) and ev.resumed_from is not None and self._trace is None:
            self._start(f"resume from {ev.resumed_from}", {"resumed_from": ev.resumed_from})
        if self._trace is None:
            return  # a fact with no lifecycle around it (held audio of nothing): nothing to attach it to
        self._event(ev)
        if isinstance(ev, ReconnectFailed) and ev.fatal:
            self._error(f"reconnect attempt {ev.attempt} failed for good: {ev.error}", "reconnect_failed")
        elif isinstance(ev, ConversationReseeded):
            self._reseeded = True
            if not ev.restored:
                refused = ", ".join(ev.missing) or "unknown"
                self._error(f"the server refused {len(ev.missing)} re-seeded items ({refused})", "reseed_incomplete")

    def conversation_goes_on(self) -> None:
        """A user turn or a response started: a re-seeded connection's trace is complete."""
        if self._reseeded:
            self.end()

    def end(self) -> None:
        if self._trace is not None:
            self._emit("trace.end", self._trace)
        self._trace = None
        self._reseeded = False

    def _open(self, kind: str, detail: str) -> None:
        self._counts[kind] += 1
        self._start(f"{kind} {self._counts[kind]}{detail}", {"kind": kind})

    def _start(self, name: str, tags: dict[str, str]) -> None:
        self._trace = self._next_id("trace")
        self._reseeded = False
        self._emit("trace.start", self._trace, session_id=self.session_id, name=name, tags=tags)

    def _event(self, ev: Event) -> None:
        assert self._trace is not None
        self._emit("trace.event", self._trace, event_id=self._next_id("event"), name=ev.TAG, metadata=_metadata(ev))

    def _error(self, message: str, kind: str) -> None:
        assert self._trace is not None
        self._emit(
            "trace.error", self._trace, error_id=self._next_id("error"), message=message, code="", type=kind, name=kind
        )
