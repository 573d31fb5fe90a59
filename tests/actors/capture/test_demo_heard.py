"""The demo script, spoken by the scripted user as `rtpipe run` speaks it, is heard word for word by the embedded
server (case, punctuation and "five"/"5" aside). Real TTS, real server VAD and recognition, real WebSocket."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from actors.capture.script import DEMO_SCRIPT
from actors.capture.sources import ScriptSource, chunk_bytes, silence, split_chunks
from pipeline.audio.tts import USER_VOICE
from pipeline.server import ServerConfig, serve
from pipeline.server.words import canonical

pytestmark = pytest.mark.slow


async def test_the_demo_script_is_heard_by_the_embedded_server() -> None:
    source = ScriptSource(DEMO_SCRIPT, voice=USER_VOICE, vad_silence_ms=500)  # as pipeline/session.py does
    heard: list[str] = []
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve, ServerConfig())
            async with open_websocket_url(server.realtime_url) as ws:

                async def until(kind: str) -> dict[str, Any]:
                    while True:
                        event: dict[str, Any] = json.loads(await ws.get_message())
                        if event["type"] == kind:
                            return event

                await until("session.created")
                vad = {"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300, "create_response": False}
                session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": vad}}}
                await ws.send_message(json.dumps({"type": "session.update", "session": session}))
                await until("session.updated")
                for line in source.lines:
                    # as capture streams it in real time: silence, then the line and its trailing silence
                    pcm = silence(600) + await source.render(line.text)
                    for chunk in split_chunks(pcm, chunk_bytes(40)):
                        audio = base64.b64encode(chunk).decode()
                        await ws.send_message(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
                    done = await until("conversation.item.input_audio_transcription.completed")
                    heard.append(done["transcript"])
            nursery.cancel_scope.cancel()
    assert [canonical(text) for text in heard] == [canonical(line.text) for line in source.lines], heard
