"""Where captured audio comes from: a WAV file, a tone/silence generator, a script spoken by the offline TTS,
or the microphone (sounddevice, optional).

Every source yields 24 kHz PCM16 mono. File and generator sources are *pull* sources (``chunks(chunk_ms)``:
the shell paces them); the script source renders lines on demand; the microphone pushes blocks from a
PortAudio thread through ``MicFeed``, which never blocks that thread.

Errors a user can cause surface when the source is built, before any session starts: a missing or bad WAV
raises ``FileNotFoundError`` / ``AudioFormatError`` (from ``read_wav``), a missing microphone raises
``CaptureUnavailable`` whose ``str`` is one line saying what to do.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import attrs
import numpy as np
import trio

from actors.capture.script import ScriptLine, parse_script
from pipeline.audio.wav import read_wav
from pipeline.clock import run_sync_held

RATE = 24000
NO_PORTAUDIO = "no microphone: PortAudio is not installed (install libportaudio2, or use --input FILE.wav)"


class CaptureUnavailable(Exception):
    """The microphone cannot be used; ``str(error)`` is one line for the user."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def chunk_bytes(chunk_ms: int, rate: int = RATE) -> int:
    """Bytes of one PCM16 mono chunk of ``chunk_ms`` milliseconds."""
    samples = rate * chunk_ms // 1000
    if chunk_ms <= 0 or samples * 1000 != rate * chunk_ms:
        raise ValueError(f"chunk_ms must be a positive whole number of samples at {rate} Hz, got {chunk_ms}")
    return samples * 2


def silence(ms: int, rate: int = RATE) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def split_chunks(pcm: bytes, size: int) -> Iterator[bytes]:
    """Fixed-size chunks; the last one is padded with silence so every chunk has the same duration."""
    for start in range(0, len(pcm), size):
        chunk = pcm[start : start + size]
        yield chunk if len(chunk) == size else chunk + bytes(size - len(chunk))


class WavSource:
    """A WAV file of any rate, channel count and sample width, read and converted to 24 kHz mono now.

    ``trailing_silence_ms`` of silence follow the file, so that server VAD can end a turn the file ends in.
    """

    def __init__(self, path: str | os.PathLike[str], *, trailing_silence_ms: int = 0) -> None:
        self.path = os.fspath(path)
        self.pcm = read_wav(path) + silence(trailing_silence_ms)

    def chunks(self, chunk_ms: int) -> Iterator[bytes]:
        return split_chunks(self.pcm, chunk_bytes(chunk_ms))


@attrs.frozen(kw_only=True)
class Tone:
    """``duration_ms`` of a sine at ``freq_hz`` (``None``: silence) at ``amplitude`` of full scale."""

    duration_ms: int = attrs.field(validator=attrs.validators.ge(0))
    freq_hz: float | None = None
    amplitude: float = attrs.field(default=0.3, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])


