from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from actors.conductor.core import END_OF_INPUT, END_TIMED_OUT, ConductorCore, Phase
from events import commands
from events.audio import CaptureEnded
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, SessionFailed, SessionReady, TurnEnded
from events.protocol import (
    AssistantAudioDelta,
    ConnectionClosed,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
)
from events.runtime import SessionEnding, TimerCancelled, TimerFired, TimerRequested
from events.summary import SummaryAbandoned, SummaryApplied, SummarySkipped, SummaryStarted
from events.transcripts import TranscriptResolved
from pipeline.config import RunConfig

SESSION = {"type": "realtime", "model": "gpt-realtime", "tools": []}


class Feeder:
    def __init__(self, core: ConductorCore) -> None:
        self.core = core
        self.seq = 0

    def __call__(self, event: Event) -> Sequence[Event]:
        self.seq += 1
        return self.core.handle(Envelope(seq=self.seq, t_ns=self.seq * 1_000_000, source="x", cause=None, event=event))

    def all(self, *events: Event) -> list[Event]:
        out: list[Event] = []
        for e in events:
            out += self(e)
        return out


def phase(feed: Feeder) -> Phase:
    return feed.core.phase


@pytest.fixture
def feed() -> Feeder:
    return Feeder(ConductorCore(session=SESSION))


def ready(feed: Feeder) -> None:
    feed(SessionCreated(session_id="sess_1", session={}))
    feed(SessionUpdated(session={}))


def user(item_id: str) -> ItemAdded:
    return ItemAdded(item_id=item_id, item_type="message", role="user", status="completed")


def audio(response_id: str, item_id: str) -> AssistantAudioDelta:
    return AssistantAudioDelta(response_id=response_id, item_id=item_id, pcm=b"\0\0" * 240)


def done(
    response_id: str, status: str = "completed", outputs: tuple[tuple[str, str], ...] = (), total: int = 10
) -> ResponseDone:
    kw: dict[str, Any] = {"output_item_ids": [i for i, _ in outputs], "output_types": [t for _, t in outputs]}
    return ResponseDone(response_id=response_id, status=status, usage={"total_tokens": total}, **kw)


# -- set-up ---------------------------------------------------------------------------------------------------


def test_session_created_sends_the_configured_session_update_and_updated_makes_it_ready(feed: Feeder) -> None:
    assert feed(SessionCreated(session_id="sess_1", session={"type": "realtime"})) == [
        commands.session_update("conductor_0001", SESSION)
    ]
    assert phase(feed) is Phase.CONFIGURING
    assert feed(SessionUpdated(session=SESSION)) == [SessionReady(session_id="sess_1")]
    assert feed(SessionUpdated(session=SESSION)) == []  # only the first confirms
    assert feed(SessionCreated(session_id="sess_2", session={})) == []
    assert phase(feed) is Phase.READY


def test_session_object_comes_from_config_with_a_ga_default() -> None:
    custom = ConductorCore.from_config({"session": {"type": "realtime", "voice": "x"}})
    assert custom.session == {"type": "realtime", "voice": "x"}
    assert ConductorCore.from_config({}).session == RunConfig().session_object()


def test_error_on_our_session_update_fails_the_session(feed: Feeder) -> None:
    feed(SessionCreated(session_id="sess_1", session={}))
    assert feed(ServerError(code="other", message="unrelated", client_event_id="tools_0001")) == []
    err = ServerError(
        error_type="invalid_request_error",
        code="unknown_parameter",
        message="Unknown parameter: 'session.modalities'.",
        client_event_id="conductor_0001",
    )
    reason = "the server rejected session.update: server error [unknown_parameter]: Unknown parameter: 'session.modalities'."
    assert feed(err) == [SessionFailed(reason=reason), SessionEnding(reason=reason)]
    assert phase(feed) is Phase.ENDED
    assert feed(SessionUpdated(session={})) == []


