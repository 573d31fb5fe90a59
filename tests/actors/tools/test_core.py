"""ToolsCore by value: every call path, and exactly one response.create per response with calls, sent only
after both its response.done and every output of its calls."""

from __future__ import annotations

import json
from typing import Any

from actors.tools.core import ToolsCore, error_output
from actors.tools.registry import ToolRegistry
from events import commands
from events.base import Event
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ResponseCreated, ResponseDone, ServerError
from events.tools import ToolRejected, ToolResult, ToolRunRequested

TOOLS = ToolRegistry.default().session_tools()
_seq = iter(range(1, 10_000))


def env(event: Event, source: str = "router") -> Envelope:
    return Envelope(seq=next(_seq), t_ns=0, source=source, cause=None, event=event)


def call(call_id: str, name: str = "get_weather", arguments: str = '{"location": "Paris"}', response_id: str = "resp_1") -> Envelope:
    return env(FunctionCallRequested(response_id=response_id, item_id=f"item_{call_id}", call_id=call_id, name=name, arguments=arguments))


def done(response_id: str = "resp_1", status: str = "completed") -> Envelope:
    return env(ResponseDone(response_id=response_id, status=status, output_types=("function_call",)))


def result(call_id: str, output: str = '{"ok": 1}', name: str = "get_weather", kind: str | None = None) -> Envelope:
    return env(ToolResult(call_id=call_id, name=name, output=output, ok=kind is None, error_kind=kind, duration_ms=3), source="tools")


def core() -> ToolsCore:
    return ToolsCore.from_config({"tool_schemas": TOOLS})


def run_request(call_id: str, arguments: str = '{"location": "Paris"}', name: str = "get_weather", response_id: str = "resp_1") -> ToolRunRequested:
    return ToolRunRequested(call_id=call_id, name=name, arguments_json=arguments, response_id=response_id)


def rejected(c: ToolsCore, envelope: Envelope, *, then: int = 0) -> tuple[str, str, list[Event]]:
    """The rejection and its error output (and ``then`` more outputs after them)."""
    out = list(c.handle(envelope))
    assert len(out) == 2 + then and isinstance(out[0], ToolRejected)
    data = json.loads(out[0].output)
    assert out[1] == commands.function_call_output("tools_0001", out[0].call_id, out[0].output)
    return data["kind"], data["error"], out


def test_valid_call_runs_then_output_then_one_response_create() -> None:
    c = core()
    assert c.handle(call("c1")) == [run_request("c1")]
    assert c.handle(done()) == []
    assert c.handle(result("c1", '{"temperature": "18°C"}')) == [
        commands.function_call_output("tools_0001", "c1", '{"temperature": "18°C"}'),
        commands.response_create("tools_0002"),
    ]


def test_response_create_waits_for_response_done_when_the_output_comes_first() -> None:
    c = core()
    c.handle(call("c1"))
    assert c.handle(result("c1")) == [commands.function_call_output("tools_0001", "c1", '{"ok": 1}')]
    assert c.handle(done()) == [commands.response_create("tools_0002")]


def test_bad_json_is_rejected_without_running_and_the_conversation_continues() -> None:
    c = core()
    kind, error, out = rejected(c, call("c1", arguments='{"location": "Par'))
    assert kind == "invalid_json" and error.startswith("arguments are not valid JSON")
    first = out[0]
    assert isinstance(first, ToolRejected)
    assert first == ToolRejected(call_id="c1", name="get_weather", response_id="resp_1", error_kind="invalid_json", output=first.output)
    assert c.handle(done()) == [commands.response_create("tools_0002")]


def test_missing_required_argument_is_a_schema_violation() -> None:
    kind, error, _ = rejected(core(), call("c1", arguments='{"unit": "celsius"}'))
    assert (kind, error) == ("invalid_arguments", "arguments: 'location' is a required property")


def test_enum_violation_names_the_argument() -> None:
    kind, error, _ = rejected(core(), call("c1", arguments='{"location": "Paris", "unit": "kelvin"}'))
    assert (kind, error) == ("invalid_arguments", "arguments.unit: 'kelvin' is not one of ['celsius', 'fahrenheit']")


