"""Playback and turn-taking events."""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_negative


@register
@attrs.frozen(kw_only=True)
class PlaybackProgress(Event):
    """The playback edge: ``played_ms`` of item ``item_id`` have actually been heard (of ``received_ms``)."""

    TAG: ClassVar[str] = "playback.progress"
    EDGE: ClassVar[bool] = True
    item_id: str
    played_ms: int = attrs.field(validator=non_negative)
    received_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class PlaybackFinished(Event):
    """Everything received for ``item_id`` has been played (or it was interrupted: ``interrupted``)."""

    TAG: ClassVar[str] = "playback.finished"
    EDGE: ClassVar[bool] = True
    item_id: str
    played_ms: int = attrs.field(validator=non_negative)
    interrupted: bool = False


@register
@attrs.frozen(kw_only=True)
class PlaybackInterrupted(Event):
    """Barge-in decided by the playback core: stop ``item_id`` at ``played_ms`` and drop queued audio."""

    TAG: ClassVar[str] = "playback.interrupted"
    item_id: str
    played_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class SessionReady(Event):
    """The session is configured (``session.updated`` confirmed): capture may start."""

    TAG: ClassVar[str] = "session.ready"
    session_id: str


@register
@attrs.frozen(kw_only=True)
class TurnEnded(Event):
    """The assistant finished answering (its final response is done and its audio played): the user may
    speak. ``response_id`` is the last response of the turn."""

    TAG: ClassVar[str] = "turn.ended"
    response_id: str
    status: str = "completed"


@register
@attrs.frozen(kw_only=True)
class SessionFailed(Event):
    """The conductor gives up on the session (connection lost, fatal server error): one line why."""

    TAG: ClassVar[str] = "session.failed"
    reason: str