@pytest.mark.parametrize("code", ["session_expired", "invalid_api_key", "insufficient_quota"])
def test_fatal_server_errors_fail_the_session(feed: Feeder, code: str) -> None:
    ready(feed)
    reason = f"server error [{code}]: bad"
    assert feed(ServerError(code=code, message="bad")) == [SessionFailed(reason=reason), SessionEnding(reason=reason)]
    assert feed(ServerError(code=code, message="bad")) == []


def test_non_fatal_server_errors_do_not_end_the_session(feed: Feeder) -> None:
    ready(feed)
    assert feed(ServerError(code="conversation_already_has_active_response", message="busy")) == []
    assert phase(feed) is Phase.READY


def test_connection_lost_fails_the_session_but_our_own_close_does_not(feed: Feeder) -> None:
    ready(feed)
    assert feed(ConnectionClosed(code=1000, reason="bye", by_us=True)) == []
    reason = "connection closed by the server (code 1006: abnormal closure)"
    assert feed(ConnectionClosed(code=1006, reason="abnormal closure")) == [
        SessionFailed(reason=reason),
        SessionEnding(reason=reason),
    ]


# -- turn-taking --------------------------------------------------------------------------------------------


def test_turn_ends_after_response_done_and_playback_in_either_order(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"), audio("r1", "a1"), audio("r1", "a1"))
    assert feed(done("r1", outputs=(("a1", "message"),))) == []  # its audio is still playing
    assert feed(PlaybackFinished(item_id="a1", played_ms=900)) == [TurnEnded(response_id="r1", status="completed")]
    assert feed(PlaybackFinished(item_id="a1", played_ms=900)) == []

    feed.all(user("u2"), ResponseCreated(response_id="r2"), audio("r2", "a2"))
    assert feed(PlaybackFinished(item_id="a2", played_ms=400)) == []  # played before response.done
    assert feed(done("r2", outputs=(("a2", "message"),))) == [TurnEnded(response_id="r2", status="completed")]


def test_every_audio_item_of_the_response_must_be_played(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"), audio("r1", "a1"), audio("r1", "a2"))
    assert feed(done("r1", outputs=(("a1", "message"), ("a2", "message")))) == []
    assert feed(PlaybackFinished(item_id="a2", played_ms=10)) == []
    assert feed(PlaybackFinished(item_id="a1", played_ms=10)) == [TurnEnded(response_id="r1", status="completed")]


def test_response_without_audio_ends_the_turn_at_once(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert feed(done("r1", outputs=(("t1", "message"),))) == [TurnEnded(response_id="r1", status="completed")]


def test_function_call_response_is_not_the_end_of_the_turn(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"), audio("r1", "a0"))
    assert feed(done("r1", outputs=(("a0", "message"), ("f1", "function_call")))) == []
    assert feed(PlaybackFinished(item_id="a0", played_ms=100)) == []
    feed.all(ResponseCreated(response_id="r2"), audio("r2", "a1"))
    assert feed(done("r2", outputs=(("a1", "message"),))) == []
    assert feed(PlaybackFinished(item_id="a1", played_ms=100)) == [TurnEnded(response_id="r2", status="completed")]


def test_in_progress_response_done_is_ignored_and_cancelled_ends_the_turn(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert feed(done("r1", status="in_progress")) == []
    assert feed(done("r1", status="cancelled")) == [TurnEnded(response_id="r1", status="cancelled")]


def test_without_waiting_for_playback_the_turn_ends_at_response_done() -> None:
    feed = Feeder(ConductorCore(session=SESSION, wait_for_playback=False))
    feed.all(user("u1"), ResponseCreated(response_id="r1"), audio("r1", "a1"))
    assert feed(done("r1", outputs=(("a1", "message"),))) == [TurnEnded(response_id="r1", status="completed")]


def test_an_out_of_band_response_answers_no_turn_but_keeps_the_session_busy(feed: Feeder) -> None:
    """``conversation: "none"``: it may finish in the middle of the real answer; the user must not talk then."""
    ready(feed)
    feed.all(user("u1"), TranscriptResolved(item_id="u1", text="weather?", via="event"))
    feed.all(ResponseCreated(response_id="r1"), audio("r1", "a1"), ResponseCreated(response_id="oob", out_of_band=True))
    assert feed(audio("oob", "o1")) == []
    assert feed(done("oob", outputs=(("o1", "message"),))) == []  # no TurnEnded: the real answer is still going
    assert feed(done("r1", outputs=(("a1", "message"),))) == []
    assert feed(PlaybackFinished(item_id="a1", played_ms=900)) == [TurnEnded(response_id="r1", status="completed")]
    # while one is open the session is not idle; once it is done, it is
    feed(ResponseCreated(response_id="oob2", out_of_band=True))
    assert feed(CaptureEnded(chunks=3)) == [TimerRequested(key="conductor:end_timeout", delay_ms=20000)]
    assert feed(done("oob2")) == [TimerRequested(key="conductor:linger", delay_ms=300)]


# -- end of session -----------------------------------------------------------------------------------------


def test_end_of_input_with_nothing_pending_lingers_then_ends(feed: Feeder) -> None:
    ready(feed)
    assert feed(CaptureEnded(chunks=10)) == [
        TimerRequested(key="conductor:end_timeout", delay_ms=20000),
        TimerRequested(key="conductor:linger", delay_ms=300),
    ]
    assert feed(TimerFired(key="transcripts:x:wait", requested_seq=1)) == []
    assert feed(TimerFired(key="conductor:linger", requested_seq=1)) == [
        SessionEnding(reason=END_OF_INPUT),
        TimerCancelled(key="conductor:end_timeout"),
    ]
    assert phase(feed) is Phase.ENDED
    assert feed(TimerFired(key="conductor:end_timeout", requested_seq=1)) == []


def test_end_waits_for_the_last_answer_to_be_played_and_every_transcript() -> None:
    feed = Feeder(ConductorCore(session=SESSION, end_linger_ms=50, end_timeout_ms=9000))
    ready(feed)
    feed.all(SpeechStarted(item_id="u1", audio_start_ms=0))
    assert feed(CaptureEnded(chunks=10)) == [TimerRequested(key="conductor:end_timeout", delay_ms=9000)]
    assert feed.all(user("u1"), ResponseCreated(response_id="r1"), audio("r1", "a1")) == []
    assert feed(done("r1", outputs=(("a1", "message"),))) == []
    assert feed(PlaybackFinished(item_id="a1", played_ms=700)) == [TurnEnded(response_id="r1", status="completed")]
    assert phase(feed) is Phase.DRAINING  # the transcript of u1 is still missing
    assert feed(TranscriptResolved(item_id="u1", text="bye", via="event")) == [
        TimerRequested(key="conductor:linger", delay_ms=50)
    ]
    assert feed(TimerFired(key="conductor:linger", requested_seq=1)) == [
        SessionEnding(reason=END_OF_INPUT),
        TimerCancelled(key="conductor:end_timeout"),
    ]


def test_new_speech_while_lingering_cancels_the_linger(feed: Feeder) -> None:
    ready(feed)
    feed(CaptureEnded(chunks=1))
    assert phase(feed) is Phase.LINGERING
    assert feed(SpeechStarted(item_id="u9", audio_start_ms=100)) == [TimerCancelled(key="conductor:linger")]
    assert feed(TimerFired(key="conductor:linger", requested_seq=1)) == []  # a stale firing
    assert phase(feed) is Phase.DRAINING


def test_a_response_cancelled_by_new_speech_does_not_answer_it(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), TranscriptResolved(item_id="u1", text="story", via="event"), ResponseCreated(response_id="r1"))
    feed(CaptureEnded(chunks=5))
    # the user talks over the answer: r1 is cancelled, its turn ends, but u2 is still unanswered
    feed.all(SpeechStarted(item_id="u2", audio_start_ms=10))
    assert feed(done("r1", status="cancelled")) == [TurnEnded(response_id="r1", status="cancelled")]
    feed.all(user("u2"), TranscriptResolved(item_id="u2", text="stop", via="event"))
    assert phase(feed) is Phase.DRAINING
    feed(ResponseCreated(response_id="r2"))
    assert feed(done("r2")) == [TurnEnded(response_id="r2", status="completed"), TimerRequested(key="conductor:linger", delay_ms=300)]


def test_hard_bound_ends_the_session_when_the_answer_never_comes(feed: Feeder) -> None:
    ready(feed)
    feed.all(user("u1"), CaptureEnded(chunks=3))
    assert phase(feed) is Phase.DRAINING
    assert feed(TimerFired(key="conductor:end_timeout", requested_seq=1)) == [SessionEnding(reason=END_TIMED_OUT)]
    assert feed(ResponseDone(response_id="r1", status="completed")) == []


def test_hard_bound_while_lingering_cancels_the_linger(feed: Feeder) -> None:
    ready(feed)
    feed(CaptureEnded(chunks=3))
    assert feed(TimerFired(key="conductor:end_timeout", requested_seq=1)) == [
        SessionEnding(reason=END_TIMED_OUT),
        TimerCancelled(key="conductor:linger"),
    ]


def test_config_keys() -> None:
    core = ConductorCore.from_config({"end_linger_ms": 5, "end_timeout_ms": 6, "conductor_wait_for_playback": False})
    assert (core.end_linger_ms, core.end_timeout_ms, core.wait_for_playback) == (5, 6, False)


# -- summaries --------------------------------------------------------------------------------------------------


def summarised() -> Feeder:
    feed = Feeder(ConductorCore.from_config({"session": SESSION, "summariser": True, "summary_trigger": 1000}))
    ready(feed)
    return feed


def test_a_turn_end_is_held_while_a_summary_is_applied_and_released_after() -> None:
    feed = summarised()
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert feed(done("r1", total=1200)) == []  # over the trigger: the summariser's verdict comes first
    assert feed.core.summarising
    assert feed(SummaryStarted(summary_id="sum_001", response_id="r1", window=1200)) == []
    assert feed(SummaryApplied(summary_id="sum_001", replaced_turns=4)) == [TurnEnded(response_id="r1", status="completed")]
    assert not feed.core.summarising


def test_a_skipped_or_abandoned_summary_releases_the_turn_end() -> None:
    feed = summarised()
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    feed(done("r1", total=1500))
    assert feed(SummarySkipped(response_id="r1", window=1500, reason="2 turns")) == [
        TurnEnded(response_id="r1", status="completed")
    ]
    feed.all(user("u2"), ResponseCreated(response_id="r2"))
    feed(done("r2", total=1600))
    feed(SummaryStarted(summary_id="sum_001", response_id="r2", window=1600))
    assert feed(SummaryAbandoned(summary_id="sum_002", reason="another attempt")) == []  # not the running one
    assert feed(SummaryAbandoned(summary_id="sum_001", reason="the model failed")) == [
        TurnEnded(response_id="r2", status="completed")
    ]


def test_below_the_trigger_nothing_waits_and_without_a_summariser_nothing_waits() -> None:
    feed = summarised()
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert feed(done("r1", total=999)) == [TurnEnded(response_id="r1", status="completed")]
    for config in ({"summary_trigger": 10}, {"summariser": True, "summary_enabled": False, "summary_trigger": 10}):
        core = ConductorCore.from_config({"session": SESSION, **config})
        assert core.summary_trigger is None
        other = Feeder(core)
        ready(other)
        other.all(user("u1"), ResponseCreated(response_id="r1"))
        assert other(done("r1", total=5000)) == [TurnEnded(response_id="r1", status="completed")]


def test_the_session_does_not_end_while_a_summary_is_in_flight() -> None:
    feed = summarised()
    feed.all(user("u1"), TranscriptResolved(item_id="u1", text="hi", via="event"), ResponseCreated(response_id="r1"))
    feed(CaptureEnded(chunks=3))
    feed(done("r1", total=2000))
    assert phase(feed) is Phase.DRAINING
    feed(SummaryStarted(summary_id="sum_001", response_id="r1", window=2000))
    assert phase(feed) is Phase.DRAINING
    assert feed(SummaryApplied(summary_id="sum_001", replaced_turns=2)) == [
        TurnEnded(response_id="r1", status="completed"),
        TimerRequested(key="conductor:linger", delay_ms=300),
    ]
