"""The conductor across connections: losses, backoff, give-up, re-seeds, recycles, a resumed call's seed."""

from __future__ import annotations

import base64
from typing import Any

from actors.conductor.core import ConductorCore, Phase
from actors.conductor.reconnect import RECYCLE_KEY, RESEED_KEY, LinkState, ReconnectPolicy
from actors.conductor.reseed import RESEED_TIMEOUT_MS
from events import commands
from events.audio import AudioChunk, CaptureEnded
from events.base import Event
from events.connection import (
    ConnectionLost,
    ConversationReseeded,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
    ReseedPlanned,
)
from events.playback import SessionFailed, SessionReady, TurnEnded
from events.protocol import (
    AssistantTextDone,
    AudioCommitted,
    ConnectionClosed,
    FunctionCallRequested,
    ItemAdded,
    ResponseCreated,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
)
from events.runtime import SessionEnding, TimerCancelled, TimerFired, TimerRequested
from events.transcripts import TranscriptResolved
from tests.actors.conductor.test_core import SESSION, Feeder, done, user

CONFIG: dict[str, Any] = {
    "session": SESSION,
    "reconnect": True,
    "reconnect_attempts": 3,
    "reconnect_backoff_ms": 100,
    "reconnect_backoff_max_ms": 300,
    "reconnect_buffer_ms": 5000,
    "max_session_minutes": 1.0,
}
LOST_1006 = "connection closed by the server (code 1006)"


def make(**overrides: Any) -> Feeder:
    return Feeder(ConductorCore.from_config({**CONFIG, **overrides}))


def ready(feed: Feeder) -> list[Event]:
    feed(SessionCreated(session_id="sess_1", session={}))
    return list(feed(SessionUpdated(session={})))


def answered_turn(feed: Feeder, n: int) -> None:
    """User turn n (item u<n>, transcript "line <n>") answered by response r<n> (item a<n>, text "answer <n>")."""
    feed.all(
        user(f"u{n}"),
        TranscriptResolved(item_id=f"u{n}", text=f"line {n}", via="event"),
        ResponseCreated(response_id=f"r{n}"),
        ItemAdded(item_id=f"a{n}", item_type="message", role="assistant", previous_item_id=f"u{n}"),
        AssistantTextDone(response_id=f"r{n}", item_id=f"a{n}", modality="audio", text=f"answer {n}"),
    )
    assert feed(done(f"r{n}", outputs=((f"a{n}", "message"),))) == [TurnEnded(response_id=f"r{n}")]


def lose(feed: Feeder, code: int = 1006) -> list[Event]:
    return list(feed(ConnectionClosed(code=code)))


def reconnect(feed: Feeder, attempt: int = 1, connection: int = 2) -> list[Event]:
    """The connection actor opened connection N; the new session is created and configured."""
    out = list(feed(Reconnected(attempt=attempt, connection=connection)))
    out += feed(SessionCreated(session_id=f"sess_{connection}", session={}))
    out += feed(SessionUpdated(session={}))
    return out


def creates(out: list[Event]) -> list[commands.ClientCommand]:
    return [e for e in out if isinstance(e, commands.ClientCommand) and e.type == "conversation.item.create"]


# -- policy -----------------------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_up_to_the_bound() -> None:
    policy = ReconnectPolicy(enabled=True, backoff_ms=250, backoff_max_ms=8000)
    assert [policy.delay_ms(n) for n in range(1, 8)] == [250, 500, 1000, 2000, 4000, 8000, 8000]


def test_the_config_keys_and_their_absence_in_old_journals() -> None:
    assert ReconnectPolicy.from_config(CONFIG) == ReconnectPolicy(
        enabled=True, attempts=3, backoff_ms=100, backoff_max_ms=300, recycle_ms=60_000
    )
    assert ReconnectPolicy.from_config({}).enabled is None  # before issue 12: the old behaviour
    assert ReconnectPolicy.from_config({"reconnect": False, "max_session_minutes": 1}).recycle_ms is None


# -- losing the connection ----------------------------------------------------------------------------------------


