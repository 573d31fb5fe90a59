"""A subscriber's inbox: an ordered, bounded queue of envelopes owned by the bus.

trio's memory channels cannot tell a publisher that a slot freed up without the publisher already holding
an item it may have to reorder, so the bus keeps its own queue per subscriber: a publisher first waits until
every target inbox has room (``wait_for_room``), then the bus appends the envelope to all of them in one
synchronous step. Every subscriber therefore sees envelopes in ``seq`` order, whatever trio's scheduler does.

The receive side behaves like a trio receive channel: ``async for env in inbox``, ``receive()``,
``with inbox:`` (closing the receive side makes later deliveries no-ops instead of hanging the publisher),
and the iteration ends when the bus closes the inbox and it has been drained.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from types import TracebackType

import trio

from events.envelope import Envelope


class Inbox:
    def __init__(self, name: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("inbox capacity must be >= 1")
        self.name = name
        self.capacity = capacity
        self._queue: collections.deque[Envelope] = collections.deque()
        self._not_empty = trio.lowlevel.ParkingLot()
        self._not_full = trio.lowlevel.ParkingLot()
        self.input_closed = False  # the bus will deliver nothing more
        self.receiver_closed = False  # the actor stopped reading
        self.delivered = 0
        self.dropped = 0

    # -- bus side -----------------------------------------------------------------------------------------
    def has_room(self) -> bool:
        return self.receiver_closed or len(self._queue) < self.capacity

    async def wait_for_room(self) -> None:
        while not self.has_room():
            await self._not_full.park()

    def put(self, env: Envelope) -> None:
        """Append without waiting (the bus has checked for room, or the event is droppable)."""
        if self.receiver_closed or self.input_closed:
            return
        self._queue.append(env)
        self.delivered += 1
        self._not_empty.unpark()

    def close_input(self) -> None:
        """No more deliveries: the reader ends after draining what is queued."""
        self.input_closed = True
        self._not_empty.unpark_all()

    # -- actor side ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._queue)

    async def receive(self) -> Envelope:
        # Same shape as trio's MemoryReceiveChannel.receive: a cancellation can only land before an item is
        # taken, never after, so a cancelled receive (e.g. under move_on_at) loses nothing.
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._queue:
            if self.input_closed or self.receiver_closed:
                raise trio.EndOfChannel
            await self._not_empty.park()
        env = self._queue.popleft()
        self._not_full.unpark()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return env

    def receive_nowait(self) -> Envelope:
        if not self._queue:
            if self.input_closed or self.receiver_closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        env = self._queue.popleft()
        self._not_full.unpark()
        return env

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            try:
                yield await self.receive()
            except trio.EndOfChannel:
                return

    def close(self) -> None:
        """The actor stops reading: drop what is queued and never block a publisher again."""
        self.receiver_closed = True
        self._queue.clear()
        self._not_full.unpark_all()
        self._not_empty.unpark_all()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
