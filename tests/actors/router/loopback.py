"""A tiny loopback trio-websocket server for shell tests of the router and the uploader.

(The embedded Realtime server is tested on its own; these tests need a peer whose every frame they script
or record.) Real sockets mean no ``autojump_clock`` here: the tests never sleep and stay bounded by
``trio.fail_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio
import trio_websocket

from events.base import Event
from events.envelope import Envelope
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.connection import Endpoint, connect
from pipeline.inbox import Inbox

PeerScript = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]


@asynccontextmanager
async def loopback(script: PeerScript) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Serve one connection on 127.0.0.1 with ``script`` and yield the client side, opened by ``connect``."""
    async with trio.open_nursery() as nursery:

        async def handler(request: trio_websocket.WebSocketRequest) -> None:
            ws = await request.accept()
            await script(ws)

        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        async with connect(Endpoint(url=f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime")) as ws:
            yield ws
        nursery.cancel_scope.cancel()


def drain(inbox: Inbox) -> list[Envelope]:
    out: list[Envelope] = []
    while True:
        try:
            out.append(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


def new_bus() -> Bus:
    return Bus(clock=TrioClock())


def events_of(envs: list[Envelope]) -> list[Event]:
    return [e.event for e in envs]
