"""The tracer per item: a response with a spoken preamble, function calls and the answer (the current realtime
models), every item's text in order on its generation and every call as a tool call, audio attachments per
item, and a reconnect shown in the Maxim session (by value, and through maxim-py against the loopback fake)."""

from __future__ import annotations

import json
from typing import Any

from actors.tracer.audio import AudioCutter
from actors.tracer.core import TraceCore
from actors.tracer.ops import Op
from events.base import Event
from events.commands import function_call_output
from events.connection import (
    ConnectionLost,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
    ReseedPlanned,
)
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    OutputItemAdded,
    ResponseCreated,
    ResponseDone,
)
from events.transcripts import TranscriptResolved
from tests.actors.tracer.fake_maxim import FakeMaxim, LoopbackOnly, by_entity
from tests.actors.tracer.test_actor import guarded, maxim_env, run  # noqa: F401 (guarded is a fixture)

CONFIG = {"maxim_session_id": "s1", "model": "gpt-realtime-2.1"}


class Feeder:
    def __init__(self) -> None:
        self.core = TraceCore.from_config(CONFIG)
        self.seq = 0
        self.ops: list[Op] = []

    def __call__(self, *events: Event) -> list[Op]:
        out: list[Op] = []
        for event in events:
            self.seq += 1
            out += self.core.handle(Envelope(seq=self.seq, t_ns=self.seq * 1000, source="x", cause=None, event=event))
        self.ops += out
        return out

    def of(self, kind: str) -> list[Op]:
        return [op for op in self.ops if op.kind == kind]


def message(response: str, item: str, previous: str, text: str, index: int = 0) -> list[Event]:
    return [
        OutputItemAdded(response_id=response, item_id=item, output_index=index, item_type="message", role="assistant"),
        ItemAdded(item_id=item, previous_item_id=previous, item_type="message", role="assistant", status="in_progress"),
        AssistantTextDelta(response_id=response, item_id=item, modality="audio", delta=text),
        AssistantTextDone(response_id=response, item_id=item, modality="audio", text=text),
    ]


def call(response: str, item: str, previous: str, call_id: str, name: str, args: str, index: int) -> list[Event]:
    return [
        OutputItemAdded(response_id=response, item_id=item, output_index=index, item_type="function_call"),
        ItemAdded(item_id=item, previous_item_id=previous, item_type="function_call", call_id=call_id, name=name),
        FunctionCallRequested(response_id=response, item_id=item, call_id=call_id, name=name, arguments=args),
    ]


def done(response: str, items: tuple[str, ...], types: tuple[str, ...], status: str = "completed") -> ResponseDone:
    fields: dict[str, Any] = {"output_item_ids": items, "output_types": types}
    return ResponseDone(response_id=response, status=status, usage={"total_tokens": 300, "input_tokens": 250, "output_tokens": 50}, **fields)


def user(item: str, previous: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item, previous_item_id=previous, item_type="message", role="user", status="completed")


def preamble_two_calls_then_answer() -> list[Event]:
    return [
        user("u1"),
        TranscriptResolved(item_id="u1", text="the weather in Paris and the time in Tokyo", via="event"),
        ResponseCreated(response_id="r1"),
        *message("r1", "pre", "u1", "Let me check that."),
        *call("r1", "f1", "pre", "c1", "get_weather", '{"city":"Paris"}', 1),
        *call("r1", "f2", "f1", "c2", "get_time", '{"city":"Tokyo"}', 2),
        done("r1", ("pre", "f1", "f2"), ("message", "function_call", "function_call")),
        function_call_output("tools_0001", "c2", '{"time":"21:04"}'),
        function_call_output("tools_0002", "c1", '{"sky":"clear"}'),
        ResponseCreated(response_id="r2"),
        *message("r2", "a1", "f2", "It is clear in Paris."),
        *message("r2", "a2", "a1", "And 21:04 in Tokyo.", index=1),
        # the server's list left the second message out: it is still the response's, from output_item.added
        done("r2", ("a1",), ("message",)),
    ]