class ToneSource:
    """Generated tones and silences (for benches and tests), rendered chunk by chunk, never all at once."""

    def __init__(self, segments: Sequence[Tone]) -> None:
        self.segments = tuple(segments)

    def chunks(self, chunk_ms: int) -> Iterator[bytes]:
        size = chunk_bytes(chunk_ms)
        carry = b""
        for segment in self.segments:
            for piece in self._render(segment, size // 2):
                carry += piece
                while len(carry) >= size:
                    yield carry[:size]
                    carry = carry[size:]
        if carry:
            yield carry + bytes(size - len(carry))

    @staticmethod
    def _render(segment: Tone, block: int) -> Iterator[bytes]:
        total = RATE * segment.duration_ms // 1000
        for first in range(0, total, block):
            n = min(block, total - first)
            if segment.freq_hz is None or segment.amplitude == 0:
                yield bytes(2 * n)
                continue
            t = np.arange(first, first + n, dtype=np.float64) / RATE
            wave = segment.amplitude * 32767 * np.sin(2 * math.pi * segment.freq_hz * t)
            yield np.rint(wave).astype("<i2").tobytes()


Synthesizer = Callable[[str], bytes]


class ScriptSource:
    """A scripted user: lines spoken with the offline TTS, each followed by ``vad_silence_ms + 500`` ms of
    silence so that server VAD ends the turn. ``synthesize`` (text -> 24 kHz PCM16) is injectable for tests;
    it is blocking and runs in a worker thread.

    The default voice and speed (espeak's ``en-us+f5``, a little slower than usual) are the ones the offline
    recogniser (pocketsphinx) understood best of those tried; most other voices lose keywords.
    """

    def __init__(
        self,
        lines: Iterable[str | ScriptLine],
        *,
        voice: str = "en-us+f5",
        speed: float = 0.9,
        vad_silence_ms: int = 500,
        synthesize: Synthesizer | None = None,
        in_thread: bool = True,
    ) -> None:
        self.lines = parse_script(lines)
        # False only for an instant test synthesiser: a worker thread is invisible to trio's autojump clock,
        # which would let virtual time run on while a line renders
        self._in_thread = in_thread
        self.trailing_silence_ms = vad_silence_ms + 500
        if synthesize is None:
            from pipeline.audio import tts

            synthesize = functools.partial(tts.synthesize, voice=voice, speed=speed)
        self._synthesize = synthesize

    async def render(self, text: str) -> bytes:
        """The spoken line and its trailing silence."""
        if self._in_thread:
            speech = await run_sync_held(functools.partial(self._synthesize, text))  # no session time passes
        else:
            await trio.lowlevel.checkpoint()
            speech = self._synthesize(text)
        return speech + silence(self.trailing_silence_ms)


# --- microphone -----------------------------------------------------------------------------------------


class InputStream(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


BlockCallback = Callable[[Any, int, Any, Any], None]
StreamFactory = Callable[[int, BlockCallback], InputStream]  # (block frames, callback) -> stream


def import_sounddevice() -> Any:
    """``sounddevice``, or ``CaptureUnavailable`` in one line when PortAudio (or the module) is missing."""
    try:
        import sounddevice
    except OSError as error:  # sounddevice raises OSError("PortAudio library not found") at import
        raise CaptureUnavailable(NO_PORTAUDIO) from error
    except ImportError as error:
        raise CaptureUnavailable("no microphone: the sounddevice package is not installed (or use --input FILE.wav)") from error
    return sounddevice


class DropRun:
    """Lost chunks not yet reported, as runs of consecutive indices; each run becomes one
    ``CaptureDropped(first_index, count)``."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []  # (first_index, count)
        self.total = 0

    def add(self, index: int) -> None:
        self.total += 1
        if self.runs and sum(self.runs[-1]) == index:
            first, count = self.runs[-1]
            self.runs[-1] = (first, count + 1)
        else:
            self.runs.append((index, 1))

    def take_before(self, index: int | None = None) -> list[tuple[int, int]]:
        """The runs that started before chunk ``index`` (all of them when ``index`` is None)."""
        taken = [run for run in self.runs if index is None or run[0] < index]
        self.runs = self.runs[len(taken) :]
        return taken


class MicFeed:
    """The bridge from the PortAudio thread to trio.

    ``on_block`` runs in the PortAudio thread and never blocks: it schedules ``_deliver`` on the trio thread
    with ``run_sync_soon``. ``_deliver`` numbers the block and puts it in a bounded memory channel with
    ``send_nowait``; when the channel is full the block is lost and counted in ``drops`` (the shell
    publishes the run as ``CaptureDropped``). Indices count lost blocks too, so a journal shows the gap.
    """

    def __init__(self, token: trio.lowlevel.TrioToken, capacity: int) -> None:
        self._token = token
        self._send, self.receive = trio.open_memory_channel[tuple[int, bytes]](capacity)
        self._next_index = 0
        self.drops = DropRun()

    def callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """The sounddevice ``RawInputStream`` callback (PortAudio thread)."""
        self.on_block(bytes(indata))

    def on_block(self, pcm: bytes) -> None:
        try:
            self._token.run_sync_soon(self._deliver, pcm)
        except trio.RunFinishedError:
            pass  # the session is over; late blocks go nowhere

    def _deliver(self, pcm: bytes) -> None:
        index = self._next_index
        self._next_index += 1
        try:
            self._send.send_nowait((index, pcm))
        except trio.WouldBlock:
            self.drops.add(index)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass


class MicSource:
    """The default (or named) input device at 24 kHz mono PCM16, one block per chunk.

    ``queue_chunks`` blocks may wait for the pipeline (besides the one being published); beyond that,
    blocks are dropped and journaled.
    ``stream_factory`` replaces PortAudio in tests.
    """

    def __init__(
        self,
        *,
        device: int | str | None = None,
        queue_chunks: int = 50,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.device = device
        self.queue_chunks = queue_chunks
        if stream_factory is None:
            sounddevice = import_sounddevice()
            try:
                sounddevice.query_devices(device, kind="input")
            except Exception as error:  # PortAudioError or ValueError: no such device
                raise CaptureUnavailable(f"no microphone: {_first_line(error)} (or use --input FILE.wav)") from error
            stream_factory = functools.partial(_portaudio_stream, sounddevice, device)
        self._factory = stream_factory

    def open(self, chunk_ms: int, feed: MicFeed) -> InputStream:
        try:
            return self._factory(chunk_bytes(chunk_ms) // 2, feed.callback)
        except CaptureUnavailable:
            raise
        except Exception as error:
            raise CaptureUnavailable(f"cannot open the microphone: {_first_line(error)}") from error


def _portaudio_stream(sounddevice: Any, device: int | str | None, frames: int, callback: BlockCallback) -> InputStream:
    stream: InputStream = sounddevice.RawInputStream(
        samplerate=RATE, channels=1, dtype="int16", blocksize=frames, device=device, callback=callback
    )
    return stream


Source = WavSource | ToneSource | ScriptSource | MicSource
