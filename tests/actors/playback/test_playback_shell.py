from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

from actors.playback.actor import REPLAYABLE, playback_actor
from actors.playback.sinks import NO_PORTAUDIO, NullSink, PlaybackUnavailable, Sink, SpeakerSink, WavSink
from events.base import Event
from events.commands import ClientCommand
from events.connection import ConnectionLost
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
)
from events.runtime import SessionEnding
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext

WATCHED = {PlaybackProgress, PlaybackFinished, PlaybackInterrupted, ClientCommand}


class Harness:
    """The playback actor on a real bus (journaled when given a path), a probe, and a fake router."""

    def __init__(self, sink: Sink, *, realtime: bool, journal: Path | None = None) -> None:
        writer = JournalWriter(journal, make_header({})) if journal is not None else None
        self.bus = Bus(clock=TrioClock(), journal=writer)
        self.spec = playback_actor(sink, realtime=realtime)
        self.inbox = self.bus.subscribe(self.spec.name, self.spec.consumes, capacity=self.spec.capacity)
        self.probe = self.bus.subscribe("probe", WATCHED, capacity=100_000)
        self.seen: list[Envelope] = []
        self.finished = trio.Event()

    async def run(self) -> None:
        try:
            await self.spec.shell(ActorContext(self.spec.name, self.inbox, self.bus))
        finally:
            self.finished.set()

    async def start(self, nursery: trio.Nursery) -> Harness:
        nursery.start_soon(self.run)
        await trio.lowlevel.checkpoint()
        return self

    async def send(self, event: Event) -> Envelope:
        return await self.bus.publish(event, source="router")

    async def audio(self, ms: int, item: str = "item_a", response: str = "resp_1", value: int = 0) -> Envelope:
        pcm = np.full(ms * 24, value, dtype="<i2").tobytes()
        return await self.send(AssistantAudioDelta(response_id=response, item_id=item, pcm=pcm))

    async def end(self) -> None:
        self.inbox.close_input()
        await self.finished.wait()
        if self.bus.journal is not None:
            self.bus.journal.close()

    def drain(self) -> list[Envelope]:
        while True:
            try:
                self.seen.append(self.probe.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return self.seen

    def events(self, kind: type[Event]) -> list[Any]:
        return [e.event for e in self.drain() if isinstance(e.event, kind)]


def wav_frames(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) == (24000, 1, 2)
        return handle.getnframes(), handle.readframes(handle.getnframes())


async def test_real_time_playout_reports_progress_every_40_ms(autojump_clock: trio.abc.Clock) -> None:
    sink = NullSink()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(sink, realtime=True).start(nursery)
            # all five deltas arrive before the playback task runs (trio shuffles task order: awaiting between
            # them would let a progress report with less received slip in), so every report says 500 received
            pcm = np.full(100 * 24, 0, dtype="<i2").tobytes()
            delta = AssistantAudioDelta(response_id="resp_1", item_id="item_a", pcm=pcm)
            first = h.bus.publish_nowait(delta, source="router")
            for _ in range(4):
                h.bus.publish_nowait(delta, source="router")
            await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_a"))
            await trio.sleep(2)
            await h.end()
    progress = [e for e in h.drain() if isinstance(e.event, PlaybackProgress)]
    reports = h.events(PlaybackProgress)
    assert [p.played_ms for p in reports] == [*range(40, 520, 40), 500]
    assert all(p.received_ms == 500 for p in reports)
    for k, report in enumerate(progress):  # block k is handed to the output at k * 40 ms, like a speaker
        assert report.t_ns - first.t_ns == pytest.approx(k * 40_000_000, abs=1_000)
    assert h.events(PlaybackFinished) == [PlaybackFinished(item_id="item_a", played_ms=500)]
    assert sink.bytes_written == 500 * 48 and sink.closed


async def test_audio_streams_to_the_sink_as_it_arrives(autojump_clock: trio.abc.Clock) -> None:
    writes: list[tuple[float, int]] = []
    sink = NullSink(on_write=lambda pcm: writes.append((trio.current_time(), len(pcm))))
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(sink, realtime=False).start(nursery)
            await h.audio(200)
            await trio.sleep(5)  # response.done is far away: the audio must not wait for it
            assert writes == [(writes[0][0], 200 * 48)]
            await h.audio(100)
            await trio.sleep(1)
            assert [n for _, n in writes] == [200 * 48, 100 * 48]
            assert h.events(PlaybackFinished) == []
            await h.send(ResponseDone(response_id="resp_1", status="completed"))
            await trio.sleep(1)
            assert h.events(PlaybackFinished) == [PlaybackFinished(item_id="item_a", played_ms=300)]
            await h.end()


async def test_wav_sink_holds_exactly_the_audio_received(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    path = tmp_path / "out.wav"
    rng = np.random.default_rng(7)
    sent = [rng.integers(-3000, 3000, size=n, dtype="<i2").tobytes() for n in (2400, 1001, 4800, 333, 7200)]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True).start(nursery)
            for i, pcm in enumerate(sent):
                item = "item_a" if i < 3 else "item_b"
                await h.send(AssistantAudioDelta(response_id="resp_1", item_id=item, pcm=pcm))
            await h.send(ResponseDone(response_id="resp_1", status="completed"))
            await trio.sleep(2)
            await h.end()
    frames, data = wav_frames(path)
    assert frames == sum(len(p) for p in sent) // 2
    assert data == b"".join(sent)
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_a", played_ms=(2400 + 1001 + 4800) * 1000 // 24000),
        PlaybackFinished(item_id="item_b", played_ms=(333 + 7200) * 1000 // 24000),
    ]


async def test_barge_in_stops_the_playout_and_truncates_at_the_last_reported_position(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "out.wav"
    journal = tmp_path / "barge.rtpj"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True, journal=journal).start(nursery)
            for _ in range(20):  # 2 s arrives at once, faster than real time, as the server sends it
                await h.audio(100, value=100)
            await trio.sleep(0.51)
            await h.send(SpeechStarted(item_id="item_user", audio_start_ms=900))
            await trio.sleep(0.2)
            await h.audio(100, value=100)  # in flight when the user spoke: must not play
            await h.send(ResponseDone(response_id="resp_1", status="cancelled"))
            await h.audio(300, item="item_b", response="resp_2", value=7)  # the next answer plays
            await h.send(ResponseDone(response_id="resp_2", status="completed"))
            await trio.sleep(1)
            await h.end()
    envs = h.drain()
    progress_a = [e.event.played_ms for e in envs if isinstance(e.event, PlaybackProgress) and e.event.item_id == "item_a"]
    assert progress_a == list(range(40, 560, 40))  # blocks at 0, 40, ... 480 ms; the one due at 520 never plays
    assert h.events(PlaybackInterrupted) == [PlaybackInterrupted(item_id="item_a", played_ms=520)]
    [truncate] = h.events(ClientCommand)
    assert truncate.wire() == {
        "type": "conversation.item.truncate",
        "event_id": "playback_0001",
        "item_id": "item_a",
        "content_index": 0,
        "audio_end_ms": progress_a[-1],
    }
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_a", played_ms=520, interrupted=True),
        PlaybackFinished(item_id="item_b", played_ms=300),
    ]
    frames, data = wav_frames(path)
    samples = np.frombuffer(data, dtype="<i2")
    assert frames == (520 + 300) * 24
    assert set(samples[: 520 * 24].tolist()) == {100} and set(samples[520 * 24 :].tolist()) == {7}
    # the journal replays: the core re-derives the interruption and the truncate from what it recorded
    _, recorded = load_envelopes(journal)
    report = replay_actor(recorded, REPLAYABLE, {})
    assert (report.divergences, report.compared) == (0, 2)


