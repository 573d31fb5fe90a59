"""A scripted conversation through capture, the conductor and playback, against a tiny in-process stand-in
for the server (energy VAD, fixed-length answers streamed faster than real time, cancel on barge-in).

It checks what the pieces promise each other: lines wait for the previous answer, a barge-in line talks over
the story, playback truncates at what was played, the script ends the session, and the journal replays
both cores with zero divergences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trio

from actors.capture.actor import REPLAYABLE as CAPTURE
from actors.capture.actor import capture_actor
from actors.capture.events import ScriptFinished, ScriptLineStarted
from actors.capture.sources import ScriptSource
from actors.conductor.actor import conductor_actor
from actors.playback.actor import REPLAYABLE as PLAYBACK
from actors.playback.actor import playback_actor
from actors.playback.sinks import WavSink
from events.audio import AudioChunk, CaptureEnded
from events.commands import ClientCommand
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress, TurnEnded
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AudioCommitted,
    ItemAdded,
    ItemTruncated,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
)
from events.transcripts import TranscriptResolved
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, clock_actor, run_session

SCRIPT = ["hello", "tell me a story", "[barge 600] stop", "bye"]
ANSWER_DELTAS = 20  # every answer is 2 s of audio, sent as 100 ms deltas every 50 ms (twice real time)


def fake_voice(text: str) -> bytes:
    return np.full(24 * 300, 1000, dtype="<i2").tobytes()  # 300 ms of "speech"


def fake_server() -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        responses = 0
        users = 0
        speaking = False
        silent_ms = 0
        streaming: trio.CancelScope | None = None

        async def answer(nursery: trio.Nursery, response_id: str) -> None:
            nonlocal streaming
            item_id = f"item_{response_id}"
            with trio.CancelScope() as scope:
                streaming = scope
                await ctx.publish(ResponseCreated(response_id=response_id))
                for _ in range(ANSWER_DELTAS):
                    await trio.sleep(0.05)
                    pcm = np.full(2400, 7, dtype="<i2").tobytes()
                    await ctx.publish(AssistantAudioDelta(response_id=response_id, item_id=item_id, pcm=pcm))
                await ctx.publish(AssistantAudioDone(response_id=response_id, item_id=item_id))
                await ctx.publish(ResponseDone(response_id=response_id, status="completed"))
                streaming = None
            if scope.cancelled_caught:
                await ctx.publish(ResponseDone(response_id=response_id, status="cancelled"))

        with ctx.inbox:
            async with trio.open_nursery() as nursery:
                await ctx.publish(SessionCreated(session_id="sess_1", session={"type": "realtime"}))
                async for env in ctx.inbox:
                    event = env.event
                    if isinstance(event, ClientCommand):
                        if event.type == "session.update":
                            await ctx.publish(SessionUpdated(session=event.body["session"]))
                        elif event.type == "conversation.item.truncate":
                            body = event.body
                            await ctx.publish(ItemTruncated(item_id=body["item_id"], audio_end_ms=body["audio_end_ms"]))
                        continue
                    assert isinstance(event, AudioChunk)
                    loud = any(event.pcm)
                    if loud and not speaking:
                        speaking, silent_ms, users = True, 0, users + 1
                        await ctx.publish(SpeechStarted(item_id=f"item_user_{users}", audio_start_ms=0))
                        if streaming is not None:  # interrupt_response: the server cancels what is playing
                            streaming.cancel()
                    elif speaking and not loud:
                        silent_ms += 40
                        if silent_ms >= 500:
                            speaking = False
                            await ctx.publish(SpeechStopped(item_id=f"item_user_{users}", audio_end_ms=0))
                            await ctx.publish(AudioCommitted(item_id=f"item_user_{users}"))
                            item = f"item_user_{users}"
                            await ctx.publish(ItemAdded(item_id=item, item_type="message", role="user"))
                            # (the transcripts actor's job; the stand-in resolves every user item at once)
                            await ctx.publish(TranscriptResolved(item_id=item, text="...", via="event"))
                            responses += 1
                            nursery.start_soon(answer, nursery, f"resp_{responses}")
                nursery.cancel_scope.cancel()

    return ActorSpec(name="server", consumes={AudioChunk, ClientCommand}, shell=shell)


async def test_scripted_conversation_with_a_barge_in(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    journal = tmp_path / "session.rtpj"
    config = {"input": "script", "script": SCRIPT, "end_linger_ms": 300, "end_timeout_ms": 20000}
    bus = Bus(clock=TrioClock(), journal=JournalWriter(journal, make_header(config)))
    source = ScriptSource(SCRIPT, vad_silence_ms=500, synthesize=fake_voice, in_thread=False)
    specs = [
        capture_actor(source),
        fake_server(),
        conductor_actor(config),
        playback_actor(WavSink(tmp_path / "out.wav"), realtime=True),
        clock_actor(),
    ]
    with trio.fail_after(120):
        outcome = await run_session(specs, bus=bus)
    assert outcome.ok and outcome.ending_reason == "end of input", outcome
    _, envs = load_envelopes(journal)
    events = [e.event for e in envs]

    lines = [e for e in events if isinstance(e, ScriptLineStarted)]
    assert [line.text for line in lines] == ["hello", "tell me a story", "stop", "bye"]
    assert ScriptFinished(lines=4) in events
    assert [e.reason for e in events if isinstance(e, CaptureEnded)] == ["end of script"]

    # the barge-in: "stop" starts once 600 ms of the story were played, and the story is cut there
    seq_of = {id(e.event): e.seq for e in envs}
    stop_line = lines[2]
    progress_before = [
        e.event for e in envs if isinstance(e.event, PlaybackProgress) and e.seq < seq_of[id(stop_line)]
    ]
    assert progress_before[-1].item_id == "item_resp_2" and progress_before[-1].played_ms == 600
    [interrupted] = [e for e in events if isinstance(e, PlaybackInterrupted)]
    [truncate] = [e for e in events if isinstance(e, ClientCommand) and e.type == "conversation.item.truncate"]
    story_progress = [e.played_ms for e in events if isinstance(e, PlaybackProgress) and e.item_id == "item_resp_2"]
    assert interrupted.item_id == "item_resp_2" and interrupted.played_ms >= 600
    assert truncate.body["audio_end_ms"] == interrupted.played_ms == story_progress[-1]
    assert ItemTruncated(item_id="item_resp_2", audio_end_ms=interrupted.played_ms) in events
    finished = {e.item_id: e for e in events if isinstance(e, PlaybackFinished)}
    assert finished["item_resp_2"].interrupted
    assert all(not finished[f"item_resp_{n}"].interrupted for n in (1, 3, 4))
    assert [e.status for e in events if isinstance(e, TurnEnded)] == ["completed", "cancelled", "completed", "completed"]

    # each plain line waited for the answer before it: its start follows the previous TurnEnded
    turn_ends = [e.seq for e in envs if isinstance(e.event, TurnEnded)]
    line_seqs = [seq_of[id(line)] for line in lines]
    assert turn_ends[0] < line_seqs[1] and turn_ends[2] < line_seqs[3]
    assert line_seqs[2] < turn_ends[1]  # the barge-in line did not wait

    for replayable in (CAPTURE, PLAYBACK):
        report = replay_actor(envs, replayable, config)
        assert report.divergences == 0 and report.compared > 0, report.first
