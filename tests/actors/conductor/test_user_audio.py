"""The conductor's record of the user's audio per committed turn (actors/conductor/audio.py), for a re-seed:
positions follow what the server counted on each connection."""

from __future__ import annotations

from actors.conductor.audio import BYTES_PER_MS, UserAudio
from events.audio import AudioChunk
from events.connection import ConversationReseeded, ReconnectFailed, ReconnectRequested
from events.playback import SessionReady

CHUNK_MS = 40


def chunk(i: int) -> AudioChunk:
    # each chunk's samples carry its index, so a cut says which chunks it holds
    return AudioChunk(index=i, pcm=bytes([i % 256, 0]) * (CHUNK_MS * BYTES_PER_MS // 2))


def test_a_failed_recycle_releases_back_to_the_old_connection_whose_positions_go_on() -> None:
    audio = UserAudio()
    audio.follow(SessionReady(session_id="s1"))
    for i in range(10):  # 400 ms sent on connection 1
        audio.chunk(chunk(i))
    audio.follow(ReconnectRequested(attempt=1, delay_ms=0, recycle=True))
    for i in range(10, 13):  # held while the new connection opens
        audio.chunk(chunk(i))
    audio.follow(ReconnectFailed(attempt=1, error="cannot reach ws://127.0.0.1:1/v1/realtime: connection refused"))
    for i in range(13, 20):
        audio.chunk(chunk(i))
    # the old server counted on: chunk 12 starts at 480 ms of connection 1
    audio.speech_started("item_1", 12 * CHUNK_MS)
    audio.speech_stopped("item_1", 15 * CHUNK_MS)
    assert audio.items["item_1"] == b"".join(chunk(i).pcm for i in range(12, 15))


def test_the_reseed_release_starts_the_new_connection_at_zero() -> None:
    audio = UserAudio()
    audio.follow(SessionReady(session_id="s1"))
    for i in range(5):
        audio.chunk(chunk(i))
    audio.follow(ReconnectRequested(attempt=1, delay_ms=0, recycle=True))
    audio.chunk(chunk(5))
    audio.follow(ConversationReseeded(items=("item_a",), recycle=True))
    audio.chunk(chunk(6))
    audio.speech_started("item_2", 0)  # the new server counts from the held chunk, its first audio
    audio.speech_stopped("item_2", 2 * CHUNK_MS)
    assert audio.items["item_2"] == chunk(5).pcm + chunk(6).pcm
