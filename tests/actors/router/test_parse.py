from __future__ import annotations

import json

import pytest

from actors.router.fields import RAW_LIMIT
from actors.router.parse import ServerMessageParser, parse_server_message
from events.base import Event
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AssistantTextDelta,
    AssistantTextDone,
    AudioBufferCleared,
    AudioCommitted,
    FunctionCallRequested,
    InputTranscriptCompleted,
    InputTranscriptDelta,
    InputTranscriptFailed,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemRetrieved,
    ItemTruncated,
    OutputItemAdded,
    ProtocolViolation,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    UnknownServerEvent,
)
from tests.actors.router.messages import (
    ASSISTANT_ITEM_DONE,
    CALL_ITEM,
    PCM,
    PCM_B64,
    SESSION,
    USAGE,
    USER_ITEM,
    msg,
    response,
)

R, A = "resp_1", "item_asst1"
TRANSCRIPTION_USAGE = {"type": "tokens", "input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
DONE_CALL = {**CALL_ITEM, "status": "completed", "arguments": '{"location":"Paris"}'}

# (id, wire text, expected events) — every GA type the router maps, in realistic shapes
GA_CASES: list[tuple[str, str, list[Event]]] = [
    ("session.created", msg("session.created", session=SESSION),
     [SessionCreated(session_id="sess_C9XyZabc123def456ghi", session=SESSION)]),
    ("session.updated", msg("session.updated", session=SESSION), [SessionUpdated(session=SESSION)]),
    ("speech_started", msg("input_audio_buffer.speech_started", audio_start_ms=1540, item_id="item_user1"),
     [SpeechStarted(item_id="item_user1", audio_start_ms=1540)]),
    ("speech_stopped", msg("input_audio_buffer.speech_stopped", audio_end_ms=3120, item_id="item_user1"),
     [SpeechStopped(item_id="item_user1", audio_end_ms=3120)]),
    ("committed", msg("input_audio_buffer.committed", item_id="item_user1", previous_item_id=None),
     [AudioCommitted(item_id="item_user1", previous_item_id=None)]),
    ("committed after", msg("input_audio_buffer.committed", item_id="item_user2", previous_item_id="item_asst1"),
     [AudioCommitted(item_id="item_user2", previous_item_id="item_asst1")]),
    ("cleared", msg("input_audio_buffer.cleared"), [AudioBufferCleared()]),
    ("item.added user", msg("conversation.item.added", previous_item_id=None, item=USER_ITEM),
     [ItemAdded(item_id="item_user1", item_type="message", role="user", status="completed", text=None)]),
    ("item.done assistant",
     msg("conversation.item.done", previous_item_id="item_user1", item=ASSISTANT_ITEM_DONE),
     [ItemDone(item_id=A, previous_item_id="item_user1", item_type="message", role="assistant",
               status="completed", text="It is sunny in Paris.")]),
    ("item.added system summary", msg("conversation.item.added", previous_item_id=None, item={
        "id": "sum_001", "object": "realtime.item", "type": "message", "status": "completed", "role": "system",
        "content": [{"type": "input_text", "text": "Résumé : l'utilisateur a demandé la météo."}]}),
     [ItemAdded(item_id="sum_001", item_type="message", role="system", status="completed",
                text="Résumé : l'utilisateur a demandé la météo.")]),
    ("item.added function_call", msg("conversation.item.added", previous_item_id="item_user1", item=CALL_ITEM),
     [ItemAdded(item_id="item_call1", previous_item_id="item_user1", item_type="function_call",
                status="in_progress", call_id="call_sHlR7iaFwQ2YQOqm", name="get_weather")]),
    ("item.done function_call_output", msg("conversation.item.done", previous_item_id="item_call1", item={
        "id": "item_out1", "object": "realtime.item", "type": "function_call_output",
        "call_id": "call_sHlR7iaFwQ2YQOqm", "output": '{"temperature":"21°C"}', "status": "completed"}),
     [ItemDone(item_id="item_out1", previous_item_id="item_call1", item_type="function_call_output",
               status="completed")]),
    ("item.deleted", msg("conversation.item.deleted", item_id="item_user1"), [ItemDeleted(item_id="item_user1")]),
    ("item.truncated", msg("conversation.item.truncated", item_id=A, content_index=0, audio_end_ms=1500),
     [ItemTruncated(item_id=A, content_index=0, audio_end_ms=1500)]),
    ("item.retrieved user with audio", msg("conversation.item.retrieved", item={
        **USER_ITEM, "content": [{"type": "input_audio", "audio": PCM_B64, "transcript": "What's the weather?"}]}),
     [ItemRetrieved(item_id="item_user1", item_type="message", role="user", status="completed",
                    text="What's the weather?")]),
    ("item.retrieved no transcript yet", msg("conversation.item.retrieved", item=USER_ITEM),
     [ItemRetrieved(item_id="item_user1", item_type="message", role="user", status="completed", text=None)]),
    ("item.retrieved assistant text", msg("conversation.item.retrieved", item={
        **ASSISTANT_ITEM_DONE, "content": [{"type": "output_text", "text": "Bonjour"}]}),
     [ItemRetrieved(item_id=A, item_type="message", role="assistant", status="completed", text="Bonjour")]),
    ("transcription.delta", msg("conversation.item.input_audio_transcription.delta", item_id="item_user1",
                                content_index=0, delta="What's", obfuscation="x7Gq"),
     [InputTranscriptDelta(item_id="item_user1", content_index=0, delta="What's")]),
    ("transcription.completed", msg("conversation.item.input_audio_transcription.completed",
                                    item_id="item_user1", content_index=0, transcript="What's the weather?",
                                    usage=TRANSCRIPTION_USAGE),
     [InputTranscriptCompleted(item_id="item_user1", transcript="What's the weather?", usage=TRANSCRIPTION_USAGE)]),
    ("transcription.failed", msg("conversation.item.input_audio_transcription.failed", item_id="item_user1",
                                 content_index=0, error={"type": "server_error", "code": "transcription_failed",
                                                         "message": "Audio unreadable", "param": None}),
     [InputTranscriptFailed(item_id="item_user1", error={"type": "server_error", "code": "transcription_failed",
                                                          "message": "Audio unreadable", "param": None})]),
    ("response.created", msg("response.created", response=response("in_progress", [], None)),
     [ResponseCreated(response_id=R)]),
    ("response.created out of band", msg("response.created", response=response("in_progress", [], None, conversation_id=None)),
     [ResponseCreated(response_id=R, out_of_band=True)]),
    ("response.created without conversation_id", msg("response.created", response={"id": R, "status": "in_progress"}),
     [ResponseCreated(response_id=R)]),
    ("output_item.added message", msg("response.output_item.added", response_id=R, output_index=0, item={
        "id": A, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant",
        "content": []}),
     [OutputItemAdded(response_id=R, item_id=A, output_index=0, item_type="message", role="assistant")]),
    ("output_audio.delta", msg("response.output_audio.delta", response_id=R, item_id=A, output_index=0,
                               content_index=0, delta=PCM_B64),
     [AssistantAudioDelta(response_id=R, item_id=A, content_index=0, pcm=PCM)]),
    ("output_audio.done", msg("response.output_audio.done", response_id=R, item_id=A, output_index=0,
                              content_index=0),
     [AssistantAudioDone(response_id=R, item_id=A)]),
    ("transcript.delta", msg("response.output_audio_transcript.delta", response_id=R, item_id=A,
                             output_index=0, content_index=0, delta="It is ", obfuscation="ab12"),
     [AssistantTextDelta(response_id=R, item_id=A, modality="audio", delta="It is ")]),
    ("transcript.done", msg("response.output_audio_transcript.done", response_id=R, item_id=A, output_index=0,
                            content_index=0, transcript="It is sunny in Paris."),
     [AssistantTextDone(response_id=R, item_id=A, modality="audio", text="It is sunny in Paris.")]),
    ("output_text.delta", msg("response.output_text.delta", response_id=R, item_id=A, output_index=0,
                              content_index=0, delta="Bon"),
     [AssistantTextDelta(response_id=R, item_id=A, modality="text", delta="Bon")]),
    ("output_text.done", msg("response.output_text.done", response_id=R, item_id=A, output_index=0,
                             content_index=0, text="Bonjour"),
     [AssistantTextDone(response_id=R, item_id=A, modality="text", text="Bonjour")]),
    ("function_call_arguments.done", msg("response.function_call_arguments.done", response_id=R,
                                         item_id="item_call1", output_index=1, call_id="call_sHlR7iaFwQ2YQOqm",
                                         name="get_weather", arguments='{"location":"Paris"}'),
     [FunctionCallRequested(response_id=R, item_id="item_call1", call_id="call_sHlR7iaFwQ2YQOqm",
                            name="get_weather", arguments='{"location":"Paris"}')]),
    ("response.done completed", msg("response.done", response=response(
        "completed", [ASSISTANT_ITEM_DONE, DONE_CALL], USAGE)),
     [ResponseDone(response_id=R, status="completed", usage=USAGE, output_item_ids=(A, "item_call1"),
                   output_types=("message", "function_call"))]),
    ("response.done cancelled", msg("response.done", response=response(
        "cancelled", [], {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0},
        status_details={"type": "cancelled", "reason": "turn_detected"})),
     [ResponseDone(response_id=R, status="cancelled", status_details={"type": "cancelled", "reason": "turn_detected"},
                   usage={"total_tokens": 0, "input_tokens": 0, "output_tokens": 0})]),
    ("rate_limits", msg("rate_limits.updated", rate_limits=[
        {"name": "tokens", "limit": 40000, "remaining": 39680, "reset_seconds": 2.265}]),
     [RateLimitsUpdated(rate_limits=({"name": "tokens", "limit": 40000, "remaining": 39680, "reset_seconds": 2.265},))]),
    ("error", msg("error", error={
        "type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
        "message": "Error committing input audio buffer: buffer too small.", "param": None,
        "event_id": "uploader_0007"}),
     [ServerError(error_type="invalid_request_error", code="input_audio_buffer_commit_empty",
                  message="Error committing input audio buffer: buffer too small.",
                  client_event_id="uploader_0007")]),
    # read and dropped on purpose
    ("content_part.added", msg("response.content_part.added", response_id=R, item_id=A, output_index=0,
                               content_index=0, part={"type": "audio", "transcript": ""}), []),
    ("content_part.done", msg("response.content_part.done", response_id=R, item_id=A, output_index=0,
                              content_index=0, part={"type": "audio", "transcript": "Hi"}), []),
    ("arguments.delta", msg("response.function_call_arguments.delta", response_id=R, item_id="item_call1",
                            output_index=1, call_id="call_sHlR7iaFwQ2YQOqm", delta='{"loc'), []),
    ("output_item.done", msg("response.output_item.done", response_id=R, output_index=0,
                             item=ASSISTANT_ITEM_DONE), []),
    ("conversation.created", msg("conversation.created", conversation={"id": "conv_1", "object":
                                                                        "realtime.conversation"}), []),
]

BETA_CASES: list[tuple[str, str, list[Event]]] = [
    ("item.created", msg("conversation.item.created", previous_item_id=None, item=USER_ITEM),
     [ItemAdded(item_id="item_user1", item_type="message", role="user", status="completed")]),
    ("audio.delta", msg("response.audio.delta", response_id=R, item_id=A, output_index=0, content_index=0,
                        delta=PCM_B64),
     [AssistantAudioDelta(response_id=R, item_id=A, pcm=PCM)]),
    ("audio.done", msg("response.audio.done", response_id=R, item_id=A, output_index=0, content_index=0),
     [AssistantAudioDone(response_id=R, item_id=A)]),
    ("audio_transcript.delta", msg("response.audio_transcript.delta", response_id=R, item_id=A, output_index=0,
                                   content_index=0, delta="Hi"),
     [AssistantTextDelta(response_id=R, item_id=A, modality="audio", delta="Hi")]),
    ("text.done", msg("response.text.done", response_id=R, item_id=A, output_index=0, content_index=0,
                      text="Hi"),
     [AssistantTextDone(response_id=R, item_id=A, modality="text", text="Hi")]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in GA_CASES + BETA_CASES],
                         ids=[c[0] for c in GA_CASES + BETA_CASES])
def test_message_maps_to_events(text: str, expected: list[Event]) -> None:
    assert ServerMessageParser().parse(text) == expected


def test_ga_fixtures_are_valid_sdk_server_events() -> None:
    """The table is only worth something if its messages are what a GA server sends."""
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[object] = TypeAdapter(RealtimeServerEvent)
    for case_id, text, _ in GA_CASES:
        parsed = adapter.validate_json(text)
        assert getattr(parsed, "type", None) == json.loads(text)["type"], case_id


def test_every_ga_server_type_is_mapped_ignored_or_unknown_on_purpose() -> None:
    from typing import get_args

    from openai.types.realtime import realtime_server_event

    union = get_args(get_args(realtime_server_event.RealtimeServerEvent)[0])
    sdk_types = {get_args(model.model_fields["type"].annotation)[0] for model in union}
    parser = ServerMessageParser()
    unmodelled = sdk_types - parser.known_types
    # what the router publishes as UnknownServerEvent: SIP/WebRTC-only, MCP, diarization, idle timeout
    assert unmodelled == {
        "input_audio_buffer.dtmf_event_received",
        "input_audio_buffer.timeout_triggered",
        "conversation.item.input_audio_transcription.segment",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
    }


def test_function_call_name_comes_from_output_item_added_when_the_done_event_lacks_it() -> None:
    parser = ServerMessageParser()
    added = parser.parse(msg("response.output_item.added", response_id=R, output_index=1, item=CALL_ITEM))
    assert added == [OutputItemAdded(response_id=R, item_id="item_call1", output_index=1, item_type="function_call")]
    done = parser.parse(msg("response.function_call_arguments.done", response_id=R, item_id="item_call1",
                            output_index=1, arguments='{"location":"Paris"}'))
    assert done == [FunctionCallRequested(response_id=R, item_id="item_call1", call_id="call_sHlR7iaFwQ2YQOqm",
                                          name="get_weather", arguments='{"location":"Paris"}')]
    # remembered once only: a repeat without a name has nothing to go on
    again = parser.parse(msg("response.function_call_arguments.done", response_id=R, item_id="item_call1",
                             output_index=1, call_id="call_x", arguments="{}"))
    assert len(again) == 1 and isinstance(again[0], ProtocolViolation)
    assert "missing 'name'" in again[0].detail


def test_response_done_forgets_calls_of_that_response() -> None:
    parser = ServerMessageParser()
    parser.parse(msg("response.output_item.added", response_id=R, output_index=0, item=CALL_ITEM))
    parser.parse(msg("response.done", response=response("completed", [DONE_CALL], USAGE)))
    late = parser.parse(msg("response.function_call_arguments.done", response_id=R, item_id="item_call1",
                            output_index=0, call_id="call_sHlR7iaFwQ2YQOqm", arguments="{}"))
    assert isinstance(late[0], ProtocolViolation)


def one_violation(events: list[Event]) -> ProtocolViolation:
    assert len(events) == 1 and isinstance(events[0], ProtocolViolation), events
    return events[0]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('{"type": "response.output_audio.delta", "delta": ', "malformed JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"hello"', "expected a JSON object, got str"),
        ('{"event_id": "event_1"}', "'type' field is missing"),
        ('{"type": 7}', "'type' field is missing"),
        (msg("input_audio_buffer.speech_started", item_id="item_1"), "speech_started: missing field 'audio_start_ms'"),
        (msg("input_audio_buffer.speech_started", item_id=5, audio_start_ms=0), "'item_id' must be a string"),
        (msg("input_audio_buffer.speech_started", item_id="i", audio_start_ms=-1), "audio_start_ms must be >= 0"),
        (msg("response.output_audio.delta", response_id=R, item_id=A, output_index=0, content_index=0,
             delta="not base64!!"), "'delta' is not valid base64"),
        (msg("response.output_audio.delta", response_id=R, item_id=A, output_index=0, content_index=0,
             delta="AAAA"), "whole PCM16 samples"),
        (msg("response.done", response={"id": R, "status": "completed", "output": "nope"}),
         "'response.output' must be a list"),
        (msg("conversation.item.added", item=["not", "an", "object"]), "'item' must be an object"),
        (msg("error", error=None), "'error' must be an object"),
    ],
    ids=["truncated", "array", "string", "no type", "type not string", "missing field", "wrong type",
         "negative ms", "bad base64", "odd pcm", "bad output", "bad item", "null error"],
)
def test_bad_messages_become_one_violation(text: str, detail: str) -> None:
    violation = one_violation(ServerMessageParser().parse(text))
    assert detail in violation.detail
    assert "\n" not in violation.detail
    assert violation.raw == text[:RAW_LIMIT]


