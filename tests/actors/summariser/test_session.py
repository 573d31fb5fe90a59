"""The summariser in a live session against the embedded server (real loopback WebSocket, real HTTP for the
summary model), and the journal replayed with zero divergences and no network."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.conductor.actor import REPLAYABLE as CONDUCTOR
from actors.summariser.actor import REPLAYABLE as SUMMARISER
from actors.transcripts.actor import REPLAYABLE as TRANSCRIPTS
from events.commands import ClientCommand, ClientEventSent
from events.envelope import Envelope
from events.protocol import AssistantTextDone, ItemAdded, ItemDeleted, ResponseDone, ServerError
from events.summary import SummaryAbandoned, SummaryApplied, SummaryFailed, SummaryGenerated, SummaryRequested
from pipeline.projections.conversation import Conversation
from pipeline.projections.ledger import Ledger
from pipeline.replay import replay_actor
from pipeline.server.brain import ABOUT_START_WORDS
from tests.actors.summariser.session import cores_config, run_typed_session

TRIGGER = 800  # the stories (~560 tokens each) push the window over it twice
LINES = [
    "I am planning a trip to Paris next week. I want to see the museums and eat well. "
    "My sister lives there and she will show me around the city.",
    "tell me a story",
    "My favourite painter is Monet. I would love to see the water lilies. Do you think the Orangerie is open on Tuesdays?",
    "tell me another story",  # the window crosses the trigger: sum_001
    "what did we talk about first",  # answered from sum_001
    "I need a hotel near the station. Something quiet with a good breakfast. My budget is about one hundred euros a night.",
    # the window crosses again: sum_002
    "what did we talk about first",  # answered from sum_002
]


def gist(summary: str) -> str:
    """What the embedded server's brain reads back of the root summary (its first words)."""
    words = summary.split()
    return " ".join(words[:ABOUT_START_WORDS]) + ("…" if len(words) > ABOUT_START_WORDS else "")


def of(envelopes: list[Envelope], kind: type) -> list[Any]:
    return [e.event for e in envelopes if isinstance(e.event, kind)]


def replay_all(envelopes: list[Envelope], cores: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("replay touched the network")

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", no_network)
        patch.setattr(socket, "create_connection", no_network)
        for actor in (SUMMARISER, TRANSCRIPTS, CONDUCTOR):
            result = replay_actor(envelopes, actor, cores)
            assert result.ok, result.first.describe() if result.first else result
            assert result.fed > 0


async def test_two_summaries_at_the_root_shrink_the_window_and_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cores = cores_config(summary_trigger=TRIGGER)
    with trio.fail_after(60):
        outcome, envs = await run_typed_session(tmp_path, LINES, cores)
    assert outcome.ok and outcome.ending_reason == "end of input", outcome

    applied = of(envs, SummaryApplied)
    assert [a.summary_id for a in applied] == ["sum_001", "sum_002"]
    assert of(envs, SummaryAbandoned) == [] and of(envs, ServerError) == []
    generated = {g.summary_id: g.text for g in of(envs, SummaryGenerated)}
    assert generated["sum_001"].startswith("Résumé de la conversation.")  # the seed's French, from /chat/completions

    seq_of = {id(e.event): e.seq for e in envs}
    dones = [(e.seq, e.event) for e in envs if isinstance(e.event, ResponseDone)]
    for summary in applied:
        # each summary at the root, created by our command and acknowledged before any delete was sent
        [create] = [c for c in of(envs, ClientCommand) if c.type == "conversation.item.create" and c.body["item"].get("id") == summary.summary_id]
        assert create.body["previous_item_id"] == "root" and create.body["item"]["role"] == "system"
        [added] = [e for e in envs if isinstance(e.event, ItemAdded) and e.event.item_id == summary.summary_id]
        deletes = [(e.seq, e.event) for e in envs if isinstance(e.event, ClientCommand)
                   and e.event.type == "conversation.item.delete" and e.event.body["item_id"] in summary.replaced_item_ids]
        assert len(deletes) == len(summary.replaced_item_ids) and all(seq > added.seq for seq, _ in deletes)
        acked = {e.item_id for e in of(envs, ItemDeleted)}
        assert set(summary.replaced_item_ids) <= acked and summary.undeleted_item_ids == ()
        sent = {e.event_id for e in of(envs, ClientEventSent)}
        assert {d.event_id for _, d in deletes} <= sent
        # the window: the first response after the summary re-bills less than the one that triggered it
        after = next(done for seq, done in dones if seq > seq_of[id(summary)])
        assert summary.window_before is not None and after.total_tokens is not None
        assert after.total_tokens < summary.window_before, (summary, after.usage)
        # the projection shows the summary in place of the old turns
        conversation = Conversation.fold(e for e in envs if e.seq <= seq_of[id(summary)])
        assert conversation.item_ids[0] == summary.summary_id
        assert not set(summary.replaced_item_ids) & set(conversation.item_ids)
    assert applied[1].replaced_item_ids[0] == "sum_001"  # the second summary folds the first in
    # sum_002: the second story and the first question, each with its answer
    assert applied[0].replaced_turns == 6 and applied[1].replaced_turns == 4

    answers = [t.text for t in of(envs, AssistantTextDone)]
    first, last = answers[4], answers[6]
    assert first == f"The conversation started with this: {gist(generated['sum_001'])}" and "Paris" in first
    assert last == f"The conversation started with this: {gist(generated['sum_002'])}" and "Paris" in last

    # the ledger sees both window drops and prices the summary model's calls
    ledger = Ledger.fold(envs)
    assert len(ledger.reductions) == 2 and min(ledger.reductions) > 400 and ledger.saved_input_tokens > 1000
    assert ledger.summaries.count == 2 and ledger.summaries.tokens.input > 0

    replay_all(envs, cores, monkeypatch)


async def test_an_unreachable_summary_model_leaves_the_conversation_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    cores = cores_config(summary_trigger=TRIGGER)
    with trio.fail_after(60):
        outcome, envs = await run_typed_session(tmp_path, LINES[:5], cores, llm_url=dead)
    assert outcome.ok, outcome

    requests = [e for e in envs if isinstance(e.event, SummaryRequested)]
    requested: list[SummaryRequested] = of(envs, SummaryRequested)
    failed = of(envs, SummaryFailed)
    abandoned = of(envs, SummaryAbandoned)
    assert len(requests) == 2 and [r.summary_id for r in requested] == ["sum_001", "sum_001"]
    assert [f.summary_id for f in failed] == ["sum_001", "sum_001"] and "sk-test" not in failed[0].error
    assert [a.reason for a in abandoned] == [f"the summary model failed: {f.error}" for f in failed]
    # retried after the next response: each request is caused by its own response.done
    causes = {r.cause for r in requests}
    assert len(causes) == 2 and all(isinstance(next(e for e in envs if e.seq == c).event, ResponseDone) for c in causes)
    # the conversation is as it was: no summary item, nothing deleted
    assert [c for c in of(envs, ClientCommand) if c.event_id.startswith("summariser")] == []
    assert of(envs, ItemDeleted) == [] and of(envs, SummaryApplied) == []
    assert len(Conversation.fold(envs)) == 2 * 5
    assert b"sk-test" not in (tmp_path / "session.rtpj").read_bytes()  # the key never reaches the journal

    replay_all(envs, cores, monkeypatch)