def test_a_loss_interrupts_the_open_responses_and_requests_a_reconnect() -> None:
    feed = make()
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"), ResponseCreated(response_id="oob", out_of_band=True))
    assert lose(feed) == [
        ConnectionLost(reason=LOST_1006, code=1006, reconnecting=True, interrupted=("r1", "oob")),
        ReconnectRequested(attempt=1, delay_ms=100),
    ]
    assert feed.core.reconnect.state is LinkState.WAITING
    assert feed(ConnectionClosed(code=1006)) == []  # nothing more to lose
    assert feed(ConnectionClosed(code=1000, by_us=True)) == []


def test_backoff_sequence_then_one_give_up_line_after_the_bounded_attempts() -> None:
    feed = make()
    ready(feed)
    lose(feed)
    assert feed(ReconnectFailed(attempt=1, error="cannot reach x: connection refused")) == [
        ReconnectRequested(attempt=2, delay_ms=200)
    ]
    assert feed(ReconnectFailed(attempt=2, error="cannot reach x: connection refused")) == [
        ReconnectRequested(attempt=3, delay_ms=300)
    ]
    line = "connection lost (code 1006) and 3 reconnect attempts failed: cannot connect to x: HTTP 503"
    assert feed(ReconnectFailed(attempt=3, error="cannot connect to x: HTTP 503")) == [
        SessionFailed(reason=line),
        SessionEnding(reason=line),
    ]
    assert feed.core.phase is Phase.ENDED


def test_a_fatal_failure_gives_up_at_once() -> None:
    feed = make()
    ready(feed)
    lose(feed)
    line = "connection lost (code 1006) and reconnect attempt 1 was refused: handshake rejected with HTTP 401"
    assert feed(ReconnectFailed(attempt=1, error="handshake rejected with HTTP 401", fatal=True)) == [
        SessionFailed(reason=line),
        SessionEnding(reason=line),
    ]


def test_session_expired_and_the_close_that_follows_are_one_loss() -> None:
    feed = make()
    ready(feed)
    expired = ServerError(code="session_expired", message="Your session hit the maximum duration of 60 minutes.")
    reason = "server error [session_expired]: Your session hit the maximum duration of 60 minutes."
    assert feed(expired) == [
        ConnectionLost(reason=reason, code=None, reconnecting=True),
        ReconnectRequested(attempt=1, delay_ms=100),
    ]
    assert feed(ConnectionClosed(code=1001, reason="session expired")) == []
    line = "session expired and 1 reconnect attempt failed: boom"
    feed.core.reconnect.policy = ReconnectPolicy(enabled=True, attempts=1)
    assert feed(ReconnectFailed(attempt=1, error="boom"))[0] == SessionFailed(reason=line)


def test_with_reconnect_off_a_loss_is_recorded_and_ends_the_session() -> None:
    feed = make(reconnect=False)
    ready(feed)
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert lose(feed) == [
        ConnectionLost(reason=LOST_1006, code=1006, reconnecting=False, interrupted=("r1",)),
        SessionFailed(reason=LOST_1006),
        SessionEnding(reason=LOST_1006),
    ]
    expired = make(reconnect=False)
    ready(expired)
    assert expired(ServerError(code="session_expired", message="x"))[-1] == SessionEnding(reason="server error [session_expired]: x")


def test_invalid_api_key_stays_fatal_with_reconnect_on() -> None:
    feed = make()
    ready(feed)
    assert feed(ServerError(code="invalid_api_key", message="bad key")) == [
        SessionFailed(reason="server error [invalid_api_key]: bad key"),
        SessionEnding(reason="server error [invalid_api_key]: bad key"),
    ]


# -- the re-seed ----------------------------------------------------------------------------------------------------


