"""Offline speech synthesis with espeak-ng, returning 24 kHz mono PCM16.

The library and its voice data come from the ``espeakng-loader`` wheel (no system package): we load
``libespeak-ng.so`` with ctypes, initialise it in synchronous mode with the wheel's data directory, and collect
the int16 samples espeak hands to our synth callback. espeak renders at its native rate (22050 Hz, returned
by ``espeak_Initialize``); the result is resampled to 24 kHz with soxr.

espeak-ng keeps its voice, parameters, callback and synthesis state in process-global C statics, so all use
of the library is serialised by one module lock: ``synthesize`` is safe to call from any number of threads
(e.g. ``trio.to_thread.run_sync`` workers), they simply take turns. The library is loaded afresh for every
synthesis (see ``_Session``), which makes the audio a pure function of (text, voice, speed); results are
cached in a small LRU under that key.

OpenAI voice names (alloy, ash, ...) are mapped onto distinct espeak voice variants by ``espeak_voice_for``;
``synthesize`` accepts either an OpenAI name or an espeak voice name such as ``en-us`` or ``en-us+f3``.
``USER_VOICE`` is the voice simulated *user* lines are spoken with: espeak's plain American English voice.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import math
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from pipeline.audio.resample import resample_pcm16

__all__ = [
    "OPENAI_VOICES",
    "OUTPUT_RATE",
    "USER_VOICE",
    "SpeechUnavailable",
    "espeak_voice_for",
    "synthesize",
]

OUTPUT_RATE: Final = 24000

# espeak_ng.h / speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER: Final = 1
_CHARS_UTF8: Final = 1
_ENDPAUSE: Final = 0x1000  # short pause at the end of the text, as the espeak CLI does
_PARAM_RATE: Final = 1
_EE_OK: Final = 0
_BUFFER_MS: Final = 200  # audio per callback

_DEFAULT_WPM: Final = 175  # espeak's default speaking rate
_MIN_WPM: Final = 80
_MAX_WPM: Final = 450
_CACHE_ENTRIES: Final = 128  # a sentence is ~100 KB at 24 kHz, so the cache stays around 10 MB

# Deterministic map from OpenAI voices to espeak variants: a spread of male/female variants with
# different pitch and timbre, all on the American English voice.
OPENAI_VOICES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "alloy": "en-us+f3",
        "ash": "en-us+m3",
        "ballad": "en-us+m7",
        "coral": "en-us+f2",
        "echo": "en-us+m1",
        "sage": "en-us+f4",
        "shimmer": "en-us+f5",
        "verse": "en-us+m5",
        "marin": "en-us+f1",
        "cedar": "en-us+m2",
    }
)

# The voice of simulated *user* speech (scripted demo lines, tests): the plain default voice. It needs no
# special choice any more: the server's recogniser (Whisper, pipeline.audio.asr) hears ordinary voices; the
# recogniser bench (bench/bench_asr.py) measures it on this voice and on British English.
USER_VOICE: Final = "en-us"

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SpeechUnavailable(RuntimeError):
    """espeak-ng could not be loaded or initialised; the message is one line saying why."""


def espeak_voice_for(openai_voice: str) -> str:
    """The espeak voice used for an OpenAI voice name; an unknown name gets the plain ``en-us`` voice."""
    return OPENAI_VOICES.get(openai_voice.strip().lower(), "en-us")


class _Session:
    """One load-initialise-synthesise-terminate-unload cycle of libespeak-ng. Caller holds ``_LOCK``.

    espeak-ng keeps synthesis state in C statics that ``espeak_Initialize`` does not reset (the pitch
    flutter phase, the Klatt noise filter, the automatic gain): synthesising the same text twice in one
    library instance gives slightly different audio, even different lengths. Unloading the library with
    ``dlclose`` and loading it again restores every static to its initial value, so each synthesis starts
    from the same state and the output is a pure function of (text, voice, speed). That costs about 5 ms
    per call. ``espeak_Terminate`` first frees espeak's heap data (about 0.9 MB per cycle otherwise); a
    residue of about 2.5 KB per cycle remains, which the LRU cache keeps small in practice.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader

            library_path = espeakng_loader.get_library_path()
            self.data_path = espeakng_loader.get_data_path()
        except (ImportError, RuntimeError) as error:
            raise SpeechUnavailable(f"espeak-ng is not available: {error}") from error
        try:
            self._lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise SpeechUnavailable(f"cannot load espeak-ng library {library_path}: {error}") from error
        self._chunks: list[bytes] = []
        # ctypes callbacks must stay referenced for as long as C may call them.
        self._callback = _SynthCallback(self._on_samples)
        self._declare()

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int

    def _on_samples(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # 0 = continue synthesis

    def render(self, text: str, voice: str, words_per_minute: int) -> tuple[bytes, int]:
        """(mono PCM16, native sample rate) for ``text``; always leaves the library unloaded."""
        lib = self._lib
        try:
            # espeak accepts the espeak-ng-data directory itself or its parent; the wheel gives the former.
            # DONT_EXIT: report missing data as an error code instead of calling exit().
            rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, self.data_path.encode(), _INITIALIZE_DONT_EXIT
            )
            if rate <= 0:
                raise SpeechUnavailable(
                    f"espeak-ng failed to initialise with data at {self.data_path} (code {rate})"
                )
            try:
                lib.espeak_SetSynthCallback(self._callback)
                if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                    raise ValueError(f"unknown espeak voice {voice!r}")
                lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
                encoded = text.encode("utf-8") + b"\0"
                status = lib.espeak_Synth(
                    encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                )
                if status != _EE_OK:
                    raise RuntimeError(f"espeak-ng failed to synthesise text (code {status})")
                return b"".join(self._chunks), rate
            finally:
                lib.espeak_Terminate()
        finally:
            self._chunks = []
            _ctypes.dlclose(lib._handle)


_LOCK = threading.Lock()


def _words_per_minute(speed: float) -> int:
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be positive, got {speed!r}")
    return max(_MIN_WPM, min(_MAX_WPM, round(_DEFAULT_WPM * speed)))


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _synthesize_cached(text: str, voice: str, words_per_minute: int) -> bytes:
    with _LOCK:
        native, native_rate = _Session().render(text, voice, words_per_minute)
    # Resampling needs no espeak state, so it runs outside the lock.
    return resample_pcm16(native, native_rate, OUTPUT_RATE)


def synthesize(text: str, *, voice: str = "en-us", speed: float = 1.0) -> bytes:
    """Speak ``text``; return 24 kHz mono PCM16 LE (``b""`` for blank text).

    ``voice`` is an OpenAI voice name (mapped with ``espeak_voice_for``) or an espeak voice name.
    ``speed`` scales espeak's default 175 words per minute (clamped to 80..450).
    Raises ``SpeechUnavailable`` if espeak-ng cannot be loaded, ``ValueError`` for an unknown voice.
    """
    words_per_minute = _words_per_minute(speed)
    if not text.strip():
        return b""
    espeak_voice = OPENAI_VOICES.get(voice.strip().lower(), voice)
    return _synthesize_cached(text, espeak_voice, words_per_minute)
