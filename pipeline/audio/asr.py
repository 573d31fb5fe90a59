"""Offline speech recognition with pocketsphinx, for whole utterances of 24 kHz mono PCM16.

``Transcriber`` wraps one pocketsphinx ``Decoder`` with the English acoustic model, language model and
dictionary shipped in the pocketsphinx wheel. ``transcribe`` resamples to the model's 16 kHz, decodes the
utterance in one pass (``full_utt``, so cepstral mean normalisation sees the whole utterance) and returns
lowercase words, or ``""`` when nothing was recognised. Decoding is serialised by a per-instance lock, so one
instance may be shared between threads (``trio.to_thread.run_sync`` workers); concurrent calls take turns.

Before decoding, a fixed, seeded noise floor (standard deviation 16 LSB, about -66 dBFS) is added to the
speech, and 300 ms of digital silence is put at each end. Synthetic speech has exact digital silence between
words, which the model's energy features handle badly, and VAD-cropped utterances start right on the first
phone; measured on espeak speech (Klatt voice), the noise alone took word errors from ~48% to ~20% and the
clean padding on top to ~10%. The noise is far below any microphone's own floor, so real audio is
unaffected. It is the same for every call, so transcripts stay a pure function of the audio (replay and
golden tests rely on that). Synthesise simulated user speech with ``pipeline.audio.tts.USER_VOICE``: plain
``en-us`` espeak is recognised far worse (~60% word errors).

pocketsphinx holds the GIL for the whole of a decode (about a quarter of the utterance's duration), so a
decode in a ``trio.to_thread`` worker still freezes the event loop for that long. ``Transcriber(isolate=True)``
therefore runs the decoder in a child process (``python -m pipeline.audio.asr``, which starts in about a
second) and waits for it with the GIL released; the text is identical either way. A worker that dies is
restarted on the next call; it exits when its pipe closes, so it never outlives the parent.

Loading a decoder takes about half a second and some 30 MB, so ``get_transcriber()`` hands out one shared
instance per process and mode, created on first use. That is a deliberate exception to "no singletons": the
decoder is read-only model data plus a scratch search that the lock protects, and sessions only ever call
``transcribe``. Code that wants separate decoders (or parallel decoding) constructs its own ``Transcriber``.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
from typing import IO, Final

import numpy as np
from pocketsphinx import Decoder

from pipeline.audio.resample import resample_pcm16

__all__ = ["INPUT_RATE", "MODEL_RATE", "Transcriber", "get_transcriber"]

INPUT_RATE: Final = 24000
MODEL_RATE: Final = 16000  # the en-us acoustic model's sample rate
_PAD_SAMPLES: Final = MODEL_RATE * 3 // 10  # 300 ms each side
_NOISE_SIGMA: Final = 16.0
_NOISE_SEED: Final = 20240601
_NOISE_TABLE_SAMPLES: Final = MODEL_RATE * 10  # tiled for longer utterances


def _noise_table() -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    return np.random.default_rng(_NOISE_SEED).normal(0.0, _NOISE_SIGMA, _NOISE_TABLE_SAMPLES)


class Transcriber:
    """Speech recognition: ``transcribe(pcm24k) -> str``. Thread-safe; see the module docstring.

    ``isolate=False`` decodes in this process (fastest, but holds the GIL while decoding);
    ``isolate=True`` decodes in a child process so other threads and event loops keep running.
    """

    def __init__(self, *, isolate: bool = False) -> None:
        self.isolate = isolate
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._decoder: Decoder | None = None
        if isolate:
            self._worker = _Worker()
        else:
            # loglevel FATAL: pocketsphinx otherwise writes hundreds of INFO lines to stderr per decoder.
            self._decoder = Decoder(loglevel="FATAL", samprate=MODEL_RATE)
            self._noise = _noise_table()

    def _prepare(self, pcm24k: bytes) -> bytes:
        """24 kHz PCM16 -> noise-floored 16 kHz PCM16 with clean padding at both ends."""
        speech = np.frombuffer(resample_pcm16(pcm24k, INPUT_RATE, MODEL_RATE), dtype="<i2")
        reps = -(-speech.size // self._noise.size)
        noisy = speech + np.tile(self._noise, reps)[: speech.size]
        padded = np.zeros(speech.size + 2 * _PAD_SAMPLES, dtype=np.float64)
        padded[_PAD_SAMPLES : _PAD_SAMPLES + speech.size] = noisy
        return np.clip(np.rint(padded), -32768, 32767).astype("<i2").tobytes()

    def transcribe(self, pcm24k: bytes) -> str:
        """Recognise one utterance of 24 kHz mono PCM16 LE; lowercase words, ``""`` for no speech."""
        if len(pcm24k) % 2:
            raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm24k)}")
        if not pcm24k:
            return ""
        with self._lock:
            if self._worker is not None:
                return self._worker.transcribe(pcm24k)
            return self._decode(pcm24k)

    def _decode(self, pcm24k: bytes) -> str:
        """Decode in this process; caller holds the lock (or owns the instance)."""
        assert self._decoder is not None
        audio = self._prepare(pcm24k)
        self._decoder.start_utt()
        try:
            self._decoder.process_raw(audio, no_search=False, full_utt=True)
        finally:
            self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        if hypothesis is None:
            return ""
        text: str = hypothesis.hypstr
        # Fillers such as <sil> or [noise] are normally dropped from hypstr; guard against model variants.
        words = [w for w in text.lower().split() if not (w[0] in "<[" and w[-1] in ">]")]
        # Alternate pronunciations appear as "word(2)" in some dictionaries.
        return " ".join(w.split("(", 1)[0] for w in words)

    def close(self) -> None:
        """Stop the worker process, if any. The instance must not be used afterwards."""
        with self._lock:
            if self._worker is not None:
                self._worker.close()


# --- the isolated worker ---------------------------------------------------------------------------------
# Protocol on the child's stdin/stdout: each message is a 4-byte little-endian length and a body. Requests
# are PCM (an empty body asks the worker to exit); replies are b"T" + UTF-8 text or b"E" + an error line.

_WORKER_TIMEOUT_S: Final = 30.0


def _write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(struct.pack("<I", len(body)) + body)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """The next message body, or None at end of stream."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack("<I", header)
    body = stream.read(size)
    return body if len(body) == size else None