def test_a_generation_per_response_carries_every_item_in_order() -> None:
    feed = Feeder()
    feed(*preamble_two_calls_then_answer())
    first, second = (op.data for op in feed.of("generation.result"))
    message_1 = first["result"]["choices"][0]["message"]
    assert message_1["content"] == "Let me check that."
    assert [c["function"]["name"] for c in message_1["tool_calls"]] == ["get_weather", "get_time"]
    assert first["result"]["choices"][0]["finish_reason"] == "tool_calls"
    assert first["output_items"] == [
        {"item_id": "pre", "type": "message", "text": "Let me check that."},
        {"item_id": "f1", "type": "function_call", "call_id": "c1", "name": "get_weather"},
        {"item_id": "f2", "type": "function_call", "call_id": "c2", "name": "get_time"},
    ]
    assert second["result"]["choices"][0]["message"] == {"role": "assistant", "content": "It is clear in Paris.\nAnd 21:04 in Tokyo."}
    assert [i["item_id"] for i in second["output_items"]] == ["a1", "a2"]
    # two tool calls, each with its own result; the second generation's request has both outputs
    assert [op.data["name"] for op in feed.of("tool_call.start")] == ["get_weather", "get_time"]
    assert [op.data["result"] for op in feed.of("tool_call.result")] == ['{"time":"21:04"}', '{"sky":"clear"}']
    messages = feed.of("generation.start")[1].data["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Let me check that."
    # one turn: the trace's output is the answer, and it ends with it
    assert feed.of("trace.update")[-1].data == {"output": "It is clear in Paris.\nAnd 21:04 in Tokyo."}
    assert [op.id for op in feed.of("trace.end")] == ["s1-trace-1"]


def test_every_items_audio_is_its_own_attachment_and_an_unheard_item_has_none() -> None:
    feed = Feeder()
    pcm = bytes(4800)  # 100 ms
    feed(user("u1"), ResponseCreated(response_id="r1"))
    feed(
        *message("r1", "pre", "u1", "One moment."),
        AssistantAudioDelta(response_id="r1", item_id="pre", pcm=pcm * 3),
        *message("r1", "ans", "pre", "Here it is.", index=1),
        AssistantAudioDelta(response_id="r1", item_id="ans", pcm=pcm * 5),
        PlaybackProgress(item_id="pre", played_ms=300, received_ms=300),
        PlaybackFinished(item_id="pre", played_ms=300),
        PlaybackProgress(item_id="ans", played_ms=200, received_ms=500),
        PlaybackFinished(item_id="ans", played_ms=200, interrupted=True),  # a barge-in in the answer
        AssistantAudioDelta(response_id="r1", item_id="ans", pcm=pcm),  # in flight: never played
        OutputItemAdded(response_id="r1", item_id="tail", output_index=2, item_type="message", role="assistant"),
        AssistantAudioDelta(response_id="r1", item_id="tail", pcm=pcm),
        PlaybackFinished(item_id="tail", played_ms=0, interrupted=True),  # stopped before it began
        done("r1", ("pre", "ans"), ("message", "message"), status="cancelled"),
    )
    attachments = feed.of("attachment")
    assert [(a.data["item_id"], a.data["duration_ms"], a.data["interrupted"]) for a in attachments] == [
        ("pre", 300, False),
        ("ans", 200, True),
    ]
    assert {a.data["trace_id"] for a in attachments} == {"s1-trace-1"}
    assert feed.core.finish()[-1] == Op("session.end", "s1", {})
    assert feed.of("attachment") == attachments  # nothing left over for the end of the session


def test_the_cutter_ignores_deltas_of_an_item_already_finished() -> None:
    cutter = AudioCutter()
    events: list[Event] = [
        AssistantAudioDelta(response_id="r1", item_id="a", pcm=bytes(960)),
        PlaybackFinished(item_id="a", played_ms=10, interrupted=True),
        AssistantAudioDelta(response_id="r1", item_id="a", pcm=bytes(960)),
    ]
    cuts = [c for i, e in enumerate(events) for c in cutter.apply(Envelope(seq=i, t_ns=i, source="x", cause=None, event=e))]
    assert [c.duration_ms for c in cuts] == [10]
    assert cutter.finish(99) == []


def reconnect(*, fatal: bool = False, response: str = "r1") -> list[Event]:
    return [
        user("u1"),
        TranscriptResolved(item_id="u1", text="tell me about Tokyo", via="event"),
        ResponseCreated(response_id=response),
        *message(response, "pre", "u1", "Let me think."),
        OutputItemAdded(response_id=response, item_id="ans", output_index=1, item_type="message", role="assistant"),
        ItemAdded(item_id="ans", previous_item_id="pre", item_type="message", role="assistant"),
        AssistantTextDelta(response_id=response, item_id="ans", modality="audio", delta="Tokyo is"),
        ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=(response,)),
        ReconnectRequested(attempt=1, delay_ms=250),
        ReconnectFailed(attempt=1, error="connection refused", fatal=fatal),
    ]


