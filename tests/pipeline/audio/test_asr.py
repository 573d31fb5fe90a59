"""Offline recognition round trips: what espeak says, pocketsphinx hears."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from pipeline.audio import asr
from pipeline.audio.asr import Transcriber, get_transcriber
from pipeline.audio.resample import float_to_pcm16
from pipeline.audio.tts import USER_VOICE, synthesize

pytestmark = pytest.mark.slow  # loading the decoder and decoding take seconds in total


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return get_transcriber()


@pytest.mark.parametrize(
    ("sentence", "must_hear"),
    [
        ("what is the weather in Paris", ["what", "is", "the", "weather", "in", "paris"]),
        ("what time is it", ["what", "time", "is", "it"]),
        ("tell me a story", ["tell", "me", "story"]),
        ("set a reminder to call mom in five minutes", ["set", "reminder", "five", "minutes"]),
        ("what did we talk about first", ["what", "did", "we", "talk", "about", "first"]),
        ("turn on the lights in the kitchen", ["turn", "lights", "kitchen"]),
    ],
)
def test_user_voice_round_trip_keeps_the_key_words(
    transcriber: Transcriber, sentence: str, must_hear: list[str]
) -> None:
    heard = transcriber.transcribe(synthesize(sentence, voice=USER_VOICE)).split()
    assert [word for word in must_hear if word not in heard] == [], heard


def test_default_voice_round_trip_hears_weather(transcriber: Transcriber) -> None:
    assert "weather" in transcriber.transcribe(synthesize("what is the weather in Paris"))


def test_output_is_lowercase_words_without_fillers(transcriber: Transcriber) -> None:
    text = transcriber.transcribe(synthesize("What Time Is It", voice=USER_VOICE))
    assert text == text.lower()
    assert all(word.isalpha() or "'" in word for word in text.split()), text


def test_silence_and_empty_input_give_empty_text(transcriber: Transcriber) -> None:
    assert transcriber.transcribe(b"") == ""
    assert transcriber.transcribe(b"\x00\x00" * 24000) == ""


def test_a_tone_is_not_speech(transcriber: Transcriber) -> None:
    t = np.arange(24000) / 24000
    assert transcriber.transcribe(float_to_pcm16(0.3 * np.sin(2 * np.pi * 440 * t))) == ""


def test_odd_length_pcm_is_rejected(transcriber: Transcriber) -> None:
    with pytest.raises(ValueError, match="even"):
        transcriber.transcribe(b"\x00")


def test_shared_transcriber_is_one_instance_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "_shared", {})  # make the threads race to create it
    seen: list[Transcriber] = []
    threads = [threading.Thread(target=lambda: seen.append(get_transcriber())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 4 and all(t is seen[0] for t in seen)


def test_concurrent_transcriptions_match_serial_ones(transcriber: Transcriber) -> None:
    utterances = [synthesize(s, voice=USER_VOICE) for s in ("what time is it", "tell me a story")]
    serial = [transcriber.transcribe(u) for u in utterances]
    results: dict[int, str] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, transcriber.transcribe(utterances[i])))
        for i in range(len(utterances))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [results[i] for i in range(len(utterances))] == serial


@pytest.fixture(scope="module")
def isolated() -> Iterator[Transcriber]:
    transcriber = Transcriber(isolate=True)
    yield transcriber
    transcriber.close()


def test_isolated_worker_gives_the_same_text(transcriber: Transcriber, isolated: Transcriber) -> None:
    for sentence in ("what is the weather in Paris", "tell me a story"):
        pcm = synthesize(sentence, voice=USER_VOICE)
        assert isolated.transcribe(pcm) == transcriber.transcribe(pcm)
    assert isolated.transcribe(b"") == ""


def test_isolated_decoding_leaves_other_threads_running(isolated: Transcriber) -> None:
    # In-process, pocketsphinx holds the GIL for the whole decode and this loop would not advance.
    pcm = synthesize("set a reminder to call mom in five minutes", voice=USER_VOICE) * 3
    finished = threading.Event()

    def decode() -> None:
        isolated.transcribe(pcm)
        finished.set()

    worker = threading.Thread(target=decode)
    worker.start()
    ticks = 0
    while not finished.wait(0.001):
        ticks += 1
    worker.join()
    assert ticks >= 20


def test_isolated_worker_is_restarted_after_it_dies(isolated: Transcriber) -> None:
    pcm = synthesize("what time is it", voice=USER_VOICE)
    expected = isolated.transcribe(pcm)
    assert isolated._worker is not None and isolated._worker._process is not None
    isolated._worker._process.kill()
    isolated._worker._process.wait()
    assert isolated.transcribe(pcm) == expected
