"""The conductor shell in a real session: it configures the session, and its SessionEnding ends the run."""

from __future__ import annotations

from pathlib import Path

import trio

from actors.conductor.actor import REPLAYABLE, conductor_actor
from events.audio import CaptureEnded
from events.base import Event
from events.commands import ClientCommand
from events.envelope import Envelope
from events.playback import PlaybackFinished, SessionReady, TurnEnded
from events.protocol import (
    AssistantAudioDelta,
    ItemAdded,
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
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, SessionOutcome, clock_actor, run_session

CONFIG = {"session": {"type": "realtime", "model": "gpt-realtime"}, "end_linger_ms": 300, "end_timeout_ms": 5000}


def fake_server(answer_the_turn: bool) -> ActorSpec:
    """Opens with session.created, confirms session.update, and (optionally) plays one answered turn."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            await ctx.publish(SessionCreated(session_id="sess_1", session={}))
            async for env in ctx.inbox:
                ev = env.event
                if isinstance(ev, ClientCommand) and ev.type == "session.update":
                    await ctx.publish(SessionUpdated(session=ev.body["session"]))
                elif isinstance(ev, SessionReady):
                    await ctx.publish(ItemAdded(item_id="u1", item_type="message", role="user", status="completed"))
                    await ctx.publish(CaptureEnded(chunks=25))
                    if not answer_the_turn:
                        continue
                    await ctx.publish(ResponseCreated(response_id="r1"))
                    await ctx.publish(AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\0\0" * 2400))
                    await ctx.publish(ResponseDone(response_id="r1", status="completed"))
                    await trio.sleep(1.0)  # the speaker is still playing
                    await ctx.publish(PlaybackFinished(item_id="a1", played_ms=100))
                    await ctx.publish(TranscriptResolved(item_id="u1", text="hello", via="event"))

    return ActorSpec(name="server", consumes={ClientCommand, SessionReady}, shell=shell)


async def run(tmp_path: Path, answer_the_turn: bool) -> tuple[SessionOutcome, list[Envelope]]:
    path = tmp_path / "c.rtpj"
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(CONFIG)))
    with trio.fail_after(60):
        outcome = await run_session([fake_server(answer_the_turn), conductor_actor(CONFIG), clock_actor()], bus=bus)
    journal, envs = load_envelopes(path)
    report = replay_actor(envs, REPLAYABLE, journal.header.config)  # type: ignore[union-attr]
    assert (report.divergences, report.first) == (0, None)
    return outcome, envs


def first(envs: list[Envelope], kind: type[Event]) -> Envelope:
    return next(e for e in envs if isinstance(e.event, kind))


async def test_session_is_configured_and_ends_after_the_last_answer_is_played(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    outcome, envs = await run(tmp_path, answer_the_turn=True)
    assert outcome.ok and outcome.ending_reason == "end of input"
    update = first(envs, ClientCommand).event
    assert isinstance(update, ClientCommand)
    assert update.wire() == {"type": "session.update", "event_id": "conductor_0001", "session": CONFIG["session"]}
    assert first(envs, SessionReady).event == SessionReady(session_id="sess_1")
    turn_ended = first(envs, TurnEnded)
    assert turn_ended.event == TurnEnded(response_id="r1", status="completed")
    ending = first(envs, SessionEnding)
    assert ending.source == "conductor"
    # the end waits for the playback (1 s) and then lingers 300 ms
    assert turn_ended.t_ns >= 1_000_000_000
    assert 300_000_000 <= ending.t_ns - turn_ended.t_ns < 400_000_000


async def test_session_ends_on_the_hard_bound_when_no_answer_comes(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    outcome, envs = await run(tmp_path, answer_the_turn=False)
    assert outcome.ok and outcome.ending_reason == "end of input (timed out waiting for the last answer)"
    captured = first(envs, CaptureEnded)
    ending = first(envs, SessionEnding)
    assert 5_000_000_000 <= ending.t_ns - captured.t_ns < 5_100_000_000
