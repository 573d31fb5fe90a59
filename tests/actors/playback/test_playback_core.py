from __future__ import annotations

from actors.playback.core import PlaybackCore, PlaybackState
from events import commands
from events.base import Event
from events.connection import ConnectionLost
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ItemTruncated,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
)

_seq = iter(range(1_000_000))


def state_of(core: PlaybackCore) -> PlaybackState:
    return core.state  # (a call, so that mypy does not narrow the state between handle() calls)


def env(event: Event) -> Envelope:
    return Envelope(seq=next(_seq), t_ns=0, source="test", cause=None, event=event)


def delta(ms: int, item: str = "item_a", response: str = "resp_1") -> Envelope:
    return env(AssistantAudioDelta(response_id=response, item_id=item, pcm=bytes(ms * 48)))


def played(ms: int, received: int, item: str = "item_a") -> Envelope:
    return env(PlaybackProgress(item_id=item, played_ms=ms, received_ms=received))


def speech(item: str = "item_user") -> Envelope:
    return env(SpeechStarted(item_id=item, audio_start_ms=1200))


def response_done(response: str = "resp_1") -> Envelope:
    return env(ResponseDone(response_id=response, status="completed"))


def test_barge_in_mid_item_truncates_at_the_played_position() -> None:
    core = PlaybackCore()
    for _ in range(10):
        assert core.handle(delta(100)) == []
    assert state_of(core) is PlaybackState.PLAYING
    assert core.handle(played(40, 1000)) == []
    assert core.handle(played(520, 1000)) == []
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_a", played_ms=520),
        commands.item_truncate("playback_0001", "item_a", audio_end_ms=520),
    ]
    assert state_of(core) is PlaybackState.INTERRUPTED


def test_truncate_is_clamped_to_what_was_received() -> None:
    core = PlaybackCore()
    core.handle(delta(300))
    core.handle(played(340, 300))  # a rounding or a stale report must never point past the audio sent
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_a", played_ms=340),
        commands.item_truncate("playback_0001", "item_a", audio_end_ms=300),
    ]


def test_received_ms_counts_24khz_samples_across_deltas() -> None:
    core = PlaybackCore()
    for _ in range(3):  # 3 x 1001 samples = 125.125 ms
        core.handle(env(AssistantAudioDelta(response_id="resp_1", item_id="item_a", pcm=bytes(2002))))
    core.handle(played(200, 125))
    assert core.handle(speech())[1] == commands.item_truncate("playback_0001", "item_a", audio_end_ms=125)


def test_no_truncate_before_the_first_frame_is_played() -> None:
    core = PlaybackCore()
    core.handle(delta(100))
    assert core.handle(speech()) == [PlaybackInterrupted(item_id="item_a", played_ms=0)]


def test_no_barge_in_when_nothing_is_playing() -> None:
    core = PlaybackCore()
    assert core.handle(speech()) == []
    core.handle(delta(100))
    core.handle(env(AssistantAudioDone(response_id="resp_1", item_id="item_a")))
    core.handle(played(100, 100))  # everything received has been played and no more is coming
    assert core.handle(speech()) == []
    core.handle(env(PlaybackFinished(item_id="item_a", played_ms=100)))
    # resp_1 was still open: the server cancels it, so the rest of it is not played
    assert state_of(core) is PlaybackState.INTERRUPTED
    core.handle(response_done())
    assert state_of(core) is PlaybackState.IDLE
    assert core.handle(speech()) == []


def test_caught_up_playback_is_still_interrupted_while_audio_is_arriving() -> None:
    core = PlaybackCore()
    core.handle(delta(100))
    core.handle(played(100, 100))  # played everything so far, but the response is still streaming
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_a", played_ms=100),
        commands.item_truncate("playback_0001", "item_a", audio_end_ms=100),
    ]