def test_wrong_type_and_non_object_arguments() -> None:
    kind, error, _ = rejected(core(), call("c1", arguments='{"location": 42}'))
    assert (kind, error) == ("invalid_arguments", "arguments.location: 42 is not of type 'string'")
    kind, error, _ = rejected(core(), call("c2", arguments='["Paris"]'))
    assert (kind, error) == ("invalid_arguments", "arguments must be a JSON object, got list")


def test_arguments_that_are_not_strict_json_each_get_one_clear_error_and_nothing_is_lost() -> None:
    """NaN and infinities (which Python's json accepts), nesting deep enough to break a recursive parser, wrong
    types: each call is refused with one error output saying why, and the batch still gets its one
    response.create once the valid call's output is in."""
    c = core()
    bad = {
        "c_nan": ('{"location": NaN}', "invalid_json", "arguments are not valid JSON: NaN is not a JSON value"),
        "c_inf": ('{"location": "Paris", "unit": -Infinity}', "invalid_json", "arguments are not valid JSON: -Infinity is not a JSON value"),
        "c_deep": ('{"location": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid_json", "arguments are not valid JSON: nested too deeply"),
        "c_type": ('{"location": ["Paris"]}', "invalid_arguments", "arguments.location: ['Paris'] is not of type 'string'"),
        "c_text": ("Paris, please", "invalid_json", "arguments are not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    }
    assert c.handle(call("c_ok")) == [run_request("c_ok")]
    sent: list[str] = []
    for call_id, (arguments, kind, error) in bad.items():
        out = list(c.handle(call(call_id, arguments=arguments)))
        assert len(out) == 2 and isinstance(out[0], ToolRejected) and isinstance(out[1], commands.ClientCommand)
        assert json.loads(out[0].output) == {"error": error, "kind": kind}
        assert out[1].body["item"] == {"type": "function_call_output", "call_id": call_id, "output": out[0].output}
        sent.append(out[1].event_id)
    assert c.handle(done()) == []  # the valid call's output is still missing
    out = list(c.handle(result("c_ok")))
    assert [type(e) for e in out] == [commands.ClientCommand, commands.ClientCommand]
    assert [e.type for e in out if isinstance(e, commands.ClientCommand)] == ["conversation.item.create", "response.create"]
    assert len(set(sent)) == len(bad)


def test_unknown_tool_is_rejected_and_lists_the_available_ones() -> None:
    kind, error, _ = rejected(core(), call("c1", name="launch_rocket", arguments="{}"))
    assert kind == "unknown_tool"
    assert error == "unknown tool 'launch_rocket' (available: get_weather, get_current_time, set_reminder)"


def test_empty_arguments_count_as_an_empty_object() -> None:
    assert core().handle(call("c1", name="get_current_time", arguments="")) == [run_request("c1", "{}", "get_current_time")]


def test_failed_tool_output_is_forwarded_as_the_models_error_output() -> None:
    for kind in ("exception", "timeout"):
        output = error_output(f"it {kind}", kind)
        c2 = core()
        c2.handle(call("c1"))
        c2.handle(done())
        assert c2.handle(result("c1", output, kind=kind)) == [
            commands.function_call_output("tools_0001", "c1", output),
            commands.response_create("tools_0002"),
        ]


def test_two_calls_in_one_response_give_exactly_one_response_create_after_both_outputs() -> None:
    c = core()
    assert c.handle(call("c1")) == [run_request("c1")]
    assert c.handle(call("c2", name="get_current_time", arguments='{"timezone": "UTC"}')) == [
        run_request("c2", '{"timezone": "UTC"}', "get_current_time")
    ]
    assert c.handle(done()) == []
    assert c.handle(result("c2", "B", "get_current_time")) == [commands.function_call_output("tools_0001", "c2", "B")]
    assert c.handle(result("c1", "A")) == [
        commands.function_call_output("tools_0002", "c1", "A"),
        commands.response_create("tools_0003"),
    ]
    # nothing more: a duplicate result, a late duplicate call and a repeated response.done change nothing
    assert c.handle(result("c1", "A")) == []
    assert c.handle(call("c1")) == []
    assert c.handle(done()) == []


def test_one_valid_and_one_rejected_call_share_one_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    kind, _, _ = rejected(c, call("c2", name="nope", arguments="{}"))
    assert kind == "unknown_tool"
    assert c.handle(done()) == []
    assert c.handle(result("c1")) == [
        commands.function_call_output("tools_0002", "c1", '{"ok": 1}'),
        commands.response_create("tools_0003"),
    ]


def test_cancelled_response_gets_its_outputs_but_no_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    assert c.handle(done(status="cancelled")) == []
    assert c.handle(result("c1")) == [commands.function_call_output("tools_0001", "c1", '{"ok": 1}')]
    assert c.handle(done("resp_2")) == []


def test_response_create_waits_while_another_response_is_active() -> None:
    c = core()
    c.handle(env(ResponseCreated(response_id="resp_1")))
    c.handle(call("c1"))
    c.handle(done())
    # the user spoke meanwhile: the server started another response
    assert c.handle(env(ResponseCreated(response_id="resp_2"))) == []
    assert c.handle(result("c1")) == [commands.function_call_output("tools_0001", "c1", '{"ok": 1}')]
    assert c.handle(done("resp_2", status="completed")) == [commands.response_create("tools_0002")]


def test_ready_batches_go_out_one_at_a_time() -> None:
    # two responses with calls, both done: the second batch waits until the first one's response is over
    c2 = core()
    c2.handle(call("c1", response_id="resp_1"))
    c2.handle(call("c2", response_id="resp_2"))
    c2.handle(done("resp_1"))
    c2.handle(done("resp_2"))
    assert c2.handle(result("c1")) == [
        commands.function_call_output("tools_0001", "c1", '{"ok": 1}'),
        commands.response_create("tools_0002"),
    ]
    assert c2.handle(result("c2")) == [commands.function_call_output("tools_0003", "c2", '{"ok": 1}')]
    assert c2.handle(env(ResponseCreated(response_id="resp_3"))) == []
    assert c2.handle(done("resp_3")) == [commands.response_create("tools_0004")]


def test_a_rejected_response_create_is_retried_when_nothing_is_active() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    assert c.handle(result("c1"))[-1] == commands.response_create("tools_0002")
    # a response the user's speech started got there first; ours is refused
    assert c.handle(env(ResponseCreated(response_id="resp_vad"))) == []
    error = ServerError(error_type="invalid_request_error", code="conversation_already_has_active_response", client_event_id="tools_0002")
    assert c.handle(env(error)) == []
    assert c.handle(done("resp_vad")) == [commands.response_create("tools_0003")]
    # an error naming someone else's event is not ours
    assert c.handle(env(ServerError(message="x", client_event_id="conductor_0001"))) == []


def test_a_call_arriving_after_its_response_done_still_gets_one_response_create() -> None:
    c = core()
    assert c.handle(done()) == []
    assert c.handle(call("c1")) == [run_request("c1")]
    assert c.handle(result("c1")) == [
        commands.function_call_output("tools_0001", "c1", '{"ok": 1}'),
        commands.response_create("tools_0002"),
    ]
    c2 = core()
    c2.handle(done())
    _, _, out = rejected(c2, call("c2", name="nope", arguments="{}"), then=1)
    assert out[2:] == [commands.response_create("tools_0002")]


def test_tools_come_from_the_session_object_or_an_explicit_tool_schemas_key() -> None:
    session = {"type": "realtime", "tools": TOOLS[:1]}
    assert ToolsCore.from_config({"session": session}).tool_names == ("get_weather",)
    assert ToolsCore.from_config({"session": session, "tool_schemas": TOOLS[1:]}).tool_names == ("get_current_time", "set_reminder")
    # a flat "tools" key (e.g. the --tools module:attribute specs) is not the schemas and is ignored
    assert ToolsCore.from_config({"tools": ["mytools:add"]}).tool_names == ()
    assert ToolsCore.from_config({}).tool_names == ()


def test_error_output_is_one_bounded_line() -> None:
    data: dict[str, Any] = json.loads(error_output("line one\nline two " + "x" * 1000, "exception"))
    assert data["kind"] == "exception" and "\n" not in data["error"] and len(data["error"]) == 300