def reseed() -> list[Event]:
    return [
        ReconnectRequested(attempt=2, delay_ms=500),
        Reconnected(attempt=2, connection=2),
        ReseedPlanned(items=("u1", "pre", "ans")),
        ItemAdded(item_id="u1", item_type="message", role="user", text="tell me about Tokyo"),
        ItemAdded(item_id="pre", previous_item_id="u1", item_type="message", role="assistant", text="Let me think."),
        ItemAdded(item_id="ans", previous_item_id="pre", item_type="message", role="assistant", text="Tokyo is"),
        ConversationReseeded(items=("u1", "pre", "ans")),
        HeldAudioSent(sent_ms=1200),
    ]


def test_a_lost_response_is_a_generation_error_and_the_reconnect_a_trace_of_its_own() -> None:
    feed = Feeder()
    feed(*reconnect(), *reseed())
    [error] = feed.of("generation.error")
    assert error.data == {
        "message": "connection lost before response.done: connection closed by the server (code 1006)",
        "code": "1006",
        "type": "connection_lost",
        "output_items": [
            {"item_id": "pre", "type": "message", "text": "Let me think."},
            {"item_id": "ans", "type": "message", "text": "Tokyo is", "interrupted": True},
        ],
    }
    assert feed.of("generation.start")[0].data["trace_id"] == "s1-trace-1"  # on the turn's trace
    starts = [(op.id, op.data["name"]) for op in feed.of("trace.start")]
    assert starts == [("s1-trace-1", "turn 1"), ("s1-trace-2", "reconnect 1: connection closed by the server (code 1006)")]
    events = [(op.id, op.data["name"]) for op in feed.of("trace.event") if op.id == "s1-trace-2"]
    assert [name for _, name in events] == [
        "connection.lost",
        "connection.reconnect_requested",
        "connection.reconnect_failed",
        "connection.reconnect_requested",
        "connection.reconnected",
        "connection.reseed_planned",
        "connection.reseeded",
        "connection.held_audio_sent",
    ]
    lost = next(op for op in feed.of("trace.event") if op.data["name"] == "connection.lost")
    assert lost.data["metadata"] == {"reason": "connection closed by the server (code 1006)", "code": 1006, "reconnecting": True, "interrupted": ["r1"]}
    assert feed.of("trace.end") == []  # the turn goes on; the reconnect trace waits for the conversation
    # the call goes on: the next response ends the reconnect trace and belongs to the same turn
    feed(ResponseCreated(response_id="r2"), *message("r2", "a2", "ans", "Tokyo is big."), done("r2", ("a2",), ("message",)))
    assert [op.id for op in feed.of("trace.end")] == ["s1-trace-2", "s1-trace-1"]
    assert feed.of("generation.start")[-1].data["trace_id"] == "s1-trace-1"
    assert len(feed.of("trace.start")) == 2  # re-seeded items opened no turn


