"""Speech in and out for the server: a small interface over `pipeline.audio` (espeak-ng TTS, pocketsphinx ASR).

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
        """Lowercase words heard in 24 kHz mono PCM16 ("" if nothing)."""
        ...


class OfflineSpeech:
    """espeak-ng and pocketsphinx from `pipeline.audio`; ASR degrades to "" (once reported) if unavailable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asr_failed = False

    def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        from pipeline.audio.tts import espeak_voice_for, synthesize

        return synthesize(text, voice=espeak_voice_for(voice), speed=speed)

    def transcribe(self, pcm24k: bytes) -> str:
        if self._asr_failed or not pcm24k:
            return ""
        try:
            from pipeline.audio import asr  # type: ignore[attr-defined, unused-ignore]

            # isolate: pocketsphinx holds the GIL for a whole decode (~1 s), which would stall every other task of
            # the process (the pipeline's own audio, when the server runs in-process); a child process does not.
            heard: str = asr.get_transcriber(isolate=True).transcribe(pcm24k)
            return heard.strip()
        except (ImportError, RuntimeError, OSError) as error:
            with self._lock:
                if not self._asr_failed:
                    self._asr_failed = True
                    print(f"rtpipe serve: speech recognition unavailable ({error}); user audio is heard as silence", file=sys.stderr)
            return ""