def test_deltas_after_an_interruption_are_ignored_until_their_response_is_done() -> None:
    core = PlaybackCore()
    core.handle(delta(200))
    core.handle(played(80, 200))
    core.handle(speech())
    # in flight when the user spoke: the item is not playing again, so a second barge-in finds nothing
    assert core.handle(delta(200)) == []
    core.handle(env(PlaybackFinished(item_id="item_a", played_ms=80, interrupted=True)))
    assert core.handle(speech("item_user2")) == []
    core.handle(env(ResponseDone(response_id="resp_1", status="cancelled")))
    assert state_of(core) is PlaybackState.IDLE
    assert core.handle(env(ItemTruncated(item_id="item_a", audio_end_ms=80))) == []
    # the next answer plays and can be interrupted in its turn, with the next event id
    core.handle(delta(200, item="item_b", response="resp_2"))
    assert state_of(core) is PlaybackState.PLAYING
    core.handle(played(40, 200, item="item_b"))
    assert core.handle(speech("item_user3")) == [
        PlaybackInterrupted(item_id="item_b", played_ms=40),
        commands.item_truncate("playback_0002", "item_b", audio_end_ms=40),
    ]


def test_every_playing_item_stops_but_only_heard_ones_are_truncated() -> None:
    core = PlaybackCore()
    core.handle(delta(200, item="item_a"))
    core.handle(env(AssistantAudioDone(response_id="resp_1", item_id="item_a")))
    core.handle(delta(200, item="item_b"))
    core.handle(played(120, 200, item="item_a"))
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_a", played_ms=120),
        commands.item_truncate("playback_0001", "item_a", audio_end_ms=120),
        PlaybackInterrupted(item_id="item_b", played_ms=0),
    ]
    # the response was cancelled by the server: whatever of it is still in flight is ignored
    assert core.handle(delta(100, item="item_b")) == []
    assert core.handle(delta(100, item="item_a")) == []
    core.handle(response_done())
    assert state_of(core) is PlaybackState.IDLE


def test_from_config_ignores_unrelated_keys() -> None:
    core = PlaybackCore.from_config({"chunk_ms": 40, "fast": True})
    core.handle(delta(100))
    core.handle(played(40, 100))
    assert core.handle(speech())[1] == commands.item_truncate("playback_0001", "item_a", audio_end_ms=40)


# -- several message items in one response (a spoken preamble, then the answer) ------------------------------


def created(response: str = "resp_1") -> Envelope:
    return env(ResponseCreated(response_id=response))


def audio_done(item: str, response: str = "resp_1") -> Envelope:
    return env(AssistantAudioDone(response_id=response, item_id=item))


def finished(item: str, ms: int, interrupted: bool = False) -> Envelope:
    return env(PlaybackFinished(item_id=item, played_ms=ms, interrupted=interrupted))


def two_messages(core: PlaybackCore) -> None:
    """resp_1 carries a 900 ms preamble (item_pre) and a 2000 ms answer (item_ans), all received."""
    core.handle(created())
    for _ in range(9):
        core.handle(delta(100, item="item_pre"))
    core.handle(audio_done("item_pre"))
    for _ in range(20):
        core.handle(delta(100, item="item_ans"))
    core.handle(audio_done("item_ans"))


def test_barge_in_during_the_preamble_truncates_the_preamble_and_not_the_unheard_answer() -> None:
    core = PlaybackCore()
    two_messages(core)
    core.handle(played(400, 900, item="item_pre"))
    assert core.heard_item == "item_pre"
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_pre", played_ms=400),
        commands.item_truncate("playback_0001", "item_pre", audio_end_ms=400),
        PlaybackInterrupted(item_id="item_ans", played_ms=0),  # never heard: stopped, not truncated
    ]
    assert core.heard_item is None
    assert state_of(core) is PlaybackState.INTERRUPTED
    assert core.handle(delta(100, item="item_ans")) == []  # in flight: ignored
    core.handle(env(ResponseDone(response_id="resp_1", status="cancelled")))
    assert state_of(core) is PlaybackState.IDLE


def test_barge_in_during_the_answer_truncates_the_answer_at_its_own_played_ms() -> None:
    core = PlaybackCore()
    two_messages(core)
    core.handle(played(900, 900, item="item_pre"))
    assert core.heard_item == "item_ans"  # the preamble is all played; its finish report is on the way
    core.handle(finished("item_pre", 900))
    core.handle(played(40, 2000, item="item_ans"))
    core.handle(played(760, 2000, item="item_ans"))
    # 760 ms of the answer, not 1660 ms of the response
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_ans", played_ms=760),
        commands.item_truncate("playback_0001", "item_ans", audio_end_ms=760),
    ]


