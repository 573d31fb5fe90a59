"""Server VAD: an energy detector over 24 kHz PCM16, positioned on the session's input audio stream.

Theory of operation. Audio is cut into 10 ms frames; a frame is *voiced* when its RMS level is above a
level derived from `threshold` (0 → -70 dBFS, 0.5 → -40 dBFS, 1 → -10 dBFS). Speech *starts* once 3 of the
last 5 frames are voiced; `audio_start_ms` is the first voiced frame of that run minus `prefix_padding_ms`
(never before the start of the uncommitted buffer), i.e. the start of the audio the model will get, as
the real service reports it. Speech *stops* after `silence_duration_ms` of unvoiced frames; `audio_end_ms`
is that moment (the end of the voiced audio plus the silence), again as the real service reports it.
Positions count every sample appended during the session, so they are true to the client's stream.
The detector is a plain synchronous class; `feed` returns the transitions the new audio caused.
"""

from __future__ import annotations

import enum
from collections import deque

import attrs
import numpy as np

FRAME_SAMPLES = 240  # 10 ms at 24 kHz
FRAME_MS = 10
_ONSET_WINDOW = 5
_ONSET_VOICED = 3


@attrs.frozen
class SpeechStarted:
    audio_start_ms: int


@attrs.frozen
class SpeechStopped:
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class VadState(enum.Enum):
    SILENCE = "silence"
    SPEECH = "speech"


def threshold_dbfs(threshold: float) -> float:
    return -70.0 + 60.0 * min(max(threshold, 0.0), 1.0)


class EnergyVad:
    """Turn detection over the input stream; `floor_ms` is where the uncommitted buffer begins."""

    def __init__(self, *, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.state = VadState.SILENCE
        self.frames_seen = 0  # whole frames analysed since the session started
        self.floor_ms = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self._recent: deque[bool] = deque(maxlen=_ONSET_WINDOW)
        self._silent_frames = 0
        self._level = 32768.0**2 * 10 ** (threshold_dbfs(threshold) / 10)

    def configure(self, *, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self._level = 32768.0**2 * 10 ** (threshold_dbfs(threshold) / 10)

    @property
    def position_ms(self) -> int:
        return self.frames_seen * FRAME_MS

    def reset(self, floor_ms: int) -> None:
        """Forget any speech in progress (buffer cleared or committed); the buffer now starts at floor_ms."""
        self.state = VadState.SILENCE
        self._recent.clear()
        self._silent_frames = 0
        self.floor_ms = floor_ms

    def feed(self, samples: np.ndarray) -> list[VadEvent]:  # type: ignore[type-arg]
        """Analyse new 24 kHz samples; return the transitions they caused, in order."""
        if self._pending.size:
            samples = np.concatenate([self._pending, samples])
        whole = samples.size // FRAME_SAMPLES * FRAME_SAMPLES
        self._pending = samples[whole:].copy()
        if whole == 0:
            return []
        frames = samples[:whole].astype(np.float64).reshape(-1, FRAME_SAMPLES)
        voiced_frames = (frames * frames).mean(axis=1) > self._level
        events: list[VadEvent] = []
        for voiced in voiced_frames.tolist():
            self.frames_seen += 1
            self._recent.append(bool(voiced))
            if self.state is VadState.SILENCE:
                if sum(self._recent) >= _ONSET_VOICED:
                    run = len(self._recent) - list(self._recent).index(True)
                    onset_ms = self.position_ms - run * FRAME_MS
                    start_ms = max(self.floor_ms, onset_ms - self.prefix_padding_ms)
                    self.state = VadState.SPEECH
                    self._silent_frames = 0
                    events.append(SpeechStarted(audio_start_ms=start_ms))
            else:
                self._silent_frames = 0 if voiced else self._silent_frames + 1
                if self._silent_frames * FRAME_MS >= max(self.silence_duration_ms, FRAME_MS):
                    self.state = VadState.SILENCE
                    self._recent.clear()
                    events.append(SpeechStopped(audio_end_ms=self.position_ms))
        return events