def test_violation_raw_is_truncated_and_next_message_still_parses() -> None:
    parser = ServerMessageParser()
    huge = '{"type": "response.output_audio.delta", "delta": "' + "A" * 100_000
    violation = one_violation(parser.parse(huge))
    assert len(violation.raw) == RAW_LIMIT and violation.detail.startswith("malformed JSON")
    assert parser.parse(msg("conversation.item.deleted", item_id="item_1")) == [ItemDeleted(item_id="item_1")]


def test_unknown_type_is_kept_with_big_strings_elided_and_the_next_message_parses() -> None:
    parser = ServerMessageParser()
    big = "A" * 40_000
    events = parser.parse(msg("response.brand_new_thing", payload={"audio": big, "note": "short"}))
    assert len(events) == 1 and isinstance(events[0], UnknownServerEvent)
    assert events[0].type == "response.brand_new_thing"
    assert json.loads(events[0].raw) == {
        "type": "response.brand_new_thing",
        "event_id": "event_CAbc123",
        "payload": {"audio": "<40000 chars elided>", "note": "short"},
    }
    assert parser.parse(msg("input_audio_buffer.cleared")) == [AudioBufferCleared()]


def test_sip_only_event_is_unknown_not_a_violation() -> None:
    text = json.dumps({"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1765000000})
    events = parse_server_message(text)
    assert [type(e) for e in events] == [UnknownServerEvent]


def test_parser_never_raises_on_odd_values() -> None:
    parser = ServerMessageParser()
    odd_values: list[object] = [None, 1, 1.5, True, "", [], {}, "x" * 10, {"id": None}, [None]]
    for type_ in parser.known_types:
        for value in odd_values:
            for field in ("item", "response", "session", "item_id", "delta", "error", "rate_limits"):
                events = parser.parse(json.dumps({"type": type_, field: value}))
                assert all(isinstance(e, Event) for e in events)
    assert one_violation(parser.parse(b"\xff\xfe not utf-8"))
