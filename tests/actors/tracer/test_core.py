"""The tracer core by value: which trace operations a conversation turns into."""

from __future__ import annotations

from typing import Any

from actors.tracer.core import TraceCore, TracerState
from actors.tracer.ops import Op, chat_usage, parse_tags, safe_id
from events.base import Event
from events.commands import function_call_output
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
)
from events.runtime import ActorFailed
from events.transcripts import TranscriptResolved, TranscriptUnavailable

CALL_ARGS = '{"location": "Paris"}'
WEATHER = '{"temperature": 21}'
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": CALL_ARGS}}


class Feeder:
    def __init__(self, **config: Any) -> None:
        self.core = TraceCore.from_config({"maxim_session_id": "s1", **config})
        self.seq = 0

    def __call__(self, event: Event) -> list[Op]:
        self.seq += 1
        return self.core.handle(Envelope(seq=self.seq, t_ns=self.seq * 1000, source="x", cause=None, event=event))


def user(item_id: str, text: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item_id, item_type="message", role="user", status="completed", text=text)


def assistant(item_id: str) -> ItemAdded:
    return ItemAdded(item_id=item_id, item_type="message", role="assistant", status="in_progress")


def gen_head(gen: str, trace: str, messages: list[dict[str, Any]], start: int, response: str) -> Op:
    return Op(
        "generation.start",
        gen,
        {"trace_id": trace, "name": "response", "provider": "openai", "model": "gpt-realtime", "messages": messages, "start_t_ns": start, "response_id": response},
    )


