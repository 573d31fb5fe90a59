"""The tracer in a live session: the pipeline of ``pipeline/session.py`` (its own lines, plus the tracer)
against the embedded server over real loopback WebSockets, tracing to the real maxim-py logger pointed at a
loopback stand-in of Maxim; then the journal replays every replayable actor with zero divergences."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from events.protocol import ItemAdded, ResponseDone
from events.runtime import SessionStarted
from pipeline.config import RunConfig
from pipeline.journal import load_envelopes
from pipeline.registry import replayable_actors
from pipeline.replay import replay
from tests.actors.tracer.fake_maxim import FakeMaxim, LoopbackOnly, by_entity
from tests.actors.tracer.live import run_traced_session

LINES = ("hello there", "what time is it")


async def test_a_live_session_is_traced_to_maxim_and_still_replays_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = LoopbackOnly()
    guard.install(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake = FakeMaxim("answer")
    journal = tmp_path / "session.rtpj"
    # the flags --maxim-session-name/--maxim-session-tags land in the flat core config as these keys
    outcome, cores = await run_traced_session(
        lambda url: RunConfig(server=url, input="script", script=LINES, fast=True, quiet=True, journal=journal, output="none"),
        journal=journal, fake=fake, repo_id="repo-live", fail_after_s=60,
        extra_cores={"maxim_session_name": "live test", "maxim_session_tags": "suite=tracer"},
    )  # fmt: skip
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

