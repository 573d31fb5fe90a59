"""The link: the sockets of one call, and the connection actor that opens new ones (issue 12).

A call outlives its connection, so the router and the uploader do not hold a socket: they hold the call's
``Link``. Sockets are numbered from 1 (the one the session opened first) in the order they were attached; the
newest is the one the router reads, and the uploader sends each frame on the socket its core names
(``Frame.connection``), so a frame decided before a ``Reconnected`` never lands on the socket opened after it.

The connection actor (a shell: it has no core and nothing of it is replayed, like the clock) consumes
``ReconnectRequested`` and ``ConversationReseeded``:

- ``ReconnectRequested(attempt, delay_ms, recycle)``: waits ``delay_ms`` on the session clock (trio's clock:
  a ``SimClock`` under ``--fast``), opens a socket with ``pipeline.connection.connect`` and publishes
  ``Reconnected(attempt, connection=N, recycle)`` then attaches it (no checkpoint in between, so the router's
  first event of socket N comes after ``Reconnected`` in the journal), or publishes ``ReconnectFailed(attempt,
  error, fatal)`` with ``ConnectionFailed``'s one line (``fatal`` for an HTTP 401/403). After a loss the
  dead socket it replaces is closed at once; after a recycle the old socket stays open (make before break)
  until ``ConversationReseeded(recycle=True)``, then it is closed and ``ConnectionRetired`` published.
- Edges only: ``Reconnected``, ``ReconnectFailed``, ``ConnectionRetired`` (the outside world's answer).

Who owns what. The first socket is opened (and finally closed) by the session (pipeline/session.py), so a
server that cannot be reached at all is still the one-line setup failure it always was. Each socket this actor
opens lives in a task of the actor's own nursery (``connect`` is a context manager), which closes it when
the actor ends. The actor goes last in the shutdown order, after the uploader: every frame is sent before
any socket closes. At end of input it cancels a reconnect still waiting, marks the link final (the router
stops waiting for a socket that will never come) and closes the sockets it opened. On cancellation it stops at
once; its nursery closes the sockets it opened.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from events.connection import (
    ConnectionRetired,
    ConversationReseeded,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)
from events.envelope import Envelope
from pipeline.connection import ConnectionFailed, Endpoint, close, connect
from pipeline.runtime import ActorContext, ActorSpec

NAME = "connection"
CONSUMES = frozenset({ReconnectRequested, ConversationReseeded})


class Link:
    """The sockets of one call. ``final``: no socket will be attached any more (the session runs without a
    connection actor, or it has ended): a reader waiting for a newer socket gets None."""

    def __init__(self, first: Any | None = None, *, final: bool = False) -> None:
        self._sockets: dict[int, Any] = {}
        self.number = 0  # the newest socket's number (0: none yet)
        self.final = final
        self._changed = trio.Event()
        if first is not None:
            self.attach(first)

    @classmethod
    def of(cls, ws: Any) -> Link:
        """One socket, nothing after it (tests, and sessions that never reconnect)."""
        return cls(ws, final=True)

    def attach(self, ws: Any) -> int:
        """``ws`` becomes the newest socket; its number."""
        self.number += 1
        self._sockets[self.number] = ws
        self._wake()
        return self.number

    def socket(self, number: int) -> Any | None:
        """Socket ``number``, or None once it was detached (retired) or never attached."""
        return self._sockets.get(number)

    def detach(self, number: int) -> None:
        self._sockets.pop(number, None)

    def finish(self) -> None:
        """No socket will be attached any more: wake whoever waits for one."""
        self.final = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def newer(self, than: int) -> tuple[int, Any] | None:
        """The newest socket once one newer than ``than`` is attached; None when none ever will be."""
        while self.number <= than:
            if self.final:
                return None
            await self._changed.wait()
        return self.number, self._sockets[self.number]

    async def attached_after(self, since: int) -> None:
        """Return once a socket newer than ``since`` is attached (never, if none ever is)."""
        while self.number <= since:
            await self._changed.wait()


Opener = Callable[[Endpoint], AbstractAsyncContextManager[Any]]


async def _hold_socket(
    opener: Opener, endpoint: Endpoint, retire: trio.Event, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
) -> None:
    """Open a socket, hand it over, keep it open until ``retire`` is set, then close it (by us)."""
    async with opener(endpoint) as ws:
        task_status.started(ws)
        await retire.wait()
        await close(ws)


def connection_actor(link: Link, endpoint: Endpoint, *, opener: Opener = connect) -> ActorSpec:
    """The connection actor of a call whose first socket is ``link``'s socket 1 (see the module docstring)."""

    async def shell(ctx: ActorContext) -> None:
        owned: dict[int, trio.Event] = {}  # sockets this actor opened -> their retire signal
        recycled_from: list[int] = []  # old sockets kept open until the new one is seeded

        async def retire(number: int) -> None:
            """Detach socket ``number`` and close it: ours through its holder, the session's first one here."""
            ws = link.socket(number)
            link.detach(number)
            event = owned.pop(number, None)
            if event is not None:
                event.set()  # its holder closes it
            elif ws is not None:
                await close(ws)

        async def attempt(env: Envelope, request: ReconnectRequested) -> None:
            await trio.sleep(request.delay_ms / 1000)
            retire_event = trio.Event()
            try:
                ws = await nursery.start(_hold_socket, opener, endpoint, retire_event)
            except ConnectionFailed as exc:
                failed = ReconnectFailed(attempt=request.attempt, error=str(exc) or "connection failed", fatal=exc.fatal)
                await ctx.publish(failed, cause=env.seq)
                return
            previous = link.number
            await ctx.publish(
                Reconnected(attempt=request.attempt, connection=previous + 1, recycle=request.recycle), cause=env.seq
            )
            number = link.attach(ws)  # no checkpoint since the publish: the router reads it after Reconnected
            owned[number] = retire_event
            if request.recycle:
                recycled_from.append(previous)
            else:
                await retire(previous)  # lost: close what is left of it

        async def retire_recycled(env: Envelope) -> None:
            while recycled_from:
                number = recycled_from.pop(0)
                await retire(number)
                await ctx.publish(ConnectionRetired(connection=number), cause=env.seq)

        async with trio.open_nursery() as nursery:
            pending = trio.CancelScope()
            with ctx.inbox:
                async for env in ctx.inbox:
                    ev = env.event
                    if isinstance(ev, ReconnectRequested):
                        pending = trio.CancelScope()
                        nursery.start_soon(_scoped, pending, attempt, env, ev)
                    elif isinstance(ev, ConversationReseeded):
                        await retire_recycled(env)  # the old socket of a recycle (even one that dropped meanwhile)
            pending.cancel()  # the session is ending: a reconnect still waiting is not wanted any more
            link.finish()
            for number in list(owned):
                await retire(number)  # ours: its holder closes it (no checkpoint here)

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)


async def _scoped(scope: trio.CancelScope, fn: Callable[..., Any], *args: Any) -> None:
    with scope:
        await fn(*args)

