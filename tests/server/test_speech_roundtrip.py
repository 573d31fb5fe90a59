"""Real speech both ways: the server's own TTS as user audio comes back as a transcript, and the brain acts on it."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import open_websocket_url

from tests.server.support import Client, silence

pytestmark = pytest.mark.slow

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Get the current weather for a location",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}  # fmt: skip


async def test_asr_round_trip_calls_get_weather(start_server) -> None:  # type: ignore[no-untyped-def]
    from pipeline.audio.tts import synthesize

    server = await start_server(real_speech=True)
    with trio.fail_after(30):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL],
                               "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"},
                                                   "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}})  # fmt: skip
            await client.until("session.updated")
            speech = await trio.to_thread.run_sync(lambda: synthesize("what is the weather in Paris", voice="en-us"))
            await client.append(silence(200) + speech + silence(800))
            done, _ = await client.until("response.done")
            preamble, call = done["response"]["output"]  # the default model reasons: it announces the call
            assert preamble["content"][0]["transcript"] == "Let me check that."
            assert call["type"] == "function_call" and call["name"] == "get_weather"
            completed = next((e for e in client.received if e["type"].endswith("transcription.completed")), None)
            if completed is None:
                completed, _ = await client.until("conversation.item.input_audio_transcription.completed")
            assert "weather" in completed["transcript"]
            assert completed["usage"]["type"] == "tokens" and completed["usage"]["input_token_details"]["audio_tokens"] > 10
