"""Small hand-made journals with exact times, for read-model tests whose numbers are known in advance.

``Call`` appends envelopes at chosen session times through the real ``JournalWriter`` (so the records are
framed and read back exactly as a session's would be). Audio is real PCM: a 440 Hz tone for speech, zeros
for silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import actors.capture.events  # noqa: F401  (registers the capture tags)
from events.audio import AudioChunk
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDone,
    AudioCommitted,
    FunctionCallRequested,
    ItemAdded,
    ItemTruncated,
    ResponseCreated,
    ResponseDone,
    SpeechStopped,
)
from events.runtime import SessionEnding, SessionStarted
from events.tools import ToolResult
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.journal import JournalWriter, make_header

RATE = 24000
MS = 1_000_000


def tone(ms: int, amplitude: int = 8000) -> bytes:
    t = np.arange(ms * RATE // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return bytes(ms * RATE // 1000 * 2)


class Call:
    def __init__(self, path: Path, *, fast: bool = False, config: dict[str, Any] | None = None) -> None:
        self.path = path
        self.writer = JournalWriter(path, make_header({"fast": fast, "model": "gpt-realtime", **(config or {})}))
        self.pending: list[tuple[int, int, str, Event]] = []
        self.chunk_index = 0

    def at(self, t_ms: float, event: Event, source: str = "router") -> None:
        """Record ``event`` at ``t_ms``; records are written in time order (seq follows time, as on the bus)."""
        self.pending.append((round(t_ms * MS), len(self.pending), source, event))

    def capture(self, start_ms: int, pcm: bytes, chunk_ms: int = 40, jitter_ms: float = 0.0) -> None:
        """Chunks of ``pcm`` published from ``start_ms`` every ``chunk_ms`` (late by ``jitter_ms`` every other)."""
        step = chunk_ms * RATE // 1000 * 2
        for n, offset in enumerate(range(0, len(pcm), step)):
            late = jitter_ms if n % 2 else 0.0
            self.at(start_ms + n * chunk_ms + late, AudioChunk(index=self.chunk_index, pcm=pcm[offset : offset + step]), "capture")
            self.chunk_index += 1

    def user_turn(self, item_id: str, speech_stop_ms: float, *, text: str | None = None, fail: bool = False) -> None:
        self.at(speech_stop_ms, SpeechStopped(item_id=item_id, audio_end_ms=int(speech_stop_ms)))
        self.at(speech_stop_ms + 2, AudioCommitted(item_id=item_id))
        self.at(speech_stop_ms + 3, ItemAdded(item_id=item_id, item_type="message", role="user", status="completed"))
        if text is not None:
            self.at(speech_stop_ms + 150, TranscriptResolved(item_id=item_id, text=text, via="event"), "transcripts")
        elif fail:
            self.at(speech_stop_ms + 150, TranscriptUnavailable(item_id=item_id, reason="failed", detail="audio_unintelligible"), "transcripts")

    def reply(
        self,
        response_id: str,
        item_id: str,
        *,
        created_ms: float,
        first_delta_ms: float,
        audio_ms: int,
        text: str,
        play_from_ms: float,
        cut_at_ms: int | None = None,
        total_tokens: int = 500,
        block_ms: int = 200,
    ) -> None:
        """A spoken reply: created, deltas of ``block_ms`` from ``first_delta_ms``, each played ``block_ms`` apart
        from ``play_from_ms`` (stopping at ``cut_at_ms`` when a barge-in cuts it), then done."""
        self.at(created_ms, ResponseCreated(response_id=response_id))
        self.at(created_ms + 1, ItemAdded(item_id=item_id, item_type="message", role="assistant", status="in_progress"))
        pcm = tone(audio_ms, 6000)
        step = block_ms * RATE // 1000 * 2
        blocks = [pcm[o : o + step] for o in range(0, len(pcm), step)]
        for n, block in enumerate(blocks):
            self.at(first_delta_ms + n, AssistantAudioDelta(response_id=response_id, item_id=item_id, pcm=block))
        played = 0
        status = "completed"
        for n, block in enumerate(blocks):
            ms = len(block) // 2 * 1000 // RATE
            if cut_at_ms is not None and played + ms > cut_at_ms:
                break
            played += ms
            self.at(play_from_ms + n * block_ms, PlaybackProgress(item_id=item_id, played_ms=played, received_ms=audio_ms), "playback")
        end_ms = play_from_ms + len(blocks) * block_ms
        if cut_at_ms is not None:
            status = "cancelled"
            cut_t = play_from_ms + cut_at_ms
            self.at(cut_t, PlaybackInterrupted(item_id=item_id, played_ms=played), "playback")
            self.at(cut_t + 5, ItemTruncated(item_id=item_id, audio_end_ms=played))
            self.at(cut_t + 6, PlaybackFinished(item_id=item_id, played_ms=played, interrupted=True), "playback")
            end_ms = cut_t + 7
        self.at(end_ms, AssistantTextDone(response_id=response_id, item_id=item_id, modality="audio", text=text))
        if cut_at_ms is None:
            self.at(end_ms + 1, PlaybackFinished(item_id=item_id, played_ms=played), "playback")
        usage = {"total_tokens": total_tokens, "input_tokens": total_tokens - 50, "output_tokens": 50}
        details = {"reason": "turn_detected"} if status == "cancelled" else {}
        self.at(end_ms + 2, ResponseDone(response_id=response_id, status=status, status_details=details, usage=usage,
                                         output_item_ids=(item_id,), output_types=("message",)))  # fmt: skip

    def tool_call(self, response_id: str, call_id: str, name: str, arguments: str, at_ms: float, output: str, duration_ms: int) -> None:
        self.at(at_ms - 1, ResponseCreated(response_id=response_id))
        self.at(at_ms, ItemAdded(item_id=f"fc_{call_id}", item_type="function_call", call_id=call_id, name=name))
        self.at(at_ms + 1, FunctionCallRequested(response_id=response_id, item_id=f"fc_{call_id}", call_id=call_id, name=name, arguments=arguments))
        self.at(at_ms + 2, ResponseDone(response_id=response_id, status="completed", usage={"total_tokens": 300},
                                        output_item_ids=(f"fc_{call_id}",), output_types=("function_call",)))  # fmt: skip
        ok = "error" not in output
        self.at(at_ms + 1 + duration_ms, ToolResult(call_id=call_id, name=name, output=output, ok=ok,
                                                   error_kind=None if ok else "timeout", duration_ms=duration_ms), "tools")  # fmt: skip

    def start(self) -> None:
        self.at(0, SessionStarted(actors=("capture", "router", "playback")), "supervisor")

    def end(self, t_ms: float, *, close: bool = True) -> Path:
        self.at(t_ms, SessionEnding(reason="end of input"), "conductor")
        for seq, (t_ns, _, source, event) in enumerate(sorted(self.pending, key=lambda p: (p[0], p[1]))):
            self.writer.append(Envelope(seq=seq, t_ns=t_ns, source=source, cause=None, event=event))
        if close:
            self.writer.close()
        else:
            self.writer.abandon()
        return self.path
