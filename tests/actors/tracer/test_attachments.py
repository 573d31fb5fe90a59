"""Each turn's audio on its trace: the user's speech as the server heard it, the assistant's as played.

The cutter and the core by value; the local JSONL file records the attachments as session-time spans and
reaches the disk within a second; and a live session against the embedded server uploads real WAVs to the
loopback fake Maxim, each exactly the audio the journal holds for that turn.
"""

from __future__ import annotations

import json
import tempfile
import time
import wave
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.tracer.actor import _flush_every_second
from actors.tracer.audio import AudioCut, AudioCutter, wav_bytes
from actors.tracer.backends import JsonlBackend
from actors.tracer.core import TraceCore
from actors.tracer.ops import Op
from events.audio import AudioChunk
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
)
from pipeline.config import RunConfig
from pipeline.journal import load_envelopes
from tests.actors.tracer.fake_maxim import FakeMaxim, LoopbackOnly, by_entity
from tests.actors.tracer.live import run_traced_session

MS = 1_000_000


def chunk(index: int) -> bytes:
    """40 ms of PCM whose samples say which chunk they came from."""
    return bytes([index % 251, 1]) * 960


def envs(*events: tuple[int, Event]) -> list[Envelope]:
    return [Envelope(seq=i, t_ns=t * MS, source="test", cause=None, event=e) for i, (t, e) in enumerate(events)]


