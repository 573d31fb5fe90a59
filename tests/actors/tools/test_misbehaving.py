"""Fault tests: tools that misbehave cannot stall the session or lie about how they ended (issue 10).

- an ``async def`` tool that blocks (``time.sleep`` inside it) runs while the session's loop keeps ticking:
  a metronome actor publishes a chunk every 20 ms throughout, with no gap anywhere near the tool's sleep;
- tools that swallow cancellation (trio and asyncio) are reported ``timeout`` at their deadline; what they
  return afterwards is journaled as ``ToolLateResult`` and never sent to the model;
- values strict JSON cannot encode (NaN, infinities, sets, bytes, cycles) become ``invalid_output`` errors,
  and every output on the wire parses as strict JSON.

Real clock (the tools run in worker threads, which an autojump clock cannot see), tool times of tenths of a
second, asserted with a margin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import trio

from actors.tools.actor import REPLAYABLE, execute, tools_actor
from actors.tools.registry import Tool, ToolRegistry
from actors.tools.run import ToolRun
from events.audio import AudioChunk
from events.commands import ClientCommand
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ResponseDone
from events.tools import ToolLateResult, ToolResult, ToolRunRequested
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, run_session

OBJECT: dict[str, Any] = {"type": "object", "properties": {}}
MARGIN = 0.3  # scheduling slack on a shared 2-core machine (s); every fault overruns by more
TICK_S = 0.02


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def blocks_the_loop() -> dict[str, float]:
    time.sleep(0.8)  # noqa: ASYNC251 (the fault under test: a synchronous sleep inside async def)
    return {"slept_s": 0.8}


async def swallows_trio_cancellation() -> str:
    try:
        await trio.sleep(10)
    except trio.Cancelled:
        pass  # the fault: cancellation swallowed
    time.sleep(0.5)  # noqa: ASYNC251 (and then it blocks its loop too)
    return "finished anyway (trio)"


async def swallows_asyncio_cancellation() -> str:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        pass  # the fault: cancellation swallowed
    await asyncio.sleep(0.5)
    return "finished anyway (asyncio)"


def registry() -> ToolRegistry:
    return ToolRegistry(
        [
            Tool(name="blocks_the_loop", parameters=OBJECT, function=blocks_the_loop, timeout_s=0.25),
            Tool(name="swallows_trio", parameters=OBJECT, function=swallows_trio_cancellation, timeout_s=0.2),
            Tool(name="swallows_asyncio", parameters=OBJECT, function=swallows_asyncio_cancellation, timeout_s=0.2, event_loop="asyncio"),
            Tool(name="nan", parameters=OBJECT, function=lambda: float("nan")),
            Tool(name="infinity", parameters=OBJECT, function=lambda: {"x": [1.0, float("-inf")]}),
        ]
    )


def metronome() -> ActorSpec:
    """Stands for audio: a chunk every 20 ms for as long as the session runs."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async with trio.open_nursery() as nursery:

                async def tick() -> None:
                    index = 0
                    while True:
                        await ctx.publish(AudioChunk(index=index, pcm=b"\x00\x00" * 480))
                        index += 1
                        await trio.sleep(TICK_S)

                nursery.start_soon(tick)
                async for _ in ctx.inbox:
                    pass
                nursery.cancel_scope.cancel()

    return ActorSpec(name="capture", consumes=set(), shell=shell)


