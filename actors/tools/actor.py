"""Tools actor: validated tool runs with timeouts, their outputs, and one ``response.create`` per response.

Consumes: ``FunctionCallRequested``, ``ToolResult`` (its own edge, through its inbox like everything else),
``ResponseCreated``, ``ResponseDone``, ``ServerError`` (errors naming its ``response.create``), ``ItemAdded``
(the server has an output), and the connection's ``ConnectionLost``, ``ReconnectRequested`` and
``ConversationReseeded`` (outputs held while there is no connection, then one ``response.create``).
Emits from its core (``ToolsCore``, see core.py): ``ToolRunRequested``, ``ToolRejected`` and ``ClientCommand``
(``conversation.item.create`` of ``function_call_output`` items and ``response.create``, ids
``tools_0001``...). Emits from its shell, as an edge: ``ToolResult`` for every ``ToolRunRequested``,
published before the core sees it, so replay never runs a tool.

Running a tool: each ``ToolRunRequested`` starts a task in a nursery the shell owns, so several calls of one
response run concurrently. Every tool runs off the session's event loop (``run.py``, which says why): a sync
function in a worker thread, an async function on an event loop of its own in a worker thread, so a tool that
blocks (a ``time.sleep`` inside ``async def``) or swallows cancellation cannot stall audio, timers or the
socket. At most ``MAX_TOOL_THREADS`` runs hold a thread at once. ``tool.timeout_s`` bounds each run as the
model sees it: at the deadline the result is ``timeout``, whatever the tool does afterwards. Exceptions,
timeouts and values strict JSON cannot encode become error outputs (``{"error": "<one line>", "kind":
"exception" | "tool_error" | "timeout" | "invalid_output"}``); nothing a tool does stops the actor. A run that
finishes after its deadline anyway is journaled as ``ToolLateResult`` (an edge nobody consumes) and never
sent.

Buffer and drop policy: the generic inbox (256); nothing it consumes is droppable (function calls are few).
It keeps call ids and pending batches, never results beyond the event that carries them.
At end of input the tools still running are cancelled (the session is ending: their outputs could not be
sent) and the actor returns, without waiting for late results. On cancellation likewise; a running tool's
thread is abandoned and finishes on its own.

Replay: the core is rebuilt from the journaled config (``session.tools``: the declared tools and their
schemas; or ``tool_schemas`` when present), so ``core_config`` must declare the registry's list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import trio

from actors.tools.core import NAME, ToolsCore, error_output
from actors.tools.registry import ToolRegistry
from actors.tools.run import MAX_TOOL_THREADS, ToolRun, execute
from events.connection import ConnectionLost, ConversationReseeded, ReconnectRequested
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ItemAdded, ResponseCreated, ResponseDone, ServerError
from events.tools import ToolLateResult, ToolResult, ToolRunRequested
from pipeline.bus import BusClosed
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec

__all__ = ["CONSUMES", "NAME", "REPLAYABLE", "execute", "tools_actor"]

CONSUMES = frozenset(
    {
        FunctionCallRequested,
        ToolResult,
        ResponseCreated,
        ResponseDone,
        ServerError,
        ItemAdded,
        ConnectionLost,
        ReconnectRequested,
        ConversationReseeded,
    }
)
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=ToolsCore.from_config)


def _elapsed_ms(started: float) -> int:
    return max(0, round((trio.current_time() - started) * 1000))


def tools_actor(registry: ToolRegistry, config: Mapping[str, Any] | None = None) -> ActorSpec:
    """The tools actor for ``registry``. Its core is built from ``config`` (the flat core config) with
    ``tool_schemas`` set to ``registry.session_tools()``; replay rebuilds it from the journaled config, whose
    ``session.tools`` must therefore be that same list (``core_config(config, registry.session_tools())``)."""
    core_config = {**(config or {}), "tool_schemas": registry.session_tools()}

    async def run_tool(ctx: ActorContext, request: Envelope, limiter: trio.CapacityLimiter) -> None:
        ev = request.event
        assert isinstance(ev, ToolRunRequested)
        started = trio.current_time()
        tool = registry.get(ev.name)
        run: ToolRun | None = None
        kind: str | None
        if tool is None:  # the core only asks for declared tools; kept for a registry changed under it
            output, kind = error_output(f"unknown tool {ev.name!r}", "unknown_tool"), "unknown_tool"
        else:
            run = ToolRun(tool, json.loads(ev.arguments_json), limiter)
            output, kind = await run.result()
        result = ToolResult(
            call_id=ev.call_id, name=ev.name, output=output, ok=kind is None, error_kind=kind, duration_ms=_elapsed_ms(started)
        )
        try:
            await ctx.publish(result, cause=request.seq)
            if run is None or not run.timed_out:
                return
            late = await run.late()  # the model was told "timeout"; this is only for the record
            if late is not None:
                await ctx.publish(
                    ToolLateResult(
                        call_id=ev.call_id,
                        name=ev.name,
                        output=late[0],
                        error_kind=late[1],
                        duration_ms=_elapsed_ms(started),
                        timeout_ms=round(run.tool.timeout_s * 1000),
                    ),
                    cause=request.seq,
                )
        except BusClosed:  # the session is over: nobody could send the output any more
            pass

    async def shell(ctx: ActorContext) -> None:
        core = ToolsCore.from_config(core_config)
        limiter = trio.CapacityLimiter(MAX_TOOL_THREADS)
        with ctx.inbox:
            async with trio.open_nursery() as nursery:
                async for env in ctx.inbox:
                    for out in core.handle(env):
                        published = await ctx.publish(out, cause=env.seq)
                        if isinstance(out, ToolRunRequested):
                            nursery.start_soon(run_tool, ctx, published, limiter)
                nursery.cancel_scope.cancel()

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