@pytest.mark.parametrize("offset_s", [0.0, 1e-9])
async def test_barge_in_on_a_block_boundary_still_truncates_at_what_was_reported(
    offset_s: float, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(NullSink(), realtime=True).start(nursery)
            start = trio.current_time()
            for _ in range(10):
                await h.audio(100)
            await trio.sleep_until(start + 0.32 + offset_s)  # exactly when block 8 is due (or just after)
            await h.send(SpeechStarted(item_id="item_user", audio_start_ms=300))
            await trio.sleep(1)
            await h.end()
    envs = h.drain()
    [truncate_env] = [e for e in envs if isinstance(e.event, ClientCommand)]
    reported = [e for e in envs if isinstance(e.event, PlaybackProgress)]
    assert reported[-1].seq < truncate_env.seq  # nothing played after the decision
    assert isinstance(truncate_env.event, ClientCommand)
    assert truncate_env.event.body["audio_end_ms"] == reported[-1].event.played_ms  # type: ignore[attr-defined]
    assert h.events(PlaybackFinished)[0].played_ms == reported[-1].event.played_ms  # type: ignore[attr-defined]


async def test_barge_in_before_the_first_frame_sends_no_truncate(autojump_clock: trio.abc.Clock) -> None:
    sink = NullSink()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(sink, realtime=True).start(nursery)
            # the user starts speaking in the same instant the first audio arrives, before it is played
            h.bus.publish_nowait(
                AssistantAudioDelta(response_id="resp_1", item_id="item_a", pcm=bytes(4800)), source="router"
            )
            h.bus.publish_nowait(SpeechStarted(item_id="item_user", audio_start_ms=0), source="router")
            await trio.sleep(1)
            await h.end()
    assert h.events(PlaybackInterrupted) == [PlaybackInterrupted(item_id="item_a", played_ms=0)]
    assert h.events(ClientCommand) == []
    assert h.events(PlaybackProgress) == []
    assert sink.bytes_written == 0


async def test_end_of_input_plays_out_the_queue_then_closes_the_sink(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "tail.wav"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True).start(nursery)
            await h.audio(1000)
            started = trio.current_time()
            await h.end()  # the session ends while a second of audio is still queued
            assert trio.current_time() - started == pytest.approx(0.96, abs=1e-6)
    assert wav_frames(path)[0] == 24000


def test_speaker_without_portaudio_is_one_line() -> None:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pass
    else:
        pytest.skip("PortAudio is installed here")
    with pytest.raises(PlaybackUnavailable) as caught:
        SpeakerSink()
    assert str(caught.value) == NO_PORTAUDIO


async def test_session_ending_stops_the_playout_at_once(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """A session ended by a signal stops talking now: queued audio is dropped, not played for seconds more."""
    path = tmp_path / "cut.wav"
    sink = WavSink(path)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(sink, realtime=True).start(nursery)
            await h.audio(3000)  # three seconds queued
            await trio.sleep(0.2)
            await h.send(SessionEnding(reason="interrupted"))
            ended_at = trio.current_time()
            await h.end()
            assert trio.current_time() - ended_at < 0.05
    frames, _ = wav_frames(path)
    assert 0 < frames <= 24 * 240  # what had been played by then (about 200 ms), not the 3 s queued
    played = h.events(PlaybackProgress)[-1].played_ms
    assert frames == played * 24


# -- several message items in one response -----------------------------------------------------------------


async def two_message_response(h: Harness) -> None:
    """resp_1: a 600 ms preamble (value 1) then a 1200 ms answer (value 2), sent faster than real time."""
    await h.send(ResponseCreated(response_id="resp_1"))
    for _ in range(6):
        await h.audio(100, item="item_pre", value=1)
    await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_pre"))
    for _ in range(12):
        await h.audio(100, item="item_ans", value=2)
    await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_ans"))


async def test_a_response_with_two_message_items_plays_both_in_order(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "two.wav"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True).start(nursery)
            await two_message_response(h)
            await h.send(ResponseDone(response_id="resp_1", status="completed"))
            await trio.sleep(3)
            await h.end()
    _, data = wav_frames(path)
    samples = np.frombuffer(data, dtype="<i2")
    assert samples.tolist() == [1] * 600 * 24 + [2] * 1200 * 24
    progress = h.events(PlaybackProgress)
    assert [p.item_id for p in progress] == ["item_pre"] * 15 + ["item_ans"] * 30  # one item, then the other
    assert progress[14].played_ms == 600 and progress[-1].played_ms == 1200  # each counts its own audio
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_pre", played_ms=600),
        PlaybackFinished(item_id="item_ans", played_ms=1200),
    ]


@pytest.mark.parametrize(
    ("barge_s", "heard", "truncate_ms", "finished"),
    [
        (0.3, "item_pre", 320, [("item_pre", 320, True), ("item_ans", 0, True)]),
        (1.0, "item_ans", 440, [("item_pre", 600, False), ("item_ans", 440, True)]),
    ],
    ids=["in-the-preamble", "in-the-answer"],
)
async def test_barge_in_truncates_the_item_being_heard_at_its_own_position(
    barge_s: float,
    heard: str,
    truncate_ms: int,
    finished: list[tuple[str, int, bool]],
    tmp_path: Path,
    autojump_clock: trio.abc.Clock,
) -> None:
    path = tmp_path / "barge.wav"
    journal = tmp_path / "barge.rtpj"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True, journal=journal).start(nursery)
            start = trio.current_time()
            await two_message_response(h)
            await trio.sleep_until(start + barge_s + 0.001)
            await h.send(SpeechStarted(item_id="item_user", audio_start_ms=900))
            await h.audio(100, item="item_ans", value=2)  # in flight when the user spoke: never played
            await h.send(ResponseDone(response_id="resp_1", status="cancelled"))
            await trio.sleep(2)
            await h.end()
    [truncate] = h.events(ClientCommand)
    assert (truncate.body["item_id"], truncate.body["audio_end_ms"]) == (heard, truncate_ms)
    last_heard = [p for p in h.events(PlaybackProgress) if p.item_id == heard][-1]
    assert last_heard.played_ms == truncate_ms  # of that item, not of the response
    assert [(f.item_id, f.played_ms, f.interrupted) for f in h.events(PlaybackFinished)] == finished
    interrupted = [i.item_id for i in h.events(PlaybackInterrupted)]
    assert interrupted == (["item_pre", "item_ans"] if heard == "item_pre" else ["item_ans"])
    frames, _ = wav_frames(path)
    assert frames == sum(ms for _, ms, _ in finished) * 24
    _, recorded = load_envelopes(journal)
    report = replay_actor(recorded, REPLAYABLE, {})
    assert report.divergences == 0 and report.compared == len(interrupted) + 1


