"""The audio gate: which captured chunks go on the wire, when, and on which connection.

Pure (no I/O, no clock). The uploader core runs one to decide what to send; the conductor runs an identical
copy, fed the same events in the same ``seq`` order, so it knows exactly which audio the server heard on the
current connection (the server's ``audio_start_ms``/``audio_end_ms`` count from the first byte appended on a
connection), without the uploader having to tell it.

States::

    AWAITING_SESSION ──SessionReady──► STREAMING ──ConnectionLost(reconnecting) / ReconnectRequested(recycle)──► HOLDING
                                          ▲                                                                      │
                                          └──────── ConversationReseeded (or a failed recycle attempt) ─────────┘

- AWAITING_SESSION: nothing is sent (the server would hear it with the default session's formats).
- STREAMING: every chunk is sent at once. The gate also remembers the audio sent since the server last
  committed the input buffer (``AudioCommitted``): what a connection that drops now loses with it.
- HOLDING: no usable connection (lost, or a recycle is renewing it): chunks are held, oldest dropped beyond
  ``hold_ms``. A loss while the user is speaking (``SpeechStarted`` since the last commit) puts the
  uncommitted audio at the head of the held audio, so the new connection hears the user turn the drop cut
  from its start (the old server never committed it). Otherwise what the old server had in its buffer is
  silence, not worth sending again, and a recycle happens at a quiet moment anyway. The release (``Released``) is every held chunk, in order, then the gate streams again and the
  connection's audio starts with them.

Per chunk the work is O(1): a deque append, and a pop from the left while over the bound.
"""

from __future__ import annotations

import enum
from collections import deque

import attrs

from events.audio import AudioChunk
from events.base import Event
from events.connection import (
    ConnectionLost,
    ConversationReseeded,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)
from events.playback import SessionReady
from events.protocol import AudioCommitted, SpeechStarted

# the events a gate reacts to besides the chunks themselves
GATE_EVENTS: frozenset[type[Event]] = frozenset(
    {SessionReady, SpeechStarted, AudioCommitted, ConnectionLost, ReconnectRequested, ReconnectFailed, Reconnected, ConversationReseeded}
)


class GateState(enum.Enum):
    AWAITING_SESSION = "awaiting_session"
    STREAMING = "streaming"
    HOLDING = "holding"


def pcm_ms(size: int, rate: int) -> float:
    """Milliseconds of PCM16 mono ``size`` bytes at ``rate``."""
    return size * 500 / rate


@attrs.frozen
class Released:
    """The held audio, to be sent now in this order; ``sent_ms``/``dropped_ms`` for ``HeldAudioSent``."""

    chunks: tuple[bytes, ...]
    sent_ms: int
    dropped_ms: int


class _Window:
    """A bounded run of recent chunks: (pcm, ms) pairs, oldest dropped beyond ``bound_ms``."""

    def __init__(self, bound_ms: float) -> None:
        self.bound_ms = bound_ms
        self.chunks: deque[tuple[bytes, float]] = deque()
        self.ms = 0.0
        self.dropped_ms = 0.0

    def add(self, pcm: bytes, ms: float) -> None:
        self.chunks.append((pcm, ms))
        self.ms += ms
        while self.ms > self.bound_ms + 1e-6 and self.chunks:
            _, old = self.chunks.popleft()
            self.ms -= old
            self.dropped_ms += old

    def clear(self) -> None:
        self.chunks.clear()
        self.ms = 0.0
        self.dropped_ms = 0.0


class AudioGate:
    """See the module docstring. ``connection`` counts connections from 1 (``Reconnected.connection``)."""

    def __init__(self, *, hold_ms: int = 5000) -> None:
        self.state = GateState.AWAITING_SESSION
        self.connection = 1
        self.held_back = 0  # chunks not sent because the session was not configured yet
        self._lost = False  # the current connection is gone (not a recycle)
        self._recycling = False
        self._speaking = False  # speech started on this connection since its last commit
        self._uncommitted = _Window(hold_ms)  # sent since the last commit on this connection
        self._held = _Window(hold_ms)

    def chunk(self, chunk: AudioChunk) -> bool:
        """True: send ``chunk`` now. False: it is held, or not sent at all (session not ready)."""
        state = self.state
        if state is GateState.STREAMING:
            self._uncommitted.add(chunk.pcm, pcm_ms(len(chunk.pcm), chunk.rate))
            return True
        if state is GateState.HOLDING:
            self._held.add(chunk.pcm, pcm_ms(len(chunk.pcm), chunk.rate))
            return False
        self.held_back += 1
        return False

    def handle(self, event: Event) -> Released | None:
        """Follow a non-chunk event; the release of the held audio when it ends the hold."""
        if isinstance(event, SessionReady):
            if self.state is GateState.AWAITING_SESSION:
                self.state = GateState.STREAMING
        elif isinstance(event, SpeechStarted):
            self._speaking = self.state is GateState.STREAMING
        elif isinstance(event, AudioCommitted):
            self._speaking = False
            if self.state is GateState.STREAMING:
                self._uncommitted.clear()
        elif isinstance(event, Reconnected):
            self.connection = max(self.connection, event.connection)
        elif isinstance(event, ConnectionLost):
            if event.reconnecting and not self._lost:
                self._lost = True
                self._hold(carry_uncommitted=self._speaking and not self._recycling)
        elif isinstance(event, ReconnectRequested):
            if event.recycle and not self._lost and not self._recycling:
                self._recycling = True
                self._hold(carry_uncommitted=False)
        elif isinstance(event, ReconnectFailed):
            if self._recycling and not self._lost:  # the old connection is still there: back to it
                self._recycling = False
                return self._release()
        elif isinstance(event, ConversationReseeded):
            self._lost = self._recycling = False
            return self._release()
        return None

    def _hold(self, *, carry_uncommitted: bool) -> None:
        if self.state is GateState.AWAITING_SESSION:
            return  # nothing streams yet: a resumed session's seed, or a loss before the first SessionReady
        if self.state is GateState.STREAMING:
            self._held.clear()
            if carry_uncommitted:
                for pcm, ms in self._uncommitted.chunks:
                    self._held.add(pcm, ms)
            self._uncommitted.clear()
            self._speaking = False
            self.state = GateState.HOLDING

    def _release(self) -> Released | None:
        if self.state is not GateState.HOLDING:
            return None
        held = self._held
        released = Released(
            chunks=tuple(pcm for pcm, _ in held.chunks), sent_ms=round(held.ms), dropped_ms=round(held.dropped_ms)
        )
        for pcm, ms in held.chunks:  # the new connection's audio starts with them
            self._uncommitted.add(pcm, ms)
        held.clear()
        self.state = GateState.STREAMING
        return released
