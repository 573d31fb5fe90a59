"""Where played audio goes: a WAV file, the speaker (sounddevice, optional), simpleaudio (optional extra), or
nowhere. A sink takes 24 kHz PCM16 mono; ``write`` is called by the playout at the pace it chooses and must
return quickly; ``close`` is synchronous (so a cancellation cannot interrupt it halfway) and idempotent.

A missing speaker backend raises ``PlaybackUnavailable`` when the sink is built, before any session starts;
its ``str`` is one line saying what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from pipeline.audio.wav import WavWriter

RATE = 24000
NO_PORTAUDIO = "no speaker: PortAudio is not installed (install libportaudio2, or use --output FILE.wav)"


class PlaybackUnavailable(Exception):
    """The speaker cannot be used; ``str(error)`` is one line for the user."""


class Sink(Protocol):
    def write(self, pcm: bytes) -> None: ...
    def close(self) -> None: ...


class NullSink:
    """Plays nothing; counts what it was given. ``on_write`` (if set) sees every block (benches, tests)."""

    def __init__(self, on_write: Callable[[bytes], None] | None = None) -> None:
        self.on_write = on_write
        self.bytes_written = 0
        self.closed = False

    def write(self, pcm: bytes) -> None:
        self.bytes_written += len(pcm)
        if self.on_write is not None:
            self.on_write(pcm)

    def close(self) -> None:
        self.closed = True


class WavSink:
    """Streams the played audio into a WAV file (readable even if the process dies mid-session)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._writer = WavWriter(path, RATE)

    @property
    def duration_ms(self) -> float:
        return self._writer.duration_ms

    def write(self, pcm: bytes) -> None:
        self._writer.write(pcm)

    def close(self) -> None:
        self._writer.close()


class SpeakerSink:
    """The default (or named) output device through sounddevice's blocking stream."""

    def __init__(self, device: int | str | None = None) -> None:
        try:
            import sounddevice
        except OSError as error:  # raised at import when the PortAudio library is missing
            raise PlaybackUnavailable(NO_PORTAUDIO) from error
        except ImportError as error:
            raise PlaybackUnavailable("no speaker: the sounddevice package is not installed (or use --output FILE.wav)") from error
        try:
            self._stream: Any = sounddevice.RawOutputStream(samplerate=RATE, channels=1, dtype="int16", device=device)
            self._stream.start()
        except Exception as error:  # PortAudioError, ValueError: no such device
            raise PlaybackUnavailable(f"no speaker: {_first_line(error)} (or use --output FILE.wav)") from error
        self._closed = False

    def write(self, pcm: bytes) -> None:
        # The playout paces blocks at 1x, so the device buffer has room and this returns at once.
        self._stream.write(pcm)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.stop()
            self._stream.close()


class SimpleaudioSink:
    """The optional ``simpleaudio`` backend (``pip install rtpipe[simpleaudio]``). simpleaudio has no stream:
    each block starts playing when written, so blocks are back to back only because the playout paces them
    at 1x (use it with ``realtime=True``); expect small gaps between blocks."""

    def __init__(self) -> None:
        try:
            import simpleaudio
        except ImportError as error:
            raise PlaybackUnavailable("no speaker: simpleaudio is not installed (pip install simpleaudio)") from error
        self._simpleaudio: Any = simpleaudio
        self._playing: Any = None

    def write(self, pcm: bytes) -> None:
        self._playing = self._simpleaudio.play_buffer(pcm, 1, 2, RATE)

    def close(self) -> None:
        if self._playing is not None:
            self._playing.stop()
            self._playing = None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
