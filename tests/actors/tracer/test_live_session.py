"""The tracer in a live session: the pipeline of ``pipeline/session.py`` (its own lines, plus the tracer)
against the embedded server over real loopback WebSockets, tracing to the real maxim-py logger pointed at a
loopback stand-in of Maxim; then the journal replays every replayable actor with zero divergences."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import trio

from actors.tracer.actor import tracer_actor
from events.protocol import ItemAdded, ResponseDone
from events.runtime import SessionStarted
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.config import RunConfig
from pipeline.connection import connect, resolve_endpoint
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.projections.conversation import Conversation
from pipeline.registry import replayable_actors
from pipeline.replay import replay
from pipeline.runtime import run_session
from pipeline.server import ServerConfig, ServerHandle, serve
from pipeline.session import build_actors, core_config, make_sink, make_source
from tests.actors.tracer.fake_maxim import FakeMaxim, LoopbackOnly, by_entity

LINES = ("hello there", "what time is it")


async def test_a_live_session_is_traced_to_maxim_and_still_replays_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = LoopbackOnly()
    guard.install(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake = FakeMaxim("answer")
    journal = tmp_path / "session.rtpj"
    try:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                handle: ServerHandle = await nursery.start(serve, ServerConfig(seed=7))
                config = RunConfig(
                    server=handle.realtime_url, input="script", script=LINES, fast=True, quiet=True, journal=journal, output="none"
                )
                # the flags --maxim-session-name/--maxim-session-tags land in the flat core config as these keys
                cores = {**core_config(config), "maxim_session_name": "live test", "maxim_session_tags": "suite=tracer"}
                endpoint = resolve_endpoint(config.server, config.model, None)
                bus = Bus(clock=TrioClock(), journal=JournalWriter(journal, make_header(cores)))
                environ = {"MAXIM_API_KEY": "test-key", "MAXIM_LOG_REPO_ID": "repo-live", "MAXIM_BASE_URL": fake.base_url}
                async with connect(endpoint) as ws:
                    specs = build_actors(
                        config, cores, ws, source=make_source(config), sink=make_sink(config, None),
                        conversation=Conversation(), stream=None,
                    )
                    # the session's own tracer, pointed at the fake Maxim instead of the process environment
                    specs = [
                        tracer_actor(journal_path=journal, config=cores, environ=environ) if s.name == "tracer" else s
                        for s in specs
                    ]
                    outcome = await run_session(specs, bus=bus)
                nursery.cancel_scope.cancel()
    finally:
        fake.close()
    assert outcome.ok, outcome
    assert guard.violations == []

    _, envelopes = load_envelopes(journal)
    users = [e.event.item_id for e in envelopes if isinstance(e.event, ItemAdded) and e.event.role == "user"]
    responses = [e.event for e in envelopes if isinstance(e.event, ResponseDone)]
    assert len(users) == len(LINES) and responses

    logs = fake.commit_logs()
    (session,) = by_entity(logs, "session", "create")
    assert (session.data["name"], session.data["tags"]) == ("live test", {"suite": "tracer"})
    turns = [log for log in by_entity(logs, "trace", "create") if log.data["name"].startswith("turn ")]
    assert [t.data["tags"]["item_id"] for t in turns] == users
    inputs = {log.id: log.data["input"] for log in by_entity(logs, "trace", "update") if "input" in log.data}
    assert "time" in inputs[turns[1].id]
    results = [log.data["result"] for log in by_entity(logs, "generation", "result")]
    assert len(results) == len(responses)
    assert [r["usage"]["total_tokens"] for r in results] == [r.usage["total_tokens"] for r in responses]
    assert {log.id for log in by_entity(logs, "trace", "end")} >= {t.id for t in turns}

    ran = set(next(e.event.actors for e in envelopes if isinstance(e.event, SessionStarted)))
    assert "tracer" in ran
    reports = replay(envelopes, [a for name, a in replayable_actors().items() if name in ran], cores)
    assert {r.actor for r in reports} >= {"capture", "conductor", "transcripts", "playback", "uploader"}
    for report in reports:
        assert report.divergences == 0, report.first.describe() if report.first else report

