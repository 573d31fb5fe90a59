"""espeak-ng synthesis: audible, plausibly timed, deterministic, thread-safe, voice-mapped."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline.audio import tts
from pipeline.audio.resample import pcm16_to_float
from pipeline.audio.tts import OPENAI_VOICES, USER_VOICE, espeak_voice_for, synthesize
from pipeline.audio.wav import pcm_duration_ms


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(pcm16_to_float(pcm) ** 2)))


def test_short_sentence_is_audible_speech_of_plausible_length() -> None:
    pcm = synthesize("what is the weather in Paris")
    assert 500 <= pcm_duration_ms(pcm) <= 4000
    assert rms(pcm) > 0.02
    # Speech at 24 kHz has its energy below ~4 kHz; a wrong-rate buffer would shift it.
    x = pcm16_to_float(pcm)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 24000)
    assert power[freqs < 4000].sum() / power.sum() > 0.8


def test_longer_text_takes_longer_and_speed_shortens_it() -> None:
    short = synthesize("hello")
    sentence = "set a reminder to call mom in five minutes"
    normal = synthesize(sentence)
    fast = synthesize(sentence, speed=2.0)
    assert pcm_duration_ms(short) < pcm_duration_ms(normal)
    assert pcm_duration_ms(fast) < 0.7 * pcm_duration_ms(normal)


def test_blank_text_is_empty_audio() -> None:
    assert synthesize("") == b""
    assert synthesize("  \n") == b""


def test_synthesis_is_deterministic_across_the_cache() -> None:
    text = "the same words every time"
    first = synthesize(text, voice="ash")
    tts._synthesize_cached.cache_clear()
    assert synthesize(text, voice="ash") == first


def test_openai_voices_map_to_distinct_espeak_voices() -> None:
    assert len(set(OPENAI_VOICES.values())) == len(OPENAI_VOICES) == 10
    assert espeak_voice_for("Alloy") == OPENAI_VOICES["alloy"]
    assert espeak_voice_for("some-future-voice") == "en-us"
    renders = {synthesize("hello there", voice=name) for name in ("alloy", "ash", "coral", "cedar")}
    assert len(renders) == 4


def test_espeak_voice_names_are_accepted_and_unknown_ones_rejected() -> None:
    assert rms(synthesize("testing", voice=USER_VOICE)) > 0.02
    assert rms(synthesize("testing", voice="en-us+f2")) > 0.02
    with pytest.raises(ValueError, match="unknown espeak voice"):
        synthesize("testing", voice="no-such-voice-xyz")
    # A failed voice change leaves the engine usable.
    assert rms(synthesize("still working")) > 0.02


def test_bad_speed_is_rejected() -> None:
    for speed in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="speed"):
            synthesize("hi", speed=speed)


def test_concurrent_threads_get_the_same_audio_as_serial_calls() -> None:
    texts = [f"sentence number {n} for the thread test" for n in range(6)]
    serial = [synthesize(t, voice="sage") for t in texts]
    tts._synthesize_cached.cache_clear()  # make the threads really synthesise
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = synthesize(texts[index], voice="sage")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert [results[i] for i in range(len(texts))] == serial


def test_missing_library_raises_one_line_speech_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(tts.SpeechUnavailable) as caught:
        synthesize("a sentence nobody has synthesised yet in this process")
    assert "\n" not in str(caught.value)
    assert "/nonexistent/libespeak-ng.so" in str(caught.value)
    monkeypatch.undo()
    assert rms(synthesize("a sentence nobody has synthesised yet in this process")) > 0.02
