"""The bus: sequencing, timestamps, journal append, and delivery to per-subscriber inboxes.

``publish`` gives an event the next global ``seq`` and a timestamp from the injected clock, appends it to
the journal, and delivers it to every subscriber of its type. Delivery policy per event type:

- non-droppable events apply backpressure: the publisher waits (before sequencing) until every target inbox
  has room, so a slow consumer slows its producers instead of losing events;
- droppable events (audio) never wait: a full inbox skips the event for that subscriber, and the bus
  publishes an ``InboxDropped`` event so the journal shows every loss.

Sequencing and delivery happen in one synchronous step, so each subscriber sees its events in ``seq`` order.
"""

from __future__ import annotations

from collections.abc import Iterable

import trio

from events.base import Event
from events.envelope import Envelope
from events.runtime import InboxDropped
from pipeline.clock import Clock
from pipeline.inbox import Inbox
from pipeline.journal.writer import JournalWriter

DEFAULT_CAPACITY = 256


class BusClosed(Exception):
    pass


class Subscription:
    def __init__(self, inbox: Inbox, types: frozenset[type[Event]]) -> None:
        self.inbox = inbox
        self.types = types


class Bus:
    def __init__(self, *, clock: Clock, journal: JournalWriter | None = None) -> None:
        self.clock = clock
        self.journal = journal
        self._subs: list[Subscription] = []
        self._routes: dict[type[Event], tuple[Inbox, ...]] = {}
        self._next_seq = 0
        self.closed = False
        self.published = 0

    def subscribe(self, name: str, types: Iterable[type[Event]], *, capacity: int = DEFAULT_CAPACITY) -> Inbox:
        """Create the inbox of subscriber ``name`` for the given event types. Subscribe before publishing."""
        inbox = Inbox(name, capacity)
        self._subs.append(Subscription(inbox, frozenset(types)))
        self._routes.clear()
        return inbox

    def targets(self, event_type: type[Event]) -> tuple[Inbox, ...]:
        route = self._routes.get(event_type)
        if route is None:
            route = tuple(s.inbox for s in self._subs if event_type in s.types)
            self._routes[event_type] = route
        return route

    def _stamp(self, event: Event, source: str, cause: int | None) -> Envelope:
        if self.closed:
            raise BusClosed(f"bus is closed; {source} cannot publish {event.TAG}")
        env = Envelope(seq=self._next_seq, t_ns=self.clock.now_ns(), source=source, cause=cause, event=event)
        self._next_seq += 1
        self.published += 1
        if self.journal is not None:
            self.journal.append(env)
        return env

    async def publish(self, event: Event, *, source: str, cause: int | None = None) -> Envelope:
        targets = self.targets(type(event))
        if event.DROPPABLE:
            await trio.lowlevel.checkpoint()
            return self.publish_nowait(event, source=source, cause=cause)
        await trio.lowlevel.checkpoint()
        # No lock: a publisher waits only for its own targets, so two actors publishing to each other do not
        # deadlock on an unrelated full inbox. Room is re-checked synchronously right before stamping, and
        # stamping and delivery are one synchronous step, so per-subscriber order is seq order.
        while not all(inbox.has_room() for inbox in targets):
            for inbox in targets:
                await inbox.wait_for_room()
        env = self._stamp(event, source, cause)
        for inbox in targets:
            inbox.put(env)
        return env

    def publish_nowait(self, event: Event, *, source: str, cause: int | None = None) -> Envelope:
        """Publish without waiting. Only droppable events may be published this way when inboxes are full."""
        targets = self.targets(type(event))
        if not event.DROPPABLE and not all(t.has_room() for t in targets):
            raise trio.WouldBlock
        env = self._stamp(event, source, cause)
        full: list[Inbox] = []
        for inbox in targets:
            if inbox.has_room():
                inbox.put(env)
            else:
                inbox.dropped += 1
                full.append(inbox)
        for inbox in full:
            drop = InboxDropped(subscriber=inbox.name, dropped_tag=event.TAG, dropped_seq=env.seq)
            # drop notices are small; they go to their subscribers even if that briefly exceeds capacity
            notice = self._stamp(drop, "bus", env.seq)
            for target in self.targets(InboxDropped):
                target.put(notice)
        return env

    def publish_nowait_unchecked(self, event: Event, *, source: str, cause: int | None = None) -> Envelope:
        """Journal and deliver now, even past capacity: for rare notices (a failure) that must not wait."""
        env = self._stamp(event, source, cause)
        for inbox in self.targets(type(event)):
            inbox.put(env)
        return env

    def flush(self, *, sync: bool = True) -> None:
        if self.journal is not None and not self.journal.closed:
            self.journal.flush(sync=sync)

    def sync_due(self) -> bool:
        """An fsync is due by the journal's policy (``always``: every flush; ``interval``: once a period): the
        flusher runs it in a worker thread (an fsync takes milliseconds, which a loop carrying many sessions'
        audio cannot give once a second per session)."""
        journal = self.journal
        return journal is not None and not journal.closed and journal.sync_due()

    def sync(self) -> None:
        journal = self.journal
        if journal is not None and not journal.closed:
            journal.sync()

    def close(self) -> None:
        """End of the session: every inbox drains and ends; nothing more can be published."""
        self.closed = True
        for sub in self._subs:
            sub.inbox.close_input()

    def inboxes(self) -> list[Inbox]:
        return [s.inbox for s in self._subs]
