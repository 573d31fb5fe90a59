"""Tracer actor: the session as Maxim sees it (sessions, traces, generations, tool calls, errors).

Consumes: the conversation events (``PROJECTION_EVENTS``: items, transcripts, assistant text, function calls,
``response.done``, our own commands, whose ``function_call_output`` items are the tool results), the audio
that each turn's attachments are cut from (``AUDIO_EVENTS``: capture chunks, the VAD's speech span, assistant
deltas, playback progress and finish; see audio.py),
``ResponseCreated``, the errors (``ServerError``, ``ProtocolViolation``, ``ActorFailed``, ``SessionFailed``),
the connection lifecycle (``CONNECTION_EVENTS``: lost, reconnect attempts, reconnected, re-seeded, held audio
sent, retired; see link.py),
and, when their modules are loaded, the tools' and summariser's events, found by tag (``tool.result``,
``tool.rejected``, ``summary.*``) so that this actor does not depend on them.
Emits: no events. Its outputs are operations on an external service (see core.py), so replay has nothing to
compare and there is no ``REPLAYABLE``; the core is still pure and is tested by value.

Backend: with ``MAXIM_API_KEY`` and ``MAXIM_LOG_REPO_ID`` the maxim-py logger (``MAXIM_BASE_URL`` passed
explicitly: the SDK does not read it), else ``<journal>.trace.jsonl`` with the same operations, else nothing.
Keys are read from ``environ`` and never written anywhere.

Buffer and drop policy: an inbox of 1024 events, read in batches (the actor wakes at most every ``BATCH_S``,
100 ms, and takes everything queued: per event wakes cost more CPU than the tracing); only capture chunks are droppable (a tracer that falls behind
loses audio from an attachment, journaled as ``bus.dropped``, never slows capture). Applying an operation only
queues it (the SDK uploads logs and attachments from its own threads; attachment uploads are bounded by
``flush_timeout_s`` like every request), so a slow Maxim never slows the event loop. The local file is flushed
at least every second.
At end of input it records what is still open, ends the session, and closes the backend in a worker thread;
on cancellation it does the same under a shield. Either way the close is bounded by ``flush_timeout_s``: a
slow or dead Maxim delays the end of the session by at most that much (the SDK's requests are bounded too,
so its threads do not hold up process exit for longer).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import trio

from actors.tracer.audio import AUDIO_EVENTS
from actors.tracer.backends import FLUSH_INTERVAL_S, JsonlBackend, MaximBackend, make_backend
from actors.tracer.core import NAME, OPTIONAL_TAGS, TraceCore
from actors.tracer.link import CONNECTION_EVENTS
from actors.tracer.ops import Op
from events.base import Event, registered_tags
from events.envelope import Envelope
from events.playback import SessionFailed
from events.protocol import ProtocolViolation, ResponseCreated, ServerError
from events.runtime import ActorFailed
from pipeline.clock import run_sync_held
from pipeline.projections.conversation import PROJECTION_EVENTS
from pipeline.runtime import ActorContext, ActorSpec

__all__ = ["CONSUMES", "NAME", "tracer_actor"]

CONSUMES: frozenset[type[Event]] = PROJECTION_EVENTS | AUDIO_EVENTS | CONNECTION_EVENTS | {
    ResponseCreated,
    ServerError,
    ProtocolViolation,
    ActorFailed,
    SessionFailed,
}
CAPACITY = 1024
# The tracer is not on the audio path: it wakes at most this often and takes everything queued, instead of
# waking (two scheduler steps) for every chunk and delta. 1024 envelopes hold far more than 100 ms of events.
BATCH_S = 0.1


def consumed_types() -> frozenset[type[Event]]:
    """``CONSUMES`` plus the optional tools/summary events whose modules are loaded now."""
    tags = registered_tags()
    return CONSUMES | {tags[tag] for tag in OPTIONAL_TAGS if tag in tags}


def _drain(ctx: ActorContext, first: Envelope) -> Iterator[Envelope]:
    """``first``, then every envelope already queued (no checkpoint: the batch is taken in one step)."""
    yield first
    while True:
        try:
            yield ctx.inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return


def _apply(backend: MaximBackend | JsonlBackend | None, ops: Iterable[Op], t_ns: int) -> None:
    if backend is not None:
        for op in ops:
            backend.apply(op, t_ns)


async def _flush_every_second(backend: JsonlBackend) -> None:
    """A quiet session still gets its trace lines to the OS within a second (a kill -9 loses at most that)."""
    while True:
        await trio.sleep(FLUSH_INTERVAL_S)
        backend.flush()


def tracer_actor(
    *,
    journal_path: Path | str | None,
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    flush_timeout_s: float = 5.0,
) -> ActorSpec:
    """The tracer for one run. ``config`` is the flat core config (``maxim_session_name``,
    ``maxim_session_tags``, ``maxim_session_id``, ``model``, ``summary_model``); ``environ`` defaults to
    ``os.environ``; ``flush_timeout_s`` bounds the final flush and each of the SDK's requests."""
    journal = Path(journal_path) if journal_path is not None else None

    async def shell(ctx: ActorContext) -> None:
        backend = make_backend(os.environ if environ is None else environ, journal, flush_timeout_s)
        session_id = config.get("maxim_session_id") or uuid.uuid4().hex
        core = TraceCore.from_config({**config, "maxim_session_id": session_id})
        last_t_ns = 0
        try:
            async with trio.open_nursery() as nursery:
                if isinstance(backend, JsonlBackend):
                    nursery.start_soon(_flush_every_second, backend)
                with ctx.inbox:
                    while True:
                        try:
                            first = await ctx.inbox.receive()
                        except trio.EndOfChannel:
                            break
                        # wake once per batch, not per event: let the batch gather, then take it all at once
                        await trio.sleep(BATCH_S)
                        for env in _drain(ctx, first):
                            last_t_ns = env.t_ns
                            _apply(backend, core.handle(env), env.t_ns)
                nursery.cancel_scope.cancel()
        finally:
            with trio.move_on_after(flush_timeout_s, shield=True):
                _apply(backend, core.finish(), last_t_ns)
                if backend is not None:
                    # held: on a simulated clock the flush timeout must not jump past a close that is working
                    await run_sync_held(backend.close, abandon_on_cancel=True)

    return ActorSpec(name=NAME, consumes=consumed_types(), shell=shell, capacity=CAPACITY)
