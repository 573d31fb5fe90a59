from __future__ import annotations

from collections.abc import Sequence

import pytest

from actors.transcripts.core import ItemState, TranscriptCore
from events import commands
from events.base import Event
from events.envelope import Envelope
from events.protocol import (
    InputTranscriptCompleted,
    InputTranscriptFailed,
    ItemAdded,
    ItemDeleted,
    ItemRetrieved,
    ServerError,
)
from events.runtime import SessionEnding, TimerCancelled, TimerFired, TimerRequested
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable


class Feeder:
    """Hands a core envelopes with increasing seq, like the bus would."""

    def __init__(self, core: TranscriptCore) -> None:
        self.core = core
        self.seq = 0

    def __call__(self, event: Event) -> Sequence[Event]:
        self.seq += 1
        return self.core.handle(Envelope(seq=self.seq, t_ns=self.seq * 1_000_000, source="router", cause=None, event=event))


def user_item(item_id: str, text: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item_id, item_type="message", role="user", status="completed", text=text)


def fired(key: str) -> TimerFired:
    return TimerFired(key=key, requested_seq=1)


@pytest.fixture
def feed() -> Feeder:
    return Feeder(TranscriptCore())


def test_user_item_without_text_waits_for_the_completed_event(feed: Feeder) -> None:
    assert feed(user_item("item_1")) == [TimerRequested(key="transcripts:item_1:wait", delay_ms=3000)]
    assert feed.core.state_of("item_1") is ItemState.AWAITING_EVENT
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="What's the weather?")) == [
        TranscriptResolved(item_id="item_1", text="What's the weather?", via="event"),
        TimerCancelled(key="transcripts:item_1:wait"),
    ]
    assert feed.core.pending_items == ()
    # exactly one outcome: a duplicate, a late failure, a stale timer change nothing
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="again")) == []
    assert feed(InputTranscriptFailed(item_id="item_1", error={"message": "x"})) == []
    assert feed(fired("transcripts:item_1:wait")) == []


def test_typed_user_text_resolves_at_once(feed: Feeder) -> None:
    assert feed(user_item("item_t", text="hello there")) == [
        TranscriptResolved(item_id="item_t", text="hello there", via="event")
    ]
    assert feed(InputTranscriptCompleted(item_id="item_t", transcript="hello there")) == []


def test_items_that_are_not_user_messages_are_ignored(feed: Feeder) -> None:
    assert feed(ItemAdded(item_id="a1", item_type="message", role="assistant")) == []
    assert feed(ItemAdded(item_id="s1", item_type="message", role="system", text="summary")) == []
    assert feed(ItemAdded(item_id="f1", item_type="function_call")) == []
    assert feed.core.pending_items == ()


def test_completed_before_the_item_is_kept_and_applied_when_it_arrives(feed: Feeder) -> None:
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="early bird")) == []
    assert feed(user_item("item_1")) == [TranscriptResolved(item_id="item_1", text="early bird", via="event")]
    assert feed.core.pending_items == ()


def test_failed_transcription_is_unavailable_with_the_error_message(feed: Feeder) -> None:
    feed(user_item("item_1"))
    error = {"type": "transcription_error", "code": "audio_unintelligible", "message": "Audio was unintelligible"}
    assert feed(InputTranscriptFailed(item_id="item_1", error=error)) == [
        TranscriptUnavailable(item_id="item_1", reason="failed", detail="Audio was unintelligible"),
        TimerCancelled(key="transcripts:item_1:wait"),
    ]


def test_failed_before_the_item_is_applied_when_it_arrives(feed: Feeder) -> None:
    assert feed(InputTranscriptFailed(item_id="item_1", error={"code": "boom"})) == []
    assert feed(user_item("item_1")) == [TranscriptUnavailable(item_id="item_1", reason="failed", detail="boom")]


