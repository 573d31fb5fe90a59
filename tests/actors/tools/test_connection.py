"""ToolsCore across a lost connection: outputs held until the re-seed, sent only for re-seeded calls, and
exactly one response.create for what the lost response would have answered."""

from __future__ import annotations

from actors.tools.actor import CONSUMES, REPLAYABLE
from events import commands
from events.connection import ConnectionLost, ConversationReseeded, ReconnectRequested, ReseedPlanned
from events.envelope import Envelope
from events.protocol import ItemAdded, ResponseCreated, ServerError
from events.tools import ToolOutputDropped
from tests.actors.tools.test_core import call, core, done, env, result, run_request


def lost(*interrupted: str) -> Envelope:
    return env(ConnectionLost(reason="connection closed unexpectedly", code=1006, interrupted=interrupted), "conductor")


def reseeded(*items: str, missing: tuple[str, ...] = ()) -> Envelope:
    return env(ConversationReseeded(items=items, missing=missing, restored=not missing), "conductor")


def added_output(call_id: str) -> Envelope:
    return env(ItemAdded(item_id=f"out_{call_id}", item_type="function_call_output", call_id=call_id))


def output(n: int, call_id: str, text: str = '{"ok": 1}') -> commands.ClientCommand:
    return commands.function_call_output(f"tools_{n:04d}", call_id, text)


def test_the_connection_events_are_consumed_and_replayed() -> None:
    assert {ConnectionLost, ConversationReseeded, ReconnectRequested, ItemAdded} <= CONSUMES
    assert REPLAYABLE.consumes == CONSUMES
    assert ReseedPlanned not in CONSUMES  # the re-seeded ids come with ConversationReseeded


def test_a_tool_still_running_delivers_its_output_into_the_new_session_then_one_response_create() -> None:
    c = core()
    assert c.handle(call("c1")) == [run_request("c1")]
    assert c.handle(lost("resp_1")) == []  # its response was open: never gets a response.done
    assert c.handle(result("c1")) == []  # ready while disconnected: held
    assert c.handle(env(ReconnectRequested(attempt=1, delay_ms=250), "conductor")) == []
    assert c.handle(reseeded("item_u1", "item_c1")) == [output(1, "c1"), commands.response_create("tools_0002")]
    # exactly one: the server's answer to it is the batch's answer, and nothing else is due
    assert c.handle(env(ResponseCreated(response_id="resp_2"))) == []
    assert c.handle(done("resp_2")) == []
    assert c.dropped_outputs == []


def test_outputs_already_in_the_conversation_are_not_sent_again_but_still_get_their_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(call("c2"))
    assert c.handle(result("c1")) == [output(1, "c1")]
    assert c.handle(result("c2")) == [output(2, "c2")]
    c.handle(added_output("c1"))  # the server has c1's output; c2's was sent as the socket died
    assert c.handle(lost("resp_1")) == []
    assert c.handle(reseeded("item_c1", "out_c1", "item_c2")) == [output(3, "c2"), commands.response_create("tools_0004")]


def test_a_response_create_lost_with_the_connection_is_asked_again_once() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    assert c.handle(result("c1")) == [output(1, "c1"), commands.response_create("tools_0002")]
    c.handle(added_output("c1"))
    assert c.handle(lost()) == []  # the response.create was never answered
    assert c.handle(reseeded("item_c1", "out_c1")) == [commands.response_create("tools_0003")]


def test_the_response_that_answered_the_outputs_was_cut_off_so_it_is_asked_again() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    c.handle(result("c1"))
    c.handle(added_output("c1"))
    c.handle(env(ResponseCreated(response_id="resp_2")))  # answering the outputs...
    assert c.handle(lost("resp_2")) == []  # ...when the socket died
    assert c.handle(reseeded("item_c1", "out_c1")) == [commands.response_create("tools_0003")]


def test_a_batch_answered_before_the_loss_needs_nothing_after_it() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    c.handle(result("c1"))
    c.handle(added_output("c1"))
    c.handle(env(ResponseCreated(response_id="resp_2")))
    c.handle(done("resp_2"))
    assert c.handle(lost()) == []
    assert c.handle(reseeded("item_c1", "out_c1")) == []


def test_two_batches_ready_at_the_reseed_share_one_response_create() -> None:
    c = core()
    c.handle(call("c1", response_id="resp_1"))
    c.handle(done("resp_1"))
    c.handle(result("c1"))  # resp_1's batch: output sent (not acknowledged yet), its response.create too
    c.handle(env(ResponseCreated(response_id="resp_2")))  # the answer to it...
    c.handle(call("c2", response_id="resp_2"))  # ...calls another tool, and the socket dies
    c.handle(lost("resp_2"))
    c.handle(result("c2"))
    out = c.handle(reseeded("item_c1", "item_c2"))
    assert [x for x in out if isinstance(x, commands.ClientCommand) and x.type == "response.create"] == [
        commands.response_create("tools_0005")
    ]
    assert out == [output(3, "c1"), output(4, "c2"), commands.response_create("tools_0005")]


def test_a_call_that_was_not_reseeded_has_its_output_dropped_and_no_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(lost("resp_1"))
    c.handle(result("c1"))
    assert c.handle(reseeded("item_u1", "item_c9")) == [ToolOutputDropped(call_id="c1")]  # journaled
    assert c.dropped_outputs == ["c1"]
    # a refused function_call counts as not re-seeded; a tool finishing after the reseed is dropped likewise
    c2 = core()
    c2.handle(call("c1"))
    c2.handle(lost("resp_1"))
    assert c2.handle(reseeded("item_c1", missing=("item_c1",))) == []
    assert c2.handle(result("c1")) == [ToolOutputDropped(call_id="c1")]
    assert c2.dropped_outputs == ["c1"]


def test_a_tool_finishing_after_the_reseed_gets_its_output_and_one_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(call("c2"))
    c.handle(lost("resp_1"))
    c.handle(result("c1"))
    assert c.handle(reseeded("item_c1", "item_c2")) == [output(1, "c1")]  # c2 still running: no create yet
    assert c.handle(result("c2")) == [output(2, "c2"), commands.response_create("tools_0003")]


def test_a_rejected_reseed_response_create_is_retried() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(lost("resp_1"))
    c.handle(result("c1"))
    assert c.handle(reseeded("item_c1"))[-1] == commands.response_create("tools_0002")
    # the user's held audio started a response first: ours is refused, then asked again once that one is done
    c.handle(env(ResponseCreated(response_id="resp_user")))
    c.handle(env(ServerError(error_type="invalid_request_error", code="conversation_already_has_active_response", message="busy", client_event_id="tools_0002")))
    assert c.handle(done("resp_user")) == [commands.response_create("tools_0003")]


def test_a_recycle_holds_outputs_until_the_new_connection_is_seeded_without_an_extra_response_create() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    assert c.handle(env(ReconnectRequested(attempt=1, delay_ms=0, recycle=True), "conductor")) == []
    assert c.handle(result("c1")) == []
    assert c.handle(reseeded("item_c1")) == [output(1, "c1"), commands.response_create("tools_0002")]


def test_without_any_loss_nothing_changes() -> None:
    c = core()
    c.handle(call("c1"))
    c.handle(done())
    assert c.handle(reseeded("item_c1")) == []  # a --resume's reseed: nothing held, nothing lost
    assert c.handle(result("c1")) == [output(1, "c1"), commands.response_create("tools_0002")]

