"""Audio level reports from the meter actor."""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_negative, positive


@register
@attrs.frozen(kw_only=True)
class AudioLevel(Event):
    """Loudness of a window of captured audio: chunks ``first_index``..``first_index + chunks - 1``."""

    TAG: ClassVar[str] = "audio.level"
    first_index: int = attrs.field(validator=non_negative)
    chunks: int = attrs.field(validator=positive)
    rms_dbfs: float
    peak_dbfs: float
