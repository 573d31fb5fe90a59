"""Plain tests of the server's pure parts: validation, VAD, brain, conversation, codecs, event checker."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.server.audio_format import decode_input, encode_output
from pipeline.server.brain import SHORT_STORY, STORY, CallTool, Say, Turn, decide, tool_arguments
from pipeline.server.conversation import Conversation, StoredItem, heard_prefix
from pipeline.server.errors import ClientError, session_expired
from pipeline.server.ids import IdGenerator
from pipeline.server.protocol import parse_client_event
from pipeline.server.vad import EnergyVad, SpeechStarted, SpeechStopped
from tests.server.support import EventChecker, silence, tone

REMINDER = {"type": "function", "name": "set_reminder", "description": "Set a reminder",
            "parameters": {"type": "object", "properties": {"message": {"type": "string"}, "time": {"type": "string"}}, "required": ["message", "time"]}}  # fmt: skip
TIME = {"type": "function", "name": "get_current_time", "description": "Get the current date and time",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}  # fmt: skip


def error_of(event: object) -> ClientError:
    with pytest.raises(ClientError) as caught:
        parse_client_event(json.dumps(event))
    return caught.value


@pytest.mark.parametrize("key", ["modalities", "voice", "input_audio_format", "turn_detection", "input_audio_transcription",
                                 "temperature", "max_response_output_tokens", "input_audio_noise_reduction"])  # fmt: skip
def test_beta_session_keys_are_unknown_parameters(key: str) -> None:
    error = error_of({"type": "session.update", "session": {"type": "realtime", key: None}})
    assert (error.code, error.param, error.message) == ("unknown_parameter", f"session.{key}", f"Unknown parameter: 'session.{key}'.")


def test_item_reference_is_accepted_and_checked() -> None:
    assert parse_client_event(json.dumps({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "x"}]}}))
    assert error_of({"type": "response.create", "response": {"input": [{"type": "item_reference"}]}}).param == "response.input[0].id"


def test_types_are_strict_and_paths_are_dotted() -> None:
    error = error_of({"type": "conversation.item.truncate", "item_id": "x", "content_index": 0, "audio_end_ms": "5"})
    assert (error.code, error.param) == ("invalid_type", "audio_end_ms")
    error = error_of({"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}})
    assert (error.code, error.param) == ("invalid_value", "item.role")
    assert "'user'" in error.message


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8))  # fmt: skip
def test_any_json_is_accepted_or_rejected_with_a_coded_error(value: object) -> None:
    for event in (value, {"type": "session.update", "session": value}, {"type": "conversation.item.create", "item": value}):
        try:
            parse_client_event(json.dumps(event))
        except ClientError as error:
            assert error.code and error.message


def test_vad_positions_follow_the_stream() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200)
    pcm = silence(1000) + tone(500) + silence(300)
    events = []
    for start in range(0, len(pcm), 1920):  # 40 ms appends
        events += vad.feed(np.frombuffer(pcm[start : start + 1920], dtype=np.int16))
    assert events == [SpeechStarted(audio_start_ms=700), SpeechStopped(audio_end_ms=1700)]


def test_vad_threshold_ignores_quiet_noise() -> None:
    quiet = tone(1000, level=0.003)  # about -53 dBFS
    assert EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200).feed(np.frombuffer(quiet, dtype=np.int16)) == []
    assert EnergyVad(threshold=0.1, prefix_padding_ms=0, silence_duration_ms=200).feed(np.frombuffer(quiet, dtype=np.int16)) == [SpeechStarted(audio_start_ms=0)]


def test_brain_tools_story_and_memory() -> None:
    user = Turn(kind="message", role="user", text="remind me to call mom in 10 minutes")
    assert decide([user], [TIME, REMINDER], "auto") == CallTool(name="set_reminder", arguments={"message": "call mom", "time": "in 10 minutes"})
    assert decide([Turn(kind="message", role="user", text="what time is it")], [TIME, REMINDER], "auto") == CallTool(name="get_current_time", arguments={})
    assert decide([user], [TIME, REMINDER], "none") == Say("You said: remind me to call mom in 10 minutes.")
    assert decide([Turn(kind="message", role="user", text="tell me a story")], [], "auto") == Say(STORY)
    assert len(STORY.split()) > 300
    for thanks in ("thank you", "sadie do that is all for today"):
        assert decide([Turn(kind="message", role="user", text=thanks)], [], "auto") == Say("You are welcome. Goodbye!")
    short = decide([Turn(kind="message", role="user", text="tell me a short story")], [], "auto")
    assert short == Say(SHORT_STORY) and 150 < len(SHORT_STORY.split()) < 250
    summary = Turn(kind="message", role="system", text="Résumé de la conversation. l'utilisateur: la météo à Paris.")
    asked = Turn(kind="message", role="user", text="what did the conversation start with")
    assert "météo à Paris" in decide([summary, asked], [], "auto").text  # type: ignore[union-attr]
    language = Turn(kind="message", role="user", text="what language was the summary in")
    assert decide([summary, language], [], "auto") == Say("The summary was in French.")


def test_tool_arguments_respect_enums_and_required() -> None:
    tool = {"name": "get_weather", "parameters": {"type": "object", "required": ["location"], "properties": {
        "location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}  # fmt: skip
    assert tool_arguments(tool, "weather in new york in fahrenheit") == {"location": "New York", "unit": "fahrenheit"}


def test_conversation_insert_semantics_and_truncation() -> None:
    conversation = Conversation()

    def item(item_id: str) -> StoredItem:
        return StoredItem(data={"id": item_id, "type": "message", "role": "user", "content": []})

    assert conversation.insert(item("a")) is None
    assert conversation.insert(item("b"), "") == "a"
    assert conversation.insert(item("r"), "root") is None
    assert conversation.insert(item("c"), "a") == "a"
    assert conversation.ids() == ["r", "a", "c", "b"]
    with pytest.raises(ClientError):
        conversation.insert(item("d"), "zzz")
    assert heard_prefix("one two three four", 500, 1000) == "one two"
    assert heard_prefix("one two three four", 1000, 1000) == "one two three four"


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_round_trip_keeps_the_signal(fmt: str) -> None:
    pcm = tone(200, level=0.5)
    wire = encode_output(pcm, fmt)
    assert len(wire) == 200 * 8
    back = np.frombuffer(decode_input(wire, fmt), dtype=np.int16).astype(float)
    original = np.frombuffer(pcm, dtype=np.int16).astype(float)
    n = min(len(back), len(original))
    assert np.corrcoef(back[100 : n - 100], original[100 : n - 100])[0, 1] > 0.95


def test_event_checker_catches_beta_content_types() -> None:
    checker = EventChecker()
    checker.server_event({"type": "conversation.item.added", "event_id": "event_1",
                          "item": {"type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "x"}]}})  # fmt: skip
    checker.server_event({"type": "response.audio.delta", "event_id": "event_2"})
    assert len(checker.violations) == 2


def test_offline_summary_skips_tool_lines_and_folds_a_previous_summary_without_nesting() -> None:
    from pipeline.server.chat import summarise

    prompt = {"role": "system", "content": "Summarise the conversation below in French."}
    first = summarise([prompt, {"role": "user", "content": "\n".join([
        "user: what is the weather like in Paris",
        'assistant: (called the tool get_weather({"location": "Paris"}))',
        'tool: {"location": "Paris", "temperature": "17°C"}',
        "assistant: The weather in Paris is sunny at 17°C. Anything else?",
    ])}])  # fmt: skip
    assert first == (
        "Résumé de la conversation. l'utilisateur: what is the weather like in Paris "
        "l'assistant: The weather in Paris is sunny at 17°C."
    )
    second = summarise([prompt, {"role": "user", "content": f"system: {first}\nuser: tell me a short story"}])
    assert second.count("Résumé de la conversation.") == 1
    assert second.startswith("Résumé de la conversation. l'utilisateur: what is the weather like in Paris")
    assert second.endswith("l'utilisateur: tell me a short story")
    long_previous = "Résumé de la conversation. " + "word " * 400
    third = summarise([prompt, {"role": "user", "content": f"system: {long_previous}\nuser: and now?"}])
    assert len(third) < 600 and third.endswith("l'utilisateur: and now?")  # the earlier summary does not grow it


def test_ids_skip_what_is_taken_and_stay_seeded() -> None:
    fresh = IdGenerator(3)
    items = [fresh.new("item") for _ in range(4)]
    calls = [fresh.new("call") for _ in range(2)]
    assert len(set(items)) == 4 and len(set(calls)) == 2
    conversation = Conversation()  # holds the first and third item ids, and the first call id (on an output)
    conversation.insert(StoredItem(data={"id": items[0], "type": "message", "role": "user", "content": []}))
    conversation.insert(StoredItem(data={"id": items[2], "type": "function_call_output", "call_id": calls[0], "output": "{}"}))
    for _ in range(2):  # the same history, the same ids
        ids = IdGenerator(3)
        ids.avoid(("item", "call"), conversation.in_use)
        assert [ids.new("item"), ids.new("item"), ids.new("call")] == [items[1], items[3], calls[1]]
    everything = IdGenerator(None)
    everything.avoid(("item",), lambda _: True)
    with pytest.raises(RuntimeError, match="no free 'item' id"):
        everything.new("item")
    assert everything.new("event").startswith("event_")  # other prefixes are not checked


@pytest.mark.parametrize(
    ("limit_s", "said"),
    [(3600, "60 minutes"), (120, "2 minutes"), (60, "1 minute"), (90, "90 seconds"), (8, "8 seconds"), (1, "1 second"), (0.5, "0.5 seconds")],
)
def test_session_expired_says_the_limit_in_the_real_wording(limit_s: float, said: str) -> None:
    error = session_expired(limit_s)
    assert (error.code, error.message) == ("session_expired", f"Your session hit the maximum duration of {said}.")
