"""The input-audio transcription events of one committed item (§5 "Input transcription"), as pure functions.

Sent only when `audio.input.transcription` was set at commit time, after the configured delay, per the fault
switch: `fail` → `…transcription.failed`; `empty` → completed with ""; `never` → nothing is sent, but the item
(and so `retrieve`) carries the transcript. `whisper-1` sends the whole transcript in one delta and reports its
usage as a duration (as do the models billed by the minute, `pipeline.models.DURATION_BILLED_TRANSCRIPTION`:
gpt-transcribe and the streaming ones, an inference from their price pages); the other models stream a few words per delta and report tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.models import DURATION_BILLED_TRANSCRIPTION
from pipeline.server.conversation import StoredItem
from pipeline.server.usage import text_tokens, user_audio_tokens
from pipeline.server.words import word_groups

EventFactory = Callable[..., dict[str, Any]]

FAILED = "conversation.item.input_audio_transcription.failed"
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def transcription_events(
    item_id: str,
    item: StoredItem | None,
    settings: dict[str, Any],
    *,
    fault: str,
    event: EventFactory,
    obfuscation: Callable[[], str],
) -> list[dict[str, Any]]:
    """The events delivering what was heard (`settings["heard"]`) of `item_id`; `item` gets the transcript."""
    transcript = str(settings.get("heard") or "")
    if fault == "fail":
        error = {"type": "transcription_error", "code": "audio_unintelligible", "message": "Audio could not be transcribed.", "param": None}
        return [event(FAILED, item_id=item_id, content_index=0, error=error)]
    if fault == "empty":
        transcript = ""
    if item is not None:
        item.data["content"][0]["transcript"] = transcript
    if fault == "never":
        return []
    model = str(settings.get("model") or "")
    audio_ms = item.audio_ms if item is not None else 0
    pieces = [transcript] if model == "whisper-1" else word_groups(transcript, 3)
    events = [event(DELTA, item_id=item_id, content_index=0, delta=piece, obfuscation=obfuscation()) for piece in pieces]
    if model == "whisper-1" or model in DURATION_BILLED_TRANSCRIPTION:
        usage: dict[str, Any] = {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
    else:
        prompt = text_tokens(str(settings.get("prompt") or ""))
        audio = user_audio_tokens(audio_ms)
        out = text_tokens(transcript)
        usage = {"type": "tokens", "input_tokens": audio + prompt, "output_tokens": out, "total_tokens": audio + prompt + out,
                 "input_token_details": {"text_tokens": prompt, "audio_tokens": audio}}  # fmt: skip
    events.append(event(COMPLETED, item_id=item_id, content_index=0, transcript=transcript, usage=usage))
    return events
