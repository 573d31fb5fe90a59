"""The user's recorded audio per committed turn, for a re-seed (the conductor's; pure, no I/O).

A user turn whose transcript is missing when the connection is lost (its transcript had not come yet, or
never will) is re-seeded as its audio (``input_audio``): the new session hears what the user said. That
audio is exactly what the server committed: the span ``speech_started.audio_start_ms`` ..
``speech_stopped.audio_end_ms`` of the audio sent on that connection, counted from the first byte sent on it.

How the conductor knows what was sent without asking the uploader: it runs its own copy of the uploader's
``AudioGate`` (actors/uploader/gate.py), fed the same events in the same ``seq`` order (chunks, session ready,
commits, the connection lifecycle), so it knows which chunk went on which connection and where. The last
``RING_MS`` of audio sent on the current connection stay in a ring (a deque of chunks, oldest dropped): O(1)
per chunk, 25 chunks a second, no copying. At ``speech_stopped`` the turn's span is cut out of the ring once
(O(ring) once per turn) and kept by item id until its transcript arrives (then it is not needed), at most
``MAX_ITEMS`` turns (oldest dropped). A turn longer than the ring keeps its last ``RING_MS``.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from actors.uploader.gate import AudioGate
from events.audio import AudioChunk
from events.base import Event
from events.connection import ConversationReseeded

BYTES_PER_MS = 48  # 24 kHz PCM16 mono: what the session's input format is and the server counts in
RING_MS = 30_000
MAX_ITEMS = 16


class UserAudio:
    def __init__(self, *, hold_ms: int = 5000, ring_ms: int = RING_MS, max_items: int = MAX_ITEMS) -> None:
        self.gate = AudioGate(hold_ms=hold_ms)
        self.ring_bytes = ring_ms * BYTES_PER_MS
        self.max_items = max_items
        self._ring: deque[bytes] = deque()
        self._start = 0  # position (bytes on the current connection) of the ring's first byte
        self._size = 0  # bytes in the ring
        self._speech: dict[str, int] = {}  # item -> audio_start_ms (speech started, not stopped yet)
        self.items: OrderedDict[str, bytes] = OrderedDict()

    def chunk(self, chunk: AudioChunk) -> None:
        if self.gate.chunk(chunk):
            self._add(chunk.pcm)

    def follow(self, event: Event) -> None:
        """A gate event (see ``GATE_EVENTS``). A release at ``ConversationReseeded`` starts the new connection's
        audio (positions from 0); a release back to the old connection (a recycle attempt that failed) goes on
        where that connection's audio was, as the server counts it."""
        released = self.gate.handle(event)
        if released is not None:
            if isinstance(event, ConversationReseeded):
                self._ring.clear()
                self._start = self._size = 0
                self._speech.clear()
            for pcm in released.chunks:
                self._add(pcm)

    def _add(self, pcm: bytes) -> None:
        ring = self._ring
        ring.append(pcm)
        self._size += len(pcm)
        while self._size - len(ring[0]) >= self.ring_bytes:
            old = ring.popleft()
            self._size -= len(old)
            self._start += len(old)

    def speech_started(self, item_id: str, audio_start_ms: int) -> None:
        self._speech[item_id] = audio_start_ms

    def speech_stopped(self, item_id: str, audio_end_ms: int) -> None:
        start_ms = self._speech.pop(item_id, None)
        if start_ms is None:
            return
        pcm = self.cut(start_ms * BYTES_PER_MS, audio_end_ms * BYTES_PER_MS)
        if pcm:
            self.items[item_id] = pcm
            while len(self.items) > self.max_items:
                self.items.popitem(last=False)

    def cut(self, begin: int, end: int) -> bytes:
        """Bytes ``begin``..``end`` of the current connection's audio (what the ring still has of them)."""
        begin = max(begin, self._start)
        end = min(end, self._start + self._size)
        if end <= begin:
            return b""
        parts: list[bytes] = []
        position = self._start
        for pcm in self._ring:
            following = position + len(pcm)
            if following > begin and position < end:
                parts.append(pcm[max(0, begin - position) : min(len(pcm), end - position)])
            if following >= end:
                break
            position = following
        return b"".join(parts)

    def forget(self, item_id: str) -> None:
        """The turn has its transcript: its audio will not be seeded."""
        self.items.pop(item_id, None)
        self._speech.pop(item_id, None)