def result(response: str, message: dict[str, Any], finish: str, usage: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return {"id": response, "object": "realtime.response", "model": "gpt-realtime", "choices": [choice], "usage": usage}


def test_a_turn_with_a_tool_call_then_a_cancelled_reply() -> None:
    feed = Feeder(maxim_session_name="demo", maxim_session_tags="env=test, run = 7")
    assert feed(user("item_u1")) == [
        Op("session.start", "s1", {"name": "demo", "tags": {"env": "test", "run": "7"}}),
        Op("trace.start", "s1-trace-1", {"session_id": "s1", "name": "turn 1", "tags": {"item_id": "item_u1"}}),
    ]
    assert feed(ResponseCreated(response_id="resp_1")) == []
    assert feed(FunctionCallRequested(response_id="resp_1", item_id="fc1", call_id="call_1", name="get_weather", arguments=CALL_ARGS)) == [
        Op("tool_call.start", "s1-tool-1", {"trace_id": "s1-trace-1", "name": "get_weather", "args": CALL_ARGS, "call_id": "call_1"})
    ]
    assert feed(TranscriptResolved(item_id="item_u1", text="weather in Paris?", via="event")) == [
        Op("trace.update", "s1-trace-1", {"input": "weather in Paris?"}),
        Op("trace.event", "s1-trace-1", {"event_id": "s1-event-1", "name": "transcript", "metadata": {"item_id": "item_u1", "via": "event"}}),
    ]
    usage = {"total_tokens": 120, "input_tokens": 100, "output_tokens": 20, "input_token_details": {"cached_tokens": 64, "audio_tokens": 30}}
    done = ResponseDone(response_id="resp_1", status="completed", usage=usage, output_item_ids=("fc1",), output_types=("function_call",))
    user_msg = {"role": "user", "content": "weather in Paris?"}
    call_msg = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    mapped = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 30}}
    assert feed(done) == [
        gen_head("s1-gen-1", "s1-trace-1", [user_msg], 2000, "resp_1"),
        Op("generation.result", "s1-gen-1", {
            "result": result("resp_1", call_msg, "tool_calls", mapped), "status": "completed",
            "output_items": [{"item_id": "fc1", "type": "function_call", "call_id": "call_1", "name": "get_weather"}],
        }),
    ]  # the trace stays open: the reply comes after the tool
    assert feed(function_call_output("tools_0001", "call_1", WEATHER)) == [Op("tool_call.result", "s1-tool-1", {"result": WEATHER})]
    assert feed(ResponseCreated(response_id="resp_2")) == []
    assert feed(assistant("item_a1")) == []
    assert feed(AssistantTextDone(response_id="resp_2", item_id="item_a1", modality="audio", text="It is 21 degrees.")) == []
    done = ResponseDone(response_id="resp_2", status="completed", usage={"total_tokens": 190, "input_tokens": 150, "output_tokens": 40}, output_item_ids=("item_a1",), output_types=("message",))
    tool_msg = {"role": "tool", "tool_call_id": "call_1", "content": WEATHER}
    reply = {"role": "assistant", "content": "It is 21 degrees."}
    assert feed(done) == [
        gen_head("s1-gen-2", "s1-trace-1", [user_msg, call_msg, tool_msg], 7000, "resp_2"),
        Op("generation.result", "s1-gen-2", {
            "result": result("resp_2", reply, "stop", {"prompt_tokens": 150, "completion_tokens": 40, "total_tokens": 190}), "status": "completed",
            "output_items": [{"item_id": "item_a1", "type": "message", "text": "It is 21 degrees."}],
        }),
        Op("trace.update", "s1-trace-1", {"output": "It is 21 degrees."}),
        Op("trace.end", "s1-trace-1", {}),
    ]
    # second turn: the user barges in; the reply is cancelled before the transcript arrives
    assert feed(user("item_u2")) == [Op("trace.start", "s1-trace-2", {"session_id": "s1", "name": "turn 2", "tags": {"item_id": "item_u2"}})]
    feed(ResponseCreated(response_id="resp_3"))
    feed(assistant("item_a2"))
    feed(AssistantTextDelta(response_id="resp_3", item_id="item_a2", modality="audio", delta="Once upon"))
    done = ResponseDone(
        response_id="resp_3", status="cancelled", status_details={"type": "cancelled", "reason": "turn_detected"},
        usage={"total_tokens": 230, "input_tokens": 220, "output_tokens": 10}, output_item_ids=("item_a2",), output_types=("message",),
    )
    partial = {"role": "assistant", "content": "Once upon"}
    assert feed(done) == [
        gen_head("s1-gen-3", "s1-trace-2", [], 12000, "resp_3"),
        Op("generation.result", "s1-gen-3", {
            "result": result("resp_3", partial, "turn_detected", {"prompt_tokens": 220, "completion_tokens": 10, "total_tokens": 230}),
            "status": "cancelled", "reason": "turn_detected",
            "output_items": [{"item_id": "item_a2", "type": "message", "text": "Once upon", "interrupted": True}],
        }),
        Op("trace.update", "s1-trace-2", {"output": "Once upon"}),
        Op("trace.end", "s1-trace-2", {}),
    ]
    assert feed(TranscriptResolved(item_id="item_u2", text="tell me a story", via="retrieve")) == [
        Op("trace.update", "s1-trace-2", {"input": "tell me a story"}),
        Op("trace.event", "s1-trace-2", {"event_id": "s1-event-2", "name": "transcript", "metadata": {"item_id": "item_u2", "via": "retrieve"}}),
        Op("generation.message", "s1-gen-3", {"role": "user", "content": "tell me a story"}),
    ]
    assert feed.core.finish() == [Op("session.end", "s1", {})]
    assert feed.core.state is TracerState.FINISHED
    assert feed(user("item_u3")) == [] and feed.core.finish() == []


def test_a_failed_response_is_a_generation_error_and_the_turn_ends() -> None:
    feed = Feeder()
    feed(user("item_u1", text="typed question"))
    feed(ResponseCreated(response_id="resp_1"))
    error = {"type": "server_error", "code": "internal", "message": "boom"}
    assert feed(ResponseDone(response_id="resp_1", status="failed", status_details={"type": "failed", "error": error})) == [
        gen_head("s1-gen-1", "s1-trace-1", [{"role": "user", "content": "typed question"}], 2000, "resp_1"),
        Op("generation.error", "s1-gen-1", {"message": "boom", "code": "internal", "type": "server_error"}),
        Op("trace.end", "s1-trace-1", {}),
    ]


