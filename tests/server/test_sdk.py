"""A full session driven by the official `openai` SDK client (its own `websockets` asyncio transport).

The SDK runs under asyncio, so this is a plain synchronous test: the server runs in-process on a
background thread with its own `trio.run` (cancelled through its trio token at the end), and the SDK
session runs in `asyncio.run`, bounded by `asyncio.timeout`. Real speech both ways: the user's turn is
synthesised with espeak-ng and streamed in 40 ms appends; the server hears it with Whisper (faster-whisper, tiny.en).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import trio
from openai import AsyncOpenAI

from pipeline.server import ServerConfig, ServerHandle, serve
from tests.server.support import EventChecker, silence

pytestmark = pytest.mark.slow

TOOLS = [
    {"type": "function", "name": "get_weather", "description": "Get the current weather for a location",
     "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}},
    {"type": "function", "name": "get_current_time", "description": "Get the current date and time",
     "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}},
    {"type": "function", "name": "set_reminder", "description": "Set a reminder",
     "parameters": {"type": "object", "properties": {"message": {"type": "string"}, "time": {"type": "string"}}, "required": ["message", "time"]}},
]  # fmt: skip


@pytest.fixture
def threaded_server() -> Iterator[tuple[ServerHandle, EventChecker]]:
    checker = EventChecker()
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            config = ServerConfig(seed=3, pacing_ms=2.0, transcript_delay_ms=150)
            box["handle"] = await nursery.start(partial(serve, config, observer=checker.server_event, client_observer=checker.client_event))
            box["token"] = trio.lowlevel.current_trio_token()
            box["scope"] = nursery.cancel_scope
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        yield box["handle"], checker
    finally:
        trio.from_thread.run_sync(box["scope"].cancel, trio_token=box["token"])
        thread.join(10)
        assert not thread.is_alive()
    assert not checker.violations, "\n".join(checker.violations[:5])


async def _until(conn: Any, kind: str, seen: list[Any] | None = None) -> Any:
    while True:
        event = await conn.recv()
        if seen is not None:
            seen.append(event)
        if event.type == kind:
            return event


async def _expect_error(conn: Any, event: dict[str, Any] | str, code: str) -> None:
    if isinstance(event, str):
        await conn._connection.send(event)  # the SDK only sends JSON; send a malformed frame directly
    else:
        await conn.send(event)
    error = await _until(conn, "error")
    assert error.error.code == code, (event, error.error)
    expected = None if isinstance(event, str) else event.get("event_id")
    assert error.error.event_id == expected


async def _session(base_url: str) -> None:
    from pipeline.audio.tts import synthesize

    client = AsyncOpenAI(api_key="local", base_url=base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.model == "gpt-realtime"
        await conn.session.update(session={
            "type": "realtime", "tools": TOOLS, "tool_choice": "auto",
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                                "turn_detection": {"type": "server_vad", "silence_duration_ms": 600}},
                      "output": {"voice": "shimmer"}},
        })  # fmt: skip
        updated = await _until(conn, "session.updated")
        assert [t.name for t in updated.session.tools] == ["get_weather", "get_current_time", "set_reminder"]

        # A spoken turn, 40 ms appends, then silence: the VAD commits it and a response starts by itself.
        speech = synthesize("what is the weather in Paris", voice="en-us")
        audio = silence(300) + speech + silence(1000)
        for start in range(0, len(audio), 1920):
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[start : start + 1920]).decode())
        seen: list[Any] = []
        done = await _until(conn, "response.done", seen)
        kinds = [e.type for e in seen]
        turn = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"]
        assert [k for k in kinds if k in turn] == turn
        user_item = seen[kinds.index("input_audio_buffer.committed")].item_id
        call = done.response.output[0]
        assert call.type == "function_call" and call.name == "get_weather", done.response.output
        assert "location" in json.loads(call.arguments)
        transcript = next(e for e in seen if e.type == "conversation.item.input_audio_transcription.completed") if any(
            e.type == "conversation.item.input_audio_transcription.completed" for e in seen) else await _until(conn, "conversation.item.input_audio_transcription.completed")  # fmt: skip
        assert transcript.item_id == user_item and "weather" in transcript.transcript
        # Function call round trip: the output alone does nothing; response.create speaks it.
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": json.dumps({"location": "Paris", "temperature": "18°C", "condition": "sunny"})})  # fmt: skip
        await _until(conn, "conversation.item.done")
        await conn.response.create()
        seen = []
        done = await _until(conn, "response.done", seen)
        assert done.response.status == "completed"
        message = done.response.output[0]
        assert message.content[0].type == "output_audio" and "Paris" in (message.content[0].transcript or "")
        chunks = [base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta"]
        assert chunks and sum(map(len, chunks)) > 24000  # more than half a second of 24 kHz PCM16
        assert any(e.type == "response.output_audio_transcript.delta" for e in seen)

        # Items: a summary at the root, delete the user turn, retrieve and truncate the spoken answer.
        await conn.conversation.item.create(previous_item_id="root", item={"id": "sum_001", "type": "message", "role": "system",
                                            "content": [{"type": "input_text", "text": "The user asked about the weather in Paris."}]})  # fmt: skip
        added = await _until(conn, "conversation.item.added")
        assert added.item.id == "sum_001" and added.previous_item_id is None
        await conn.conversation.item.delete(item_id=user_item)
        assert (await _until(conn, "conversation.item.deleted")).item_id == user_item
        await conn.conversation.item.retrieve(item_id=message.id)
        retrieved = await _until(conn, "conversation.item.retrieved")
        assert retrieved.item.content[0].audio
        await conn.conversation.item.truncate(item_id=message.id, content_index=0, audio_end_ms=500)
        assert (await _until(conn, "conversation.item.truncated")).audio_end_ms == 500

        # Every error path, each echoing the client's event_id, on the same connection.
        await _expect_error(conn, "{not json", "invalid_event")
        await _expect_error(conn, {"type": "scooby.dooby.doo", "event_id": "e1"}, "invalid_value")
        await _expect_error(conn, {"type": "session.update", "event_id": "e2", "session": {"instructions": "x"}}, "missing_required_parameter")
        await _expect_error(conn, {"type": "session.update", "event_id": "e3", "session": {"type": "realtime", "modalities": ["text"]}}, "unknown_parameter")
        await _expect_error(conn, {"type": "session.update", "event_id": "e4", "session": {"type": "realtime", "output_modalities": ["smell"]}}, "invalid_value")
        await conn.input_audio_buffer.clear()  # the trailing silence is still buffered
        await _until(conn, "input_audio_buffer.cleared")
        await _expect_error(conn, {"type": "input_audio_buffer.commit", "event_id": "e5"}, "input_audio_buffer_commit_empty")
        await _expect_error(conn, {"type": "response.cancel", "event_id": "e6"}, "response_cancel_not_active")
        await _expect_error(conn, {"type": "conversation.item.delete", "event_id": "e7", "item_id": "nope"}, "item_delete_invalid_item_id")
        await _expect_error(conn, {"type": "conversation.item.retrieve", "event_id": "e8", "item_id": "nope"}, "item_retrieve_invalid_item_id")
        await _expect_error(conn, {"type": "conversation.item.truncate", "event_id": "e9", "item_id": "nope", "content_index": 0, "audio_end_ms": 1}, "item_truncate_invalid_item_id")
        await _expect_error(conn, {"type": "conversation.item.truncate", "event_id": "e10", "item_id": message.id, "content_index": 0, "audio_end_ms": 999_999}, "invalid_value")
        await _expect_error(conn, {"type": "conversation.item.create", "event_id": "e11", "previous_item_id": "nope",
                                   "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}}, "invalid_value")  # fmt: skip
        await _expect_error(conn, {"type": "conversation.item.create", "event_id": "e12",
                                   "item": {"id": "i" * 40, "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}}, "string_above_max_length")  # fmt: skip
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "what did we talk about first"}]})
        await conn.response.create(response={"output_modalities": ["text"]})
        await _expect_error(conn, {"type": "response.create", "event_id": "e13"}, "conversation_already_has_active_response")
        done = await _until(conn, "response.done")
        assert "weather in Paris" in done.response.output[0].content[0].text
    answer = await client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Summarise the conversation in one concise paragraph."},
        {"role": "user", "content": "[user] what is the weather in Paris\n[assistant] The weather in Paris is sunny at 18°C."}])  # fmt: skip
    assert "Paris" in (answer.choices[0].message.content or "")


def test_full_session_with_official_sdk(threaded_server: tuple[ServerHandle, EventChecker]) -> None:
    handle, checker = threaded_server

    async def bounded() -> None:
        async with asyncio.timeout(60):
            await _session(handle.base_url)

    asyncio.run(bounded())
    assert len(checker.sent) > 50 and checker.accepted