async def test_an_item_the_stopped_response_had_not_started_is_reported_unheard(autojump_clock: trio.abc.Clock) -> None:
    sink = NullSink()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(sink, realtime=True).start(nursery)
            await h.send(ResponseCreated(response_id="resp_1"))
            await h.audio(200, item="item_pre")
            await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_pre"))
            await trio.sleep(1)  # the preamble is played out; the answer is still being generated
            await h.send(SpeechStarted(item_id="item_user", audio_start_ms=900))
            await h.audio(300, item="item_ans")  # already on the wire when the server cancelled
            await h.audio(300, item="item_ans")
            await h.send(ResponseDone(response_id="resp_1", status="cancelled"))
            await trio.sleep(1)
            await h.end()
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_pre", played_ms=200),
        PlaybackFinished(item_id="item_ans", played_ms=0, interrupted=True),  # once, so nobody waits for it
    ]
    assert h.events(ClientCommand) == [] and sink.bytes_written == 200 * 48


async def test_a_lost_connection_stops_the_interrupted_audio_at_once_without_a_truncate(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "lost.wav"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(WavSink(path), realtime=True).start(nursery)
            start = trio.current_time()
            await two_message_response(h)
            await trio.sleep_until(start + 0.2 + 0.001)
            await h.send(ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=("resp_1",)))
            await trio.sleep(1)
            # the new connection's first answer plays
            await h.send(ResponseCreated(response_id="resp_9"))
            await h.audio(100, item="item_new", response="resp_9", value=3)
            await h.send(ResponseDone(response_id="resp_9", status="completed"))
            await trio.sleep(1)
            await h.end()
    assert h.events(ClientCommand) == []
    assert h.events(PlaybackInterrupted) == [
        PlaybackInterrupted(item_id="item_pre", played_ms=240),
        PlaybackInterrupted(item_id="item_ans", played_ms=0),
    ]
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_pre", played_ms=240, interrupted=True),
        PlaybackFinished(item_id="item_ans", played_ms=0, interrupted=True),
        PlaybackFinished(item_id="item_new", played_ms=100),
    ]
    assert [p.played_ms for p in h.events(PlaybackProgress) if p.item_id == "item_pre"][-1] == 240
    _, data = wav_frames(path)
    assert np.frombuffer(data, dtype="<i2").tolist() == [1] * 240 * 24 + [3] * 100 * 24


async def test_an_item_closed_only_at_response_done_finishes_when_it_is_played(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            h = await Harness(NullSink(), realtime=True).start(nursery)
            await h.send(ResponseCreated(response_id="resp_1"))
            await h.audio(200, item="item_pre")
            await h.audio(2000, item="item_ans")  # the preamble's .done events will come at response.done
            await trio.sleep(0.5)
            # the preamble is played and reported finished now, not when the response ends
            assert h.events(PlaybackFinished) == [PlaybackFinished(item_id="item_pre", played_ms=200)]
            await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_pre"))
            await h.send(AssistantAudioDone(response_id="resp_1", item_id="item_ans"))
            await h.send(ResponseDone(response_id="resp_1", status="completed"))
            await trio.sleep(2)
            await h.end()
    assert h.events(PlaybackFinished) == [
        PlaybackFinished(item_id="item_pre", played_ms=200),
        PlaybackFinished(item_id="item_ans", played_ms=2000),
    ]
