"""Transcript outcomes: every user item ends with exactly one of these.

``transcript.resolved`` is at version 2: v1 records (which had no ``via``) are upcast with ``via="event"``,
because v1 only ever resolved transcripts from ``...transcription.completed``.

``transcript.unavailable`` gained the reason ``session ended`` (the session ended while the item was still
waiting): an additive change (older records stay valid as they are), so its ``VERSION`` stays 1.

``transcript.late`` (new) is not an outcome: it attaches a transcript that arrived after its item's outcome
was ``TranscriptUnavailable`` (``timed_out`` or ``session ended``), so nothing the server says is thrown away
and readers (the conversation projection) can still use it. It never follows a ``TranscriptResolved``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from events.base import Event, register
from events.codec import upcaster
from events.validators import non_empty

TRANSCRIPT_VIA = ("event", "retrieve")
SESSION_ENDED = "session ended"
CONNECTION_LOST = "connection lost"
# why a user item has no transcript: transcription failed (or the item was deleted), no transcript came in
# time despite the retrieves, the session ended first, or the connection was lost first (issue 12)
UNAVAILABLE_REASONS = ("failed", "timed_out", SESSION_ENDED, CONNECTION_LOST)
# the outcomes a late transcript may still attach to (a failed transcription does not come back)
LATE_AFTER = ("timed_out", SESSION_ENDED, CONNECTION_LOST)


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
    """User item ``item_id`` will have no transcript: ``reason`` is ``failed``, ``timed_out`` or
    ``session ended``."""

    TAG: ClassVar[str] = "transcript.unavailable"
    item_id: str = attrs.field(validator=non_empty)
    reason: str = attrs.field(validator=attrs.validators.in_(UNAVAILABLE_REASONS))
    detail: str = ""


@register
@attrs.frozen(kw_only=True)
class TranscriptLate(Event):
    """The transcript of user item ``item_id`` arrived after its outcome, ``TranscriptUnavailable`` with a
    reason in ``LATE_AFTER``: attached to its item, marked late. Not a second outcome (the item keeps exactly
    one); at most one per item. ``text`` may be empty (the transcription finished and heard nothing)."""

    TAG: ClassVar[str] = "transcript.late"
    item_id: str = attrs.field(validator=non_empty)
    text: str
    via: str = attrs.field(validator=attrs.validators.in_(TRANSCRIPT_VIA))
