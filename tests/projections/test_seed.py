"""build_seed: the conversation projection as ``conversation.item.create`` items (pipeline/projections/seed.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
import pytest
from openai.types.realtime import ConversationItemCreateEvent, RealtimeClientEvent

from events import commands
from events.base import Event
from events.connection import ReseedPlanned
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemDeleted,
    ItemTruncated,
    ResponseDone,
)
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import Conversation
from pipeline.projections.seed import SeedPlan, Skipped, build_seed, summary_number
from pipeline.server.protocol import parse_client_event

CLIENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)


def fold(*events: Event) -> Conversation:
    return Conversation.fold(Envelope(seq=i, t_ns=i * 1000, source="x", cause=None, event=e) for i, e in enumerate(events, 1))


def user(item_id: str, previous: str | None, text: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="user", status="completed", text=text)


def assistant(item_id: str, previous: str | None, response_id: str = "resp_1") -> list[Event]:
    return [ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="assistant", status="in_progress")]


def said(item_id: str, text: str, response_id: str = "resp_1") -> AssistantTextDone:
    return AssistantTextDone(response_id=response_id, item_id=item_id, modality="audio", text=text)


def resolved(item_id: str, text: str) -> TranscriptResolved:
    return TranscriptResolved(item_id=item_id, text=text, via="event")


def call(item_id: str, previous: str, call_id: str, name: str, arguments: str) -> list[Event]:
    return [
        ItemAdded(item_id=item_id, previous_item_id=previous, item_type="function_call", status="in_progress", call_id=call_id, name=name),
        FunctionCallRequested(response_id="resp_2", item_id=item_id, call_id=call_id, name=name, arguments=arguments),
    ]


def output(item_id: str, previous: str, call_id: str, text: str) -> list[Event]:
    return [
        commands.item_create(f"tools_{item_id}", {"id": item_id, "type": "function_call_output", "call_id": call_id, "output": text}),
        ItemAdded(item_id=item_id, previous_item_id=previous, item_type="function_call_output", call_id=call_id),
    ]


def summary(item_id: str, text: str) -> list[Event]:
    return [
        commands.item_create("summariser_0001", commands.system_message(item_id, text), previous_item_id="root"),
        ItemAdded(item_id=item_id, previous_item_id=None, item_type="message", role="system", status="completed", text=text),
    ]


def text_message(role: str, item_id: str, text: str) -> dict[str, Any]:
    part = "output_text" if role == "assistant" else "input_text"
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": text}]}


def a_call_with_tools() -> list[Event]:
    """user -> assistant preamble -> function_call -> output -> assistant answer; then a user turn whose
    transcript never came."""
    return [
        user("item_u1", None),
        resolved("item_u1", "What's the weather in Paris?"),
        *assistant("item_a1", "item_u1"),
        said("item_a1", "Let me check that."),
        *call("item_c1", "item_a1", "call_1", "get_weather", '{"city": "Paris"}'),
        *output("item_o1", "item_c1", "call_1", '{"temp_c": 18}'),
        *assistant("item_a2", "item_o1", "resp_3"),
        said("item_a2", "It is 18 degrees in Paris.", "resp_3"),
        user("item_u2", "item_a2"),
        TranscriptUnavailable(item_id="item_u2", reason="timed_out", detail="no transcript after 3000 ms"),
    ]


def test_every_shape_in_conversation_order() -> None:
    pcm = b"\x01\x00\x02\x00" * 240
    plan = build_seed(fold(*a_call_with_tools()), audio={"item_u2": pcm})
    assert plan.items == (
        text_message("user", "item_u1", "What's the weather in Paris?"),
        text_message("assistant", "item_a1", "Let me check that."),
        {"id": "item_c1", "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "item_o1", "type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 18}'},
        text_message("assistant", "item_a2", "It is 18 degrees in Paris."),
        {"id": "item_u2", "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": base64.b64encode(pcm).decode()}]},
    )
    assert plan.ids == ("item_u1", "item_a1", "item_c1", "item_o1", "item_a2", "item_u2")
    assert plan.audio_items == ("item_u2",)
    assert plan.summary_id is None
    assert plan.skipped == ()
    assert plan.describe() == "6 items (1 as audio)"


def test_a_user_turn_without_transcript_or_audio_is_left_out_and_the_plan_says_why() -> None:
    plan = build_seed(fold(*a_call_with_tools()))
    assert "item_u2" not in plan.ids
    assert plan.audio_items == ()
    assert plan.skipped == (Skipped(item_id="item_u2", reason="transcript unavailable and no recorded audio"),)
    pending = build_seed(fold(user("item_u1", None)))
    assert pending.items == ()
    assert pending.skipped == (Skipped(item_id="item_u1", reason="transcript pending and no recorded audio"),)
    assert pending.describe() == "0 items, 1 left out"


def test_a_late_transcript_is_the_turns_text_and_no_audio_is_used() -> None:
    plan = build_seed(
        fold(
            user("item_u1", None),
            TranscriptUnavailable(item_id="item_u1", reason="timed_out"),
            TranscriptLate(item_id="item_u1", text="Hello there.", via="event"),
        ),
        audio={"item_u1": b"\0\0" * 100},
    )
    assert plan.items == (text_message("user", "item_u1", "Hello there."),)
    assert plan.audio_items == ()


def test_typed_text_and_empty_transcripts() -> None:
    plan = build_seed(
        fold(user("item_t1", None, text="typed words"), user("item_u2", "item_t1"), resolved("item_u2", "  ")),
        audio={"item_u2": b"\0\0" * 100},
    )
    assert plan.items == (text_message("user", "item_t1", "typed words"),)
    assert plan.skipped == (Skipped(item_id="item_u2", reason="empty transcript (no words heard)"),)


def test_the_latest_summary_comes_first_and_deleted_items_stay_out() -> None:
    events: list[Event] = [
        *a_call_with_tools()[:-2],
        *summary("sum_001", "The user asked about the weather in Paris; it is 18 degrees."),
        *(ItemDeleted(item_id=i) for i in ("item_u1", "item_a1", "item_c1", "item_o1")),
        user("item_u3", "item_a2"),
        resolved("item_u3", "And tomorrow?"),
    ]
    conv = fold(*events)
    assert conv.item_ids[0] == "sum_001"
    plan = build_seed(conv)
    assert plan.items == (
        text_message("system", "sum_001", "The user asked about the weather in Paris; it is 18 degrees."),
        text_message("assistant", "item_a2", "It is 18 degrees in Paris."),
        text_message("user", "item_u3", "And tomorrow?"),
    )
    assert plan.summary_id == "sum_001"
    assert plan.describe() == "3 items (summary sum_001)"


def test_an_older_summary_whose_delete_was_refused_is_superseded() -> None:
    conv = fold(*summary("sum_001", "old"), *summary("sum_002", "new, folding in the old one"), user("item_u1", "sum_001", "hi"))
    plan = build_seed(conv)
    assert plan.ids == ("sum_002", "item_u1")
    assert plan.skipped == (Skipped(item_id="sum_001", reason="older summary (superseded by sum_002)"),)
    assert summary_number("sum_002") == 2
    assert summary_number("item_sum_2") is None


def test_interrupted_assistant_keeps_what_it_said_and_an_empty_one_is_left_out() -> None:
    conv = fold(
        user("item_u1", None, "Tell me a story."),
        *assistant("item_a1", "item_u1"),
        AssistantTextDelta(response_id="resp_1", item_id="item_a1", modality="audio", delta="Once upon "),
        AssistantTextDelta(response_id="resp_1", item_id="item_a1", modality="audio", delta="a time"),
        ItemTruncated(item_id="item_a1", content_index=0, audio_end_ms=800),
        *assistant("item_a2", "item_a1", "resp_2"),
        ResponseDone(response_id="resp_2", status="cancelled", output_item_ids=("item_a2",), output_types=("message",)),  # type: ignore[arg-type]
    )
    assert conv.turn("item_a1") is not None and conv.turn("item_a1").status == "interrupted"  # type: ignore[union-attr]
    plan = build_seed(conv)
    assert plan.items == (text_message("user", "item_u1", "Tell me a story."), text_message("assistant", "item_a1", "Once upon a time"))
    assert plan.skipped == (Skipped(item_id="item_a2", reason="assistant item without text"),)


def test_a_call_still_streaming_its_arguments_and_an_orphan_output_are_left_out() -> None:
    conv = fold(
        user("item_u1", None, "weather?"),
        ItemAdded(item_id="item_c1", previous_item_id="item_u1", item_type="function_call", status="in_progress", call_id="call_1", name="get_weather"),
        ItemAdded(item_id="item_o9", previous_item_id="item_c1", item_type="function_call_output", call_id="call_9"),
    )
    plan = build_seed(conv)
    assert plan.ids == ("item_u1",)
    assert [s.item_id for s in plan.skipped] == ["item_c1", "item_o9"]
    # a call whose output has not come yet is kept: the tools actor may still deliver it
    running = build_seed(fold(user("item_u1", None, "weather?"), *call("item_c1", "item_u1", "call_1", "get_weather", "{}")))
    assert running.ids == ("item_u1", "item_c1")


def test_an_empty_conversation_is_an_empty_plan() -> None:
    assert build_seed(Conversation()) == SeedPlan()
    assert SeedPlan().describe() == "0 items"


def chain(plan: SeedPlan) -> list[dict[str, Any]]:
    events = []
    previous = "root"
    for n, item in enumerate(plan.items, 1):
        events.append({"type": "conversation.item.create", "event_id": f"conductor_{n:04d}", "previous_item_id": previous, "item": item})
        previous = item["id"]
    return events


@pytest.mark.parametrize("with_summary", [False, True])
def test_every_item_validates_as_the_sdk_and_the_embedded_server_want_it(with_summary: bool) -> None:
    events = [*summary("sum_003", "Earlier: the weather.")] if with_summary else []
    events += a_call_with_tools()
    plan = build_seed(fold(*events), audio={"item_u2": b"\0\0" * 480})
    kinds = {(i["type"], i.get("role")) for i in plan.items}
    assert {("function_call", None), ("function_call_output", None), ("message", "user"), ("message", "assistant")} <= kinds
    for event in chain(plan):
        wire = json.loads(json.dumps(event))
        model = ConversationItemCreateEvent.model_validate(wire)
        assert model.item.id == event["item"]["id"]  # type: ignore[union-attr]
        assert model.item.type == event["item"]["type"]
        CLIENT_ADAPTER.validate_python(wire)
        parse_client_event(json.dumps(wire))  # the embedded server's strict validation (unknown keys too)


def test_a_seeded_call_keeps_its_arguments_so_the_next_seed_holds_it_too() -> None:
    """A call that came in through a seed (a resumed call, or an earlier re-seed) has no
    ``function_call_arguments.done``: its arguments are those of our own create, so a later re-seed still
    carries the call and its output."""
    first = build_seed(fold(*a_call_with_tools()[:-2]))
    events: list[Event] = [ReseedPlanned(items=first.ids)]
    previous = "root"
    for n, item in enumerate(first.items):
        events.append(commands.item_create(f"conductor_{n:04d}", dict(item), previous_item_id=previous))
        text = item["content"][0]["text"] if item["type"] == "message" else None
        events.append(
            ItemAdded(
                item_id=item["id"], previous_item_id=None if previous == "root" else previous, item_type=item["type"],
                role=item.get("role"), status="completed", text=text, call_id=item.get("call_id"), name=item.get("name"),
            )
        )  # fmt: skip
        previous = item["id"]
    again = build_seed(fold(*events))
    assert again.items == first.items and again.skipped == ()
