"""Conductor actor: session set-up, turn-taking and the end of the session (see core.py).

Consumes: ``SessionCreated``, ``SessionUpdated``, ``ServerError``, ``ConnectionClosed``, ``SpeechStarted``,
``ItemAdded``, ``ResponseCreated``, ``AssistantAudioDelta`` (only to learn which items carry audio),
``ResponseDone``, ``PlaybackFinished``, ``TranscriptResolved``/``TranscriptUnavailable``, ``CaptureEnded``,
``TimerFired``, and the summariser's ``SummaryStarted``/``SummarySkipped``/``SummaryApplied``/``SummaryAbandoned``
(to hold a turn end while a summary is being applied).
Emits: ``ClientCommand`` (``session.update``, id ``conductor_0001``), ``SessionReady``, ``TurnEnded``,
``SessionFailed``, ``SessionEnding``, and ``TimerRequested``/``TimerCancelled`` (``conductor:linger``,
``conductor:end_timeout``).

Buffer and drop policy: an inbox of 1024, larger than the generic one because it takes every assistant audio
delta; nothing it consumes is droppable, and it handles each event in microseconds, so it never holds the
router back. It keeps ids, never audio (the deltas' PCM is not retained).
At end of input it drains its inbox and returns. On cancellation it stops at once: it holds no resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.conductor.core import NAME, ConductorCore
from events.audio import CaptureEnded
from events.playback import PlaybackFinished
from events.protocol import (
    AssistantAudioDelta,
    ConnectionClosed,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
)
from events.runtime import TimerFired
from events.summary import SummaryAbandoned, SummaryApplied, SummarySkipped, SummaryStarted
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, run_core

__all__ = ["CONSUMES", "NAME", "REPLAYABLE", "conductor_actor"]

CONSUMES = frozenset(
    {
        SessionCreated,
        SessionUpdated,
        ServerError,
        ConnectionClosed,
        SpeechStarted,
        ItemAdded,
        ResponseCreated,
        AssistantAudioDelta,
        ResponseDone,
        PlaybackFinished,
        TranscriptResolved,
        TranscriptUnavailable,
        CaptureEnded,
        TimerFired,
        SummaryStarted,
        SummarySkipped,
        SummaryApplied,
        SummaryAbandoned,
    }
)
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=ConductorCore.from_config)
CAPACITY = 1024


def conductor_actor(config: Mapping[str, Any] | None = None) -> ActorSpec:
    """The conductor, built from the flat core config (``RunConfig.for_cores()`` plus ``session``)."""

    async def shell(ctx: ActorContext) -> None:
        await run_core(ctx, ConductorCore.from_config(config or {}))

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=CAPACITY)
