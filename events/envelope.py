"""The envelope: what the bus wraps around every event and what a journal record holds."""

from __future__ import annotations

import attrs

from events.base import Event


@attrs.frozen(kw_only=True)
class Envelope:
    """One published event: global ``seq``, ``t_ns`` since session start, producing actor, and cause.

    Cores receive envelopes, not bare events: time comes from ``t_ns`` and ids may derive from ``seq``,
    so a core never reads a clock.
    """

    seq: int
    t_ns: int
    source: str
    cause: int | None
    event: Event

    @property
    def tag(self) -> str:
        return self.event.TAG
