"""The tools shell in a session (bus, journal): tools run concurrently with timeouts, always off the event loop;
exceptions and timeouts become error outputs; the result is journaled (edge) before its output; one
response.create; and the journal replays through the core without running any tool.

Tools run in worker threads (async ones on their own loop there), which trio's autojump clock cannot see: these
tests run on the real clock with tool times of a few tenths of a second, and assert times with a margin."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import trio

from actors.tools.actor import REPLAYABLE, execute, tools_actor
from actors.tools.registry import Tool, ToolError, ToolRegistry
from events.commands import ClientCommand
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ResponseDone
from events.tools import ToolResult, ToolRunRequested
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext, ActorSpec, run_session

OBJECT = {"type": "object", "properties": {"x": {"type": "integer"}}}
SHORT = 0.1  # how long the quick tool takes (s)
MARGIN = 0.4  # scheduling slack allowed on a shared 2-core machine (s)


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.release = threading.Event()  # lets an abandoned worker thread finish when the test is over


def registry(calls: Calls) -> ToolRegistry:
    async def slow_async(x: int = 0) -> str:
        calls.count += 1
        await trio.sleep(100)
        return "never"

    async def quick(x: int = 0) -> dict[str, int]:
        calls.count += 1
        await trio.sleep(SHORT)
        return {"x": x, "at": 1}

    def explodes(x: int = 0) -> str:
        calls.count += 1
        raise KeyError("missing thing")

    def stuck_sync(x: int = 0) -> str:
        calls.count += 1
        calls.release.wait(30)
        return "late"

    return ToolRegistry(
        [
            Tool(name="slow_async", parameters=OBJECT, function=slow_async, timeout_s=0.4),
            Tool(name="quick", parameters=OBJECT, function=quick),
            Tool(name="explodes", parameters=OBJECT, function=explodes),
            Tool(name="stuck_sync", parameters=OBJECT, function=stuck_sync, timeout_s=0.3),
        ]
    )


async def test_execute_maps_results_errors_and_timeouts() -> None:
    calls = Calls()
    reg = registry(calls)

    def tool(name: str) -> Tool:
        t = reg.get(name)
        assert t is not None
        return t

    def refuses(where: str) -> str:
        raise ToolError(f"no weather for {where}")

    with trio.fail_after(30):
        assert await execute(tool("quick"), {"x": 7}) == ('{"x": 7, "at": 1}', None)
        output, kind = await execute(tool("explodes"), {})
        assert (json.loads(output), kind) == ({"error": "explodes failed: KeyError: 'missing thing'", "kind": "exception"}, "exception")
        start = trio.current_time()
        output, kind = await execute(tool("slow_async"), {})
        assert (json.loads(output), kind) == ({"error": "tool slow_async timed out after 0.4s", "kind": "timeout"}, "timeout")
        assert 0.4 <= trio.current_time() - start < 0.4 + MARGIN
        # a sync tool blocked in its thread: the timeout still fires and the thread is abandoned
        start = trio.current_time()
        output, kind = await execute(tool("stuck_sync"), {})
        assert (json.loads(output)["error"], kind) == ("tool stuck_sync timed out after 0.3s", "timeout")
        assert 0.3 <= trio.current_time() - start < 0.3 + MARGIN
        calls.release.set()
        refusing = Tool(name="refuses", parameters=OBJECT, function=refuses)
        assert await execute(refusing, {"where": "Atlantis"}) == ('{"error": "no weather for Atlantis", "kind": "tool_error"}', "tool_error")
        not_json = Tool(name="odd", parameters=OBJECT, function=lambda: {1, 2})
        assert (await execute(not_json, {}))[1] == "invalid_output"


def fake_router(calls: list[tuple[str, str]], seen: list[Envelope]) -> ActorSpec:
    """Asks for ``calls`` in one response, ends it, and returns after the tools' response.create."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for i, (name, arguments) in enumerate(calls):
                await ctx.publish(FunctionCallRequested(response_id="resp_1", item_id=f"it_{i}", call_id=f"call_{i}", name=name, arguments=arguments))
            await ctx.publish(ResponseDone(response_id="resp_1", status="completed", output_types=("function_call",) * len(calls)))
            async for env in ctx.inbox:
                seen.append(env)
                if isinstance(env.event, ClientCommand) and env.event.type == "response.create":
                    return

    return ActorSpec(name="router", consumes={ClientCommand}, shell=shell)