def test_the_cutter_cuts_the_vad_span_and_the_played_part() -> None:
    cutter = AudioCutter()
    stream: list[tuple[int, Event]] = [(i * 40, AudioChunk(index=i, pcm=chunk(i))) for i in range(10)]
    stream += [
        (100, SpeechStarted(item_id="u1", audio_start_ms=60)),
        (400, SpeechStopped(item_id="u1", audio_end_ms=200)),
        (410, AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\x01\x00" * 4800)),  # 200 ms
        (411, AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\x02\x00" * 4800)),
        (420, PlaybackProgress(item_id="a1", played_ms=200, received_ms=400)),
        (620, PlaybackProgress(item_id="a1", played_ms=300, received_ms=400)),
        (700, PlaybackFinished(item_id="a1", played_ms=300, interrupted=True)),
    ]
    cuts = [cut for env in envs(*stream) for cut in cutter.apply(env)]
    user, assistant = cuts
    pcm = b"".join(chunk(i) for i in range(10))
    assert user == AudioCut(role="user", item_id="u1", pcm=pcm[60 * 48 : 200 * 48], start_t_ns=40 * MS, end_t_ns=160 * MS,
                            detail={"audio_start_ms": 60, "audio_end_ms": 200})  # fmt: skip
    assert assistant.pcm == b"\x01\x00" * 4800 + b"\x02\x00" * 2400  # 300 ms played: the barge-in cut the rest
    assert (assistant.start_t_ns, assistant.end_t_ns, assistant.duration_ms) == (420 * MS, 700 * MS, 300)
    assert assistant.detail == {"response_id": "r1", "played_ms": 300, "received_ms": 400, "interrupted": True}


def test_the_core_attaches_each_cut_to_its_turns_trace() -> None:
    core = TraceCore(session_id="s")
    stream: list[tuple[int, Event]] = [(i * 40, AudioChunk(index=i, pcm=chunk(i))) for i in range(10)]
    stream += [
        (100, SpeechStarted(item_id="u1", audio_start_ms=0)),
        (400, SpeechStopped(item_id="u1", audio_end_ms=400)),  # before the item: waits for its trace
        (401, ItemAdded(item_id="u1", item_type="message", role="user", status="completed")),
        (402, ResponseCreated(response_id="r1")),
        (410, AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\x01\x00" * 480)),
        (420, PlaybackProgress(item_id="a1", played_ms=20, received_ms=20)),
        (430, ResponseDone(response_id="r1", status="completed", output_item_ids=("a1",), output_types=("message",))),
        (440, PlaybackFinished(item_id="a1", played_ms=20)),
    ]
    ops = [op for env in envs(*stream) for op in core.handle(env)]
    attachments = [op for op in ops if op.kind == "attachment"]
    assert [(a.id, a.data["trace_id"], a.data["role"], a.data["name"], a.data["duration_ms"]) for a in attachments] == [
        ("s-attachment-1", "s-trace-1", "user", "user-u1.wav", 400),
        ("s-attachment-2", "s-trace-1", "assistant", "assistant-a1.wav", 20),
    ]
    trace_start = next(i for i, op in enumerate(ops) if op.kind == "trace.start")
    assert ops.index(attachments[0]) > trace_start
    assert core.finish()[-1].kind == "session.end"


def test_jsonl_records_attachments_as_spans_and_reaches_the_disk_within_a_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.trace.jsonl"
    backend = JsonlBackend(path)
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    backend._flushed_at = now[0]
    op = Op("attachment", "s-attachment-1", {"trace_id": "s-trace-1", "role": "user", "pcm": b"\x00\x01" * 480,
                                             "start_t_ns": 5, "end_t_ns": 9})  # fmt: skip
    backend.apply(op, 9)
    assert path.read_text() == ""  # buffered
    now[0] += 1.0
    backend.apply(Op("trace.end", "s-trace-1", {}), 10)
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # a kill -9 now loses nothing
    assert lines[0] == {"t_ns": 9, "op": "attachment", "id": "s-attachment-1",
                        "data": {"trace_id": "s-trace-1", "role": "user", "start_t_ns": 5, "end_t_ns": 9, "bytes": 960,
                                 "span_t_ns": [5, 9]}}  # fmt: skip
    backend.close()


async def test_a_quiet_trace_is_flushed_every_second(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    path = tmp_path / "q.trace.jsonl"
    backend = JsonlBackend(path)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_flush_every_second, backend)
            backend.apply(Op("trace.start", "s-trace-1", {"name": "turn 1"}), 1)
            assert path.read_text() == ""
            await trio.sleep(1.01)
            assert json.loads(path.read_text())["op"] == "trace.start"
            nursery.cancel_scope.cancel()
    backend.close()


def _wav_pcm(data: bytes) -> bytes:
    with wave.open(BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        return bytes(w.readframes(w.getnframes()))


def test_wav_bytes_is_a_wav() -> None:
    assert _wav_pcm(wav_bytes(b"\x01\x02" * 10)) == b"\x01\x02" * 10


@pytest.mark.slow
async def test_a_live_session_uploads_each_turns_audio_to_maxim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = LoopbackOnly()
    guard.install(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake = FakeMaxim("answer")
    journal = tmp_path / "session.rtpj"
    outcome, _ = await run_traced_session(
        lambda url: RunConfig(server=url, input="script", script=("hello there",), fast=True, quiet=True, journal=journal, output="none"),
        journal=journal, fake=fake, repo_id="repo-audio", fail_after_s=90,
    )  # fmt: skip
    assert outcome.ok, outcome
    assert guard.violations == []

    _, envelopes = load_envelopes(journal)
    events: list[Any] = [e.event for e in envelopes]
    # what the journal holds: the user's VAD span of the capture, the assistant item's played audio
    capture = b"".join(e.pcm for e in events if isinstance(e, AudioChunk))
    [started] = [e for e in events if isinstance(e, SpeechStarted)]
    [stopped] = [e for e in events if isinstance(e, SpeechStopped)]
    heard = capture[started.audio_start_ms * 48 : stopped.audio_end_ms * 48]
    finished = [e for e in events if isinstance(e, PlaybackFinished)]
    played = {f.item_id: b"".join(e.pcm for e in events if isinstance(e, AssistantAudioDelta) and e.item_id == f.item_id)[: f.played_ms * 48]
              for f in finished}  # fmt: skip
    assert heard and played

    logs = fake.commit_logs()
    attached = list(by_entity(logs, "trace", "add-attachment"))
    assert sorted(a.data["name"] for a in attached) == sorted([f"user-{stopped.item_id}.wav"] + [f"assistant-{i}.wav" for i in played])
    [turn] = [log for log in by_entity(logs, "trace", "create") if log.data["name"].startswith("turn ")]
    assert {a.id for a in attached} == {turn.id}  # on the turn's trace
    uploads = {u.path.rsplit("%2F", 1)[-1]: _wav_pcm(u.raw) for u in fake.uploads()}
    by_name = {a.data["name"]: uploads[a.data["id"]] for a in attached}
    assert by_name[f"user-{stopped.item_id}.wav"] == heard
    for item_id, pcm in played.items():
        assert by_name[f"assistant-{item_id}.wav"] == pcm
