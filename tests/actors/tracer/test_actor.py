"""The tracer shell through a real Bus: the real maxim-py logger against a loopback stand-in of Maxim
(what it sends, and that a dead Maxim delays the end by at most the flush bound), and the JSONL fallback."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.tracer.actor import consumed_types, tracer_actor
from actors.tracer.backends import trace_path
from actors.tracer.core import TraceCore
from events.base import Event
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.runtime import ActorContext, ActorSpec, run_session
from tests.actors.tracer.fake_maxim import FakeMaxim, LoopbackOnly, by_entity
from tests.actors.tracer.scenario import SUMMARY_USAGE, WEATHER, conversation

CONFIG = {"maxim_session_id": "run42", "maxim_session_name": "demo run", "maxim_session_tags": "env=test,who=ci", "model": "gpt-realtime"}
KEY = "test-maxim-key-not-real"


def script(events: list[Event]) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for event in events:
                await ctx.publish(event)

    return ActorSpec(name="script", consumes=set(), shell=shell)


def maxim_env(fake: FakeMaxim) -> dict[str, str]:
    return {"MAXIM_API_KEY": KEY, "MAXIM_LOG_REPO_ID": "repo-1", "MAXIM_BASE_URL": fake.base_url}


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LoopbackOnly:
    guard = LoopbackOnly()
    guard.install(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the SDK spills unsent logs under tempdir
    return guard


async def run(tracer: ActorSpec, events: list[Event], bus: Bus | None = None) -> float:
    """Run the script and the tracer to the end; return the seconds from end of input to the end."""
    bus = bus or Bus(clock=TrioClock())
    ended: list[float] = []

    async def mark(ctx: ActorContext) -> None:
        await script(events).shell(ctx)
        ended.append(time.monotonic())

    with trio.fail_after(15):
        outcome = await run_session([ActorSpec(name="script", consumes=set(), shell=mark), tracer], bus=bus, end_when=["script"])
    assert outcome.ok, outcome
    return time.monotonic() - ended[0]


async def test_maxim_receives_session_traces_generations_tool_calls_and_the_summary(guarded: LoopbackOnly) -> None:
    pytest.importorskip("events.summary")
    fake = FakeMaxim("answer")
    try:
        await run(tracer_actor(journal_path=None, config=CONFIG, environ=maxim_env(fake)), conversation())
    finally:
        fake.close()
    assert guarded.violations == []
    assert fake.requests, "maxim-py sent nothing"
    assert {(r.method, r.path) for r in fake.requests} == {("POST", "/api/sdk/v3/log?id=repo-1")}
    assert all(r.api_key == KEY for r in fake.requests)  # the key travels only as maxim-py's header
    assert not any(KEY in r.body for r in fake.requests)
    logs = fake.commit_logs()

    (session,) = by_entity(logs, "session", "create")
    assert (session.id, session.data["name"], session.data["tags"]) == ("run42", "demo run", {"env": "test", "who": "ci"})
    assert [log.id for log in by_entity(logs, "session", "end")] == ["run42"]

    traces = {log.id: log.data for log in by_entity(logs, "trace", "create")}
    assert {t["name"] for t in traces.values()} == {"turn 1", "turn 2", "summary sum_001", "server error"}
    assert {t["sessionId"] for t in traces.values()} == {"run42"}
    inputs = {log.id: log.data["input"] for log in by_entity(logs, "trace", "update") if "input" in log.data}
    outputs = {log.id: log.data["output"] for log in by_entity(logs, "trace", "update") if "output" in log.data}
    assert inputs == {"run42-trace-1": "what's the weather in Paris", "run42-trace-2": "tell me a story"}
    assert outputs["run42-trace-1"] == "It is 21 degrees in Paris."
    assert {log.id for log in by_entity(logs, "trace", "end")} == set(traces)

    generations = {log.data["id"]: (log.id, log.data) for log in by_entity(logs, "trace", "add-generation")}
    results = {log.id: log.data["result"] for log in by_entity(logs, "generation", "result")}
    assert set(generations) == set(results) == {f"run42-gen-{n}" for n in range(1, 5)}
    trace_1, gen_2 = generations["run42-gen-2"]
    assert trace_1 == "run42-trace-1" and gen_2["model"] == "gpt-realtime" and gen_2["provider"] == "openai"
    assert [m["role"] for m in gen_2["messages"]] == ["user", "assistant", "tool"]
    assert results["run42-gen-1"]["usage"]["prompt_tokens"] == 100
    assert results["run42-gen-2"]["usage"] == {"prompt_tokens": 150, "completion_tokens": 40, "total_tokens": 190}
    assert results["run42-gen-2"]["choices"][0]["message"]["content"] == "It is 21 degrees in Paris."
    cancelled = results["run42-gen-3"]
    assert cancelled["choices"][0]["finish_reason"] == "turn_detected" and cancelled["usage"]["total_tokens"] == 230
    status = [log.data["metadata"] for log in by_entity(logs, "generation", "update") if log.id == "run42-gen-3" and "metadata" in log.data]
    assert {"status": "cancelled", "reason": "turn_detected"} in status

    summary_trace, summary = generations["run42-gen-4"]
    assert traces[summary_trace]["name"] == "summary sum_001" and summary["model"] == "gpt-4o-mini"
    assert results["run42-gen-4"]["usage"] == SUMMARY_USAGE
    assert results["run42-gen-4"]["choices"][0]["message"]["content"].startswith("L'utilisateur")

    (tool,) = by_entity(logs, "trace", "add-tool-call")
    assert (tool.id, tool.data["name"], tool.data["args"]) == ("run42-trace-1", "get_weather", '{"location": "Paris"}')
    assert [(log.id, log.data["result"]) for log in by_entity(logs, "tool_call", "result")] == [(tool.data["id"], WEATHER)]

    (error,) = by_entity(logs, "trace", "add-error")
    assert (error.data["message"], error.data["code"]) == ("Item 'x' not found", "item_not_found")


@pytest.mark.parametrize("mode", ["silent", "refuse"])
async def test_a_dead_maxim_delays_the_end_by_at_most_the_flush_bound(guarded: LoopbackOnly, mode: str) -> None:
    fake = FakeMaxim(mode)
    bound = 1.0
    try:
        tail = await run(tracer_actor(journal_path=None, config=CONFIG, environ=maxim_env(fake), flush_timeout_s=bound), conversation(with_edges=False))
    finally:
        fake.close()
    assert tail < bound + 0.5, f"the session ended {tail:.2f} s after its input; the bound is {bound} s"
    assert guarded.violations == []


async def test_without_a_key_the_same_operations_go_to_a_jsonl_file_next_to_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "s.rtpj"
    bus = Bus(clock=TrioClock(), journal=JournalWriter(journal, make_header(CONFIG)))
    environ = {"OPENAI_API_KEY": "sk-not-real", "MAXIM_LOG_REPO_ID": "repo-1"}  # a repo but no Maxim key
    await run(tracer_actor(journal_path=journal, config=CONFIG, environ=environ), conversation(), bus=bus)

    path = trace_path(journal)
    assert path.name == "s.rtpj.trace.jsonl" and path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "sk-not-real" not in text
    records = [json.loads(line) for line in text.splitlines()]
    _, envelopes = load_envelopes(journal)
    core = TraceCore.from_config(CONFIG)
    types = consumed_types()
    expected: list[dict[str, Any]] = []
    for env in envelopes:
        if type(env.event) in types:
            expected += [{"t_ns": env.t_ns, "op": op.kind, "id": op.id, "data": op.data} for op in core.handle(env)]
    closing = core.finish()
    expected += [{"op": op.kind, "id": op.id, "data": op.data} for op in closing]
    got = [dict(r) for r in records]
    for record in got[len(got) - len(closing) :]:  # the closing operations carry the last event's time
        record.pop("t_ns")
    assert got == json.loads(json.dumps(expected))
    assert [r["op"] for r in records].count("generation.result") >= 3 and records[-1]["op"] == "session.end"
