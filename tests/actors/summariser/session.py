"""A live session for the summariser's integration tests, assembled like ``pipeline/session.py`` does (router,
uploader, conductor, transcripts, clock) plus the summariser, against the embedded server over a loopback
WebSocket. The user types: each line is a ``conversation.item.create`` (input_text) and a ``response.create``,
sent when the previous answer is done and any summary it triggered has finished, so each test reads the
token window before and after each summary without races. Output is text (no speech synthesis: fast).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from actors.conductor.actor import conductor_actor
from actors.router.actor import router_actor
from actors.summariser.actor import summariser_actor
from actors.transcripts.actor import transcripts_actor
from actors.uploader.actor import uploader_actor
from events import commands
from events.envelope import Envelope
from events.playback import SessionReady
from events.protocol import ResponseDone
from events.runtime import SessionEnding
from events.summary import SummaryAbandoned, SummaryApplied, SummaryRequested
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.config import RunConfig
from pipeline.connection import connect, resolve_endpoint
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.runtime import ActorContext, ActorSpec, SessionOutcome, clock_actor, run_session
from pipeline.server import ServerConfig, serve

SETTLE_S = 0.3  # how long the typist waits, after an answer, for a summary that answer may start


def typist(lines: Sequence[str]) -> ActorSpec:
    """Types each line once the previous answer is done and no summary is in flight; then ends the session."""
    consumes = {SessionReady, ResponseDone, SummaryRequested, SummaryApplied, SummaryAbandoned}

    async def shell(ctx: ActorContext) -> None:
        in_flight = False

        def note(env: Envelope) -> None:
            nonlocal in_flight
            if isinstance(env.event, SummaryRequested):
                in_flight = True
            elif isinstance(env.event, SummaryApplied | SummaryAbandoned):
                in_flight = False

        async def next_of(kind: type) -> Envelope:
            async for env in ctx.inbox:
                note(env)
                if isinstance(env.event, kind):
                    return env
            raise AssertionError(f"the session ended before {kind.__name__}")

        with ctx.inbox:
            await next_of(SessionReady)
            for n, line in enumerate(lines, start=1):
                item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": line}]}
                await ctx.publish(commands.item_create(f"typist_{n:03d}a", item))
                await ctx.publish(commands.response_create(f"typist_{n:03d}b"))
                await next_of(ResponseDone)
                with trio.move_on_after(SETTLE_S):
                    await next_of(SummaryRequested)
                while in_flight:
                    await next_of(SummaryApplied | SummaryAbandoned)  # type: ignore[arg-type]
            await ctx.publish(SessionEnding(reason="end of input"))

    return ActorSpec(name="typist", consumes=consumes, shell=shell)


def cores_config(**overrides: Any) -> dict[str, Any]:
    run = RunConfig(output_modalities=("text",))
    data = run.for_cores()
    data["session"] = run.session_object()
    data.update(overrides)
    return data


async def run_typed_session(
    tmp_path: Path, lines: Sequence[str], cores: dict[str, Any], *, llm_url: str | None = None
) -> tuple[SessionOutcome, list[Envelope]]:
    """One session against a fresh embedded server; returns the outcome and the journal's envelopes."""
    journal = tmp_path / "session.rtpj"
    async with trio.open_nursery() as server_nursery:
        handle = await server_nursery.start(serve, ServerConfig())
        endpoint = resolve_endpoint("local", "gpt-realtime", None).at(handle.realtime_url)
        bus = Bus(clock=TrioClock(), journal=JournalWriter(journal, make_header(cores)))
        async with connect(endpoint) as ws:
            specs = [
                typist(lines),
                router_actor(ws),
                conductor_actor(cores),
                transcripts_actor(cores),
                summariser_actor(base_url=llm_url or handle.base_url, api_key="sk-test-not-a-key", timeout_s=5.0, config=cores),
                clock_actor(),
                uploader_actor(ws),
            ]
            outcome = await run_session(specs, bus=bus)
        server_nursery.cancel_scope.cancel()
    _, envelopes = load_envelopes(journal)
    return outcome, envelopes