def test_the_new_connection_is_configured_then_reseeded_with_the_old_ids_chained_from_the_root() -> None:
    feed = make()
    ready(feed)
    answered_turn(feed, 1)
    answered_turn(feed, 2)
    lose(feed)
    assert feed(Reconnected(attempt=1, connection=2)) == [TimerRequested(key=RESEED_KEY, delay_ms=RESEED_TIMEOUT_MS)]
    assert feed(SessionCreated(session_id="sess_2", session={})) == [commands.session_update("conductor_0002", SESSION)]
    out = list(feed(SessionUpdated(session={})))
    assert out[0] == ReseedPlanned(items=("u1", "a1", "u2", "a2"))
    assert creates(out) == [
        commands.item_create("conductor_0003", _text("u1", "user", "input_text", "line 1"), previous_item_id="root"),
        commands.item_create("conductor_0004", _text("a1", "assistant", "output_text", "answer 1"), previous_item_id="u1"),
        commands.item_create("conductor_0005", _text("u2", "user", "input_text", "line 2"), previous_item_id="a1"),
        commands.item_create("conductor_0006", _text("a2", "assistant", "output_text", "answer 2"), previous_item_id="u2"),
    ]
    assert SessionReady not in {type(e) for e in out}  # capture never stopped
    # the server acknowledges three and refuses one: the re-seed ends, not restored
    for item_id in ("u1", "a1", "u2"):
        assert feed(ItemAdded(item_id=item_id, item_type="message", role="user" if item_id[0] == "u" else "assistant")) == []
    assert feed.core.reconnect.state is LinkState.SEEDING and not feed.core.idle
    out = list(feed(ServerError(code="invalid_value", message="no", client_event_id="conductor_0006")))
    assert out == [
        ConversationReseeded(items=("u1", "a1", "u2", "a2"), restored=False, missing=("a2",)),
        TimerCancelled(key=RESEED_KEY),
        TimerRequested(key=RECYCLE_KEY, delay_ms=60_000),
    ]
    # seeded user items are the old conversation, not new turns waiting for an outcome
    assert feed.core.idle


def test_a_reseed_the_server_never_finishes_ends_at_its_bound_with_the_rest_missing() -> None:
    feed = make()
    ready(feed)
    answered_turn(feed, 1)
    lose(feed)
    reconnect(feed)
    feed(ItemAdded(item_id="u1", item_type="message", role="user"))
    out = feed(TimerFired(key=RESEED_KEY, requested_seq=1))
    assert out[0] == ConversationReseeded(items=("u1", "a1"), restored=False, missing=("a1",))


def test_the_lost_answer_is_asked_for_once_and_never_after_a_tool_call() -> None:
    def scenario(called_tool: bool) -> list[Event]:
        feed = make()
        ready(feed)
        feed.all(user("u1"), TranscriptResolved(item_id="u1", text="line 1", via="event"), ResponseCreated(response_id="r1"))
        if called_tool:
            feed(FunctionCallRequested(response_id="r1", item_id="f1", call_id="c1", name="t", arguments="{}"))
        lose(feed)
        out = reconnect(feed)
        acked: list[Event] = []
        for e in creates(out):
            acked += feed(ItemAdded(item_id=e.body["item"]["id"], item_type="message", role="user"))
        return acked

    plain = scenario(called_tool=False)
    assert isinstance(plain[0], ConversationReseeded)
    assert [e for e in plain if isinstance(e, commands.ClientCommand)] == [commands.response_create("conductor_0004")]
    assert not [e for e in scenario(called_tool=True) if isinstance(e, commands.ClientCommand)]


def test_a_turn_the_user_was_still_speaking_is_not_asked_again() -> None:
    feed = make()
    ready(feed)
    answered_turn(feed, 1)
    feed(SpeechStarted(item_id="u2", audio_start_ms=0))
    lose(feed)
    assert not feed.core._speaking  # the server that heard it start is gone; the held audio goes to the next
    out = reconnect(feed)
    acked: list[Event] = []
    for e in creates(out):
        acked += feed(ItemAdded(item_id=e.body["item"]["id"], item_type="message", role="user"))
    assert not [e for e in acked if isinstance(e, commands.ClientCommand)]


