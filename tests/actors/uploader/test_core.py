from __future__ import annotations

import base64
import json

from actors.uploader.core import Frame, UploaderCore, UploaderState, append_frame
from events.audio import AudioChunk
from events.base import Event
from events.commands import item_retrieve, response_create, session_update
from events.envelope import Envelope
from events.playback import SessionReady

PCM = bytes(range(256)) * 15  # 3840 bytes = 80 ms


def env(event: Event, seq: int = 1) -> Envelope:
    return Envelope(seq=seq, t_ns=seq * 1_000_000, source="test", cause=None, event=event)


def test_append_frame_is_the_ga_append_event_with_base64_pcm() -> None:
    text = append_frame(PCM)
    assert json.loads(text) == {"type": "input_audio_buffer.append", "audio": base64.b64encode(PCM).decode()}
    assert text == json.dumps(json.loads(text), separators=(",", ":"))


def test_commands_are_sent_in_any_state_with_their_event_id() -> None:
    core = UploaderCore()
    update = session_update("conductor_0001", {"type": "realtime", "instructions": "Sois bref « merci »"})
    frame = core.encode(env(update))
    assert frame == Frame(
        '{"type":"session.update","event_id":"conductor_0001","session":{"type":"realtime",'
        '"instructions":"Sois bref \\u00ab merci \\u00bb"}}',
        update,
    )
    assert frame is not None and frame.text.isascii()
    retrieve = item_retrieve("transcripts_0003", "item_1")
    assert core.encode(env(retrieve)) == Frame(
        '{"type":"conversation.item.retrieve","event_id":"transcripts_0003","item_id":"item_1"}', retrieve
    )
    assert core.state is UploaderState.AWAITING_SESSION


def test_audio_is_held_back_until_the_session_is_ready() -> None:
    core = UploaderCore()
    assert core.encode(env(AudioChunk(index=0, pcm=PCM))) is None
    assert core.encode(env(AudioChunk(index=1, pcm=PCM))) is None
    assert core.audio_held_back == 2
    assert core.encode(env(SessionReady(session_id="sess_1"))) is None
    assert core.state is UploaderState.STREAMING
    assert core.encode(env(AudioChunk(index=2, pcm=PCM))) == Frame(append_frame(PCM))
    assert core.audio_held_back == 2


def test_handle_emits_nothing_but_follows_the_same_states() -> None:
    core = UploaderCore.from_config({})
    assert core.handle(env(response_create("tools_0001"))) == []
    assert core.handle(env(SessionReady(session_id="sess_1"))) == []
    assert core.state is UploaderState.STREAMING
    assert core.handle(env(AudioChunk(index=0, pcm=PCM))) == []
