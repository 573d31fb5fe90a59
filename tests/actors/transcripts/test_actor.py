"""The transcripts shell in a real session: bus, clock actor, journal, and a fake server answering retrieves.

This is the seed's defect made into a test: a transcript that never comes is fetched by retrieve, and the
retrieve's answer actually resolves the item (the seed's waiter hung forever).
"""

from __future__ import annotations

from pathlib import Path

import trio

from actors.transcripts.actor import REPLAYABLE, transcripts_actor
from events.commands import ClientCommand
from events.envelope import Envelope
from events.protocol import InputTranscriptCompleted, ItemAdded, ItemRetrieved
from events.runtime import SessionEnding
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.journal.format import EndReason
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, clock_actor, run_session

CONFIG = {"transcript_timeout_ms": 3000, "transcript_retries": 5, "transcript_backoff_ms": 400, "transcript_retrieve_wait_ms": 2000}


def fake_server(answers: list[str | None]) -> ActorSpec:
    """Answers each conversation.item.retrieve with the next text (None: the server has no transcript yet)."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for env in ctx.inbox:
                cmd = env.event
                if isinstance(cmd, ClientCommand) and cmd.type == "conversation.item.retrieve":
                    text = answers.pop(0) if answers else None
                    item_id = cmd.body["item_id"]
                    await ctx.publish(ItemRetrieved(item_id=item_id, item_type="message", role="user", text=text))

    return ActorSpec(name="server", consumes={ClientCommand}, shell=shell)


def script(items: list[str], outcomes: list[object], *, late: tuple[str, str] | None = None) -> ActorSpec:
    """Adds user items, optionally sends one late transcript, and returns once every item has its outcome."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for item_id in items:
                await ctx.publish(ItemAdded(item_id=item_id, item_type="message", role="user", status="completed"))
            if late is not None:
                await trio.sleep(1.0)
                await ctx.publish(InputTranscriptCompleted(item_id=late[0], transcript=late[1]))
            async for env in ctx.inbox:
                outcomes.append(env.event)
                if len(outcomes) == len(items):
                    return

    return ActorSpec(name="script", consumes={TranscriptResolved, TranscriptUnavailable}, shell=shell)


async def run(tmp_path: Path, specs: list[ActorSpec]) -> list[Envelope]:
    path = tmp_path / "t.rtpj"
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(CONFIG)))
    with trio.fail_after(60):
        outcome = await run_session([*specs, transcripts_actor(CONFIG), clock_actor()], bus=bus, end_when=["script"])
    assert outcome.ok, outcome
    journal, envs = load_envelopes(path)
    report = replay_actor(envs, REPLAYABLE, journal.header.config)  # type: ignore[union-attr]
    assert (report.divergences, report.first) == (0, None)
    assert report.compared > 0
    return envs


async def test_missing_transcript_is_resolved_by_a_retrieve_after_backoff(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    outcomes: list[object] = []
    envs = await run(tmp_path, [script(["item_1"], outcomes), fake_server([None, "tell me a story"])])
    assert outcomes == [TranscriptResolved(item_id="item_1", text="tell me a story", via="retrieve")]
    sent = [e.event for e in envs if isinstance(e.event, ClientCommand)]
    assert [(c.event_id, c.body["item_id"]) for c in sent] == [("transcripts_0001", "item_1"), ("transcripts_0002", "item_1")]
    resolved_at = next(e.t_ns for e in envs if isinstance(e.event, TranscriptResolved))
    assert 3_400_000_000 <= resolved_at < 3_500_000_000  # 3 s wait, empty answer, 0.4 s backoff, answer


async def test_silent_server_times_out_after_five_attempts(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    outcomes: list[object] = []

    async def silent(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for _ in ctx.inbox:
                pass

    envs = await run(tmp_path, [script(["item_1"], outcomes), ActorSpec(name="server", consumes={ClientCommand}, shell=silent)])
    assert len(outcomes) == 1 and isinstance(outcomes[0], TranscriptUnavailable)
    assert outcomes[0].reason == "timed_out"
    assert sum(isinstance(e.event, ClientCommand) for e in envs) == 5
    ended_at = next(e.t_ns for e in envs if isinstance(e.event, TranscriptUnavailable))
    # 3 s + 5 * 2 s answer waits + (0.4 + 0.8 + 1.2 + 1.6) s backoff = 17 s
    assert 17_000_000_000 <= ended_at < 17_100_000_000


async def test_late_transcript_resolves_its_own_item(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    outcomes: list[object] = []
    await run(
        tmp_path,
        [script(["item_A", "item_B"], outcomes, late=("item_A", "first")), fake_server([None, None, "second"])],
    )
    assert outcomes[0] == TranscriptResolved(item_id="item_A", text="first", via="event")
    assert outcomes[1] == TranscriptResolved(item_id="item_B", text="second", via="retrieve")


async def test_session_ending_gives_a_waiting_item_its_outcome_before_the_journal_closes(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Ctrl-C, a signal or a fatal error all end a session through SessionEnding: the item still waiting for
    its transcript gets ``session ended`` in the journal, and a replay reproduces it."""

    async def user_then_ending(ctx: ActorContext) -> None:
        with ctx.inbox:
            await ctx.publish(ItemAdded(item_id="item_1", item_type="message", role="user", status="completed"))
            await trio.sleep(1.0)  # less than the 3 s wait: the item is still waiting
            await ctx.publish(SessionEnding(reason="interrupted"))
            async for _ in ctx.inbox:
                pass

    path = tmp_path / "t.rtpj"
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(CONFIG)))
    with trio.fail_after(60):
        outcome = await run_session(
            [ActorSpec(name="script", consumes=(), shell=user_then_ending), transcripts_actor(CONFIG), clock_actor()],
            bus=bus,
        )
    assert outcome.ok and outcome.ending_reason == "interrupted"
    journal, envs = load_envelopes(path)
    assert journal.end.reason is EndReason.CLOSED
    outcomes = [e.event for e in envs if isinstance(e.event, TranscriptResolved | TranscriptUnavailable)]
    assert outcomes == [
        TranscriptUnavailable(
            item_id="item_1", reason="session ended", detail="the session ended while the item was waiting for its transcript"
        )
    ]
    assert not any(isinstance(e.event, ClientCommand) for e in envs)  # no retrieve was started
    report = replay_actor(envs, REPLAYABLE, journal.header.config)  # type: ignore[union-attr]
    assert (report.divergences, report.first) == (0, None) and report.compared > 0