def test_barge_in_between_the_items_silences_the_item_not_started_yet() -> None:
    core = PlaybackCore()
    core.handle(created())
    core.handle(delta(300, item="item_pre"))
    core.handle(audio_done("item_pre"))
    core.handle(played(300, 300, item="item_pre"))
    core.handle(finished("item_pre", 300))
    assert core.heard_item is None
    # the user speaks while the response is still generating its answer: the server cancels it
    assert core.handle(speech()) == []
    assert core.ignores("resp_1")
    assert core.handle(delta(100, item="item_ans")) == []
    assert core.heard_item is None and state_of(core) is PlaybackState.INTERRUPTED
    core.handle(env(ResponseDone(response_id="resp_1", status="cancelled")))
    assert not core.ignores("resp_1")
    # the answer to what the user said plays
    core.handle(created("resp_2"))
    core.handle(delta(100, item="item_next", response="resp_2"))
    assert core.heard_item == "item_next"


def test_a_response_created_after_the_barge_in_plays() -> None:
    core = PlaybackCore()
    core.handle(created())
    core.handle(delta(500, item="item_a"))
    core.handle(played(200, 500))
    core.handle(speech())
    core.handle(created("resp_2"))  # created before resp_1 is done: it answers the new words
    core.handle(delta(100, item="item_b", response="resp_2"))
    assert core.heard_item == "item_b" and not core.ignores("resp_2")


def test_an_out_of_band_response_is_not_cancelled_by_the_vad() -> None:
    core = PlaybackCore()
    core.handle(env(ResponseCreated(response_id="resp_oob", out_of_band=True)))
    assert core.handle(speech()) == []
    assert not core.ignores("resp_oob")


def test_a_lost_connection_stops_the_interrupted_responses_without_truncating() -> None:
    core = PlaybackCore()
    two_messages(core)
    core.handle(created("resp_0"))  # an earlier response, done, whose audio is still playing out
    core.handle(delta(200, item="item_old", response="resp_0"))
    core.handle(env(ResponseDone(response_id="resp_0", status="completed")))
    core.handle(played(300, 900, item="item_pre"))
    lost = ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=("resp_1",))
    assert core.handle(env(lost)) == [
        PlaybackInterrupted(item_id="item_pre", played_ms=300),
        PlaybackInterrupted(item_id="item_ans", played_ms=0),
    ]
    assert not core.ignores("resp_1")  # nothing of it can come any more: nothing to remember
    assert core.heard_item == "item_old"  # a finished response's audio plays out
    # a barge-in later finds only what is still playing
    core.handle(played(100, 200, item="item_old"))
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_old", played_ms=100),
        commands.item_truncate("playback_0001", "item_old", audio_end_ms=100),
    ]


def test_a_lost_connection_also_stops_an_open_response_it_did_not_name() -> None:
    core = PlaybackCore()
    core.handle(delta(300, item="item_a", response="resp_7"))
    out = core.handle(env(ConnectionLost(reason="session expired", interrupted=())))
    assert out == [PlaybackInterrupted(item_id="item_a", played_ms=0)]
    assert state_of(core) is PlaybackState.IDLE


def test_items_closed_at_the_end_of_the_response_the_answer_alone_is_cut() -> None:
    """gpt-realtime-2 sends the preamble's .done events only just before response.done: the answer's first
    delta already says the preamble's audio is complete, so a barge-in in the answer cuts the answer only."""
    core = PlaybackCore()
    core.handle(created())
    core.handle(delta(500, item="item_pre"))
    core.handle(delta(800, item="item_ans"))  # no audio.done for item_pre yet
    core.handle(played(500, 500, item="item_pre"))
    assert core.heard_item == "item_ans"
    core.handle(played(200, 800, item="item_ans"))
    assert core.handle(speech()) == [
        PlaybackInterrupted(item_id="item_ans", played_ms=200),
        commands.item_truncate("playback_0001", "item_ans", audio_end_ms=200),
    ]
