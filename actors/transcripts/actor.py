"""Transcripts actor: every user item ends with exactly one transcript outcome (see core.py).

Consumes: ``ItemAdded`` (user messages), ``InputTranscriptCompleted``/``InputTranscriptFailed``,
``ItemRetrieved``, ``ItemDeleted``, ``ServerError`` (errors naming its retrieve requests), ``TimerFired``,
``SessionEnding``, ``ConnectionLost`` (every waiting item gets its outcome) and ``ReseedPlanned`` (the items a
re-seed creates again are not new turns).
Emits: ``TranscriptResolved`` / ``TranscriptUnavailable`` (one outcome per user item), ``TranscriptLate`` (a
transcript that came after a ``timed_out`` / ``session ended`` outcome), ``ClientCommand``
(``conversation.item.retrieve``, ids ``transcripts_0001``...), and ``TimerRequested``/``TimerCancelled``.

Buffer and drop policy: the generic inbox (256); nothing it consumes is droppable, so a slow resolver slows
the router rather than losing a transcript. It holds only ids and pending state, never audio.
At end of input it drains its inbox and returns. ``SessionEnding`` (published before the inboxes close, for
every kind of ending) gives every item still waiting its outcome, ``TranscriptUnavailable(reason="session
ended")``, so draining the inbox is what keeps "exactly one outcome per user item" across any ending; the
supervisor must let this actor drain after ``SessionEnding`` (it is upstream of the console, tracer and
summariser in the shutdown order, so they still see those outcomes). On cancellation it stops at once: it
holds no resources (an item then keeps no outcome, which only a cancelled drain can cause).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.transcripts.core import NAME, TranscriptCore
from events.connection import ConnectionLost, ReseedPlanned
from events.protocol import (
    InputTranscriptCompleted,
    InputTranscriptFailed,
    ItemAdded,
    ItemDeleted,
    ItemRetrieved,
    ServerError,
)
from events.runtime import SessionEnding, TimerFired
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, run_core

__all__ = ["CONSUMES", "NAME", "REPLAYABLE", "transcripts_actor"]

CONSUMES = frozenset(
    {
        ItemAdded,
        InputTranscriptCompleted,
        InputTranscriptFailed,
        ItemRetrieved,
        ItemDeleted,
        ServerError,
        TimerFired,
        SessionEnding,
        ConnectionLost,
        ReseedPlanned,
    }
)
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=TranscriptCore.from_config)


def transcripts_actor(config: Mapping[str, Any] | None = None) -> ActorSpec:
    """The resolver, built from the flat core config (``RunConfig.for_cores()``); defaults without one."""

    async def shell(ctx: ActorContext) -> None:
        await run_core(ctx, TranscriptCore.from_config(config or {}))

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
