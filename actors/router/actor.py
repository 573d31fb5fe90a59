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

End: when the socket closes (server, network, or us), it publishes ``ConnectionClosed(code, reason, by_us)``
after every message received before the close, and returns. When the supervisor closes its inbox (session
ending), it stops reading at once and returns without publishing; closing the socket is the connection
owner's job. On cancellation it stops at once; it holds nothing that needs cleaning up.
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
from pipeline.runtime import ActorContext, ActorSpec

NAME = "router"
CONSUMES: frozenset[type[Event]] = frozenset()


async def receive_loop(ws: trio_websocket.WebSocketConnection, ctx: ActorContext) -> None:
    """Publish the events of every message until the socket closes, then ``ConnectionClosed``."""
    parser = ServerMessageParser()
    guard = ConversationGuard()
    while True:
        try:
            message = await ws.get_message()
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


def router_actor(ws: trio_websocket.WebSocketConnection) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async with trio.open_nursery() as nursery:

                async def read_until_closed() -> None:
                    await receive_loop(ws, ctx)
                    nursery.cancel_scope.cancel()  # nothing more will come: stop waiting on the inbox

                nursery.start_soon(read_until_closed)
                async for _ in ctx.inbox:
                    pass
                nursery.cancel_scope.cancel()  # the supervisor closed the inbox: the session is ending

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