def fake_router(names: list[str], late_expected: int) -> ActorSpec:
    """Asks for one call of each tool in one response, ends it, and returns once the response.create went out
    and every late result it waits for is journaled."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for i, name in enumerate(names):
                await ctx.publish(FunctionCallRequested(response_id="resp_1", item_id=f"it_{i}", call_id=f"call_{name}", name=name, arguments="{}"))
            await ctx.publish(ResponseDone(response_id="resp_1", status="completed", output_types=("function_call",) * len(names)))
            created = late = 0
            async for env in ctx.inbox:
                if isinstance(env.event, ClientCommand) and env.event.type == "response.create":
                    created += 1
                late += isinstance(env.event, ToolLateResult)
                if created and late == late_expected:
                    return

    return ActorSpec(name="router", consumes={ClientCommand, ToolLateResult}, shell=shell)


async def run(tmp_path: Path, names: list[str], late_expected: int) -> list[Envelope]:
    reg = registry()
    path = tmp_path / "tools.rtpj"
    config = {"session": {"type": "realtime", "tools": reg.session_tools()}}
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(config)))
    with trio.fail_after(20):
        outcome = await run_session([fake_router(names, late_expected), metronome(), tools_actor(reg)], bus=bus, end_when=["router"])
    assert outcome.ok, outcome
    _, envs = load_envelopes(path)
    report = replay_actor(envs, REPLAYABLE, config)
    assert (report.divergences, report.first) == (0, None)  # late results are edges: replay neither runs nor expects them
    return envs


def outputs_by_call(envs: list[Envelope]) -> dict[str, list[str]]:
    sent: dict[str, list[str]] = {}
    for env in envs:
        ev = env.event
        if isinstance(ev, ClientCommand) and ev.type == "conversation.item.create":
            sent.setdefault(ev.body["item"]["call_id"], []).append(ev.body["item"]["output"])
    return sent


def seconds(t_ns: int) -> float:
    return t_ns / 1e9


async def test_a_tool_blocking_inside_async_def_does_not_stall_the_session(tmp_path: Path) -> None:
    envs = await run(tmp_path, ["blocks_the_loop"], late_expected=1)
    requested = next(e for e in envs if isinstance(e.event, ToolRunRequested))
    result = next(e for e in envs if isinstance(e.event, ToolResult))
    late = next(e for e in envs if isinstance(e.event, ToolLateResult))
    # the loop kept ticking the whole time the tool slept: no gap between chunks anywhere near its 0.8 s
    ticks = [seconds(e.t_ns) for e in envs if isinstance(e.event, AudioChunk)]
    during = [t for t in ticks if seconds(requested.t_ns) <= t <= seconds(late.t_ns)]
    assert len(during) >= 0.8 / TICK_S / 3, len(during)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.4, max(gaps)
    # reported timed out at its deadline, not ok after 0.8 s
    assert isinstance(result.event, ToolResult) and (result.event.ok, result.event.error_kind) == (False, "timeout")
    assert 0.25 <= seconds(result.t_ns - requested.t_ns) < 0.25 + MARGIN
    assert isinstance(late.event, ToolLateResult)
    assert (strict_json(late.event.output), late.event.error_kind, late.event.timeout_ms) == ({"slept_s": 0.8}, None, 250)
    assert late.event.duration_ms >= 800 and late.cause == requested.seq
    # the model heard "timeout", once, and never the late value
    assert outputs_by_call(envs) == {"call_blocks_the_loop": [result.event.output]}
    assert strict_json(result.event.output) == {"error": "tool blocks_the_loop timed out after 0.25s", "kind": "timeout"}


async def test_tools_that_swallow_cancellation_are_reported_timed_out_on_time(tmp_path: Path) -> None:
    names = ["swallows_trio", "swallows_asyncio"]
    envs = await run(tmp_path, names, late_expected=2)
    requested = {e.event.call_id: e for e in envs if isinstance(e.event, ToolRunRequested)}
    results = {e.event.call_id: e for e in envs if isinstance(e.event, ToolResult)}
    lates = {e.event.call_id: e for e in envs if isinstance(e.event, ToolLateResult)}
    sent = outputs_by_call(envs)
    for name, loop in zip(names, ["trio", "asyncio"], strict=True):
        call_id = f"call_{name}"
        result, late = results[call_id], lates[call_id]
        assert isinstance(result.event, ToolResult) and isinstance(late.event, ToolLateResult)
        assert (result.event.ok, result.event.error_kind) == (False, "timeout")
        assert 0.2 <= seconds(result.t_ns - requested[call_id].t_ns) < 0.2 + MARGIN
        # what it returned after swallowing the cancellation is on the record, after the timeout...
        assert (late.event.output, late.event.error_kind) == (f"finished anyway ({loop})", None)
        assert late.seq > result.seq and late.event.duration_ms >= 700
        # ...and was never sent: one output for the call, the timeout error
        assert sent[call_id] == [result.event.output]
        assert not any(
            isinstance(e.event, ClientCommand) and "finished anyway" in json.dumps(e.event.wire()) for e in envs
        )
    creates = [e for e in envs if isinstance(e.event, ClientCommand) and e.event.type == "response.create"]
    assert len(creates) == 1


async def test_values_strict_json_cannot_encode_become_error_outputs(tmp_path: Path) -> None:
    envs = await run(tmp_path, ["nan", "infinity"], late_expected=0)
    sent = outputs_by_call(envs)
    for name in ("nan", "infinity"):
        (output,) = sent[f"call_{name}"]
        error = strict_json(output)
        assert error == {"error": f"{name} returned a value strict JSON cannot encode: NaN and infinities are not JSON", "kind": "invalid_output"}
    for env in envs:  # every command the uploader would send is strict JSON
        if isinstance(env.event, ClientCommand):
            json.dumps(env.event.wire(), allow_nan=False)


class Node:
    def __init__(self) -> None:
        self.me = [self]


async def test_encoding_errors_say_why() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    cases: list[tuple[Any, str]] = [
        ({1, 2}, "Object of type set is not JSON serializable"),
        (b"\x00", "Object of type bytes is not JSON serializable"),
        ({(1, 2): "x"}, "keys must be str, int, float, bool or None, not tuple"),
        (cyclic, "Circular reference detected"),
        ("caf\udce9", "its text is not valid Unicode (surrogates not allowed)"),
        ({"ok": "caf\udce9"}, "its text is not valid Unicode (surrogates not allowed)"),
    ]
    with trio.fail_after(10):
        for value, why in cases:
            tool = Tool(name="odd", parameters=OBJECT, function=lambda value=value: value)
            output, kind = await execute(tool, {})
            assert kind == "invalid_output"
            assert strict_json(output)["error"] == f"odd returned a value strict JSON cannot encode: {why}"
        # a string is sent as the tool returned it; other values as strict JSON
        for value, expected in [("not json at all", "not json at all"), ({"t": 1.5, "é": None}, '{"t": 1.5, "é": null}')]:
            tool = Tool(name="fine", parameters=OBJECT, function=lambda value=value: value)
            assert await execute(tool, {}) == (expected, None)


async def test_a_cooperative_async_tool_is_stopped_at_its_deadline_and_frees_its_worker() -> None:
    async def sleeps_long() -> str:
        await trio.sleep(100)
        return "never"

    tool = Tool(name="sleeps_long", parameters=OBJECT, function=sleeps_long, timeout_s=0.2)
    limiter = trio.CapacityLimiter(1)
    run = ToolRun(tool, {}, limiter)
    with trio.fail_after(5):
        assert (await run.result())[1] == "timeout"
        assert await run.late() is None  # its own loop cancelled it: it produced nothing, and its thread ended
    assert limiter.borrowed_tokens == 0


async def test_stuck_tools_cannot_take_every_thread_and_the_next_run_says_why_it_timed_out() -> None:
    release = threading.Event()

    def stuck() -> str:
        release.wait(10)
        return "released"

    limiter = trio.CapacityLimiter(1)
    stuck_tool = Tool(name="stuck", parameters=OBJECT, function=stuck, timeout_s=0.1)
    quick_tool = Tool(name="quick", parameters=OBJECT, function=lambda: "ok", timeout_s=0.2)
    with trio.fail_after(5):
        first = ToolRun(stuck_tool, {}, limiter)
        assert (await first.result())[1] == "timeout"
        assert limiter.borrowed_tokens == 1  # the abandoned thread still holds its slot
        second = ToolRun(quick_tool, {}, limiter)
        output, kind = await second.result()
        assert kind == "timeout" and strict_json(output)["error"] == (
            "tool quick timed out after 0.2s (no free worker: 1 earlier runs are still going past their timeouts)"
        )
        assert await second.late() is None  # it never started
        release.set()
        assert await first.late() == ("released", None)
    assert limiter.borrowed_tokens == 0
    assert await ToolRun(quick_tool, {}, limiter).result() == ("ok", None)
