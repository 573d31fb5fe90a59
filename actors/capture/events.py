"""Events of the capture actor's script core (non-edge: replay re-derives them from the journal).

Registered at import, like every event family. They describe turn-taking decisions of a scripted user, so a
journal shows which line was spoken when, and replay checks that the same inputs lead to the same lines.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_empty, non_negative


@register
@attrs.frozen(kw_only=True)
class ScriptLineStarted(Event):
    """The scripted user starts speaking line ``index`` (``barge_at_ms`` set when it talks over the
    assistant)."""

    TAG: ClassVar[str] = "capture.script_line"
    index: int = attrs.field(validator=non_negative)
    text: str = attrs.field(validator=non_empty)
    barge_at_ms: int | None = None


@register
@attrs.frozen(kw_only=True)
class ScriptFinished(Event):
    """Every line was spoken and the last one answered: the scripted user has nothing more to say."""

    TAG: ClassVar[str] = "capture.script_finished"
    lines: int = attrs.field(validator=non_negative)