def test_never_sent_transcript_is_resolved_by_retrieve(feed: Feeder) -> None:
    """The seed's retrieve loop never resolved its waiter; here the retrieved text is the outcome."""
    feed(user_item("item_1"))
    assert feed(fired("transcripts:item_1:wait")) == [
        commands.item_retrieve("transcripts_0001", "item_1"),
        TimerRequested(key="transcripts:item_1:retrieve:1", delay_ms=2000),
    ]
    assert feed.core.state_of("item_1") is ItemState.RETRIEVING
    assert feed(ItemRetrieved(item_id="item_1", item_type="message", role="user", text="what time is it")) == [
        TranscriptResolved(item_id="item_1", text="what time is it", via="retrieve"),
        TimerCancelled(key="transcripts:item_1:retrieve:1"),
    ]
    assert feed.core.pending_items == ()
    assert feed(fired("transcripts:item_1:retrieve:1")) == []


def test_retrieve_answered_empty_every_time_times_out_after_bounded_retries(feed: Feeder) -> None:
    feed(user_item("item_1"))
    out = feed(fired("transcripts:item_1:wait"))
    assert out[0] == commands.item_retrieve("transcripts_0001", "item_1")
    empty = ItemRetrieved(item_id="item_1", item_type="message", role="user", text=None)
    for attempt in range(1, 5):
        assert feed(empty) == [
            TimerCancelled(key=f"transcripts:item_1:retrieve:{attempt}"),
            TimerRequested(key=f"transcripts:item_1:backoff:{attempt}", delay_ms=400 * attempt),
        ]
        assert feed.core.state_of("item_1") is ItemState.BACKING_OFF
        assert feed(empty) == []  # a second answer while backing off is not another attempt
        assert feed(fired(f"transcripts:item_1:backoff:{attempt}")) == [
            commands.item_retrieve(f"transcripts_{attempt + 1:04d}", "item_1"),
            TimerRequested(key=f"transcripts:item_1:retrieve:{attempt + 1}", delay_ms=2000),
        ]
    assert feed(empty) == [
        TimerCancelled(key="transcripts:item_1:retrieve:5"),
        TranscriptUnavailable(
            item_id="item_1",
            reason="timed_out",
            detail="no transcript 3000 ms after the item was added, nor from 5 retrieve attempts",
        ),
    ]
    assert feed.core.pending_items == ()
    # the transcript that finally comes is attached to its item, marked late (not thrown away), once
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="too late")) == [
        TranscriptLate(item_id="item_1", text="too late", via="event")
    ]
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="too late")) == []
    assert feed(ItemRetrieved(item_id="item_1", item_type="message", role="user", text="too late")) == []


def test_unanswered_retrieves_time_out_on_their_wait_timers() -> None:
    feed = Feeder(TranscriptCore(timeout_ms=100, retries=2, backoff_ms=50, retrieve_wait_ms=70))
    assert feed(user_item("i")) == [TimerRequested(key="transcripts:i:wait", delay_ms=100)]
    assert feed(fired("transcripts:i:wait"))[1] == TimerRequested(key="transcripts:i:retrieve:1", delay_ms=70)
    assert feed(fired("transcripts:i:retrieve:1")) == [TimerRequested(key="transcripts:i:backoff:1", delay_ms=50)]
    assert feed(fired("transcripts:i:backoff:1")) == [
        commands.item_retrieve("transcripts_0002", "i"),
        TimerRequested(key="transcripts:i:retrieve:2", delay_ms=70),
    ]
    assert feed(fired("transcripts:i:retrieve:2")) == [
        TranscriptUnavailable(
            item_id="i", reason="timed_out", detail="no transcript 100 ms after the item was added, nor from 2 retrieve attempts"
        )
    ]


