"""The server over a real loopback WebSocket (trio-websocket), with deterministic fake speech."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from pipeline.models import DEFAULT_REALTIME_MODEL
from pipeline.server.session import SERVER_VAD_DEFAULTS
from tests.server.support import Client, FakeSpeech, silence, tone, types_of

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"],
    },
}


def user_text(text: str, **extra: object) -> dict[str, object]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}], **extra}


async def test_session_created_then_update_merges(client: Client) -> None:
    with trio.fail_after(5):
        created = await client.recv()
        assert created["type"] == "session.created"
        session = created["session"]
        assert session["id"].startswith("sess_") and session["object"] == "realtime.session"
        assert session["audio"]["input"]["turn_detection"] == SERVER_VAD_DEFAULTS
        assert session["tracing"] is None and session["truncation"] == "auto" and session["include"] is None
        await client.send({"type": "session.update", "event_id": "u1", "session": {"type": "realtime", "instructions": "Be brief.",
                           "audio": {"output": {"voice": "shimmer"}, "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}})  # fmt: skip
        updated = await client.recv()
        assert updated["type"] == "session.updated"
        assert updated["session"]["instructions"] == "Be brief."
        assert updated["session"]["audio"]["output"]["voice"] == "shimmer"
        assert updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500
        assert updated["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.5  # defaults filled
        assert updated["session"]["tools"] == [] and "event_id" in updated and updated["event_id"] != "u1"


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ("{not json", "invalid_event", None),
        ({"event_id": "e1"}, "invalid_event", "type"),
        ({"type": "scooby.dooby.doo", "event_id": "e1"}, "invalid_value", "type"),
        ({"type": "session.update", "event_id": "e1", "session": {"instructions": "x"}}, "missing_required_parameter", "session.type"),
        ({"type": "session.update", "event_id": "e1", "session": {"type": "realtime", "modalities": ["text"]}}, "unknown_parameter", "session.modalities"),
        ({"type": "session.update", "event_id": "e1", "session": {"type": "realtime", "voice": "alloy"}}, "unknown_parameter", "session.voice"),
        ({"type": "session.update", "event_id": "e1", "session": {"type": "realtime", "output_modalities": ["video"]}}, "invalid_value", "session.output_modalities[0]"),
        ({"type": "session.update", "event_id": "e1", "session": {"type": "realtime", "audio": {"output": {"voice": "nope"}}}}, "invalid_value", "session.audio.output.voice"),
        ({"type": "input_audio_buffer.commit", "event_id": "e1"}, "input_audio_buffer_commit_empty", None),
        ({"type": "response.cancel", "event_id": "e1"}, "response_cancel_not_active", None),
        ({"type": "conversation.item.delete", "event_id": "e1", "item_id": "nope"}, "item_delete_invalid_item_id", None),
        ({"type": "conversation.item.retrieve", "event_id": "e1", "item_id": "nope"}, "item_retrieve_invalid_item_id", None),
        ({"type": "conversation.item.truncate", "event_id": "e1", "item_id": "nope", "content_index": 0, "audio_end_ms": 10}, "item_truncate_invalid_item_id", None),
        ({"type": "conversation.item.create", "event_id": "e1", "previous_item_id": "nope", "item": user_text("hi")}, "invalid_value", "previous_item_id"),
        ({"type": "conversation.item.create", "event_id": "e1", "item": user_text("hi", id="x" * 33)}, "string_above_max_length", "item.id"),
        ({"type": "conversation.item.create", "event_id": "e1", "item": {"type": "message", "role": "user"}}, "missing_required_parameter", "item.content"),
    ],
)
async def test_client_errors_echo_event_id_and_keep_the_session(client: Client, event: object, code: str, param: str | None) -> None:
    with trio.fail_after(5):
        await client.recv()
        await client.send(event if isinstance(event, str) else json.dumps(event))
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["code"] == code
        assert error["error"]["param"] == param
        assert error["error"]["type"] == "invalid_request_error"
        expected_id = None if isinstance(event, str) else "e1"
        assert error["error"]["event_id"] == expected_id
        await client.send({"type": "input_audio_buffer.clear"})  # the connection survives
        assert (await client.recv())["type"] == "input_audio_buffer.cleared"


async def test_text_response_and_conflicting_create(client: Client) -> None:
    with trio.fail_after(5):
        await client.recv()
        await client.send({"type": "conversation.item.create", "item": user_text("the sky is green today")})
        _added, _ = await client.until("conversation.item.done")
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await client.send({"type": "response.create", "event_id": "second"})
        done, seen = await client.until("response.done")
        kinds = types_of(seen)
        error = next(e for e in seen if e["type"] == "error")
        assert error["error"]["code"] == "conversation_already_has_active_response"
        assert error["error"]["event_id"] == "second"
        kinds.remove("error")
        assert kinds[:4] == ["response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added"]
        assert kinds[-5:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "conversation.item.done", "response.done"]
        text = "".join(e["delta"] for e in seen if e["type"] == "response.output_text.delta")
        assert text == "You said: the sky is green today."
        assert done["response"]["output"][0]["content"] == [{"type": "output_text", "text": text}]
        assert (await client.recv())["type"] == "rate_limits.updated"


async def test_audio_response_order_and_truncate(client: Client) -> None:
    with trio.fail_after(10):
        await client.recv()
        await client.send({"type": "conversation.item.create", "item": user_text("tell me a story")})
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        done, seen = await client.until("response.done")
        kinds = [k for k in types_of(seen) if not k.endswith(".delta")]
        assert kinds == [
            "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
            "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
            "response.output_item.done", "conversation.item.done", "response.done",
        ]  # fmt: skip
        deltas = [e for e in seen if e["type"] == "response.output_audio.delta"]
        assert len(deltas) > 10 and all("obfuscation" in e for e in deltas)
        audio = b"".join(base64.b64decode(e["delta"]) for e in deltas)
        assert len(audio) % 2 == 0
        transcript = "".join(e["delta"] for e in seen if e["type"] == "response.output_audio_transcript.delta")
        assert transcript.startswith("Once upon a time") and len(transcript.split()) > 300
        item = done["response"]["output"][0]
        assert item["content"][0]["type"] == "output_audio" and item["content"][0]["transcript"] == transcript
        usage = done["response"]["usage"]
        assert usage["output_token_details"]["audio_tokens"] == round(len(audio) / 48000 * 20)
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        await client.until("rate_limits.updated")
        total_ms = len(audio) // 48
        await client.send({"type": "conversation.item.truncate", "event_id": "t1", "item_id": item["id"], "content_index": 0, "audio_end_ms": total_ms + 500})
        error = await client.recv()
        assert error["error"]["code"] == "invalid_value" and error["error"]["event_id"] == "t1"
        assert error["error"]["message"] == f"Audio content of {total_ms}ms is already shorter than {total_ms + 500}ms"
        await client.send({"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0, "audio_end_ms": 3000})
        truncated = await client.recv()
        assert truncated == {**truncated, "type": "conversation.item.truncated", "item_id": item["id"], "audio_end_ms": 3000}
        await client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = (await client.recv())["item"]
        assert len(base64.b64decode(retrieved["content"][0]["audio"])) == 3000 * 48
        assert 0 < len(retrieved["content"][0]["transcript"]) < len(transcript) // 10


async def test_function_call_round_trip(client: Client) -> None:
    with trio.fail_after(5):
        await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL], "output_modalities": ["text"]}})
        await client.until("session.updated")
        await client.send({"type": "conversation.item.create", "item": user_text("what is the weather in Paris")})
        await client.send({"type": "response.create"})
        done, seen = await client.until("response.done")
        kinds = [k for k in types_of(seen) if (k.startswith(("response.", "conversation.item")) and k != "conversation.item.added") or k == "conversation.item.added"]
        start = kinds.index("response.created")
        assert kinds[start:] == [
            "response.created", "response.output_item.added", "conversation.item.added",
            *["response.function_call_arguments.delta"] * kinds.count("response.function_call_arguments.delta"),
            "response.function_call_arguments.done", "response.output_item.done", "conversation.item.done", "response.done",
        ]  # fmt: skip
        call = done["response"]["output"][0]
        assert call["type"] == "function_call" and call["name"] == "get_weather" and call["status"] == "completed"
        assert call["call_id"].startswith("call_") and len(call["call_id"]) == 21
        assert json.loads(call["arguments"]) == {"location": "Paris"}
        await client.until("rate_limits.updated")
        output = json.dumps({"location": "Paris", "temperature": "18°C", "condition": "sunny"})
        await client.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": output}})
        await client.until("conversation.item.done")
        assert await client.no_event_within(0.3), "a tool output alone must not start a response"
        await client.send({"type": "response.create"})
        done, seen = await client.until("response.done")
        assert done["response"]["output"][0]["content"][0]["text"] == "The weather in Paris is sunny at 18°C."


async def test_item_create_root_after_delete_retrieve(client: Client) -> None:
    with trio.fail_after(5):
        await client.recv()
        await client.send({"type": "conversation.item.create", "item": user_text("first", id="a1")})
        added, _ = await client.until("conversation.item.done")
        assert added["previous_item_id"] is None and added["item"]["id"] == "a1"
        await client.send({"type": "conversation.item.create", "item": user_text("second", id="a2")})
        added, _ = await client.until("conversation.item.done")
        assert added["previous_item_id"] == "a1"
        await client.send({"type": "conversation.item.create", "previous_item_id": "root",
                           "item": {"id": "sum_001", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "Earlier we discussed lighthouses."}]}})  # fmt: skip
        added, _ = await client.until("conversation.item.done")
        assert added["previous_item_id"] is None and added["item"]["role"] == "system"
        await client.send({"type": "conversation.item.create", "previous_item_id": "a1", "item": user_text("between", id="a3")})
        added, _ = await client.until("conversation.item.done")
        assert added["previous_item_id"] == "a1"
        await client.send({"type": "conversation.item.delete", "item_id": "a1"})
        assert await client.recv() == {**client.received[-1], "type": "conversation.item.deleted", "item_id": "a1"}
        await client.send({"type": "conversation.item.retrieve", "item_id": "a3"})
        retrieved = await client.recv()
        assert retrieved["type"] == "conversation.item.retrieved" and retrieved["item"]["content"][0]["text"] == "between"
        await client.send({"type": "conversation.item.create", "item": user_text("what did we talk about first")})
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done, _ = await client.until("response.done")
        assert "lighthouses" in done["response"]["output"][0]["content"][0]["text"]


async def test_vad_turn_with_transcription_and_barge_in(client: Client, fake_speech: FakeSpeech) -> None:
    fake_speech.heard = ["tell me a story", "stop please"]
    with trio.fail_after(10):
        await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime",
                           "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}})  # fmt: skip
        await client.until("session.updated")
        await client.append(silence(500) + tone(800) + silence(400))
        started, _ = await client.until("input_audio_buffer.speech_started")
        assert started["audio_start_ms"] == 500 - 300  # speech onset minus prefix padding
        stopped, _ = await client.until("input_audio_buffer.speech_stopped")
        assert stopped["item_id"] == started["item_id"]
        assert stopped["audio_end_ms"] == 1300 + 200  # end of speech plus the silence duration
        committed = await client.recv()
        assert committed["type"] == "input_audio_buffer.committed" and committed["item_id"] == started["item_id"]
        added = await client.recv()
        assert added["type"] == "conversation.item.added"
        assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
        assert (await client.recv())["type"] == "conversation.item.done"
        await client.until("response.output_audio.delta")
        # The user talks over the story: the response is cancelled with turn_detected.
        await client.append(tone(600) + silence(300))
        done, seen = await client.until("response.done")
        kinds = types_of(seen)
        assert "input_audio_buffer.speech_started" in kinds
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.output_audio.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        assert done["response"]["output"][0]["status"] == "incomplete"
        kind = "conversation.item.input_audio_transcription.completed"
        completed = next((e for e in client.received if e["type"] == kind), None) or (await client.until(kind))[0]
        assert completed["item_id"] == started["item_id"] and completed["transcript"] == "tell me a story"
        assert completed["usage"]["type"] == "tokens"
        if sum(e["type"] == "response.done" for e in client.received) < 2:
            await client.until("response.done")  # the second turn's own response


async def test_manual_commit_and_cancel(client: Client, fake_speech: FakeSpeech) -> None:
    fake_speech.heard = ["tell me a story"]
    with trio.fail_after(10):
        await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
        updated, _ = await client.until("session.updated")
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        await client.append(tone(60))
        await client.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
        error = await client.recv()
        assert error["error"]["code"] == "input_audio_buffer_commit_empty" and error["error"]["event_id"] == "c1"
        assert "buffer only has 60.00ms" in error["error"]["message"]
        await client.append(tone(500))
        await client.send({"type": "input_audio_buffer.commit"})
        _committed, seen = await client.until("conversation.item.done")
        assert "input_audio_buffer.speech_started" not in types_of(seen)
        assert await client.no_event_within(0.2), "a manual commit does not create a response"
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await client.send({"type": "response.cancel"})
        done, _ = await client.until("response.done")
        assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


@pytest.mark.parametrize("fault", ["fail", "never"])
async def test_transcript_faults(start_server, fake_speech: FakeSpeech, fault: str) -> None:  # type: ignore[no-untyped-def]
    fake_speech.heard = ["hello there"]
    server = await start_server(transcript_fault=fault)
    with trio.fail_after(10):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
                "transcription": {"model": "whisper-1"}, "turn_detection": None}}}})  # fmt: skip
            await client.until("session.updated")
            await client.append(tone(500))
            await client.send({"type": "input_audio_buffer.commit"})
            done, _ = await client.until("conversation.item.done")
            await trio.sleep(0.3)
            await client.send({"type": "conversation.item.retrieve", "item_id": done["item"]["id"]})
            retrieved, seen = await client.until("conversation.item.retrieved")
            kinds = types_of(seen)
            if fault == "fail":
                failed = next(e for e in seen if e["type"] == "conversation.item.input_audio_transcription.failed")
                assert failed["item_id"] == done["item"]["id"]
                assert retrieved["item"]["content"][0]["transcript"] is None
            else:
                assert not any("transcription" in k for k in kinds)
                assert retrieved["item"]["content"][0]["transcript"] == "hello there"
            assert retrieved["item"]["content"][0]["audio"]


async def test_session_expiry_closes_with_1001(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(max_session_s=0.3)
    with trio.fail_after(5):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            error = await client.recv()
            assert error["error"]["code"] == "session_expired"
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.reason.code == 1001


async def test_drop_socket_and_injected_error(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(drop_socket_after_s=0.5, error_after_responses=1)
    with trio.fail_after(5):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "conversation.item.create", "item": user_text("hi")})
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await client.until("rate_limits.updated")
            error = await client.recv()
            assert error["type"] == "error" and error["error"]["type"] == "server_error"
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.reason.code == 1006  # no close frame: the TCP connection was dropped


async def test_subprotocol_and_any_realtime_path(server) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(5):
        url = f"ws://{server.host}:{server.port}/some/prefix/realtime"
        async with open_websocket_url(url, subprotocols=["realtime", "openai-insecure-api-key.sk-x"]) as ws:
            assert ws.subprotocol == "realtime"
            # no model in the URL: the server's default, the current default model
            assert json.loads(await ws.get_message())["session"]["model"] == DEFAULT_REALTIME_MODEL


async def test_chat_completions(server) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(5):
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            prompt = "Summarise this conversation in one paragraph:\n[user] What is the weather in Paris?\n[assistant] Sunny and warm in Paris."
            reply = await http.post("/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})
            body = reply.json()
            assert reply.status_code == 200 and body["object"] == "chat.completion"
            content = body["choices"][0]["message"]["content"]
            assert "Paris" in content and "weather" in content and body["choices"][0]["finish_reason"] == "stop"
            assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
            bad = await http.post("/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
            assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
            # a reasoning chat model refuses the seed model's parameters, as the real service does
            messages = [{"role": "user", "content": prompt}]
            for extra, code in (({"max_tokens": 100}, "unsupported_parameter"), ({"temperature": 0}, "unsupported_value")):
                refused = await http.post("/chat/completions", json={"model": "gpt-5.4-mini", "messages": messages, **extra})
                assert refused.status_code == 400 and refused.json()["error"]["code"] == code
            fine = {"model": "gpt-5.4-mini", "messages": messages, "max_completion_tokens": 100}
            assert (await http.post("/chat/completions", json=fine)).status_code == 200
            old = {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 100, "temperature": 0}
            assert (await http.post("/chat/completions", json=old)).status_code == 200