def test_a_turn_without_transcript_is_seeded_as_the_audio_the_server_committed() -> None:
    feed = make()
    feed(SessionReady(session_id="sess_1"))  # the bus brings the conductor's own SessionReady back (audio gate)
    ready(feed)
    pcm = [bytes([i, 0]) * 960 for i in range(1, 11)]  # ten 40 ms chunks, each its own value
    for i, chunk in enumerate(pcm):
        feed(AudioChunk(index=i, pcm=chunk))
    feed.all(
        SpeechStarted(item_id="u1", audio_start_ms=80),
        SpeechStopped(item_id="u1", audio_end_ms=200),
        AudioCommitted(item_id="u1"),
        user("u1"),
        ResponseCreated(response_id="r1"),
    )
    feed(lose(feed)[0])  # its ConnectionLost comes back too: nothing sent from here on belongs to connection 1
    feed(AudioChunk(index=10, pcm=b"\x7f\x00" * 960))
    out = reconnect(feed)
    assert out[2] == ReseedPlanned(items=("u1",), audio_items=("u1",))
    [create] = creates(out)
    audio = base64.b64decode(create.body["item"]["content"][0]["audio"])
    assert audio == pcm[2] + pcm[3] + pcm[4]  # 80 ms .. 200 ms of what was sent on that connection


def test_a_new_connection_lost_before_its_reseed_ends_is_a_failed_attempt() -> None:
    feed = make()
    ready(feed)
    lose(feed)
    feed(Reconnected(attempt=1, connection=2))
    out = lose(feed)
    assert out == [
        ConnectionLost(reason=LOST_1006, code=1006, reconnecting=True),
        TimerCancelled(key=RESEED_KEY),
        ReconnectRequested(attempt=2, delay_ms=200),
    ]


def test_the_session_does_not_end_while_reconnecting() -> None:
    feed = make()
    ready(feed)
    answered_turn(feed, 1)
    feed(CaptureEnded(chunks=1))
    lose(feed)  # the linger timer was running: reconnecting makes the session busy again
    assert feed.core.phase is Phase.DRAINING and not feed.core.idle
    out = reconnect(feed)
    acked: list[Event] = []
    for e in creates(out):
        acked += feed(ItemAdded(item_id=e.body["item"]["id"], item_type="message", role="user"))
    assert TimerRequested(key="conductor:linger", delay_ms=300) in acked


# -- recycle -----------------------------------------------------------------------------------------------------


def test_recycle_waits_for_the_timer_and_then_for_a_quiet_moment() -> None:
    feed = make()
    assert ready(feed) == [SessionReady(session_id="sess_1"), TimerRequested(key=RECYCLE_KEY, delay_ms=60_000)]
    feed.all(user("u1"), ResponseCreated(response_id="r1"))
    assert feed(TimerFired(key=RECYCLE_KEY, requested_seq=1)) == []  # a response is open
    assert feed(TranscriptResolved(item_id="u1", text="line 1", via="event")) == []
    out = feed(done("r1"))
    assert out == [TurnEnded(response_id="r1"), ReconnectRequested(attempt=1, delay_ms=0, recycle=True)]
    assert feed(SpeechStarted(item_id="u2", audio_start_ms=0)) == []  # requested once
    # the same flow on the new socket, with recycle=True and no lost answer to ask for
    out = list(feed(Reconnected(attempt=1, connection=2, recycle=True)))
    out += feed(SessionCreated(session_id="sess_2", session={}))
    out += feed(SessionUpdated(session={}))
    assert ReseedPlanned(items=("u1",), recycle=True) in out
    out = list(feed(ItemAdded(item_id="u1", item_type="message", role="user")))
    assert out[0] == ConversationReseeded(items=("u1",), recycle=True)


def test_no_recycle_while_the_user_speaks_a_tool_runs_or_a_transcript_is_pending() -> None:
    from events.tools import ToolResult, ToolRunRequested

    feed = make()
    ready(feed)
    assert feed(SpeechStarted(item_id="u1", audio_start_ms=0)) == []
    assert feed(TimerFired(key=RECYCLE_KEY, requested_seq=1)) == []
    feed.all(user("u1"), ResponseCreated(response_id="r1"), FunctionCallRequested(response_id="r1", item_id="f1", call_id="c1", name="t", arguments="{}"))
    feed(ToolRunRequested(call_id="c1", name="t", arguments_json="{}", response_id="r1"))
    assert feed(done("r1", outputs=(("f1", "function_call"),))) == []
    feed(ResponseCreated(response_id="r2"))
    assert feed(done("r2")) == [TurnEnded(response_id="r2")]  # answered, but the tool still runs, the transcript is pending
    assert feed(ToolResult(call_id="c1", name="t", output="x", ok=True)) == []  # the transcript is still pending
    assert feed(TranscriptResolved(item_id="u1", text="hi", via="event")) == [ReconnectRequested(attempt=1, delay_ms=0, recycle=True)]


