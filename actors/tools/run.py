"""Running one tool where it cannot stall the session: always in a worker thread, async tools on their own
event loop inside that thread.

Why not on the session's event loop: an ``async def`` is no promise of cooperation. A synchronous
``time.sleep``, a blocking socket read or a CPU loop inside it would freeze the session's loop for as long as
it runs (audio capture and playback, timers, the WebSocket: an 8 s tool was an 8 s silence), and a tool that
swallows ``Cancelled`` could overrun its timeout and still be reported ``ok``. On its own loop in a worker
thread the worst a tool can do is keep its own thread busy; the session's loop only waits, cancellably, for
the thread.

Why a thread and not a child process: tools are arbitrary Python callables (closures, bound methods, the
built-ins' per-registry reminder state, modules loaded from a file path) that a child process could not
receive without pickling, and their import and start-up cost would land on every call. A thread keeps them in
process at the price that a runaway tool cannot be killed, only abandoned: its thread runs to completion on
its own. A ``trio.CapacityLimiter`` per tools actor bounds how many such threads can pile up, so stuck tools
never starve the process's default thread pool (the embedded server's recogniser uses it).

Timeouts. The session side waits for the thread under ``trio.move_on_after(tool.timeout_s)``: at the deadline
the run is reported as timed out (``ToolRun.result``), whatever the tool does afterwards. An async tool also
gets the same deadline on its own loop (``trio.move_on_after`` there, ``asyncio.timeout`` for asyncio tools), so
a cooperative tool stops and frees its thread. A tool that still finishes later (a sync tool, or an async one
that ignored the cancellation) has its late outcome available from ``ToolRun.late``; one stopped by its own
deadline produced nothing and reports none.

Outputs are strict JSON: a string result is sent as the tool returned it, anything else goes through
``json.dumps(..., allow_nan=False)``; a value that cannot be encoded (NaN, an infinity, a set, bytes, a cycle)
or text that is not valid Unicode becomes an ``invalid_output`` error output saying why.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import trio

from actors.tools.core import error_output
from actors.tools.registry import Tool, ToolError
from pipeline.clock import hold
from pipeline.runtime import one_line

MAX_TOOL_THREADS = 8  # per tools actor: runs past their deadline hold theirs until they finish
Outcome = tuple[str, str | None]  # (output sent to the model, error kind or None when ok)


class _StoppedAtDeadline(Exception):
    """An async tool was cancelled by the deadline on its own loop: it produced nothing."""


def encode_output(name: str, result: Any) -> Outcome:
    """The ``function_call_output`` text for a tool's return value: strict JSON, or an error saying why not."""
    if isinstance(result, str):
        text = str(result)
    else:
        try:
            text = json.dumps(result, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            why = "NaN and infinities are not JSON" if "Out of range float" in str(exc) else str(exc)
            return _invalid(name, why)
        except TypeError as exc:
            return _invalid(name, str(exc))
        except RecursionError:
            return _invalid(name, "it is nested too deeply")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return _invalid(name, f"its text is not valid Unicode ({exc.reason})")
    return text, None


def _invalid(name: str, why: str) -> Outcome:
    return error_output(f"{name} returned a value strict JSON cannot encode: {why}", "invalid_output"), "invalid_output"


def timeout_output(tool: Tool) -> Outcome:
    return error_output(f"tool {tool.name} timed out after {tool.timeout_s:g}s", "timeout"), "timeout"


def call_tool(tool: Tool, arguments: Mapping[str, Any]) -> Outcome:
    """Run ``tool`` to completion in the calling (worker) thread; never raises. An async tool runs on a new
    event loop of its own, bounded by its timeout."""
    try:
        if not tool.is_async:
            result = tool.function(**arguments)
        elif tool.event_loop == "asyncio":
            result = asyncio.run(_on_asyncio(tool, arguments))
        else:
            result = trio.run(_on_trio, tool, arguments)
    except _StoppedAtDeadline:
        return timeout_output(tool)
    except ToolError as exc:
        return error_output(str(exc) or type(exc).__name__, "tool_error"), "tool_error"
    except BaseException as exc:  # the tool's own failure, whatever it is: the model reads it, the session goes on
        return error_output(f"{tool.name} failed: {one_line(exc)}", "exception"), "exception"
    return encode_output(tool.name, result)


async def _on_trio(tool: Tool, arguments: Mapping[str, Any]) -> Any:
    with trio.move_on_after(tool.timeout_s):
        return await tool.function(**arguments)  # a tool that swallows Cancelled returns here, late
    raise _StoppedAtDeadline


async def _on_asyncio(tool: Tool, arguments: Mapping[str, Any]) -> Any:
    try:
        async with asyncio.timeout(tool.timeout_s):
            return await tool.function(**arguments)
    except TimeoutError:
        raise _StoppedAtDeadline from None


class ToolRun:
    """One run of ``tool`` in a worker thread. ``await result()`` once: the outcome within the timeout, or the
    timeout error at the deadline. After a timeout, ``await late()`` waits for the thread and returns what the
    tool produced after all (None when it produced nothing: its own loop's deadline stopped it, or it never
    got a worker).

    The limiter token is taken here, not by ``trio.to_thread``, and given back by the thread itself when it
    ends (through the session's trio token), so a thread abandoned at its deadline keeps its slot until it
    really finishes, and a run that never got a slot is known never to have started."""

    def __init__(self, tool: Tool, arguments: Mapping[str, Any], limiter: trio.CapacityLimiter | None = None) -> None:
        self.tool = tool
        self.arguments = dict(arguments)
        self.limiter = limiter if limiter is not None else trio.CapacityLimiter(1)
        self.timed_out = False
        self._started = False
        self._finished = trio.Event()
        self._outcome: Outcome | None = None

    async def result(self) -> Outcome:
        token = trio.lowlevel.current_trio_token()

        def finished() -> None:  # on the session's loop
            self.limiter.release_on_behalf_of(self)
            self._finished.set()

        def work() -> None:  # in the worker thread
            try:
                self._outcome = call_tool(self.tool, self.arguments)
            finally:
                try:
                    token.run_sync_soon(finished)
                except trio.RunFinishedError:  # the session is over: nobody waits for this run any more
                    pass

        with trio.move_on_after(self.tool.timeout_s):
            await self.limiter.acquire_on_behalf_of(self)
            self._started = True  # no checkpoint between taking the slot and starting the thread
            trio.lowlevel.start_thread_soon(work, _ignore)
            # simulated time runs at the real rate while the tool works, so its timeout still means seconds
            with hold(live=True):
                await self._finished.wait()
        if self._finished.is_set() and self._outcome is not None:
            return self._outcome
        self.timed_out = True
        if self._started:
            return timeout_output(self.tool)
        reason = f"no free worker: {self.limiter.total_tokens:g} earlier runs are still going past their timeouts"
        return error_output(f"tool {self.tool.name} timed out after {self.tool.timeout_s:g}s ({reason})", "timeout"), "timeout"

    async def late(self) -> Outcome | None:
        if not self._started:
            return None
        await self._finished.wait()
        if self._outcome is None or self._outcome[1] == "timeout":
            return None
        return self._outcome


def _ignore(_: Any) -> None:
    """``start_thread_soon``'s delivery callback: ``work`` reports through the trio token itself."""


async def execute(tool: Tool, arguments: Mapping[str, Any], limiter: trio.CapacityLimiter | None = None) -> Outcome:
    """Run one tool under its timeout: ``(output, None)`` or ``(error output, error kind)``. Never raises (but
    for cancellation of the caller)."""
    return await ToolRun(tool, arguments, limiter).result()
