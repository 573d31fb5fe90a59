from __future__ import annotations

from actors.playback.core import PlaybackCore, PlaybackState
from events import commands
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ItemTruncated,
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
    # item_a's audio was complete: a stray delta for it would be a new item; item_b's are still ignored
    assert core.handle(delta(100, item="item_b")) == []
    core.handle(response_done())
    assert state_of(core) is PlaybackState.IDLE


def test_from_config_ignores_unrelated_keys() -> None:
    core = PlaybackCore.from_config({"chunk_ms": 40, "fast": True})
    core.handle(delta(100))
    core.handle(played(40, 100))
    assert core.handle(speech())[1] == commands.item_truncate("playback_0001", "item_a", audio_end_ms=40)
