"""Transcripts core across a lost connection and a re-seed (issue 12)."""

from __future__ import annotations

import pytest

from actors.transcripts.actor import CONSUMES, REPLAYABLE
from actors.transcripts.core import TranscriptCore
from events.connection import ConnectionLost, ConversationReseeded, ReconnectRequested, ReseedPlanned
from events.protocol import InputTranscriptCompleted, ItemAdded, ItemRetrieved
from events.runtime import SessionEnding, TimerCancelled, TimerRequested
from events.transcripts import CONNECTION_LOST, TranscriptLate, TranscriptResolved, TranscriptUnavailable
from tests.actors.transcripts.test_core import Feeder, fired, user_item


@pytest.fixture
def feed() -> Feeder:
    return Feeder(TranscriptCore())


def lost(interrupted: tuple[str, ...] = ()) -> ConnectionLost:
    return ConnectionLost(reason="connection closed unexpectedly", code=1006, reconnecting=True, interrupted=interrupted)


def outcome(item_id: str) -> TranscriptUnavailable:
    return TranscriptUnavailable(
        item_id=item_id,
        reason=CONNECTION_LOST,
        detail="connection lost (connection closed unexpectedly, code 1006) while the item was waiting for its transcript",
    )


def test_the_connection_events_are_consumed_and_replayed() -> None:
    assert {ConnectionLost, ReseedPlanned} <= CONSUMES
    assert REPLAYABLE.consumes == CONSUMES


def test_every_waiting_item_gets_its_outcome_at_once_when_the_connection_is_lost(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(user_item("item_2"))
    feed(fired("transcripts:item_2:wait"))  # item_2 is retrieving (attempt 1)
    feed(user_item("item_3", text="typed"))  # resolved already: no second outcome
    assert feed(lost()) == [
        outcome("item_1"),
        TimerCancelled(key="transcripts:item_1:wait"),
        outcome("item_2"),
        TimerCancelled(key="transcripts:item_2:retrieve:1"),
    ]
    assert feed.core.pending_items == ()
    # the timers that were running are stale now; nothing is retrieved on the new connection
    assert feed(fired("transcripts:item_1:wait")) == []
    assert feed(fired("transcripts:item_2:retrieve:1")) == []
    # a second loss (a failed reconnect, another drop) has nothing left to end
    assert feed(lost()) == []


def test_a_transcript_after_the_loss_is_still_attached_late_once(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(user_item("item_2"))
    feed(lost())
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="hello")) == [
        TranscriptLate(item_id="item_1", text="hello", via="event")
    ]
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="hello")) == []
    assert feed(ItemRetrieved(item_id="item_2", item_type="message", role="user", text="and then")) == [
        TranscriptLate(item_id="item_2", text="and then", via="retrieve")
    ]


def test_the_re_seeded_conversation_is_not_a_new_turn(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(InputTranscriptCompleted(item_id="item_1", transcript="hi"))
    feed(user_item("item_2"))
    feed(lost())
    feed(ReconnectRequested(attempt=1, delay_ms=250))
    assert feed(ReseedPlanned(items=("item_1", "item_a1", "item_2"), audio_items=("item_2",))) == []
    # item_1 comes back with its text, item_2 as its recorded audio: neither is awaited nor retrieved
    assert feed(user_item("item_1", text="hi")) == []
    assert feed(user_item("item_2")) == []
    assert feed(ConversationReseeded(items=("item_1", "item_a1", "item_2"), audio_items=("item_2",))) == []
    assert feed.core.pending_items == ()
    # the next turn on the new connection is a new turn as ever
    assert feed(user_item("item_9")) == [TimerRequested(key="transcripts:item_9:wait", delay_ms=3000)]
    assert feed(SessionEnding(reason="end of input"))[0] == TranscriptUnavailable(
        item_id="item_9", reason="session ended", detail="the session ended while the item was waiting for its transcript"
    )


def test_a_resumed_calls_items_need_no_outcome_here(feed: Feeder) -> None:
    """--resume: the parent's items (their outcomes are in the parent journal) are created before any turn."""
    assert feed(ReseedPlanned(items=("sum_001", "item_p1", "item_p2"), summary_id="sum_001", resumed_from="parent.rtpj")) == []
    assert feed(ItemAdded(item_id="sum_001", item_type="message", role="system", text="summary")) == []
    assert feed(user_item("item_p1", text="from the parent")) == []
    assert feed(user_item("item_p2")) == []  # seeded as audio
    assert feed(InputTranscriptCompleted(item_id="item_p2", transcript="x")) == []
    assert feed.core.pending_items == ()
    assert feed(SessionEnding(reason="end of input")) == []


def test_a_recycle_keeps_waiting_on_the_old_connection(feed: Feeder) -> None:
    """A recycle is no loss: an item still waiting keeps waiting (its transcript may come on the old socket)."""
    feed(user_item("item_1"))
    assert feed(ReconnectRequested(attempt=1, delay_ms=0, recycle=True)) == []
    assert feed(ReseedPlanned(items=("item_1",), recycle=True)) == []
    assert feed(user_item("item_1")) == []
    assert feed.core.pending_items == ("item_1",)
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="on the old socket")) == [
        TranscriptResolved(item_id="item_1", text="on the old socket", via="event"),
        TimerCancelled(key="transcripts:item_1:wait"),
    ]
