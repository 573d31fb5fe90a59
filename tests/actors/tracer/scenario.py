"""A recorded conversation for the tracer: a turn with a tool call, a barged-in turn, a late transcript, a
summary, and a server error. Events are what the router, transcripts, tools and summariser publish."""

from __future__ import annotations

import importlib
from typing import Any

from events.base import Event, registered_tags
from events.commands import function_call_output
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
)
from events.transcripts import TranscriptResolved

USAGE_1 = {"total_tokens": 120, "input_tokens": 100, "output_tokens": 20, "input_token_details": {"cached_tokens": 0, "audio_tokens": 60, "text_tokens": 40}}
USAGE_2 = {"total_tokens": 190, "input_tokens": 150, "output_tokens": 40}
USAGE_3 = {"total_tokens": 230, "input_tokens": 220, "output_tokens": 10}
SUMMARY_USAGE = {"prompt_tokens": 300, "completion_tokens": 50, "total_tokens": 350}
WEATHER = '{"location": "Paris", "temperature": 21, "unit": "celsius"}'


def optional(tag: str, module: str, **fields: Any) -> Event | None:
    """An event of a module another engineer owns, built from the tag registry (None when it is absent)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return None
    return registered_tags()[tag](**fields)


def conversation(*, with_edges: bool = True) -> list[Event]:
    events: list[Event | None] = [
        ItemAdded(item_id="item_u1", item_type="message", role="user", status="completed"),
        ResponseCreated(response_id="resp_1"),
        ItemAdded(item_id="item_fc1", previous_item_id="item_u1", item_type="function_call", call_id="call_1", name="get_weather"),
        FunctionCallRequested(response_id="resp_1", item_id="item_fc1", call_id="call_1", name="get_weather", arguments='{"location": "Paris"}'),
        TranscriptResolved(item_id="item_u1", text="what's the weather in Paris", via="event"),
        ResponseDone(response_id="resp_1", status="completed", usage=USAGE_1, output_item_ids=("item_fc1",), output_types=("function_call",)),
        optional("tool.result", "events.tools", call_id="call_1", name="get_weather", output=WEATHER, ok=True) if with_edges else None,
        function_call_output("tools_0001", "call_1", WEATHER),
        ResponseCreated(response_id="resp_2"),
        ItemAdded(item_id="item_a1", previous_item_id="item_fc1", item_type="message", role="assistant", status="in_progress"),
        AssistantTextDone(response_id="resp_2", item_id="item_a1", modality="audio", text="It is 21 degrees in Paris."),
        ResponseDone(response_id="resp_2", status="completed", usage=USAGE_2, output_item_ids=("item_a1",), output_types=("message",)),
        ItemAdded(item_id="item_u2", previous_item_id="item_a1", item_type="message", role="user", status="completed"),
        ResponseCreated(response_id="resp_3"),
        ItemAdded(item_id="item_a2", previous_item_id="item_u2", item_type="message", role="assistant", status="in_progress"),
        AssistantTextDelta(response_id="resp_3", item_id="item_a2", modality="audio", delta="Once upon a time"),
        ResponseDone(
            response_id="resp_3",
            status="cancelled",
            status_details={"type": "cancelled", "reason": "turn_detected"},
            usage=USAGE_3,
            output_item_ids=("item_a2",),
            output_types=("message",),
        ),
        TranscriptResolved(item_id="item_u2", text="tell me a story", via="retrieve"),
        optional("summary.requested", "events.summary", summary_id="sum_001", model="gpt-4o-mini", item_ids_to_replace=("item_u1",),
                 messages=[{"role": "system", "content": "Résume."}, {"role": "user", "content": "user: what's the weather in Paris"}]),
        optional("summary.generated", "events.summary", summary_id="sum_001", text="L'utilisateur a demandé la météo à Paris.", usage=SUMMARY_USAGE),
        optional("summary.applied", "events.summary", summary_id="sum_001", replaced_turns=4, window_before=230),
        ServerError(error_type="invalid_request_error", code="item_not_found", message="Item 'x' not found", client_event_id="summariser_0003"),
    ]
    return [e for e in events if e is not None]
