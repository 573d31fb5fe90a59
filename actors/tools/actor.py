"""Tools actor: validated tool runs with timeouts, their outputs, and one ``response.create`` per response.

Consumes: ``FunctionCallRequested``, ``ToolResult`` (its own edge, through its inbox like everything else),
``ResponseCreated``, ``ResponseDone`` and ``ServerError`` (errors naming its ``response.create``).
Emits from its core (``ToolsCore``, see core.py): ``ToolRunRequested``, ``ToolRejected`` and ``ClientCommand``
(``conversation.item.create`` of ``function_call_output`` items and ``response.create``, ids
``tools_0001``...). Emits from its shell, as an edge: ``ToolResult`` for every ``ToolRunRequested``,
published before the core sees it, so replay never runs a tool.

Running a tool: each ``ToolRunRequested`` starts a task in a nursery the shell owns, so several calls of one
response run concurrently. A sync function runs in a worker thread (``abandon_on_cancel``: a tool that ignores
its timeout is left to finish on its own, its result discarded); an async function is awaited and must not
block the event loop. ``trio.move_on_after(tool.timeout_s)`` bounds each run. Exceptions and timeouts become
error outputs (``{"error": "<one line>", "kind": "exception" | "tool_error" | "timeout"}``); nothing a tool
does stops the actor.

Buffer and drop policy: the generic inbox (256); nothing it consumes is droppable (function calls are few).
It keeps call ids and pending batches, never results beyond the event that carries them.
At end of input the tools still running are cancelled (the session is ending: their outputs could not be
sent) and the actor returns. On cancellation likewise; a sync tool's thread is abandoned.

Replay: the core is rebuilt from the journaled config (``session.tools``: the declared tools and their
schemas; or ``tool_schemas`` when present), so ``core_config`` must declare the registry's list.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import trio

from actors.tools.core import NAME, ToolsCore, error_output
from actors.tools.registry import Tool, ToolError, ToolRegistry
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ResponseCreated, ResponseDone, ServerError
from events.tools import ToolResult, ToolRunRequested
from pipeline.bus import BusClosed
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, one_line

__all__ = ["CONSUMES", "NAME", "REPLAYABLE", "execute", "tools_actor"]

CONSUMES = frozenset({FunctionCallRequested, ToolResult, ResponseCreated, ResponseDone, ServerError})
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=ToolsCore.from_config)


def _as_output(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


async def execute(tool: Tool, arguments: Mapping[str, Any]) -> tuple[str, str | None]:
    """Run one tool under its timeout: ``(output, None)`` or ``(error output, error kind)``. Never raises
    (but for cancellation of the caller)."""
    with trio.move_on_after(tool.timeout_s):
        try:
            if tool.is_async:
                result = await tool.function(**arguments)
            else:
                call = functools.partial(tool.function, **arguments)
                result = await trio.to_thread.run_sync(call, abandon_on_cancel=True)
            return _as_output(result), None
        except ToolError as exc:
            return error_output(str(exc) or type(exc).__name__, "tool_error"), "tool_error"
        except Exception as exc:  # the tool's own failure: the model reads it, the session goes on
            return error_output(f"{tool.name} failed: {one_line(exc)}", "exception"), "exception"
    return error_output(f"tool {tool.name} timed out after {tool.timeout_s:g}s", "timeout"), "timeout"


def tools_actor(registry: ToolRegistry, config: Mapping[str, Any] | None = None) -> ActorSpec:
    """The tools actor for ``registry``. Its core is built from ``config`` (the flat core config) with
    ``tool_schemas`` set to ``registry.session_tools()``; replay rebuilds it from the journaled config, whose
    ``session.tools`` must therefore be that same list (``core_config(config, registry.session_tools())``)."""
    core_config = {**(config or {}), "tool_schemas": registry.session_tools()}

    async def run_tool(ctx: ActorContext, request: Envelope) -> None:
        ev = request.event
        assert isinstance(ev, ToolRunRequested)
        started = trio.current_time()
        tool = registry.get(ev.name)
        kind: str | None
        if tool is None:  # the core only asks for declared tools; kept for a registry changed under it
            output, kind = error_output(f"unknown tool {ev.name!r}", "unknown_tool"), "unknown_tool"
        else:
            output, kind = await execute(tool, json.loads(ev.arguments_json))
        duration_ms = max(0, round((trio.current_time() - started) * 1000))
        result = ToolResult(
            call_id=ev.call_id, name=ev.name, output=output, ok=kind is None, error_kind=kind, duration_ms=duration_ms
        )
        try:
            await ctx.publish(result, cause=request.seq)
        except BusClosed:  # the session is over: nobody could send the output any more
            pass

    async def shell(ctx: ActorContext) -> None:
        core = ToolsCore.from_config(core_config)
        with ctx.inbox:
            async with trio.open_nursery() as nursery:
                async for env in ctx.inbox:
                    for out in core.handle(env):
                        published = await ctx.publish(out, cause=env.seq)
                        if isinstance(out, ToolRunRequested):
                            nursery.start_soon(run_tool, ctx, published)
                nursery.cancel_scope.cancel()

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
