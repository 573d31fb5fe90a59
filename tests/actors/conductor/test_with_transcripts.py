"""Conductor, transcript resolver and console together: the session ends only after the last user item's
transcript, fetched by retrieve, is resolved; the console shows it; both cores replay from the journal."""

from __future__ import annotations

import io
from pathlib import Path

import trio

from actors.conductor.actor import REPLAYABLE as CONDUCTOR
from actors.conductor.actor import conductor_actor
from actors.console.actor import console_actor
from actors.transcripts.actor import REPLAYABLE as TRANSCRIPTS
from actors.transcripts.actor import transcripts_actor
from events.audio import CaptureEnded
from events.commands import ClientCommand
from events.playback import PlaybackFinished, SessionReady
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDone,
    ItemAdded,
    ItemRetrieved,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
)
from events.runtime import SessionEnding
from events.transcripts import TranscriptResolved
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay
from pipeline.runtime import ActorContext, ActorSpec, clock_actor, run_session

CONFIG = {"session": {"type": "realtime"}, "transcript_timeout_ms": 3000, "end_linger_ms": 300, "end_timeout_ms": 20000}


def fake_server_and_devices() -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            await ctx.publish(SessionCreated(session_id="sess_9", session={}))
            async for env in ctx.inbox:
                ev = env.event
                if isinstance(ev, ClientCommand) and ev.type == "session.update":
                    await ctx.publish(SessionUpdated(session={}))
                elif isinstance(ev, ClientCommand) and ev.type == "conversation.item.retrieve":
                    item_id = ev.body["item_id"]
                    await ctx.publish(ItemRetrieved(item_id=item_id, item_type="message", role="user", text="tell me a story"))
                elif isinstance(ev, SessionReady):
                    await ctx.publish(ItemAdded(item_id="u1", item_type="message", role="user", status="completed"))
                    await ctx.publish(ResponseCreated(response_id="r1"))
                    await ctx.publish(ItemAdded(item_id="a1", previous_item_id="u1", item_type="message", role="assistant"))
                    await ctx.publish(AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\0\0" * 2400))
                    await ctx.publish(AssistantTextDone(response_id="r1", item_id="a1", modality="audio", text="Once upon a time."))
                    await ctx.publish(ResponseDone(response_id="r1", status="completed", usage={"total_tokens": 77}))
                    await ctx.publish(CaptureEnded(chunks=40))
                    await trio.sleep(0.5)
                    await ctx.publish(PlaybackFinished(item_id="a1", played_ms=100))

    return ActorSpec(name="server", consumes={ClientCommand, SessionReady}, shell=shell)


async def test_session_ends_after_the_retrieved_transcript(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    path = tmp_path / "s.rtpj"
    stream = io.StringIO()
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(CONFIG)))
    specs = [
        fake_server_and_devices(),
        conductor_actor(CONFIG),
        transcripts_actor(CONFIG),
        console_actor(stream=stream),
        clock_actor(),
    ]
    with trio.fail_after(60):
        outcome = await run_session(specs, bus=bus)
    assert outcome.ok and outcome.ending_reason == "end of input"
    journal, envs = load_envelopes(path)
    resolved = next(e for e in envs if isinstance(e.event, TranscriptResolved))
    ending = next(e for e in envs if isinstance(e.event, SessionEnding))
    assert resolved.event == TranscriptResolved(item_id="u1", text="tell me a story", via="retrieve")
    assert 300_000_000 <= ending.t_ns - resolved.t_ns < 400_000_000  # ended by the linger after the transcript
    reports = replay(envs, [CONDUCTOR, TRANSCRIPTS], journal.header.config)  # type: ignore[union-attr]
    assert [(r.actor, r.divergences) for r in reports] == [("conductor", 0), ("transcripts", 0)]
    # the console's own layout (placeholders, ordering) is its tests' business; here: it shows the resolved
    # transcript, and the session's end comes last
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[session  ] ready (sess_9)" and lines[-1] == "[session  ] ending: end of input"
    assert "[assistant] Once upon a time.  (a1)" in lines and "[user     ] tell me a story  (u1)" in lines
