"""The audio of each turn, for the trace: the user's speech as the server heard it, the assistant's as played.

Pure (no I/O, no clock): ``AudioCutter.apply(env)`` folds the audio events and returns an ``AudioCut`` when
a piece is complete.

* User: the captured chunks (``AudioChunk``) are kept for the last ``keep_ms`` of input audio. The server's
  VAD names the span of a user item on the input audio's own clock (``SpeechStarted.audio_start_ms`` to
  ``SpeechStopped.audio_end_ms``; chunk ``i`` covers ``i x chunk length`` onwards), so at ``speech_stopped``
  that span is cut from the chunks: exactly the samples the server committed for the item.
* Assistant: the item's audio (``AssistantAudioDelta``) is kept while it plays; at ``PlaybackFinished`` the
  part actually played (``played_ms``: all of it, or up to where a barge-in or a lost connection cut it) is
  the cut. Its session span runs from the first playback progress to the finish. Per item: a response with a
  preamble and an answer gives two cuts. An item finished with nothing played (never heard: the response was
  stopped before it began) gives none, and deltas still in flight for a finished item are ignored (they were
  never played).

Memory: at most ``keep_ms`` of input audio plus the audio of the items still playing.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

from events.audio import AudioChunk
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackProgress
from events.protocol import AssistantAudioDelta, SpeechStarted, SpeechStopped

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000
MAX_FINISHED = 256
AUDIO_EVENTS = frozenset({AudioChunk, SpeechStarted, SpeechStopped, AssistantAudioDelta, PlaybackProgress, PlaybackFinished})


@attrs.frozen(kw_only=True)
class AudioCut:
    role: str  # user | assistant
    item_id: str
    pcm: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    start_t_ns: int
    end_t_ns: int
    detail: dict[str, Any] = attrs.field(factory=dict)

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) // BYTES_PER_MS


@attrs.define
class _Playing:
    response_id: str
    pcm: bytearray = attrs.Factory(bytearray)
    first_played_t_ns: int | None = None


class AudioCutter:
    def __init__(self, keep_ms: int = 120_000) -> None:
        self.keep_bytes = keep_ms * BYTES_PER_MS
        self._chunks: deque[tuple[int, int, bytes]] = deque()  # (start byte on the input clock, t_ns, pcm)
        self._kept = 0
        self._speech: dict[str, int] = {}  # item id -> audio_start_ms
        self._playing: dict[str, _Playing] = {}
        self.response_of: dict[str, str] = {}  # assistant item id -> its response
        self._finished: dict[str, None] = {}  # items reported finished (the last MAX_FINISHED): late deltas

    def apply(self, env: Envelope) -> list[AudioCut]:
        ev = env.event
        if isinstance(ev, AudioChunk):
            self._chunks.append((ev.index * len(ev.pcm), env.t_ns, ev.pcm))
            self._kept += len(ev.pcm)
            while self._kept - len(self._chunks[0][2]) >= self.keep_bytes:
                self._kept -= len(self._chunks.popleft()[2])
        elif isinstance(ev, AssistantAudioDelta):
            if ev.item_id in self._finished:
                return []  # in flight when its playback stopped: never played
            playing = self._playing.get(ev.item_id)
            if playing is None:
                playing = self._playing[ev.item_id] = _Playing(response_id=ev.response_id)
                self.response_of[ev.item_id] = ev.response_id
            playing.pcm += ev.pcm
        elif isinstance(ev, PlaybackProgress):
            playing = self._playing.get(ev.item_id)
            if playing is not None and playing.first_played_t_ns is None and ev.played_ms > 0:
                playing.first_played_t_ns = env.t_ns
        elif isinstance(ev, PlaybackFinished):
            self._finished[ev.item_id] = None
            while len(self._finished) > MAX_FINISHED:
                del self._finished[next(iter(self._finished))]
            playing = self._playing.pop(ev.item_id, None)
            if playing is not None:
                played = self._played(ev.item_id, playing, env.t_ns, ev.played_ms, interrupted=ev.interrupted)
                return [played] if played.pcm else []
        elif isinstance(ev, SpeechStarted):
            self._speech[ev.item_id] = ev.audio_start_ms
        elif isinstance(ev, SpeechStopped):
            start_ms = self._speech.pop(ev.item_id, None)
            if start_ms is not None:
                cut = self._user(ev.item_id, start_ms, ev.audio_end_ms, env.t_ns)
                return [cut] if cut is not None else []
        return []

    def finish(self, t_ns: int) -> list[AudioCut]:
        """The session ended: what was played of the items still playing."""
        cuts = [self._played(item_id, p, t_ns, None, interrupted=True) for item_id, p in self._playing.items()]
        self._playing.clear()
        return [c for c in cuts if c.pcm]

    def _played(self, item_id: str, playing: _Playing, t_ns: int, played_ms: int | None, *, interrupted: bool) -> AudioCut:
        played = len(playing.pcm) if played_ms is None else min(len(playing.pcm), played_ms * BYTES_PER_MS)
        start = playing.first_played_t_ns if playing.first_played_t_ns is not None else t_ns
        return AudioCut(
            role="assistant",
            item_id=item_id,
            pcm=bytes(playing.pcm[:played]),
            start_t_ns=start,
            end_t_ns=t_ns,
            detail={
                "response_id": playing.response_id,
                "played_ms": played // BYTES_PER_MS,
                "received_ms": len(playing.pcm) // BYTES_PER_MS,
                "interrupted": interrupted,
            },
        )

    def _user(self, item_id: str, start_ms: int, end_ms: int, t_ns: int) -> AudioCut | None:
        first, last = start_ms * BYTES_PER_MS, end_ms * BYTES_PER_MS
        parts: list[bytes] = []
        start_t = end_t = None
        for offset, chunk_t, pcm in self._chunks:
            lo, hi = max(first, offset), min(last, offset + len(pcm))
            if hi <= lo:
                continue
            parts.append(pcm[lo - offset : hi - offset])
            start_t = chunk_t if start_t is None else start_t
            end_t = chunk_t
        if not parts:
            return None
        return AudioCut(
            role="user",
            item_id=item_id,
            pcm=b"".join(parts),
            start_t_ns=start_t if start_t is not None else t_ns,
            end_t_ns=end_t if end_t is not None else t_ns,
            detail={"audio_start_ms": start_ms, "audio_end_ms": end_ms},
        )


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """A mono PCM16 WAV file of ``pcm`` (the 44-byte RIFF header, then the samples)."""
    import struct

    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16, b"data", len(pcm),
    )  # fmt: skip
    return header + pcm