def test_completed_arriving_while_retrying_resolves_via_event_and_stops_retries(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(fired("transcripts:item_1:wait"))
    feed(ItemRetrieved(item_id="item_1", item_type="message", role="user"))
    assert feed(InputTranscriptCompleted(item_id="item_1", transcript="finally")) == [
        TranscriptResolved(item_id="item_1", text="finally", via="event"),
        TimerCancelled(key="transcripts:item_1:backoff:1"),
    ]
    assert feed(fired("transcripts:item_1:backoff:1")) == []


def test_late_completed_for_an_earlier_item_attaches_to_it_not_to_the_next_turn(feed: Feeder) -> None:
    feed(user_item("item_A"))
    feed(fired("transcripts:item_A:wait"))  # A is now retrieving
    assert feed(user_item("item_B")) == [TimerRequested(key="transcripts:item_B:wait", delay_ms=3000)]
    assert feed(InputTranscriptCompleted(item_id="item_A", transcript="first question")) == [
        TranscriptResolved(item_id="item_A", text="first question", via="event"),
        TimerCancelled(key="transcripts:item_A:retrieve:1"),
    ]
    assert feed.core.state_of("item_B") is ItemState.AWAITING_EVENT
    assert feed(InputTranscriptCompleted(item_id="item_B", transcript="second question")) == [
        TranscriptResolved(item_id="item_B", text="second question", via="event"),
        TimerCancelled(key="transcripts:item_B:wait"),
    ]


def test_server_error_on_our_retrieve_counts_as_an_attempt(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(fired("transcripts:item_1:wait"))
    not_ours = ServerError(code="invalid_value", message="nope", client_event_id="tools_0001")
    assert feed(not_ours) == []
    assert feed(ServerError(code="x", message="no client id")) == []
    err = ServerError(
        error_type="invalid_request_error",
        code="item_retrieve_invalid_item_id",
        message="Error retrieving item",
        client_event_id="transcripts_0001",
    )
    assert feed(err) == [
        TimerCancelled(key="transcripts:item_1:retrieve:1"),
        TimerRequested(key="transcripts:item_1:backoff:1", delay_ms=400),
    ]
    assert feed(err) == []  # the same error again is not a second attempt
    assert feed(fired("transcripts:item_1:backoff:1"))[0] == commands.item_retrieve("transcripts_0002", "item_1")


def test_late_retrieve_answer_with_text_still_resolves(feed: Feeder) -> None:
    feed(user_item("item_1"))
    feed(fired("transcripts:item_1:wait"))
    feed(fired("transcripts:item_1:retrieve:1"))  # the answer was slow: backing off
    assert feed(ItemRetrieved(item_id="item_1", item_type="message", role="user", text="slow answer")) == [
        TranscriptResolved(item_id="item_1", text="slow answer", via="retrieve"),
        TimerCancelled(key="transcripts:item_1:backoff:1"),
    ]


def test_stale_timer_keys_are_ignored(feed: Feeder) -> None:
    feed(user_item("item_1"))
    assert feed(fired("transcripts:item_1:backoff:3")) == []
    assert feed(fired("transcripts:other:wait")) == []
    assert feed(fired("conductor:linger")) == []
    assert feed.core.state_of("item_1") is ItemState.AWAITING_EVENT


def test_deleting_a_pending_item_ends_it_as_unavailable(feed: Feeder) -> None:
    feed(user_item("item_1"))
    assert feed(ItemDeleted(item_id="item_1")) == [
        TranscriptUnavailable(item_id="item_1", reason="failed", detail="item deleted before its transcript arrived"),
        TimerCancelled(key="transcripts:item_1:wait"),
    ]
    assert feed(ItemDeleted(item_id="item_1")) == []
    assert feed(ItemDeleted(item_id="never_seen")) == []


def test_from_config_reads_the_run_config_keys() -> None:
    core = TranscriptCore.from_config(
        {"transcript_timeout_ms": 10, "transcript_retries": 2, "transcript_backoff_ms": 7, "transcript_retrieve_wait_ms": 9}
    )
    assert (core.timeout_ms, core.retries, core.backoff_ms, core.retrieve_wait_ms) == (10, 2, 7, 9)
    defaults = TranscriptCore.from_config({})
    assert (defaults.timeout_ms, defaults.retries, defaults.backoff_ms, defaults.retrieve_wait_ms) == (3000, 5, 400, 2000)


def test_a_retrieve_answer_after_timed_out_is_a_late_transcript() -> None:
    feed = Feeder(TranscriptCore(timeout_ms=100, retries=1, backoff_ms=50, retrieve_wait_ms=70))
    feed(user_item("i"))
    feed(fired("transcripts:i:wait"))
    assert [type(e) for e in feed(fired("transcripts:i:retrieve:1"))] == [TranscriptUnavailable]
    assert feed(ItemRetrieved(item_id="i", item_type="message", role="user", text=None)) == []  # still nothing
    assert feed(InputTranscriptFailed(item_id="i", error={"message": "x"})) == []  # not a transcript
    assert feed(ItemRetrieved(item_id="i", item_type="message", role="user", text="slowest answer")) == [
        TranscriptLate(item_id="i", text="slowest answer", via="retrieve")
    ]
    assert feed(InputTranscriptCompleted(item_id="i", transcript="slowest answer")) == []


def test_no_late_transcript_after_a_resolved_or_failed_outcome(feed: Feeder) -> None:
    feed(user_item("ok"))
    feed(InputTranscriptCompleted(item_id="ok", transcript="first"))
    assert feed(InputTranscriptCompleted(item_id="ok", transcript="second")) == []
    feed(user_item("bad"))
    feed(InputTranscriptFailed(item_id="bad", error={"message": "x"}))
    assert feed(InputTranscriptCompleted(item_id="bad", transcript="text")) == []
    feed(user_item("gone"))
    feed(ItemDeleted(item_id="gone"))
    assert feed(InputTranscriptCompleted(item_id="gone", transcript="text")) == []


def test_session_ending_gives_every_waiting_item_its_outcome(feed: Feeder) -> None:
    feed(user_item("done"))
    feed(InputTranscriptCompleted(item_id="done", transcript="answered"))
    feed(user_item("waiting"))
    feed(user_item("retrieving"))
    feed(fired("transcripts:retrieving:wait"))
    feed(ItemRetrieved(item_id="retrieving", item_type="message", role="user"))  # backing off
    detail = "the session ended while the item was waiting for its transcript"
    assert feed(SessionEnding(reason="interrupted")) == [
        TranscriptUnavailable(item_id="waiting", reason="session ended", detail=detail),
        TimerCancelled(key="transcripts:waiting:wait"),
        TranscriptUnavailable(item_id="retrieving", reason="session ended", detail=detail),
        TimerCancelled(key="transcripts:retrieving:backoff:1"),
    ]
    assert feed.core.pending_items == ()
    assert feed(SessionEnding(reason="interrupted")) == []
    # nothing more is asked of the server for them; their timers are stale
    assert feed(fired("transcripts:waiting:wait")) == []
    assert feed(fired("transcripts:retrieving:backoff:1")) == []
    # an item the server adds while the session drains gets its outcome at once
    assert feed(user_item("last")) == [
        TranscriptUnavailable(item_id="last", reason="session ended", detail="added as the session ended")
    ]
    # typed text, or a transcript that is already here, still resolves
    assert feed(user_item("typed", text="hi")) == [TranscriptResolved(item_id="typed", text="hi", via="event")]
    feed(InputTranscriptCompleted(item_id="early", transcript="in time"))
    assert feed(user_item("early")) == [TranscriptResolved(item_id="early", text="in time", via="event")]
    # and a transcript arriving during the drain is attached late, once
    assert feed(InputTranscriptCompleted(item_id="waiting", transcript="words")) == [
        TranscriptLate(item_id="waiting", text="words", via="event")
    ]
    assert feed(InputTranscriptCompleted(item_id="last", transcript="")) == [
        TranscriptLate(item_id="last", text="", via="event")
    ]
    assert feed(InputTranscriptCompleted(item_id="done", transcript="answered again")) == []


def test_session_ending_with_nothing_pending_emits_nothing(feed: Feeder) -> None:
    assert feed(SessionEnding(reason="end of input")) == []
    feed2 = Feeder(TranscriptCore())
    feed2(user_item("x", text="typed"))
    assert feed2(SessionEnding(reason="end of input")) == []
