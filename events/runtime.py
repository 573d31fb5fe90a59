"""Runtime events: session lifecycle, actor failures, inbox drops, timers."""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_empty, non_negative, str_tuple


@register
@attrs.frozen(kw_only=True)
class SessionStarted(Event):
    """First event of every session: which actors run."""

    TAG: ClassVar[str] = "session.started"
    EDGE: ClassVar[bool] = True
    actors: tuple[str, ...] = attrs.field(converter=str_tuple)


@register
@attrs.frozen(kw_only=True)
class SessionEnding(Event):
    """Someone asked the session to end (end of input, Ctrl-C, a fatal error). Shutdown cascades from here."""

    TAG: ClassVar[str] = "session.ending"
    reason: str = attrs.field(validator=non_empty)


@register
@attrs.frozen(kw_only=True)
class ActorFailed(Event):
    """An actor raised: the session stops, and this one line says why."""

    TAG: ClassVar[str] = "actor.failed"
    EDGE: ClassVar[bool] = True
    actor: str = attrs.field(validator=non_empty)
    error: str = attrs.field(validator=non_empty)


@register
@attrs.frozen(kw_only=True)
class InboxDropped(Event):
    """The bus dropped a droppable (audio) event for one subscriber whose inbox was full."""

    TAG: ClassVar[str] = "bus.dropped"
    EDGE: ClassVar[bool] = True
    subscriber: str = attrs.field(validator=non_empty)
    dropped_tag: str = attrs.field(validator=non_empty)
    dropped_seq: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class TimerRequested(Event):
    """A core asks to be woken ``delay_ms`` after this event's timestamp. A new request with the same key
    replaces the old one."""

    TAG: ClassVar[str] = "timer.requested"
    key: str = attrs.field(validator=non_empty)
    delay_ms: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class TimerCancelled(Event):
    TAG: ClassVar[str] = "timer.cancelled"
    key: str = attrs.field(validator=non_empty)


@register
@attrs.frozen(kw_only=True)
class TimerFired(Event):
    """The clock's edge: a requested timer expired (``requested_seq`` names the request)."""

    TAG: ClassVar[str] = "timer.fired"
    EDGE: ClassVar[bool] = True
    key: str = attrs.field(validator=non_empty)
    requested_seq: int = attrs.field(validator=non_negative)
