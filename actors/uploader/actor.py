"""Uploader actor: the only writer to the Realtime WebSocket(s) of a call.

Consumes ``AudioChunk`` (capture), ``ClientCommand`` (any core), ``SessionReady``, ``AudioCommitted`` and the
connection lifecycle (``ConnectionLost``, ``ReconnectRequested``, ``ReconnectFailed``, ``Reconnected``,
``ConversationReseeded``); the core (``core.UploaderCore``) turns each into wire frames and the shell sends
them in inbox (``seq``) order, each on the connection the core names (pipeline/link.py).

Emits, as edges, after the I/O: ``ClientEventSent(event_id, type, bytes)`` once a command's frame is on the
socket, or ``ClientSendFailed(event_id, type, error)`` for a command that could not be sent because its
socket is closed or gone. Audio appends are not journaled one by one (one per 40 ms would bloat the journal;
the ``AudioChunk`` records already are the audio). From its core: ``HeldAudioSent(sent_ms, dropped_ms)`` once
the audio held while there was no usable connection has been sent on the new one.

Audio is held back until ``SessionReady``: chunks that arrive before it are not sent (counted by the core),
so the server never hears audio under the default session's formats. From a connection loss (or a recycle
request) until the conversation is re-seeded, chunks are held by the core (bounded by ``reconnect_buffer_ms``,
oldest dropped) and sent after the re-seed. Commands are sent at any time.

Buffer and drop policy: the inbox holds ``capacity`` envelopes (64 by default: 2.56 s of 40 ms chunks). Audio
is droppable at the bus: when the uploader falls behind, chunks are dropped for it and each drop is journaled
(``bus.dropped``); capture never waits. Commands are not droppable: their publishers wait for room.

Socket closed: the first failed send on a connection records why; from then on audio for that connection is
discarded and every command for it gets a ``ClientSendFailed`` with that reason (so each command has exactly
one outcome in the journal); frames for a newer connection go to it. End of input: it sends everything still
queued, then returns. Cancellation stops it at once (a frame is either on the socket or not sent; closing the
sockets is their owners' job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import trio_websocket

from actors.uploader.core import Frame, Release, UploaderCore
from actors.uploader.gate import GATE_EVENTS
from events.audio import AudioChunk
from events.commands import ClientCommand, ClientEventSent, ClientSendFailed
from events.envelope import Envelope
from pipeline.link import Link
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec

NAME = "uploader"
CONSUMES = frozenset({AudioChunk, ClientCommand, *GATE_EVENTS})
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


def uploader_actor(
    link: Link | MessageSink, *, capacity: int = DEFAULT_CAPACITY, config: Mapping[str, Any] | None = None
) -> ActorSpec:
    """The uploader of a call's ``link`` (a bare socket: that one socket, nothing after it)."""
    sockets = link if isinstance(link, Link) else Link.of(link)

    async def shell(ctx: ActorContext) -> None:
        core = UploaderCore.from_config(config or {})
        failures: dict[int, str] = {}  # connection -> why its sends fail

        async def send(frame: Frame, env: Envelope) -> None:
            number = frame.connection
            if number not in failures:
                ws = sockets.socket(number)
                if ws is None:
                    failures[number] = "connection closed"  # retired, or replaced after it dropped
                else:
                    try:
                        await ws.send_message(frame.text)
                    except trio_websocket.ConnectionClosed as exc:
                        failures[number] = closed_text(exc)
            command = frame.command
            if command is None:
                return
            failure = failures.get(number)
            if failure is None:
                # command frames are ASCII (json.dumps escapes the rest), so len() is the byte count
                sent = ClientEventSent(event_id=command.event_id, type=command.type, bytes=len(frame.text))
                await ctx.publish(sent, cause=env.seq)
            else:
                lost = ClientSendFailed(event_id=command.event_id, type=command.type, error=failure)
                await ctx.publish(lost, cause=env.seq)

        with ctx.inbox:
            async for env in ctx.inbox:
                out = core.encode(env)
                if out is None:
                    continue
                if isinstance(out, Release):
                    for frame in out.frames:
                        await send(frame, env)
                    await ctx.publish(out.event, cause=env.seq)
                else:
                    await send(out, env)

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=capacity)