def test_typed_text_is_the_input_and_an_unavailable_transcript_is_an_event() -> None:
    feed = Feeder()
    assert feed(user("item_u1", text="hello"))[-1] == Op("trace.update", "s1-trace-1", {"input": "hello"})
    feed(user("item_u2"))
    assert feed(TranscriptUnavailable(item_id="item_u2", reason="timed_out", detail="3 retrieves")) == [
        Op("trace.update", "s1-trace-2", {"input": "[transcript unavailable: timed_out]"}),
        Op("trace.event", "s1-trace-2", {"event_id": "s1-event-1", "name": "transcript.unavailable", "metadata": {"item_id": "item_u2", "reason": "timed_out", "detail": "3 retrieves"}}),
    ]


def test_an_error_output_is_a_tool_error_and_finish_closes_what_is_running() -> None:
    feed = Feeder()
    feed(user("item_u1"))
    feed(ResponseCreated(response_id="resp_1"))
    for n in (1, 2):
        feed(FunctionCallRequested(response_id="resp_1", item_id=f"fc{n}", call_id=f"call_{n}", name="get_weather", arguments="{"))
    bad = '{"error": "arguments are not valid JSON", "kind": "invalid_json"}'
    assert feed(function_call_output("tools_0001", "call_1", bad)) == [
        Op("tool_call.error", "s1-tool-1", {"message": "arguments are not valid JSON", "code": "invalid_json", "type": "invalid_json"})
    ]
    assert feed(function_call_output("tools_0002", "call_1", bad)) == []  # one outcome per call
    assert feed(ServerError(error_type="invalid_request_error", code="bad", message="nope")) == [
        Op("trace.error", "s1-trace-1", {"error_id": "s1-error-1", "message": "nope", "code": "bad", "type": "invalid_request_error", "name": "server error"})
    ]  # the open turn carries the error
    ops = feed.core.finish()
    assert ops == [
        gen_head("s1-gen-1", "s1-trace-1", [], 2000, "resp_1"),
        Op("generation.error", "s1-gen-1", {"message": "the session ended before response.done", "code": "", "type": "incomplete"}),
        Op("tool_call.error", "s1-tool-2", {"message": "the session ended before the tool result", "code": "", "type": "incomplete"}),
        Op("trace.end", "s1-trace-1", {}),
        Op("session.end", "s1", {}),
    ]


def test_a_greeting_opens_an_assistant_turn_and_a_superseded_turn_ends_with_its_response() -> None:
    feed = Feeder()
    assert feed(ResponseCreated(response_id="resp_0"))[1:] == [
        Op("trace.start", "s1-trace-1", {"session_id": "s1", "name": "assistant turn", "tags": {}})
    ]
    assert feed(user("item_u1")) == [Op("trace.start", "s1-trace-2", {"session_id": "s1", "name": "turn 1", "tags": {"item_id": "item_u1"}})]
    ops = feed(ResponseDone(response_id="resp_0", status="cancelled", status_details={"reason": "turn_detected"}))
    assert [(op.kind, op.id) for op in ops] == [("generation.start", "s1-gen-1"), ("generation.result", "s1-gen-1"), ("trace.end", "s1-trace-1")]
    assert ops[0].data["trace_id"] == "s1-trace-1"
    assert feed(ActorFailed(actor="playback", error="OSError: device gone")) == [
        Op("trace.error", "s1-trace-2", {"error_id": "s1-error-1", "message": "playback: OSError: device gone", "code": "", "type": "actor_failed", "name": "actor failed"})
    ]


def test_an_error_outside_a_turn_gets_a_trace_of_its_own() -> None:
    feed = Feeder()
    assert feed(ServerError(message="session expired", code="session_expired", error_type="invalid_request_error"))[1:] == [
        Op("trace.start", "s1-trace-1", {"session_id": "s1", "name": "server error", "tags": {}}),
        Op("trace.error", "s1-trace-1", {"error_id": "s1-error-1", "message": "session expired", "code": "session_expired", "type": "invalid_request_error", "name": "server error"}),
        Op("trace.end", "s1-trace-1", {}),
    ]


def test_helpers() -> None:
    assert parse_tags({"a": 1}) == {"a": "1"}
    assert parse_tags("a=1,,b = x=y, junk") == {"a": "1", "b": "x=y"}
    assert parse_tags(None) == {}
    assert safe_id("my session/1") == "my-session-1"
    assert chat_usage({}) is None
    assert chat_usage({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}) == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert chat_usage({"input_tokens": 3, "output_tokens": 1}) == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
