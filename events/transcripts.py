"""Transcript outcomes: every user item ends with exactly one of these.

``transcript.resolved`` is at version 2: v1 records (which had no ``via``) are upcast with ``via="event"``,
because v1 only ever resolved transcripts from ``...transcription.completed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from events.base import Event, register
from events.codec import upcaster
from events.validators import non_empty

TRANSCRIPT_VIA = ("event", "retrieve")


@register
@attrs.frozen(kw_only=True)
class TranscriptResolved(Event):
    """The text of user item ``item_id``, and how it was obtained (the completed event, or a retrieve)."""

    TAG: ClassVar[str] = "transcript.resolved"
    VERSION: ClassVar[int] = 2
    item_id: str = attrs.field(validator=non_empty)
    text: str
    via: str = attrs.field(validator=attrs.validators.in_(TRANSCRIPT_VIA))


@upcaster("transcript.resolved", from_version=1)
def _transcript_resolved_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    payload.setdefault("via", "event")
    return payload


@register
@attrs.frozen(kw_only=True)
class TranscriptUnavailable(Event):
    """User item ``item_id`` will have no transcript: ``reason`` is ``failed`` or ``timed_out``."""

    TAG: ClassVar[str] = "transcript.unavailable"
    item_id: str = attrs.field(validator=non_empty)
    reason: str = attrs.field(validator=attrs.validators.in_(("failed", "timed_out")))
    detail: str = ""
