"""The uploader across connections: audio held from a loss (or a recycle) until the re-seed, bounded, then sent
on the new connection; every frame on the connection it was decided for."""

from __future__ import annotations

import json

from actors.uploader.core import Frame, Release, UploaderCore, UploaderState, append_frame
from actors.uploader.gate import AudioGate
from events.audio import AudioChunk
from events.base import Event
from events.commands import response_create
from events.connection import (
    ConnectionLost,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)
from events.envelope import Envelope
from events.playback import SessionReady
from events.protocol import AudioCommitted, SpeechStarted


def env(event: Event, seq: int = 1) -> Envelope:
    return Envelope(seq=seq, t_ns=seq, source="test", cause=None, event=event)


def chunk(i: int) -> AudioChunk:
    return AudioChunk(index=i, pcm=bytes([i % 256, 0]) * 960)  # 40 ms, a distinct value per chunk


LOST = ConnectionLost(reason="connection closed by the server (code 1006)", code=1006)
RESEEDED = ConversationReseeded(items=("u1",))


def streaming(hold_ms: int = 5000) -> UploaderCore:
    core = UploaderCore(hold_ms=hold_ms)
    core.encode(env(SessionReady(session_id="s")))
    return core


def test_audio_is_held_from_a_loss_until_the_reseed_then_sent_in_order_on_the_new_connection() -> None:
    core = streaming()
    assert core.encode(env(chunk(0))) == Frame(append_frame(chunk(0).pcm), None, 1)
    assert core.encode(env(LOST)) is None
    assert core.state is UploaderState.HOLDING
    assert [core.encode(env(chunk(i))) for i in (1, 2, 3)] == [None, None, None]
    assert core.encode(env(Reconnected(attempt=1, connection=2))) is None
    # commands go to the new connection at once (the session.update, the seed); audio waits for the re-seed
    command = response_create("conductor_0002")
    frame = core.encode(env(command))
    assert isinstance(frame, Frame) and frame.connection == 2 and json.loads(frame.text)["type"] == "response.create"
    assert core.encode(env(chunk(4))) is None
    released = core.encode(env(RESEEDED))
    assert released == Release(
        frames=tuple(Frame(append_frame(chunk(i).pcm), None, 2) for i in (1, 2, 3, 4)),
        event=HeldAudioSent(sent_ms=160, dropped_ms=0),
    )
    assert core.state is UploaderState.STREAMING
    assert core.encode(env(chunk(5))) == Frame(append_frame(chunk(5).pcm), None, 2)
    assert core.handle(env(RESEEDED)) == []  # nothing held any more


def test_the_hold_is_bounded_and_the_oldest_audio_goes_first() -> None:
    core = streaming(hold_ms=100)  # two and a half chunks
    core.encode(env(LOST))
    for i in range(1, 6):
        core.encode(env(chunk(i)))
    released = core.encode(env(RESEEDED))
    assert isinstance(released, Release)
    assert released.frames == tuple(Frame(append_frame(chunk(i).pcm), None, 1) for i in (4, 5))
    assert released.event == HeldAudioSent(sent_ms=80, dropped_ms=120)


def test_a_turn_the_drop_cut_is_sent_again_from_its_start() -> None:
    core = streaming()
    core.encode(env(chunk(0)))
    core.encode(env(AudioCommitted(item_id="u0")))  # committed: the old server had it
    core.encode(env(chunk(1)))
    core.encode(env(SpeechStarted(item_id="u1", audio_start_ms=40)))
    core.encode(env(chunk(2)))
    core.encode(env(LOST))  # the user was speaking: chunks 1 and 2 were never committed
    core.encode(env(chunk(3)))
    released = core.encode(env(RESEEDED))
    assert isinstance(released, Release)
    assert [f.text for f in released.frames] == [append_frame(chunk(i).pcm) for i in (1, 2, 3)]
    assert released.event == HeldAudioSent(sent_ms=120, dropped_ms=0)
    # while quiet, what the old server had not committed is silence: not sent again
    quiet = streaming()
    quiet.encode(env(chunk(0)))
    quiet.encode(env(LOST))
    quiet.encode(env(chunk(1)))
    assert quiet.handle(env(RESEEDED)) == [HeldAudioSent(sent_ms=40, dropped_ms=0)]


def test_a_recycle_holds_audio_and_a_failed_one_sends_it_to_the_old_connection() -> None:
    core = streaming()
    assert core.encode(env(ReconnectRequested(attempt=1, delay_ms=0, recycle=True))) is None
    core.encode(env(chunk(1)))
    released = core.encode(env(ReconnectFailed(attempt=1, error="refused")))
    assert released == Release(frames=(Frame(append_frame(chunk(1).pcm), None, 1),), event=HeldAudioSent(sent_ms=40))
    assert core.state is UploaderState.STREAMING
    # a recycle that works: the audio follows the re-seed on the new connection
    core.encode(env(ReconnectRequested(attempt=1, delay_ms=0, recycle=True)))
    core.encode(env(Reconnected(attempt=1, connection=2, recycle=True)))
    core.encode(env(chunk(2)))
    released = core.encode(env(ConversationReseeded(items=(), recycle=True)))
    assert isinstance(released, Release) and released.frames == (Frame(append_frame(chunk(2).pcm), None, 2),)


def test_nothing_is_held_before_the_session_is_ready() -> None:
    core = UploaderCore()
    core.encode(env(LOST))
    assert core.encode(env(chunk(0))) is None
    assert core.audio_held_back == 1
    assert core.encode(env(RESEEDED)) is None
    assert core.state is UploaderState.AWAITING_SESSION


def test_the_config_key_and_a_mirror_gate_agree_with_the_uploader() -> None:
    core = UploaderCore.from_config({"reconnect_buffer_ms": 80})
    gate = AudioGate(hold_ms=80)
    events: list[Event] = [SessionReady(session_id="s"), chunk(0), LOST, chunk(1), chunk(2), chunk(3), RESEEDED, chunk(4)]
    sent_by_core: list[str] = []
    sent_by_gate: list[str] = []
    for event in events:
        out = core.encode(env(event))
        if isinstance(out, Frame):
            sent_by_core.append(out.text)
        elif isinstance(out, Release):
            sent_by_core += [f.text for f in out.frames]
        if isinstance(event, AudioChunk):
            if gate.chunk(event):
                sent_by_gate.append(append_frame(event.pcm))
        else:
            released = gate.handle(event)
            if released is not None:
                sent_by_gate += [append_frame(pcm) for pcm in released.chunks]
    assert sent_by_core == sent_by_gate == [append_frame(chunk(i).pcm) for i in (0, 2, 3, 4)]
