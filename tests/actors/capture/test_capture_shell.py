from __future__ import annotations

import importlib.abc
import math
import sys
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

from actors.capture.actor import capture_actor
from actors.capture.events import ScriptFinished, ScriptLineStarted
from actors.capture.sources import (
    NO_PORTAUDIO,
    BlockCallback,
    CaptureUnavailable,
    MicSource,
    ScriptSource,
    Tone,
    ToneSource,
    WavSource,
)
from events.audio import AudioChunk, CaptureDropped, CaptureEnded
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackProgress, SessionReady, TurnEnded
from events.protocol import AudioCommitted
from events.runtime import InboxDropped
from pipeline.audio.wav import AudioFormatError, read_wav
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.runtime import ActorContext, ActorSpec

WATCHED = {AudioChunk, CaptureDropped, CaptureEnded, ScriptLineStarted, ScriptFinished, InboxDropped}


class Harness:
    """One capture actor on a real bus, a probe inbox seeing what it publishes, and a way to feed it."""

    def __init__(self, spec: ActorSpec, probe_capacity: int = 100_000) -> None:
        self.bus = Bus(clock=TrioClock())
        self.inbox = self.bus.subscribe(spec.name, spec.consumes, capacity=spec.capacity)
        self.probe = self.bus.subscribe("probe", WATCHED, capacity=probe_capacity)
        self.spec = spec
        self.seen: list[Envelope] = []
        self.finished = trio.Event()

    async def run(self) -> None:
        try:
            await self.spec.shell(ActorContext(self.spec.name, self.inbox, self.bus))
        finally:
            self.finished.set()

    async def tell(self, event: Event) -> Envelope:
        return await self.bus.publish(event, source="test")

    def drain(self) -> list[Envelope]:
        while True:
            try:
                self.seen.append(self.probe.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return self.seen

    async def until(self, predicate: Callable[[Harness], bool]) -> None:
        """Wait (in the autojump clock's time) for a condition. Polling, because the script renders lines in
        a worker thread, and the autojump clock moves on while a thread runs."""
        while not predicate(self):  # noqa: ASYNC110 (no event to wait on: the condition is on the bus)
            await trio.sleep(0.01)

    def events(self, kind: type[Event] | None = None) -> list[Any]:
        return [e.event for e in self.drain() if kind is None or isinstance(e.event, kind)]


async def started(spec: ActorSpec, nursery: trio.Nursery) -> Harness:
    harness = Harness(spec)
    nursery.start_soon(harness.run)
    await trio.lowlevel.checkpoint()
    return harness


def write_stereo_44k(path: Path, seconds: float) -> None:
    frames = int(44100 * seconds)
    t = np.arange(frames) / 44100
    left = 0.5 * np.sin(2 * math.pi * 440 * t)
    right = 0.5 * np.sin(2 * math.pi * 660 * t)
    stereo = np.rint(np.stack([left, right], axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(44100)
        handle.writeframes(stereo.tobytes())


# --- file source ------------------------------------------------------------------------------------------


async def test_wav_44k_stereo_becomes_40ms_24k_chunks_paced_in_real_time(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "in.wav"
    write_stereo_44k(path, 1.01)
    expected_pcm = read_wav(path)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(WavSource(path)), nursery)
            await trio.sleep(2)
            assert h.events() == []  # nothing before the session is ready
            ready = await h.tell(SessionReady(session_id="s"))
            await h.finished.wait()
    chunks = [e for e in h.drain() if isinstance(e.event, AudioChunk)]
    events = [c.event for c in chunks if isinstance(c.event, AudioChunk)]
    assert len(expected_pcm) == 24240 * 2
    assert len(chunks) == 26  # ceil(24240 / 960): the last chunk is padded with silence
    assert [c.index for c in events] == list(range(26))
    assert all(len(c.pcm) == 1920 and c.rate == 24000 for c in events)
    assert b"".join(c.pcm for c in events)[: len(expected_pcm)] == expected_pcm
    for k, chunk in enumerate(chunks):
        assert chunk.t_ns - ready.t_ns == pytest.approx(k * 40_000_000, abs=1_000)
    assert h.events(CaptureEnded) == [CaptureEnded(chunks=26, reason="end of file")]


def test_bad_wav_paths_raise_before_any_session(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WavSource(tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(AudioFormatError):
        WavSource(tmp_path / "notes.wav")


async def test_fast_mode_sends_at_once_and_waits_for_room_instead_of_dropping(
    autojump_clock: trio.abc.Clock,
) -> None:
    source = ToneSource([Tone(duration_ms=2000, freq_hz=300.0), Tone(duration_ms=400)])
    spec = capture_actor(source, fast=True, wait_for_session=False)
    harness = Harness(spec)
    slow = harness.bus.subscribe("slow", {AudioChunk}, capacity=4)
    got: list[int] = []

    async def slow_reader() -> None:
        async for env in slow:
            assert isinstance(env.event, AudioChunk)
            got.append(env.event.index)
            await trio.sleep(1)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(harness.run)
            nursery.start_soon(slow_reader)
            await harness.finished.wait()
            slow.close_input()
    assert got == list(range(60))  # 2.4 s of audio in 40 ms chunks, none dropped for the slow reader
    assert harness.events(InboxDropped) == []
    # fast mode is not paced: the first chunks leave together, then the slow reader sets the pace
    first = [e.t_ns for e in harness.seen if isinstance(e.event, AudioChunk)][:4]
    assert first == [first[0]] * 4


async def test_real_time_mode_never_drops_a_source_that_can_wait(autojump_clock: trio.abc.Clock) -> None:
    """A generator (like a file or a script) waits for a slow reader instead of losing chunks (issue 13: only
    a live microphone drops), then keeps to its schedule again."""
    spec = capture_actor(ToneSource([Tone(duration_ms=2000, freq_hz=300.0)]), wait_for_session=False)
    harness = Harness(spec)
    slow = harness.bus.subscribe("slow", {AudioChunk}, capacity=4)
    got: list[int] = []

    async def slow_reader() -> None:
        async for env in slow:
            assert isinstance(env.event, AudioChunk)
            got.append(env.event.index)
            if len(got) <= 10:
                await trio.sleep(0.2)  # falls behind for the first ten chunks only

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(harness.run)
            nursery.start_soon(slow_reader)
            await harness.finished.wait()
            slow.close_input()
    assert got == list(range(50))
    assert harness.events(InboxDropped) == []
    # held up by the reader (10 x 0.2 s), then it caught up: the last chunk left at its own time or right after
    assert 49 * 0.04 <= trio.current_time() < 49 * 0.04 + 1.0


# --- script source ----------------------------------------------------------------------------------------


def fake_voice(text: str) -> bytes:
    """200 ms of a constant sample that identifies the line (its first letter)."""
    return np.full(4800, ord(text[0]), dtype="<i2").tobytes()


def spoken(chunks: list[AudioChunk]) -> str:
    """The letters heard, one per speech chunk, silence as '.' (collapsed)."""
    out = []
    for chunk in chunks:
        sample = int(np.frombuffer(chunk.pcm, dtype="<i2")[0])
        out.append(chr(sample) if sample else ".")
    return "".join(out)


async def test_script_waits_for_session_ready_and_each_answer(autojump_clock: trio.abc.Clock) -> None:
    source = ScriptSource(["hello", "what time", "bye"], vad_silence_ms=500, synthesize=fake_voice, in_thread=False)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(source, fast=True), nursery)
            await h.tell(TurnEnded(response_id="r0"))
            await trio.sleep(3)
            assert h.events() == []
            await h.tell(SessionReady(session_id="s"))
            await h.until(lambda h: len(h.events(AudioChunk)) >= 30)
            await trio.sleep(3)
            assert h.events(ScriptLineStarted) == [ScriptLineStarted(index=0, text="hello")]
            # 200 ms of speech, then 500 + 500 ms of trailing silence, then nothing while waiting (fast)
            assert spoken(h.events(AudioChunk)) == "h" * 5 + "." * 25
            await h.tell(TurnEnded(response_id="r_stale"))  # the server has not committed the line yet
            await trio.sleep(3)
            assert len(h.events(ScriptLineStarted)) == 1
            await h.tell(AudioCommitted(item_id="u1"))
            await h.tell(TurnEnded(response_id="r1"))
            await h.until(lambda h: len(h.events(AudioChunk)) >= 60)
            await trio.sleep(3)
            assert spoken(h.events(AudioChunk)) == ("h" * 5 + "." * 25) + ("w" * 5 + "." * 25)
            await h.tell(AudioCommitted(item_id="u2"))
            await h.tell(TurnEnded(response_id="r2"))
            await h.until(lambda h: len(h.events(AudioChunk)) >= 90)
            await h.tell(AudioCommitted(item_id="u3"))
            await h.tell(TurnEnded(response_id="r3"))
            await h.finished.wait()
    assert [e.index for e in h.events(ScriptLineStarted)] == [0, 1, 2]
    assert h.events(ScriptFinished) == [ScriptFinished(lines=3)]
    assert h.events(CaptureEnded) == [CaptureEnded(chunks=90, reason="end of script")]
    script_events = [e for e in h.seen if isinstance(e.event, ScriptLineStarted | ScriptFinished)]
    assert all(e.source == "capture" and e.cause is not None for e in script_events)


async def test_barge_line_is_spoken_once_enough_of_the_answer_played(autojump_clock: trio.abc.Clock) -> None:
    source = ScriptSource(["story please", "[barge 1500] quiet"], vad_silence_ms=500, synthesize=fake_voice, in_thread=False)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(source, fast=True), nursery)
            await h.tell(SessionReady(session_id="s"))
            await h.tell(AudioCommitted(item_id="u1"))
            for played in range(40, 1500, 40):
                await h.tell(PlaybackProgress(item_id="a1", played_ms=played, received_ms=9000))
            await trio.sleep(1)
            assert len(h.events(ScriptLineStarted)) == 1
            await h.tell(PlaybackProgress(item_id="a1", played_ms=1520, received_ms=9000))
            await h.until(lambda h: len(h.events(AudioChunk)) >= 60)
            assert h.events(ScriptLineStarted)[1] == ScriptLineStarted(index=1, text="quiet", barge_at_ms=1500)
            assert spoken(h.events(AudioChunk)).endswith("q" * 5 + "." * 25)
            nursery.cancel_scope.cancel()


async def test_real_time_script_streams_silence_between_lines(autojump_clock: trio.abc.Clock) -> None:
    source = ScriptSource(["one", "two"], vad_silence_ms=200, synthesize=fake_voice, in_thread=False)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(source), nursery)
            ready = await h.tell(SessionReady(session_id="s"))
            await trio.sleep(4)
            await h.tell(AudioCommitted(item_id="u1"))
            await h.tell(TurnEnded(response_id="r1"))
            await trio.sleep(4)
            h.inbox.close_input()  # the session ends before the script does
            await h.finished.wait()
    chunks = [e for e in h.drain() if isinstance(e.event, AudioChunk)]
    assert 195 <= len(chunks) <= 201  # 8 s of 40 ms chunks: a live microphone never stops
    for k, env in enumerate(chunks):
        assert env.t_ns - ready.t_ns == pytest.approx(k * 40_000_000, abs=1_000)
    heard = spoken(h.events(AudioChunk)).strip(".")
    assert heard.startswith("o" * 5) and heard.endswith("t" * 5)
    assert set(heard[5:-5]) == {"."} and len(heard[5:-5]) >= 17  # at least the 700 ms trailing silence
    assert h.events(CaptureEnded) == [CaptureEnded(chunks=len(chunks), reason="session ended")]


# --- microphone -------------------------------------------------------------------------------------------


class _NoPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_portaudio_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(CaptureUnavailable) as caught:
        MicSource()
    assert str(caught.value) == NO_PORTAUDIO
    assert str(caught.value) == (
        "no microphone: PortAudio is not installed (install libportaudio2, or use --input FILE.wav)"
    )


class FakeStream:
    """Stands in for PortAudio: ``start`` delivers ``blocks`` blocks from a worker thread at once."""

    def __init__(self, frames: int, callback: BlockCallback, blocks: int) -> None:
        self.frames, self.callback, self.blocks = frames, callback, blocks
        self.state = "open"

    def push(self, count: int) -> None:
        for n in range(count):
            block = np.full(self.frames, n + 1, dtype="<i2").tobytes()
            self.callback(memoryview(block), self.frames, None, None)

    def start(self) -> None:
        worker = threading.Thread(target=self.push, args=(self.blocks,))
        worker.start()
        worker.join()  # every block is handed over before trio runs again: the channel overflows
        self.state = "started"

    def stop(self) -> None:
        self.state = "stopped"

    def close(self) -> None:
        self.state = "closed"


def fake_mic(blocks: int, queue_chunks: int) -> tuple[MicSource, list[FakeStream]]:
    streams: list[FakeStream] = []

    def factory(frames: int, callback: BlockCallback) -> FakeStream:
        streams.append(FakeStream(frames, callback, blocks))
        return streams[-1]

    return MicSource(queue_chunks=queue_chunks, stream_factory=factory), streams


async def test_callback_overflow_is_published_as_capture_dropped(autojump_clock: trio.abc.Clock) -> None:
    source, streams = fake_mic(blocks=10, queue_chunks=2)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(source), nursery)
            await h.tell(SessionReady(session_id="s"))
            await trio.sleep(1)
            # one block goes straight to the waiting reader, ``queue_chunks`` wait, the rest are lost
            assert [c.index for c in h.events(AudioChunk)] == [0, 1, 2]
            assert streams[0].frames == 960 and streams[0].state == "started"
            # the pipeline caught up: the next blocks flow, and the gap is reported before them
            # (a plain thread, joined: ``trio.to_thread`` would let the autojump clock run off meanwhile)
            worker = threading.Thread(target=streams[0].push, args=(3,))
            worker.start()
            worker.join()
            await trio.sleep(1)
            h.inbox.close_input()
            await h.finished.wait()
    events = [e for e in h.events() if not isinstance(e, InboxDropped)]
    assert [type(e).__name__ for e in events] == ["AudioChunk"] * 3 + ["CaptureDropped"] + ["AudioChunk"] * 3 + [
        "CaptureEnded"
    ]
    assert events[3] == CaptureDropped(first_index=3, count=7)
    assert [e.index for e in events if isinstance(e, AudioChunk)] == [0, 1, 2, 10, 11, 12]
    assert events[-1] == CaptureEnded(chunks=6, reason="session ended")
    assert streams[0].state == "closed"


async def test_drops_still_pending_at_the_end_are_reported(autojump_clock: trio.abc.Clock) -> None:
    source, _ = fake_mic(blocks=6, queue_chunks=1)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await started(capture_actor(source, wait_for_session=False), nursery)
            await trio.sleep(1)
            h.inbox.close_input()
            await h.finished.wait()
    assert h.events(CaptureDropped) == [CaptureDropped(first_index=2, count=4)]
    assert h.events(CaptureEnded) == [CaptureEnded(chunks=2, reason="session ended")]


async def test_a_microphone_that_cannot_open_fails_the_actor_in_one_line() -> None:
    def broken(frames: int, callback: BlockCallback) -> FakeStream:
        raise RuntimeError("Invalid sample rate [PaErrorCode -9997]\nsecond line")

    spec = capture_actor(MicSource(stream_factory=broken))
    with trio.fail_after(10), pytest.raises(CaptureUnavailable) as caught:
        await Harness(spec).run()
    assert str(caught.value) == "cannot open the microphone: Invalid sample rate [PaErrorCode -9997]"


async def test_script_lines_are_spoken_by_the_offline_tts_with_trailing_silence() -> None:
    source = ScriptSource(["what time is it"], vad_silence_ms=500)
    with trio.fail_after(30):
        pcm = await source.render("what time is it")
    samples = np.frombuffer(pcm, dtype="<i2")
    tail = 24 * 1000  # vad_silence_ms + 500 ms at 24 kHz
    assert len(samples) > tail + 24 * 500  # at least half a second of speech
    assert not samples[-tail:].any()
    assert np.abs(samples[:-tail]).max() > 1000


async def test_only_a_microphone_drops_for_a_stuck_reader(autojump_clock: trio.abc.Clock) -> None:
    """A live microphone cannot wait: a full inbox loses its chunks (journaled as ``bus.dropped``) while capture
    goes on, unlike a file, generator or script (issue 13)."""
    source, _ = fake_mic(blocks=8, queue_chunks=16)
    harness = Harness(capture_actor(source, wait_for_session=False))
    harness.bus.subscribe("stuck", {AudioChunk}, capacity=2)  # never read
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(harness.run)
            await trio.sleep(1)
            harness.inbox.close_input()
            await harness.finished.wait()
    assert [c.index for c in harness.events(AudioChunk)] == list(range(8))
    drops = harness.events(InboxDropped)
    assert len(drops) == 6 and {d.subscriber for d in drops} == {"stuck"}
