"""Uploader core: what goes on the wire, in what order, and when audio may start.

Theory of operation
-------------------
The uploader is the only writer to the WebSocket. Its inbox holds three kinds of envelope, in ``seq`` order:
``ClientCommand`` (from any core), ``AudioChunk`` (from capture) and ``SessionReady`` (the session was
configured). The core turns each into at most one wire frame, ``encode(env) -> Frame | None``, and the shell
sends frames in exactly that order.

- A command becomes ``json.dumps(cmd.wire())``: the command already carries the ``event_id`` its core chose,
  so nothing new is decided here and the core emits no events (the shell journals ``ClientEventSent``).
- A chunk becomes ``{"type":"input_audio_buffer.append","audio":"<base64>"}``. This is the only place audio
  is base64-encoded, and the per-chunk path is kept cheap: one ``b2a_base64`` and a string concatenation,
  no JSON encoder (base64 needs no escaping).

States: ``AWAITING_SESSION`` until the first ``SessionReady``, then ``STREAMING``. Audio that arrives before
the session is configured is not sent (the server would hear it with the default session's formats and VAD)
and is only counted (``audio_held_back``); the journal already shows those chunks, and telling the user is
the capture side's business, not the uploader's. Commands are sent in every state: ``session.update`` is
what makes the session ready.

``handle(env)`` is the replay face of the core: the same state transitions, and no events (the uploader's
only outputs, ``ClientEventSent``/``ClientSendFailed``, are edges that the shell publishes after the I/O).
"""

from __future__ import annotations

import binascii
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from events.audio import AudioChunk
from events.base import Event
from events.commands import ClientCommand
from events.envelope import Envelope
from events.playback import SessionReady

_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'
_APPEND_TAIL = '"}'
_b2a = binascii.b2a_base64


class UploaderState(enum.Enum):
    AWAITING_SESSION = "awaiting_session"
    STREAMING = "streaming"


@attrs.frozen
class Frame:
    """One text frame to send; ``command`` is set when it carries a client command (journaled when sent)."""

    text: str
    command: ClientCommand | None = None


def append_frame(pcm: bytes) -> str:
    """The ``input_audio_buffer.append`` wire text for raw PCM16."""
    return _APPEND_HEAD + _b2a(pcm, newline=False).decode("ascii") + _APPEND_TAIL


def command_frame(command: ClientCommand) -> str:
    return json.dumps(command.wire(), separators=(",", ":"))


class UploaderCore:
    def __init__(self) -> None:
        self.state = UploaderState.AWAITING_SESSION
        self.audio_held_back = 0  # chunks not sent because the session was not configured yet

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UploaderCore:
        return cls()

    def encode(self, env: Envelope) -> Frame | None:
        event = env.event
        if isinstance(event, AudioChunk):
            if self.state is UploaderState.STREAMING:
                return Frame(append_frame(event.pcm))
            self.audio_held_back += 1
            return None
        if isinstance(event, ClientCommand):
            return Frame(command_frame(event), event)
        if isinstance(event, SessionReady):
            self.state = UploaderState.STREAMING
        return None

    def handle(self, env: Envelope) -> Sequence[Event]:
        self.encode(env)
        return []
