"""Replay feeds an actor only what reached it: a droppable input the bus dropped for it (``bus.dropped``) is
not fed to it in replay either, in memory and streaming alike."""

from __future__ import annotations

from actors.uploader.actor import REPLAYABLE as UPLOADER
from events.audio import AudioChunk
from events.base import Event
from events.connection import ConnectionLost, ConversationReseeded, HeldAudioSent
from events.envelope import Envelope
from events.playback import SessionReady
from events.runtime import InboxDropped
from pipeline.replay import StreamReplay, replay_actor


def journal(*, with_drop: bool) -> list[Envelope]:
    records: list[tuple[str, int | None, Event]] = [
        ("conductor", None, SessionReady(session_id="s")),
        ("conductor", None, ConnectionLost(reason="gone", code=1006)),
        ("capture", None, AudioChunk(index=0, pcm=b"\x01\x00" * 960)),
    ]
    if with_drop:  # the uploader's inbox was full: chunk 0 never reached it
        records.append(("bus", 2, InboxDropped(subscriber="uploader", dropped_tag="audio.chunk", dropped_seq=2)))
    records += [
        ("capture", None, AudioChunk(index=1, pcm=b"\x02\x00" * 960)),
        ("conductor", None, ConversationReseeded(items=())),
    ]
    envs = [Envelope(seq=i, t_ns=i, source=src, cause=cause, event=ev) for i, (src, cause, ev) in enumerate(records)]
    reseeded = envs[-1].seq
    held = Envelope(seq=reseeded + 1, t_ns=0, source="uploader", cause=reseeded, event=HeldAudioSent(sent_ms=40))
    return [*envs, held]


def stream(envs: list[Envelope]) -> int:
    replay = StreamReplay([UPLOADER], {})
    replay.feed_all(envs)
    return replay.finish()[0].divergences


def test_an_input_dropped_for_an_actor_is_not_fed_to_it() -> None:
    envs = journal(with_drop=True)
    assert replay_actor(envs, UPLOADER, {}).divergences == 0
    assert stream(envs) == 0


def test_without_the_drop_notice_the_same_record_diverges() -> None:
    envs = journal(with_drop=False)  # the uploader got both chunks: 80 ms held, but the record says 40
    assert replay_actor(envs, UPLOADER, {}).divergences == 1
    assert stream(envs) == 1
