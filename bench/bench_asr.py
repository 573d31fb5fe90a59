"""The embedded server's recogniser: word error rate and CPU cost on a fixed set of spoken sentences.

The sentences are ``tests/data/asr_sentences.txt`` (the demo's lines, then ordinary requests to a voice
assistant with places, numbers and times). Each is synthesised by espeak-ng with two voices (American
``en-us``, the simulated user's voice, and British ``en``) at two speaking rates (espeak's default 175 words
per minute, and 150, a conversational pace), and decoded in this process by ``pipeline.audio.asr`` exactly as
the server decodes an utterance. Errors are counted on canonical words (``pipeline.server.words``: case,
punctuation and "five"/"5" do not count). CPU is this process's (all threads) around the decodes only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Final

from bench.common import Result

SENTENCES: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "asr_sentences.txt"
VOICES: Final = ("en-us", "en")
SPEEDS: Final = (1.0, 150 / 175)
BYTES_PER_SECOND: Final = 48000  # 24 kHz PCM16


def sentences() -> list[str]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def measure(verbose: bool = False) -> tuple[int, int, float, float, int, int]:
    """(word errors, reference words, decode CPU seconds, audio seconds, utterances, heard exactly)."""
    from pipeline.audio.asr import Transcriber
    from pipeline.audio.tts import synthesize
    from pipeline.server.words import word_errors

    transcriber = Transcriber()
    errors = total = utterances = exact = 0
    cpu = audio = 0.0
    for voice in VOICES:
        for speed in SPEEDS:
            for sentence in sentences():
                pcm = synthesize(sentence, voice=voice, speed=speed)
                started = time.process_time()
                heard = transcriber.transcribe(pcm)
                cpu += time.process_time() - started
                audio += len(pcm) / BYTES_PER_SECOND
                wrong, words = word_errors(sentence, heard)
                errors, total, utterances, exact = errors + wrong, total + words, utterances + 1, exact + (wrong == 0)
                if verbose and wrong:
                    print(f"{voice} {speed:.2f} {sentence!r} -> {heard!r}", file=sys.stderr)
    return errors, total, cpu, audio, utterances, exact


def run() -> list[Result]:
    errors, total, cpu, audio, utterances, exact = measure()
    count = len(sentences())
    return [
        Result(f"ASR word error rate ({count} sentences x 2 voices x 2 rates)", 100 * errors / total, "%", target=10),
        Result("ASR utterances heard exactly", 100 * exact / utterances, "%"),
        Result("ASR CPU per second of audio", 1000 * cpu / audio, "ms/s", target=500),
        Result("ASR CPU per utterance", cpu / utterances, "s", target=1.0),
    ]


if __name__ == "__main__":
    found = measure(verbose=True)
    print(f"WER {100 * found[0] / found[1]:.1f}%  CPU {1000 * found[2] / found[3]:.0f} ms/s  "
          f"{found[2] / found[4]:.2f} s/utterance  exact {found[5]}/{found[4]}")  # fmt: skip
