"""The conversation projection with several message items and function calls per response (the current
realtime models: a spoken preamble, then the tool calls or the answer), a lost connection, and re-seeds."""

from __future__ import annotations

from typing import Any

from events import commands
from events.base import Event
from events.connection import ConnectionLost, ReseedPlanned
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemTruncated,
    OutputItemAdded,
    ResponseDone,
)
from events.transcripts import TranscriptResolved
from pipeline.projections.conversation import PROJECTION_EVENTS, Conversation, Turn


def envs(*events: Event) -> list[Envelope]:
    return [Envelope(seq=i, t_ns=i * 1000, source="x", cause=None, event=e) for i, e in enumerate(events, 1)]


def fold(*events: Event) -> Conversation:
    return Conversation.fold(envs(*events))


def output(response: str, item: str, kind: str = "message", index: int = 0) -> OutputItemAdded:
    role = "assistant" if kind == "message" else None
    return OutputItemAdded(response_id=response, item_id=item, output_index=index, item_type=kind, role=role)


def added(item: str, previous: str | None, kind: str = "message", role: str | None = "assistant", **kw: Any) -> ItemAdded:
    status = "in_progress" if role == "assistant" else "completed"
    return ItemAdded(item_id=item, previous_item_id=previous, item_type=kind, role=role, status=status, **kw)


def say(response: str, item: str, *words: str) -> list[Event]:
    """The text deltas of ``item`` then its done (the whole text)."""
    deltas: list[Event] = [AssistantTextDelta(response_id=response, item_id=item, modality="audio", delta=w) for w in words]
    return [*deltas, AssistantTextDone(response_id=response, item_id=item, modality="audio", text="".join(words))]


def done(response: str, items: tuple[str, ...], types: tuple[str, ...], status: str = "completed", **kw: Any) -> ResponseDone:
    fields: dict[str, Any] = {"output_item_ids": items, "output_types": types}
    return ResponseDone(response_id=response, status=status, usage={"total_tokens": 400}, **fields, **kw)


def preamble_tool_call_answer() -> list[Event]:
    """resp_1: a spoken preamble, then a function call; the tool output; resp_2: the answer."""
    return [
        added("u1", None, role="user"),
        TranscriptResolved(item_id="u1", text="what is the weather in Paris", via="event"),
        output("resp_1", "pre1"),
        added("pre1", "u1"),
        *say("resp_1", "pre1", "Let me ", "check that."),
        output("resp_1", "fc1", kind="function_call", index=1),
        added("fc1", "pre1", kind="function_call", role=None, call_id="call_1", name="get_weather"),
        FunctionCallRequested(response_id="resp_1", item_id="fc1", call_id="call_1", name="get_weather", arguments='{"city":"Paris"}'),
        done("resp_1", ("pre1", "fc1"), ("message", "function_call")),
        commands.function_call_output("tools_0001", "call_1", '{"sky":"clear"}'),
        added("out1", "fc1", kind="function_call_output", role=None, call_id="call_1"),
        output("resp_2", "ans2"),
        added("ans2", "out1"),
        *say("resp_2", "ans2", "It is clear ", "in Paris."),
        done("resp_2", ("ans2",), ("message",)),
    ]


def test_a_preamble_a_tool_call_and_the_answer_are_turns_in_order() -> None:
    conv = fold(*preamble_tool_call_answer())
    assert [(t.item_id, t.kind, t.text, t.status) for t in conv.turns] == [
        ("u1", "message", "what is the weather in Paris", "resolved"),
        ("pre1", "message", "Let me check that.", "resolved"),
        ("fc1", "function_call", 'get_weather({"city":"Paris"})', "resolved"),
        ("out1", "function_call_output", '{"sky":"clear"}', "resolved"),
        ("ans2", "message", "It is clear in Paris.", "resolved"),
    ]
    assert conv.totals == {"user": 1, "assistant": 2, "function_call": 1, "function_call_output": 1}


def two_messages(status: str, *, cut_second: bool) -> list[Event]:
    """resp_1 carries a preamble (said in full) and an answer; the user barges in during one of them."""
    events: list[Event] = [
        added("u1", None, role="user"),
        output("resp_1", "pre1"),
        added("pre1", "u1"),
        *say("resp_1", "pre1", "One moment."),
        output("resp_1", "ans1", index=1),
        added("ans1", "pre1"),
        AssistantTextDelta(response_id="resp_1", item_id="ans1", modality="audio", delta="The story begins"),
    ]
    if not cut_second:  # the user spoke over the preamble: it is truncated, the answer never finishes
        events.insert(4, ItemTruncated(item_id="pre1", audio_end_ms=400))
    # a cancelled response.done that lists no output (a server may leave it empty): membership still known
    events.append(done("resp_1", (), (), status=status))
    return events


def test_a_cancelled_two_message_response_interrupts_only_the_item_still_streaming() -> None:
    conv = fold(*two_messages("cancelled", cut_second=True))
    assert conv.turn("pre1") == Turn(item_id="pre1", role="assistant", text="One moment.", status="resolved", kind="message")
    assert conv.turn("ans1") == Turn(item_id="ans1", role="assistant", text="The story begins", status="interrupted", kind="message")


def test_a_barge_in_during_the_preamble_marks_the_preamble_and_the_unfinished_answer() -> None:
    conv = fold(*two_messages("cancelled", cut_second=False))
    assert [(t.item_id, t.status) for t in conv.turns] == [("u1", "pending"), ("pre1", "interrupted"), ("ans1", "interrupted")]
    assert conv.turn("pre1").text == "One moment."  # type: ignore[union-attr]


