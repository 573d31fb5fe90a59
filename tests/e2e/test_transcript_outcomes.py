"""Transcript outcomes end to end on the embedded server (issues 9 and 12): every user item gets exactly one
outcome, a transcript slower than the resolver's whole retry budget is attached late instead of thrown away,
and the console prints each user turn before what answers it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio

from events.protocol import FunctionCallRequested, ItemAdded
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.config import RunConfig
from pipeline.projections.conversation import Conversation
from pipeline.server import ServerConfig, ServerHandle, serve
from pipeline.session import run_live
from tests.e2e.harness import LiveRun, live_run

pytestmark = pytest.mark.slow


def user_items(run: LiveRun) -> list[str]:
    return [e.item_id for e in run.events(ItemAdded) if e.role == "user" and e.item_type == "message"]


def assert_one_outcome_each(run: LiveRun) -> None:
    outcomes = [e.item_id for e in run.events(TranscriptResolved) + run.events(TranscriptUnavailable)]
    assert sorted(outcomes) == sorted(user_items(run))


def assert_replays_clean(run: LiveRun) -> None:
    for report in run.replay():
        assert report.divergences == 0, report.first.describe() if report.first else report


async def test_a_transcript_after_timed_out_is_attached_late_and_used(tmp_path: Path) -> None:
    run = await live_run(
        tmp_path,
        lines=("hello there", "tell me a short story", "that is all for today"),
        server=ServerConfig(seed=3, transcript_delay_ms=2500),
        transcript_timeout_ms=300,
        transcript_retries=1,
        transcript_retrieve_wait_ms=200,
    )
    assert run.result.failure is None
    assert_one_outcome_each(run)
    users = user_items(run)
    unavailable = {u.item_id: u for u in run.events(TranscriptUnavailable)}
    assert unavailable[users[0]].reason == "timed_out"
    late = {e.item_id: e for e in run.events(TranscriptLate)}
    assert (late[users[0]].item_id, late[users[0]].via) == (users[0], "event")
    assert late[users[0]].text.lower().rstrip(".!") == "hello there"  # as a transcription service writes it
    assert set(late) <= set(unavailable)  # only ever after an unavailable outcome, once each
    conversation = Conversation.fold(run.envelopes)
    first = conversation.turn(users[0])
    assert first is not None and (first.text, first.status, first.late) == (late[users[0]].text, "resolved", True)
    assert_replays_clean(run)


async def test_an_empty_transcript_is_an_outcome_with_no_words(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=("what time is it",), server=ServerConfig(seed=3, transcript_fault="empty"))
    assert_one_outcome_each(run)
    resolved = run.events(TranscriptResolved)
    assert [r.text for r in resolved] == [""]
    conversation = Conversation.fold(run.envelopes)
    assert conversation.totals["empty"] == 1
    assert run.events(FunctionCallRequested)  # the server still heard the words and answered them
    assert_replays_clean(run)


async def test_the_console_prints_each_user_turn_before_what_answers_it(tmp_path: Path) -> None:
    """The server sends the tool call before the transcript (as the real service often does); the printed
    conversation still reads user, the spoken preamble (the current default model says "Let me check that."
    before a tool call, as its own item), tool call, tool result, reply, with each turn's real words."""
    stream = io.StringIO()
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            handle: ServerHandle = await nursery.start(serve, ServerConfig(seed=7))
            config = RunConfig(
                server=handle.realtime_url, input="script", script=("what is the weather like in paris", "what time is it"),
                fast=True, journal=tmp_path / "s.rtpj", output=str(tmp_path / "s.wav"),
            )  # fmt: skip
            result = await run_live(config, stream=stream)
            nursery.cancel_scope.cancel()
    assert result.failure is None
    labels = [(line[1:10].strip(), line) for line in stream.getvalue().splitlines() if line.startswith("[")]
    order = [label for label, _ in labels if label in ("user", "tool call", "tool", "assistant")]
    assert order == ["user", "assistant", "tool call", "tool", "assistant"] * 2, stream.getvalue()
    assert sum("Let me check that." in line for label, line in labels if label == "assistant") == 2
    users = [line for label, line in labels if label == "user"]
    assert "what is the weather like in paris" in users[0].lower() and "what time is it" in users[1].lower()
