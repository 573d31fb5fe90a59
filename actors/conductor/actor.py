"""Conductor actor: session set-up, turn-taking, the end of the session, and the call across connections
(reconnects, re-seeds, recycles, a resumed call's seed; see core.py and reconnect.py).

Consumes: ``SessionCreated``, ``SessionUpdated``, ``ServerError``, ``ConnectionClosed``, ``SpeechStarted``/
``SpeechStopped``, ``ItemAdded``, ``ResponseCreated``, ``AssistantAudioDelta`` (only to learn which items carry
audio), ``ResponseDone``, ``PlaybackFinished``, the transcript outcomes, ``CaptureEnded``, ``TimerFired``, the
summariser's ``SummaryStarted``/``SummarySkipped``/``SummaryApplied``/``SummaryAbandoned`` (to hold a turn end
while a summary is being applied), the tool runs (``FunctionCallRequested``, ``ToolRunRequested``,
``ToolResult``, ``ToolRejected``: a recycle waits for them), the connection actor's ``Reconnected``/
``ReconnectFailed``, everything the conversation projection folds (``PROJECTION_EVENTS``: the re-seed is built
from the conductor's own ``Conversation``), and ``AudioChunk`` with the audio gate's events (its own
``SessionReady``/``ConnectionLost``/``ReconnectRequested``/``ConversationReseeded`` among them), to know the
user audio the server heard (audio.py).
Emits: ``ClientCommand`` (``session.update`` on every new connection, ``conversation.item.create`` for a
re-seed, ``response.create`` for an answer a lost connection took with it; ids ``conductor_NNNN``),
``SessionReady``, ``TurnEnded``, ``SessionFailed``, ``SessionEnding``, ``ConnectionLost``,
``ReconnectRequested``, ``ReseedPlanned``, ``ConversationReseeded``, and ``TimerRequested``/``TimerCancelled``
(``conductor:linger``, ``conductor:end_timeout``, ``conductor:recycle``, ``conductor:reseed``).

Buffer and drop policy: an inbox of 1024, larger than the generic one because it takes every assistant audio
delta and every captured chunk; it handles each event in microseconds (a chunk is a deque append), so it
never holds the router back. Audio chunks are droppable at the bus like everyone's: a chunk dropped for the
conductor but sent by the uploader shifts the conductor's count of the connection's audio by that chunk, so
the audio it cuts for the later turns of that connection is off by as much (40 ms a drop). It keeps the last 30 s of user audio sent on the current
connection and the audio of the user turns still without a transcript (at most 16), never assistant audio.
At end of input it drains its inbox and returns. On cancellation it stops at once: it holds no resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.conductor.core import NAME, ConductorCore
from actors.uploader.gate import GATE_EVENTS
from events.audio import AudioChunk, CaptureEnded
from events.connection import Reconnected, ReconnectFailed
from events.playback import PlaybackFinished
from events.protocol import (
    AssistantAudioDelta,
    ConnectionClosed,
    FunctionCallRequested,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
)
from events.runtime import TimerFired
from events.summary import SummaryAbandoned, SummaryApplied, SummarySkipped, SummaryStarted
from events.tools import ToolRejected, ToolResult, ToolRunRequested
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import PROJECTION_EVENTS
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
        SpeechStopped,
        ItemAdded,
        ResponseCreated,
        AssistantAudioDelta,
        ResponseDone,
        PlaybackFinished,
        TranscriptResolved,
        TranscriptUnavailable,
        TranscriptLate,
        CaptureEnded,
        TimerFired,
        SummaryStarted,
        SummarySkipped,
        SummaryApplied,
        SummaryAbandoned,
        FunctionCallRequested,
        ToolRunRequested,
        ToolResult,
        ToolRejected,
        Reconnected,
        ReconnectFailed,
        AudioChunk,
        *GATE_EVENTS,
        *PROJECTION_EVENTS,
    }
)
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=ConductorCore.from_config)
CAPACITY = 1024


def conductor_actor(config: Mapping[str, Any] | None = None) -> ActorSpec:
    """The conductor, built from the flat core config (``RunConfig.for_cores()`` plus ``session``)."""

    async def shell(ctx: ActorContext) -> None:
        await run_core(ctx, ConductorCore.from_config(config or {}))

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=CAPACITY)