def test_a_fatal_attempt_is_an_error_on_the_reconnect_trace_and_finish_ends_it() -> None:
    feed = Feeder()
    feed(*reconnect(fatal=True))
    [error] = feed.of("trace.error")
    assert (error.id, error.data["type"]) == ("s1-trace-2", "reconnect_failed")
    ends = [op.id for op in feed.core.finish() if op.kind == "trace.end"]
    assert sorted(ends) == ["s1-trace-1", "s1-trace-2"]


def test_a_resume_is_a_trace_and_its_items_open_no_turn() -> None:
    feed = Feeder()
    feed(
        ReseedPlanned(items=("sum_001", "u1"), summary_id="sum_001", resumed_from="old.rtpj"),
        ItemAdded(item_id="sum_001", item_type="message", role="system", text="Earlier."),
        ItemAdded(item_id="u1", previous_item_id="sum_001", item_type="message", role="user", text="hello"),
        ConversationReseeded(items=("sum_001", "u1"), summary_id="sum_001", resumed_from="old.rtpj"),
        user("u2", "u1"),
    )
    assert [op.data["name"] for op in feed.of("trace.start")] == ["resume from old.rtpj", "turn 1"]
    assert [op.id for op in feed.of("trace.end")] == ["s1-trace-1"]


async def test_maxim_shows_the_items_of_a_response_and_the_reconnect(guarded: LoopbackOnly) -> None:  # noqa: F811
    from actors.tracer.actor import tracer_actor

    fake = FakeMaxim("answer")
    events = [
        *preamble_two_calls_then_answer(),
        user("u2", "a2"),
        TranscriptResolved(item_id="u2", text="tell me about Tokyo", via="event"),
        ResponseCreated(response_id="r3"),
        *message("r3", "a3", "u2", "Tokyo is"),
        ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=("r3",)),
        *reseed(),
    ]
    try:
        await run(tracer_actor(journal_path=None, config=CONFIG, environ=maxim_env(fake)), events)
    finally:
        fake.close()
    assert guarded.violations == []
    logs = fake.commit_logs()
    names = {log.id: log.data["name"] for log in by_entity(logs, "trace", "create")}
    assert sorted(names.values()) == ["reconnect 1: connection closed by the server (code 1006)", "turn 1", "turn 2"]
    results = {log.id: log.data["result"] for log in by_entity(logs, "generation", "result")}
    assert results["s1-gen-2"]["choices"][0]["message"]["content"] == "It is clear in Paris.\nAnd 21:04 in Tokyo."
    items = [json.loads(log.data["metadata"]["output_items"]) for log in by_entity(logs, "generation", "update")
             if log.id == "s1-gen-1" and "output_items" in log.data.get("metadata", {})]  # fmt: skip
    assert [i["item_id"] for i in items[0]] == ["pre", "f1", "f2"]
    reconnect_trace = next(t for t, n in names.items() if n.startswith("reconnect"))
    added = [log.data["name"] for log in by_entity(logs, "trace", "add-event") if log.id == reconnect_trace]
    assert added == [
        "connection.lost",
        "connection.reconnect_requested",
        "connection.reconnected",
        "connection.reseed_planned",
        "connection.reseeded",
        "connection.held_audio_sent",
    ]
    errors = {gen: result["error"] for gen, result in results.items() if "error" in result}
    assert [e["type"] for e in errors.values()] == ["connection_lost"]
    assert {log.id for log in by_entity(logs, "trace", "end")} == set(names)


def test_the_connection_events_are_consumed() -> None:
    from actors.tracer.actor import CONSUMES

    assert {ConnectionLost, ReseedPlanned, ConversationReseeded, HeldAudioSent, OutputItemAdded} <= CONSUMES

