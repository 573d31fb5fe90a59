"""End to end on the embedded server over a real loopback WebSocket: a session assembled like
``pipeline/session.py`` plus the tools actor declares the built-in tools; the scripted user asks for the
weather in Paris; the server calls ``get_weather``; the output goes back; exactly one ``response.create``;
the assistant speaks a sentence built from the output; and the journal replays every actor (tools included)
with zero divergences without running a tool."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from actors.tools.actor import REPLAYABLE as TOOLS
from actors.tools.registry import ToolRegistry
from events.commands import ClientCommand, ClientEventSent
from events.envelope import Envelope
from events.protocol import AssistantTextDone, FunctionCallRequested, ServerError
from events.tools import ToolResult, ToolRunRequested
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.config import RunConfig
from pipeline.connection import connect, resolve_endpoint
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.projections.conversation import Conversation
from pipeline.registry import replayable_actors
from pipeline.replay import Replayable, replay
from pipeline.runtime import run_session
from pipeline.server import ServerConfig, serve
from pipeline.session import build_actors, core_config, make_sink, make_source

pytestmark = pytest.mark.slow


def counting_registry(runs: list[str]) -> ToolRegistry:
    """The default tools, with get_weather recording each run (so we can tell that replay runs none)."""
    registry = ToolRegistry.default()
    weather = registry.get("get_weather")
    assert weather is not None

    def get_weather(location: str, unit: str = "celsius") -> str:
        runs.append(location)
        return str(weather.function(location=location, unit=unit))

    registry.add(attrs.evolve(weather, function=get_weather), replace=True)
    return registry


async def weather_session(tmp_path: Path, registry: ToolRegistry) -> tuple[list[Envelope], list[Replayable], Mapping[str, Any]]:
    """A session as ``pipeline/session.py`` assembles it, plus the tools actor; the user asks for the weather.
    Returns the journal's envelopes, the replayables of the session's actors, and the journaled config."""
    config = RunConfig(server="local", script=("what is the weather like in Paris",), fast=True, output="none", quiet=True)
    # the lead's core_config with the registry's tools: the session declares them, the tools core reads them
    cores = core_config(config, registry.session_tools())
    path = tmp_path / "tools.rtpj"
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(serve, ServerConfig())
            endpoint = resolve_endpoint("local", config.model, None).at(handle.realtime_url)
            bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(cores)))
            async with connect(endpoint) as ws:
                specs = build_actors(
                    config, cores, ws, source=make_source(config), sink=make_sink(config, None), conversation=Conversation(),
                    stream=None, tools=registry,
                )
                outcome = await run_session(specs, bus=bus)
            nursery.cancel_scope.cancel()
    assert outcome.ok, outcome
    journal, envs = load_envelopes(path)
    assert journal.header is not None
    in_session = {spec.name for spec in specs}
    replayables = [r for r in [*replayable_actors().values(), TOOLS] if r.name in in_session]
    assert {r.name for r in replayables} >= {"conductor", "transcripts", "uploader", "tools"}
    return envs, replayables, journal.header.config


def assert_replays(envs: list[Envelope], replayables: list[Replayable], config: Mapping[str, Any]) -> None:
    reports = replay(envs, replayables, config)
    assert {r.actor: (r.divergences, r.first) for r in reports} == {r.actor: (0, None) for r in reports}
    assert next(r for r in reports if r.actor == "tools").compared == 3  # run, output, response.create


async def test_weather_in_paris_round_trip_and_replay(tmp_path: Path) -> None:
    runs: list[str] = []
    envs, replayables, config = await weather_session(tmp_path, counting_registry(runs))
    assert runs == ["Paris"]
    events = [e.event for e in envs]
    assert not [e for e in events if isinstance(e, ServerError)]
    [call] = [e for e in events if isinstance(e, FunctionCallRequested)]
    assert call.name == "get_weather" and json.loads(call.arguments)["location"] == "Paris"
    [run] = [e for e in events if isinstance(e, ToolRunRequested)]
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert run.call_id == result.call_id == call.call_id and result.ok
    weather = json.loads(result.output)
    assert weather["location"] == "Paris"

    commands = [e for e in events if isinstance(e, ClientCommand) and e.event_id.startswith("tools_")]
    assert [c.type for c in commands] == ["conversation.item.create", "response.create"]
    assert commands[0].body["item"] == {"type": "function_call_output", "call_id": call.call_id, "output": result.output}
    assert sum(1 for e in events if isinstance(e, ClientCommand) and e.type == "response.create") == 1
    sent = {e.event_id for e in events if isinstance(e, ClientEventSent)}
    assert {c.event_id for c in commands} <= sent  # both went out on the socket
    spoken = [e.text for e in events if isinstance(e, AssistantTextDone)]
    assert f"The weather in Paris is {weather['condition']} at {weather['temperature']}." in spoken

    assert_replays(envs, replayables, config)
    assert runs == ["Paris"]  # replay ran no tool


async def test_a_tool_that_times_out_is_answered_and_the_conversation_goes_on(tmp_path: Path) -> None:
    registry = ToolRegistry.default()
    weather = registry.get("get_weather")
    assert weather is not None

    async def hangs(location: str, unit: str = "celsius") -> str:
        await trio.sleep(60)
        return "never"

    registry.add(attrs.evolve(weather, function=hangs, timeout_s=0.2), replace=True)
    envs, replayables, config = await weather_session(tmp_path, registry)
    events = [e.event for e in envs]
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert (result.ok, result.error_kind) == (False, "timeout")
    spoken = [e.text for e in events if isinstance(e, AssistantTextDone)]
    assert "Sorry, get weather failed: tool get_weather timed out after 0.2s." in spoken
    assert sum(1 for e in events if isinstance(e, ClientCommand) and e.type == "response.create") == 1
    assert_replays(envs, replayables, config)
