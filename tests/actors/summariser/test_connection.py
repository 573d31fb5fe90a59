"""Summariser core across a lost connection and a re-seed; the chat request for current summary models."""

from __future__ import annotations

import pydantic
import pytest
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from actors.summariser.actor import CONSUMES, REPLAYABLE
from actors.summariser.core import MAX_COMPLETION_TOKENS, Phase, chat_request, takes_temperature
from events import commands
from events.connection import ConnectionLost, ReseedPlanned
from events.protocol import ItemAdded, ItemDeleted
from events.runtime import TimerCancelled, TimerRequested
from events.summary import SummaryAbandoned, SummaryApplied, SummaryGenerated
from pipeline.models import DEFAULT_SUMMARY_MODEL, SUMMARY_MODELS
from tests.actors.summariser.test_core import new_core, phase_of, request, started, talk, user

LOST = ConnectionLost(reason="connection closed unexpectedly", code=1006)


def summary_added(item_id: str, text: str = "Résumé.") -> ItemAdded:
    return ItemAdded(item_id=item_id, item_type="message", role="system", status="completed", text=text)


def test_connection_lost_is_consumed_and_replayed() -> None:
    assert ConnectionLost in CONSUMES and REPLAYABLE.consumes == CONSUMES


def test_a_summary_being_generated_is_abandoned_and_its_id_never_reused() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    assert feed.done(700)[0] == started("sum_001", feed, 700)
    assert feed(LOST) == [SummaryAbandoned(summary_id="sum_001", reason="connection lost")]
    assert phase_of(core) is Phase.IDLE
    # the model's answer to the lost attempt, arriving now, is not the next attempt's
    assert feed(SummaryGenerated(summary_id="sum_001", text="late", usage={})) == []
    talk(feed, ("time", "Noon."))
    out = feed.done(900)
    assert out[0] == started("sum_002", feed, 900)
    assert out[1] == request(
        "sum_002", ["user: hello", "assistant: Hi.", "user: weather", "assistant: Sunny."], ("u1", "a1", "u2", "a2")
    )


def test_a_summary_waiting_for_transcripts_is_abandoned_and_may_keep_its_id() -> None:
    core, feed = new_core()
    feed(*user("u1"))
    talk(feed, ("weather", "Sunny."), ("time", "Noon."))
    assert feed.done(700)[1] == TimerRequested(key="summariser:1:transcripts", delay_ms=3000)
    assert feed(LOST) == [
        TimerCancelled(key="summariser:1:transcripts"),
        SummaryAbandoned(summary_id="sum_001", reason="connection lost"),
    ]
    assert core.summary_id == "sum_001"  # no request went out


def test_a_summary_whose_create_was_sent_is_abandoned_and_its_id_used_up() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    assert feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))[0] == commands.item_create(
        "summariser_0001", commands.system_message("sum_001", "Résumé."), "root"
    )
    assert feed(LOST) == [
        TimerCancelled(key="summariser:1:ack"),
        SummaryAbandoned(summary_id="sum_001", reason="connection lost"),
    ]
    assert core.summary_id == "sum_002"


def test_a_summary_in_place_whose_deletes_were_cut_off_is_applied_with_what_was_deleted() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    feed(summary_added("sum_001"))
    feed(ItemDeleted(item_id="u1"))
    assert feed(LOST) == [
        TimerCancelled(key="summariser:1:deletes"),
        SummaryApplied(
            summary_id="sum_001", replaced_turns=1, window_before=700, replaced_item_ids=("u1",), undeleted_item_ids=("a1",)
        ),
    ]
    assert core.summary_id == "sum_002"
    assert feed(LOST) == []  # nothing in progress any more


def test_ids_continue_after_the_highest_summary_a_resumed_call_seeded() -> None:
    core, feed = new_core()
    feed(ReseedPlanned(items=("sum_001", "u7", "a7"), summary_id="sum_001", resumed_from="parent.rtpj"))
    feed(summary_added("sum_001", "Earlier: the weather in Paris."))
    assert core.summary_id == "sum_002"
    talk(feed, ("hello", "Hi."), ("time", "Noon."))
    out = feed.done(700)
    assert out[0] == started("sum_002", feed, 700)
    assert out[1] == request("sum_002", ["system: Earlier: the weather in Paris.", "user: hello", "assistant: Hi."], ("sum_001", "u1", "a1"))


def test_a_higher_summary_seen_during_an_attempt_moves_the_next_id_not_the_current_one() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(summary_added("sum_007", "from elsewhere"))  # an id we never made (another client's)
    assert core.summary_id == "sum_001"
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    feed(summary_added("sum_001"))
    feed(ItemDeleted(item_id="u1"), ItemDeleted(item_id="a1"))
    assert core.summary_id == "sum_008"


def test_a_reseed_of_our_own_summary_does_not_skip_a_number() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    feed(summary_added("sum_001"), ItemDeleted(item_id="u1"), ItemDeleted(item_id="a1"))
    feed(LOST, ReseedPlanned(items=("sum_001", "u2", "a2"), summary_id="sum_001"), summary_added("sum_001"))
    assert core.summary_id == "sum_002"
    assert core.conversation.item_ids[0] == "sum_001"


# -- the chat-completions request ------------------------------------------------------------------------------


PARAMS: pydantic.TypeAdapter[CompletionCreateParamsNonStreaming] = pydantic.TypeAdapter(CompletionCreateParamsNonStreaming)
MESSAGES = ({"role": "system", "content": "Summarise."}, {"role": "user", "content": "user: hello"})


REASONING = sorted(m for m in {DEFAULT_SUMMARY_MODEL, *SUMMARY_MODELS} if m.startswith(("gpt-5", "o1", "o3", "o4")))


@pytest.mark.parametrize("model", REASONING)
def test_reasoning_summary_models_get_no_temperature_and_a_completion_bound(model: str) -> None:
    assert not takes_temperature(model)
    body = chat_request(model, MESSAGES)
    assert body == {"model": model, "messages": [dict(m) for m in MESSAGES], "max_completion_tokens": MAX_COMPLETION_TOKENS}
    PARAMS.validate_python(body)  # the SDK's own parameter types


def test_the_default_is_a_reasoning_model_and_the_seeds_model_keeps_temperature_zero() -> None:
    assert not takes_temperature(DEFAULT_SUMMARY_MODEL)
    older = [m for m in SUMMARY_MODELS if m.startswith(("gpt-4", "gpt-3.5"))]
    assert "gpt-4o-mini" in older
    for model in older:
        body = chat_request(model, MESSAGES)
        assert body["temperature"] == 0 and "max_tokens" not in body
        PARAMS.validate_python(body)
    assert all(not takes_temperature(m) for m in ("o1", "o3-mini", "gpt-5.4-mini", "GPT-5.5"))
