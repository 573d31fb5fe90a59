"""Speech in and out for the server: a small interface over `pipeline.audio` (espeak-ng TTS, Whisper ASR).

Both are blocking and thread-safe; the shell calls them through `trio.to_thread.run_sync`. Tests and
benchmarks may pass their own `Speech` implementation.
"""

from __future__ import annotations

import sys
import threading
from typing import Protocol


class Speech(Protocol):
    def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        """24 kHz mono PCM16 for `text` spoken by the OpenAI voice `voice`."""
        ...

    def transcribe(self, pcm24k: bytes) -> str:
        """The transcript of 24 kHz mono PCM16, as a transcription service writes it ("" if nothing was said)."""
        ...


def offline_synthesis(text: str, *, voice: str, speed: float) -> bytes:
    """`Speech.synthesize` by the offline TTS (espeak-ng, cached per text and voice), for the OpenAI voice `voice`."""
    from pipeline.audio.tts import espeak_voice_for, synthesize

    return synthesize(text, voice=espeak_voice_for(voice), speed=speed)


class OfflineSpeech:
    """espeak-ng and Whisper from `pipeline.audio`; ASR degrades to "" (once reported) if unavailable.

    The recogniser's worker starts in the background as soon as an instance is made (the server makes one when
    it starts), so the first utterance does not wait for the model to load; `rtpipe serve` calls
    `start_recognition()` before it listens, so a missing or altered model is one line and exit 2 there.
    """

    def __init__(self, *, warm_up: bool = True) -> None:
        self._lock = threading.Lock()
        self._asr_failed = False
        if warm_up:
            # Start the recogniser's worker now, in the background, so the first utterance does not wait for it
            # (a second or more: the user's first transcript would otherwise miss the client's deadline).
            threading.Thread(target=self._warm_up, name="asr-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self.start_recognition()
        except Exception:  # reported by the first transcribe() that needs it
            return

    def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        return offline_synthesis(text, voice=voice, speed=speed)

    def start_recognition(self) -> None:
        """Start the recogniser's worker process now (it loads and checks the model); raises on failure."""
        from pipeline.audio import asr

        asr.get_transcriber(isolate=True)

    def transcribe(self, pcm24k: bytes) -> str:
        if self._asr_failed or not pcm24k:
            return ""
        try:
            from pipeline.audio import asr  # type: ignore[attr-defined, unused-ignore]

            # isolate: decoding holds the GIL for long stretches (~0.5 s of CPU an utterance), which would stall every
            # other task of the process (the pipeline's own audio, when the server runs in-process); a child does not.
            heard: str = asr.get_transcriber(isolate=True).transcribe(pcm24k)
            return heard.strip()
        except (ImportError, RuntimeError, OSError) as error:
            with self._lock:
                if not self._asr_failed:
                    self._asr_failed = True
                    print(f"rtpipe serve: speech recognition unavailable ({error}); user audio is heard as silence", file=sys.stderr)
            return ""


class FixedSpeech:
    """Speech for benchmarks (`rtpipe serve --fixed-reply TEXT`): no recognition at all.

    Every committed utterance is heard as `heard` at once (no recogniser process, no decoding), so every user
    turn gets the same deterministic spoken reply (the brain's answer to `heard`; for a plain statement it is
    "You said: TEXT."). Synthesis is the real offline TTS (cached per text and voice), so the client still
    receives real audio.
    """

    def __init__(self, heard: str) -> None:
        self.heard = heard.strip()

    def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        return offline_synthesis(text, voice=voice, speed=speed)

    def transcribe(self, pcm24k: bytes) -> str:
        return self.heard if pcm24k else ""
