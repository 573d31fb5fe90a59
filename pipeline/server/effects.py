"""What the sans-IO core asks its shell to do, besides sending events."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Send:
    """Send one server event (already carrying its `event_id`)."""

    event: dict[str, Any]


@attrs.frozen
class Recognize:
    """Run ASR on committed user audio, then call `core.recognized`; if `transcript_delay_s` is not None,
    call `core.transcription_due` that long after the commit."""

    item_id: str
    pcm: bytes = attrs.field(repr=lambda pcm: f"<{len(pcm)} bytes>")
    transcript_delay_s: float | None


@attrs.frozen
class Synthesize:
    """Run TTS for a response, then call `core.synthesized` (or `core.synthesis_failed`)."""

    response_id: str
    text: str
    voice: str
    speed: float


@attrs.frozen
class Stream:
    """Call `core.advance(response_id)` repeatedly, pausing between calls, until it reports the end."""

    response_id: str


@attrs.frozen
class Close:
    """Close the WebSocket with this code once everything queued before it has been sent."""

    code: int
    reason: str


Output = Send | Recognize | Synthesize | Stream | Close
