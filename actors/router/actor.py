"""Router actor: the only reader of the Realtime WebSocket.

Consumes nothing from the bus (its inbox exists only so the supervisor can tell it to stop). It reads every
server message, parses it once (``parse.ServerMessageParser``), checks each event against what the connection
said before (``guard.ConversationGuard``) and publishes the resulting typed events from ``events.protocol``
(source ``router``, no cause: they are edges, the server's words entering the session). A malformed message
becomes one ``ProtocolViolation``, an unknown type one ``UnknownServerEvent``, an event that contradicts the
conversation (a ``response.done`` for a response never created, a delete of an item never seen) one
``StateViolation`` in its place; none of them stops the session or changes anything else. A binary frame is a
``ProtocolViolation`` (the protocol sends text frames only).

Buffer and drop policy: nothing is dropped. Publishing applies the bus's backpressure (assistant audio is not
droppable: playback must hear all of it), so a slow consumer slows the reading of the socket; trio-websocket
buffers a bounded number of messages behind it (``pipeline.connection.MESSAGE_QUEUE_SIZE``) and TCP does
the rest.

Connections. The router reads the call's ``Link`` (pipeline/link.py), socket after socket, each with a fresh
parser and ``ConversationGuard`` (a new connection is a new server-side session: its ids owe nothing to the
old one's). When a socket closes (server, network, or us), it publishes ``ConnectionClosed(code, reason,
by_us)`` after every message received before the close, then waits for the link's next socket (the
connection actor opens it when the conductor asks for a reconnect) and reads that one; when no socket will
come any more (a link with nothing after it) it returns. When a newer socket is attached while the current one
is still open (a recycle: make before break), it finishes the message in hand and moves to the newer one;
the old one is the connection actor's to close, unread.

End: when the supervisor closes its inbox (session ending), it stops reading at once and returns without
publishing; closing the sockets is their owners' job. On cancellation it stops at once; it holds nothing that
needs cleaning up.
"""

from __future__ import annotations

import trio
import trio_websocket

from actors.router.fields import violation
from actors.router.guard import ConversationGuard
from actors.router.parse import ServerMessageParser
from events.base import Event
from events.protocol import ConnectionClosed
from pipeline.connection import closed_by_us
from pipeline.link import Link
from pipeline.runtime import ActorContext, ActorSpec

NAME = "router"
CONSUMES: frozenset[type[Event]] = frozenset()


class _Moved:
    """Whether a newer socket was attached while the router waits on the current one."""

    def __init__(self) -> None:
        self.moved = False
        self.waiting: trio.CancelScope | None = None

    def move(self) -> None:
        self.moved = True
        if self.waiting is not None:
            self.waiting.cancel()


async def receive_loop(ws: trio_websocket.WebSocketConnection, ctx: ActorContext, moved: _Moved | None = None) -> None:
    """Publish the events of every message until the socket closes, then ``ConnectionClosed``; with
    ``moved``, return without publishing anything more once a newer socket is attached (between messages)."""
    parser = ServerMessageParser()
    guard = ConversationGuard()
    while True:
        try:
            if moved is None:
                message = await ws.get_message()
            else:
                if moved.moved:
                    return
                with trio.CancelScope() as waiting:
                    moved.waiting = waiting
                    message = await ws.get_message()
                moved.waiting = None
                if waiting.cancelled_caught:
                    return  # moved while waiting; a message already in hand is published first
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            await ctx.publish(
                ConnectionClosed(
                    code=reason.code if reason is not None else None,
                    reason=(reason.reason or "") if reason is not None else "",
                    by_us=closed_by_us(ws),
                )
            )
            return
        if isinstance(message, str):
            events = parser.parse(message)
        else:
            events = [violation(f"binary frame of {len(message)} bytes (the protocol sends text frames)", message)]
        for event in events:
            checked = guard.check(event)
            # get_message() has just checkpointed: publish at once when every subscriber has room (no second
            # scheduler step per event); wait for room (backpressure) only when one is full
            try:
                ctx.publish_nowait(checked)
            except trio.WouldBlock:
                await ctx.publish(checked)


async def read_link(link: Link, ctx: ActorContext) -> None:
    """Read every socket of ``link`` in turn until no newer one will come."""
    number = 0
    while True:
        newer = await link.newer(number)
        if newer is None:
            return
        number, ws = newer
        moved = _Moved()
        async with trio.open_nursery() as nursery:

            async def watch(since: int = number, moved: _Moved = moved) -> None:
                await link.attached_after(since)
                moved.move()

            nursery.start_soon(watch)
            await receive_loop(ws, ctx, moved)
            nursery.cancel_scope.cancel()


def router_actor(link: Link | trio_websocket.WebSocketConnection) -> ActorSpec:
    """The router of a call's ``link`` (a bare socket: that one socket, nothing after it)."""
    sockets = link if isinstance(link, Link) else Link.of(link)

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async with trio.open_nursery() as nursery:

                async def read_until_final() -> None:
                    await read_link(sockets, ctx)
                    nursery.cancel_scope.cancel()  # nothing more will come: stop waiting on the inbox

                nursery.start_soon(read_until_final)
                async for _ in ctx.inbox:
                    pass
                nursery.cancel_scope.cancel()  # the supervisor closed the inbox: the session is ending

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
