"""Meter actor: consumes audio chunks, emits ``audio.level`` reports (see core.py).

Buffer and drop policy: its inbox holds 256 chunks; audio is droppable, so when the meter falls behind the
bus drops chunks for it (journaled as ``bus.dropped``) and capture never waits. At end of input it returns;
on cancellation it stops at once (it holds no resources).
"""

from __future__ import annotations

from actors.meter.core import MeterCore
from events.audio import AudioChunk
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, run_core

NAME = "meter"
CONSUMES = frozenset({AudioChunk})
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=MeterCore.from_config)


def meter_actor(window: int = 12) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        await run_core(ctx, MeterCore(window=window))

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
