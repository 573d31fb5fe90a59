"""Uploader actor: the only writer to the Realtime WebSocket.

Consumes ``AudioChunk`` (capture), ``ClientCommand`` (any core) and ``SessionReady``; the core
(``core.UploaderCore``) turns each into a wire frame and the shell sends them in inbox (``seq``) order.

Emits, as edges, after the I/O: ``ClientEventSent(event_id, type, bytes)`` once a command's frame is on the
socket, or ``ClientSendFailed(event_id, type, error)`` for a command that could not be sent because the
socket is closed. Audio appends are not journaled one by one (one per 40 ms would bloat the journal; the
``AudioChunk`` records already are the audio).

Audio is held back until ``SessionReady``: chunks that arrive before it are not sent (counted by the core),
so the server never hears audio under the default session's formats. Commands are sent at any time.

Buffer and drop policy: the inbox holds ``capacity`` envelopes (64 by default: 2.56 s of 40 ms chunks). Audio
is droppable at the bus: when the uploader falls behind, chunks are dropped for it and each drop is journaled
(``bus.dropped``); capture never waits. Commands are not droppable: their publishers wait for room.

Socket closed: the first failed send records why; from then on audio is discarded and every command gets a
``ClientSendFailed`` with that reason (so each command has exactly one outcome in the journal), until the
inbox ends. End of input: it sends everything still queued, then returns. Cancellation stops it at once
(a frame is either on the socket or not sent; closing the socket is the connection owner's job).
"""

from __future__ import annotations

from typing import Protocol

import trio_websocket

from actors.uploader.core import UploaderCore
from events.audio import AudioChunk
from events.commands import ClientCommand, ClientEventSent, ClientSendFailed
from events.playback import SessionReady
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec

NAME = "uploader"
CONSUMES = frozenset({AudioChunk, ClientCommand, SessionReady})
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=UploaderCore.from_config)
DEFAULT_CAPACITY = 64


class MessageSink(Protocol):
    """What the uploader needs of a socket (a ``trio_websocket.WebSocketConnection``, or a test wrapper)."""

    async def send_message(self, message: str) -> None: ...


def closed_text(exc: trio_websocket.ConnectionClosed) -> str:
    reason = exc.reason
    if reason is None:
        return "socket closed"
    detail = f": {reason.reason}" if reason.reason else ""
    return f"socket closed (code {reason.code}{detail})"


def uploader_actor(ws: MessageSink, *, capacity: int = DEFAULT_CAPACITY) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        core = UploaderCore()
        failure: str | None = None
        with ctx.inbox:
            async for env in ctx.inbox:
                frame = core.encode(env)
                if frame is None:
                    continue
                if failure is None:
                    try:
                        await ws.send_message(frame.text)
                    except trio_websocket.ConnectionClosed as exc:
                        failure = closed_text(exc)
                command = frame.command
                if command is None:
                    continue
                if failure is None:
                    # command frames are ASCII (json.dumps escapes the rest), so len() is the byte count
                    sent = ClientEventSent(event_id=command.event_id, type=command.type, bytes=len(frame.text))
                    await ctx.publish(sent, cause=env.seq)
                else:
                    lost = ClientSendFailed(event_id=command.event_id, type=command.type, error=failure)
                    await ctx.publish(lost, cause=env.seq)

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=capacity)