def test_several_function_calls_in_one_response() -> None:
    conv = fold(
        added("u1", None, role="user"),
        output("resp_1", "fc1", kind="function_call"),
        added("fc1", "u1", kind="function_call", role=None, call_id="c1", name="get_weather"),
        output("resp_1", "fc2", kind="function_call", index=1),
        added("fc2", "fc1", kind="function_call", role=None, call_id="c2", name="get_time"),
        FunctionCallRequested(response_id="resp_1", item_id="fc2", call_id="c2", name="get_time", arguments='{"city":"Tokyo"}'),
        FunctionCallRequested(response_id="resp_1", item_id="fc1", call_id="c1", name="get_weather", arguments='{"city":"Paris"}'),
        done("resp_1", ("fc1", "fc2"), ("function_call", "function_call")),
    )
    assert [(t.item_id, t.name, t.call_id, t.status) for t in conv.turns[1:]] == [
        ("fc1", "get_weather", "c1", "resolved"),
        ("fc2", "get_time", "c2", "resolved"),
    ]
    assert conv.totals["function_call"] == 2


def test_a_lost_connection_interrupts_the_streaming_items_of_its_responses_only() -> None:
    conv = fold(
        added("u1", None, role="user"),
        output("resp_1", "pre1"),
        added("pre1", "u1"),
        *say("resp_1", "pre1", "Let me check."),
        output("resp_1", "fc1", kind="function_call", index=1),
        added("fc1", "pre1", kind="function_call", role=None, call_id="c1", name="get_weather"),
        # resp_1 streams its call's arguments; an out-of-band resp_x streams too but is not named
        output("resp_x", "oob1"),
        added("oob1", None),
        AssistantTextDelta(response_id="resp_x", item_id="oob1", modality="text", delta="side"),
        ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=("resp_1",)),
    )
    statuses = {t.item_id: t.status for t in conv.turns}
    assert statuses == {"u1": "pending", "pre1": "resolved", "fc1": "interrupted", "oob1": "streaming"}


def test_a_reseed_keeps_every_entry_and_counts_nothing_twice() -> None:
    before = [
        added("sum_001", None, role="system", text="Earlier: the user asked about Paris."),
        added("u1", "sum_001", role="user"),
        TranscriptResolved(item_id="u1", text="and Tokyo", via="event"),
        output("resp_1", "a1"),
        added("a1", "u1"),
        AssistantTextDelta(response_id="resp_1", item_id="a1", modality="audio", delta="In Tokyo it is"),
        ConnectionLost(reason="session expired", interrupted=("resp_1",)),
    ]
    conv = fold(*before)
    turns, totals = conv.turns, dict(conv.totals)
    assert conv.turn("a1").status == "interrupted"  # type: ignore[union-attr]
    # the new connection: the same items, created again in order, carrying the seed's text
    reseed: list[Event] = [
        ReseedPlanned(items=("sum_001", "u1", "a1"), summary_id="sum_001"),
        added("sum_001", None, role="system", text="Earlier: the user asked about Paris."),
        added("u1", "sum_001", role="user", text="and Tokyo"),
        ItemAdded(item_id="a1", previous_item_id="u1", item_type="message", role="assistant", status="completed", text="In Tokyo it is"),
    ]
    for env in envs(*reseed):
        conv.apply(env)
    assert conv.turns == turns
    assert dict(conv.totals) == totals == {"system": 1, "user": 1, "assistant": 1}


def test_a_reseed_moves_an_item_only_when_it_stands_before_its_predecessor() -> None:
    conv = fold(
        added("u1", None, role="user", text="one"),
        added("u2", "u1", role="user"),  # no transcript, no audio: the seed leaves it out
        added("a1", "u2"),
        added("u3", "a1", role="user", text="three"),
        # a server that had put u3 at the head: our order says otherwise
    )
    assert conv.item_ids == ("u1", "u2", "a1", "u3")
    for env in envs(ReseedPlanned(items=("u1", "a1", "u3")), added("u1", None, role="user"), added("a1", "u1"), added("u3", "a1", role="user")):
        conv.apply(env)
    assert conv.item_ids == ("u1", "u2", "a1", "u3")  # u2 (left out of the seed) stays where it was
    conv.apply(envs(added("u1", "u3", role="user"))[0])  # the server names u3 as u1's predecessor: follow it
    assert conv.item_ids == ("u2", "a1", "u3", "u1")
    assert conv.totals["user"] == 3


def test_a_resume_adds_the_old_conversation_without_counting_it_as_new_turns() -> None:
    conv = fold(
        commands.item_create("conductor_0001", {"id": "sum_004", "type": "message", "role": "system"}, previous_item_id="root"),
        ReseedPlanned(items=("sum_004", "u7", "a7"), summary_id="sum_004", resumed_from="/tmp/parent.rtpj"),
        added("sum_004", None, role="system", text="The user planned a trip."),
        added("u7", "sum_004", role="user", text="book the train"),
        ItemAdded(item_id="a7", previous_item_id="u7", item_type="message", role="assistant", status="completed", text="Done."),
        added("u8", "a7", role="user"),  # the first new turn of this session
    )
    assert [(t.item_id, t.text, t.status) for t in conv.turns] == [
        ("sum_004", "The user planned a trip.", "resolved"),
        ("u7", "book the train", "resolved"),
        ("a7", "Done.", "resolved"),
        ("u8", None, "pending"),
    ]
    assert dict(conv.totals) == {"user": 1}


def test_the_projection_follows_the_events_it_needs_for_items_and_connections() -> None:
    assert {OutputItemAdded, ConnectionLost, ReseedPlanned} <= PROJECTION_EVENTS
