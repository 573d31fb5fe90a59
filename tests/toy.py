"""A toy core used to test the runtime and the replay harness in isolation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from events.base import Event, register
from events.envelope import Envelope
from pipeline.replay import Replayable


@register
@attrs.frozen(kw_only=True)
class ToyNumber(Event):
    TAG: ClassVar[str] = "test.toy.number"
    EDGE: ClassVar[bool] = True
    n: int


@register
@attrs.frozen(kw_only=True)
class ToyDoubled(Event):
    TAG: ClassVar[str] = "test.toy.doubled"
    n: int
    running_total: int


class DoublerCore:
    """Doubles every number and keeps a running total (state, so order matters in replay)."""

    def __init__(self, factor: int = 2) -> None:
        self.factor = factor
        self.total = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DoublerCore:
        return cls(factor=int(config.get("factor", 2)))

    def handle(self, env: Envelope) -> Sequence[Event]:
        if not isinstance(env.event, ToyNumber):
            return []
        doubled = env.event.n * self.factor
        self.total += doubled
        return [ToyDoubled(n=doubled, running_total=self.total)]


DOUBLER = Replayable(name="doubler", consumes={ToyNumber}, make_core=DoublerCore.from_config)