def test_a_failed_recycle_keeps_the_old_connection_and_tries_again_later() -> None:
    feed = make()
    ready(feed)
    assert feed(TimerFired(key=RECYCLE_KEY, requested_seq=1)) == [ReconnectRequested(attempt=1, delay_ms=0, recycle=True)]
    assert feed(ReconnectFailed(attempt=1, error="refused")) == [TimerRequested(key=RECYCLE_KEY, delay_ms=200)]
    assert feed.core.reconnect.state is LinkState.UP and feed.core.phase is Phase.READY
    assert feed(TimerFired(key=RECYCLE_KEY, requested_seq=2)) == [ReconnectRequested(attempt=2, delay_ms=0, recycle=True)]


# -- resume -----------------------------------------------------------------------------------------------------------


def test_a_resumed_call_is_seeded_first_and_ready_after() -> None:
    seed = [
        {"id": "sum_001", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "Earlier: hi."}]},
        _text("u1", "user", "input_text", "line 1"),
        {"id": "u2", "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "AAAA"}]},
    ]
    feed = make(seed=seed, parent={"journal": "old.rtpj", "session_id": "s0", "ended": "end of input"})
    feed(SessionCreated(session_id="sess_1", session={}))
    out = list(feed(SessionUpdated(session={})))
    assert out[0] == ReseedPlanned(items=("sum_001", "u1", "u2"), summary_id="sum_001", audio_items=("u2",), resumed_from="old.rtpj")
    assert [c.body["previous_item_id"] for c in creates(out)] == ["root", "sum_001", "u1"]
    assert not any(isinstance(e, SessionReady) for e in out)
    feed(ItemAdded(item_id="sum_001", item_type="message", role="system"))
    feed(ItemAdded(item_id="u1", item_type="message", role="user"))
    out = list(feed(ItemAdded(item_id="u2", item_type="message", role="user")))
    assert out == [
        ConversationReseeded(
            items=("sum_001", "u1", "u2"), summary_id="sum_001", audio_items=("u2",), resumed_from="old.rtpj"
        ),
        TimerCancelled(key=RESEED_KEY),
        SessionReady(session_id="sess_1"),
        TimerRequested(key=RECYCLE_KEY, delay_ms=60_000),
    ]
    assert feed.core.phase is Phase.READY and feed.core.idle  # the seeded user turns wait for nothing


def _text(item_id: str, role: str, part: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": text}]}


def test_a_resumed_call_whose_first_connection_drops_during_the_seed_seeds_it_again() -> None:
    seed = [_text("u1", "user", "input_text", "line 1"), _text("a1", "assistant", "output_text", "answer 1")]
    feed = make(seed=seed, parent={"journal": "old.rtpj", "session_id": "s0", "ended": None})
    feed(SessionCreated(session_id="sess_1", session={}))
    feed(SessionUpdated(session={}))
    feed(ItemAdded(item_id="u1", item_type="message", role="user"))
    assert lose(feed)[0] == ConnectionLost(reason=LOST_1006, code=1006, reconnecting=True)
    out = reconnect(feed)
    assert ReseedPlanned(items=("u1", "a1"), resumed_from="old.rtpj") in out
    assert not any(isinstance(e, SessionReady) for e in out)
    feed(ItemAdded(item_id="u1", item_type="message", role="user"))
    out = list(feed(ItemAdded(item_id="a1", item_type="message", role="assistant")))
    assert out[0] == ConversationReseeded(items=("u1", "a1"), resumed_from="old.rtpj")
    assert SessionReady(session_id="sess_2") in out
