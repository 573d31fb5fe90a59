"""Uploader core: what goes on the wire, in what order, on which connection, and when audio may go.

Theory of operation
-------------------
The uploader is the only writer to the WebSocket(s) of a call. Its inbox holds, in ``seq`` order:
``ClientCommand`` (from any core), ``AudioChunk`` (from capture), and the events that open, hold and release
the audio (``SessionReady``, ``AudioCommitted``, and the connection lifecycle of events/connection.py). The
core turns each into at most one wire frame, ``encode(env) -> Frame | Release | None``, and the shell sends
frames in exactly that order, each on the connection it names.

- A command becomes ``json.dumps(cmd.wire())``: the command already carries the ``event_id`` its core chose,
  so nothing new is decided here (the shell journals ``ClientEventSent``/``ClientSendFailed``).
- A chunk becomes ``{"type":"input_audio_buffer.append","audio":"<base64>"}``. This is the only place audio
  is base64-encoded, and the per-chunk path is kept cheap: one ``b2a_base64`` and a string concatenation,
  no JSON encoder (base64 needs no escaping).
- Which chunks go, and when, is the ``AudioGate``'s (gate.py): nothing before the first ``SessionReady`` (only
  counted, ``audio_held_back``); from a connection loss (``ConnectionLost(reconnecting=True)``) or a recycle
  request until ``ConversationReseeded`` chunks are held (bounded by ``reconnect_buffer_ms``, oldest
  dropped; a loss also keeps the audio the old server had not committed yet), and the release is a
  ``Release``: every held chunk's frame, in order, and the one event this core emits, ``HeldAudioSent(sent_ms,
  dropped_ms)``.
- Connections are numbered from 1; ``Reconnected(connection=N)`` makes N the target of every frame after it
  (seq order, so a frame is never sent on a socket opened after it was decided, nor on one retired before).

``handle(env)`` is the replay face of the core: the same transitions, and ``[HeldAudioSent]`` at a release,
without building any frame.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from actors.uploader.gate import AudioGate, GateState
from events.audio import AudioChunk
from events.base import Event
from events.commands import ClientCommand
from events.connection import HeldAudioSent
from events.envelope import Envelope

_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'
_APPEND_TAIL = '"}'
_b2a = binascii.b2a_base64

UploaderState = GateState  # AWAITING_SESSION, STREAMING, HOLDING


@attrs.frozen
class Frame:
    """One text frame to send on connection ``connection``; ``command`` is set when it carries a client
    command (journaled when sent)."""

    text: str
    command: ClientCommand | None = None
    connection: int = 1


@attrs.frozen
class Release:
    """The audio held while there was no usable connection: send ``frames`` in order, then publish ``event``."""

    frames: tuple[Frame, ...]
    event: HeldAudioSent


def append_frame(pcm: bytes) -> str:
    """The ``input_audio_buffer.append`` wire text for raw PCM16."""
    return _APPEND_HEAD + _b2a(pcm, newline=False).decode("ascii") + _APPEND_TAIL


def command_frame(command: ClientCommand) -> str:
    return json.dumps(command.wire(), separators=(",", ":"))


class UploaderCore:
    def __init__(self, *, hold_ms: int = 5000) -> None:
        self.gate = AudioGate(hold_ms=hold_ms)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UploaderCore:
        return cls(hold_ms=int(config.get("reconnect_buffer_ms", 5000)))

    @property
    def state(self) -> GateState:
        return self.gate.state

    @property
    def audio_held_back(self) -> int:
        """Chunks not sent because the session was not configured yet."""
        return self.gate.held_back

    @property
    def connection(self) -> int:
        return self.gate.connection

    def encode(self, env: Envelope) -> Frame | Release | None:
        event = env.event
        if isinstance(event, AudioChunk):
            if self.gate.chunk(event):
                return Frame(append_frame(event.pcm), None, self.gate.connection)
            return None
        if isinstance(event, ClientCommand):
            return Frame(command_frame(event), event, self.gate.connection)
        released = self.gate.handle(event)
        if released is None:
            return None
        connection = self.gate.connection
        return Release(
            frames=tuple(Frame(append_frame(pcm), None, connection) for pcm in released.chunks),
            event=HeldAudioSent(sent_ms=released.sent_ms, dropped_ms=released.dropped_ms),
        )

    def handle(self, env: Envelope) -> Sequence[Event]:
        """The gate's transitions only: replay needs no wire text (no base64 per chunk)."""
        event = env.event
        if isinstance(event, AudioChunk):
            self.gate.chunk(event)
            return []
        if isinstance(event, ClientCommand):
            return []
        released = self.gate.handle(event)
        if released is None:
            return []
        return [HeldAudioSent(sent_ms=released.sent_ms, dropped_ms=released.dropped_ms)]