class _Worker:
    """A child process running an in-process ``Transcriber``; not thread-safe (the owner locks)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        # A plain `python -m` child, not multiprocessing: that would re-import the parent's __main__,
        # and `python -m pipeline` runs the CLI at import. PYTHONPATH finds this package even when the
        # parent found it through its own sys.path rather than an install.
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        inherited = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, inherited]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.audio.asr", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            env=env,
        )
        ready = _read_frame(self._process.stdout)  # type: ignore[arg-type]
        if ready != b"T":
            self.close()
            detail = ready[1:].decode(errors="replace") if ready else "it exited during start-up"
            raise RuntimeError(f"speech recognition worker failed to start: {detail}")

    def transcribe(self, pcm24k: bytes) -> str:
        process = self._process
        if process is None or process.poll() is not None:
            self._start()
            process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            _write_frame(process.stdin, pcm24k)
            reply = _read_frame(process.stdout)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            self.close()  # restarted on the next call
            raise RuntimeError("speech recognition worker exited unexpectedly")
        if reply[:1] == b"E":
            raise RuntimeError(f"speech recognition worker: {reply[1:].decode(errors='replace')}")
        return reply[1:].decode()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None and process.poll() is None:
                _write_frame(process.stdin, b"")
        except OSError:
            pass
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=_WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _worker_main() -> int:
    """Entry point of the isolated worker: decode requests from stdin until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the reply pipe
    try:
        local = Transcriber()
    except Exception as error:
        _write_frame(replies, b"E" + f"{type(error).__name__}: {error}".encode())
        return 1
    _write_frame(replies, b"T")
    while (pcm := _read_frame(requests)) is not None and pcm:
        try:
            _write_frame(replies, b"T" + local._decode(pcm).encode())
        except Exception as error:
            _write_frame(replies, b"E" + f"{type(error).__name__}: {error}".encode())
    return 0


_SHARED_LOCK = threading.Lock()
_shared: dict[bool, Transcriber] = {}


def get_transcriber(*, isolate: bool = False) -> Transcriber:
    """The process's shared ``Transcriber`` for the given mode, created on first call (thread-safe).

    Async code (the embedded server) should pass ``isolate=True`` so decoding does not stall its event loop.
    """
    with _SHARED_LOCK:
        transcriber = _shared.get(isolate)
        if transcriber is None:
            transcriber = _shared[isolate] = Transcriber(isolate=isolate)
        return transcriber


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    sys.exit(_worker_main())
