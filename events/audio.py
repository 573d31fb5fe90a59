"""Audio events: microphone/file chunks and capture losses. PCM is raw PCM16 LE bytes, never base64."""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import even_length, non_negative, positive


@register
@attrs.frozen(kw_only=True)
class AudioChunk(Event):
    """One captured chunk (24 kHz PCM16 mono, 40 ms by default). ``index`` counts chunks from 0."""

    TAG: ClassVar[str] = "audio.chunk"
    DROPPABLE: ClassVar[bool] = True
    EDGE: ClassVar[bool] = True
    index: int = attrs.field(validator=non_negative)
    pcm: bytes = attrs.field(validator=even_length, repr=lambda b: f"<{len(b)} bytes>")
    rate: int = attrs.field(default=24000, validator=positive)


@register
@attrs.frozen(kw_only=True)
class CaptureDropped(Event):
    """The capture callback could not hand chunks to the pipeline in time; ``count`` chunks were lost."""

    TAG: ClassVar[str] = "capture.dropped"
    EDGE: ClassVar[bool] = True
    first_index: int = attrs.field(validator=non_negative)
    count: int = attrs.field(validator=positive)


@register
@attrs.frozen(kw_only=True)
class CaptureEnded(Event):
    """The source has no more audio (end of file or script, or the microphone was stopped)."""

    TAG: ClassVar[str] = "capture.ended"
    EDGE: ClassVar[bool] = True
    chunks: int = attrs.field(validator=non_negative)
    reason: str = "end of input"
