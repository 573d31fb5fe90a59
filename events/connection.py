"""Connection events: a call outlives its connection (issue 12).

The lifecycle, as the journal records it::

    rt.connection.closed (router edge, unexpected)
      -> connection.lost           (conductor: the call goes on; in-flight responses are interrupted)
      -> connection.reconnect_requested  attempt 1, after delay_ms   (conductor -> the connection actor)
      -> connection.reconnect_failed     attempt 1, one line         (edge: that attempt did not open)
      -> connection.reconnect_requested  attempt 2 ...
      -> connection.reconnected          attempt N                   (edge: a new socket is open)
      -> rt.session.created / session.update / rt.session.updated    (the session configuration, again)
      -> connection.reseed_planned + conversation.item.create x N  (the re-seed, from the conversation projection)
      -> connection.reseeded             (conductor: what was seeded, and whether the server took all of it)
      -> connection.held_audio_sent      (uploader: the user audio captured meanwhile, now sent)

A recycle (renewing the session before the server's maximum duration) is the same flow started by the
conductor at a quiet moment, with ``recycle=True``: the new connection is opened and seeded while the old one
is still open (make before break), and the old one is closed after ``connection.reseeded``
(``connection.retired``). ``rtpipe run --resume J`` seeds the first connection the same way
(``connection.reseeded`` with ``resumed_from``).

Edges (the outside world entering): ``Reconnected``, ``ReconnectFailed``, ``ConnectionRetired``. The rest are
core outputs, so replay re-derives them.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_empty, non_negative, str_tuple


@register
@attrs.frozen(kw_only=True)
class ConnectionLost(Event):
    """The connection closed without our asking (or the server's session expired). ``reconnecting`` says
    whether the call goes on (a new connection is requested) or ends (reconnect disabled, or a fatal cause).
    ``interrupted`` lists the responses that were in flight: they will never finish."""

    TAG: ClassVar[str] = "connection.lost"
    reason: str = attrs.field(validator=non_empty)
    code: int | None = None
    reconnecting: bool = True
    interrupted: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)


@register
@attrs.frozen(kw_only=True)
class ReconnectRequested(Event):
    """The conductor asks the connection actor to open a new connection ``delay_ms`` after this event.
    ``attempt`` counts from 1 within one loss. ``recycle``: the old connection is still open and healthy
    (renewal before the server's maximum session duration): open the new one, then retire the old one once
    the new one is seeded."""

    TAG: ClassVar[str] = "connection.reconnect_requested"
    attempt: int = attrs.field(validator=non_negative)
    delay_ms: int = attrs.field(validator=non_negative)
    recycle: bool = False


@register
@attrs.frozen(kw_only=True)
class Reconnected(Event):
    """Edge: a new connection is open (``connection`` counts connections of this call from 1, the first
    one included). The server's ``session.created`` follows on it."""

    TAG: ClassVar[str] = "connection.reconnected"
    EDGE: ClassVar[bool] = True
    attempt: int = attrs.field(validator=non_negative)
    connection: int = attrs.field(validator=non_negative)
    recycle: bool = False


@register
@attrs.frozen(kw_only=True)
class ReconnectFailed(Event):
    """Edge: one reconnect attempt did not open (one line, free of secrets)."""

    TAG: ClassVar[str] = "connection.reconnect_failed"
    EDGE: ClassVar[bool] = True
    attempt: int = attrs.field(validator=non_negative)
    error: str = attrs.field(validator=non_empty)
    fatal: bool = False  # the server refused us for good (authentication, configuration): no more attempts


@register
@attrs.frozen(kw_only=True)
class ReseedPlanned(Event):
    """The conductor is about to create ``items`` (ids, in conversation order) on the new connection, with
    the same ids they had before: the ``conversation.item.added`` events that follow for them are the old
    conversation coming back, not new turns (no transcript is awaited for a seeded user item, no summary
    number is reused). Emitted together with the ``conversation.item.create`` commands."""

    TAG: ClassVar[str] = "connection.reseed_planned"
    items: tuple[str, ...] = attrs.field(converter=str_tuple)
    summary_id: str | None = None
    audio_items: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    resumed_from: str | None = None
    recycle: bool = False


@register
@attrs.frozen(kw_only=True)
class ConversationReseeded(Event):
    """The new connection holds the conversation again: ``items`` (ids, in conversation order) were created,
    ``summary_id`` is the root summary among them (None without one), ``audio_items`` are user turns sent as
    their recorded audio because their transcript was missing. ``restored`` is True when the server
    acknowledged every item; ``missing`` lists those it refused. ``resumed_from`` names the journal a
    ``--resume`` seeded from (None for a reconnect or recycle)."""

    TAG: ClassVar[str] = "connection.reseeded"
    items: tuple[str, ...] = attrs.field(converter=str_tuple)
    summary_id: str | None = None
    audio_items: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    restored: bool = True
    missing: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    resumed_from: str | None = None
    recycle: bool = False


@register
@attrs.frozen(kw_only=True)
class HeldAudioSent(Event):
    """The uploader sent the user audio it held while there was no usable connection (bounded: the oldest
    is dropped beyond the bound, and ``dropped_ms`` says how much)."""

    TAG: ClassVar[str] = "connection.held_audio_sent"
    sent_ms: int = attrs.field(validator=non_negative)
    dropped_ms: int = attrs.field(default=0, validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class ConnectionRetired(Event):
    """Edge: after a recycle, the old connection was closed by us (``connection`` is its number)."""

    TAG: ClassVar[str] = "connection.retired"
    EDGE: ClassVar[bool] = True
    connection: int = attrs.field(validator=non_negative)
    reason: str = attrs.field(default="recycled", validator=non_empty)