async def test_calls_of_one_response_run_concurrently_and_replay_runs_none(tmp_path: Path) -> None:
    calls = Calls()
    reg = registry(calls)
    path = tmp_path / "tools.rtpj"
    config = {"session": {"type": "realtime", "tools": reg.session_tools()}}
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(config)))
    seen: list[Envelope] = []
    asked = [("slow_async", "{}"), ("quick", '{"x": 5}'), ("explodes", "{}"), ("nope", "{}"), ("quick", '{"x": "five"}')]
    with trio.fail_after(30):
        outcome = await run_session([fake_router(asked, seen), tools_actor(reg)], bus=bus, end_when=["router"])
    assert outcome.ok, outcome
    assert calls.count == 3  # the unknown tool and the invalid arguments never ran

    _, envs = load_envelopes(path)
    results = {e.event.call_id: (e, e.event) for e in envs if isinstance(e.event, ToolResult)}
    assert {k: (r.ok, r.error_kind) for k, (_, r) in results.items()} == {
        "call_0": (False, "timeout"),
        "call_1": (True, None),
        "call_2": (False, "exception"),
    }
    # concurrent: the quick tool finished while the slow one was still running, and the slow one's timeout
    # (0.4 s) is the whole batch's time, not the sum
    quick_ms, slow_ms = results["call_1"][1].duration_ms, results["call_0"][1].duration_ms
    assert SHORT * 1000 <= quick_ms < (SHORT + MARGIN) * 1000 and 400 <= slow_ms < (0.4 + MARGIN) * 1000
    assert results["call_1"][0].seq < results["call_0"][0].seq  # the quick result was journaled first
    commands = [(e, e.event) for e in envs if isinstance(e.event, ClientCommand)]
    outputs = {c.body["item"]["call_id"]: (e, c.body["item"]["output"]) for e, c in commands if c.type == "conversation.item.create"}
    assert sorted(outputs) == ["call_0", "call_1", "call_2", "call_3", "call_4"]
    for call_id, (res_env, res) in results.items():
        out_env, output = outputs[call_id]
        assert output == res.output
        assert res_env.seq < out_env.seq and out_env.cause == res_env.seq  # journaled before the core reacted
        assert res.EDGE and res_env.source == "tools"
    assert json.loads(outputs["call_3"][1])["kind"] == "unknown_tool"
    assert json.loads(outputs["call_4"][1])["kind"] == "invalid_arguments"
    creates = [e for e, c in commands if c.type == "response.create"]
    assert len(creates) == 1 and creates[0].seq > max(e.seq for e, _ in outputs.values())
    assert [e.event.call_id for e in envs if isinstance(e.event, ToolRunRequested)] == ["call_0", "call_1", "call_2"]

    before = calls.count
    report = replay_actor(envs, REPLAYABLE, config)
    assert (report.divergences, report.first) == (0, None)
    assert report.compared == 3 + 2 * 2 + 3 + 1  # runs, rejections (event + output), outputs, response.create
    assert calls.count == before  # replay ran no tool


async def test_end_of_input_cancels_running_tools() -> None:
    calls = Calls()
    bus = Bus(clock=TrioClock())
    probe = bus.subscribe("probe", {ToolRunRequested, ToolResult})

    async def router(ctx: ActorContext) -> None:
        with ctx.inbox:
            await ctx.publish(FunctionCallRequested(response_id="r", item_id="i", call_id="c", name="slow_async", arguments="{}"))
            await trio.sleep(0.1)

    with trio.fail_after(10):
        start = trio.current_time()
        outcome = await run_session(
            [ActorSpec(name="router", consumes=set(), shell=router), tools_actor(registry(calls))], bus=bus, end_when=["router"]
        )
        assert outcome.ok and trio.current_time() - start < 0.4  # did not wait for the 0.4 s timeout
    assert calls.count == 1
    published = [probe.receive_nowait().event for _ in range(len(probe))]
    assert [type(e) for e in published] == [ToolRunRequested]  # started, cancelled, no result after the end
