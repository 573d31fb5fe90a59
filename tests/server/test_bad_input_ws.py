"""Bad input over a real loopback WebSocket: each gets one `error` event and the same connection goes on.

Issue 10: about 1,000 nested brackets used to raise RecursionError and drop the connection without an error
or a close frame; NaN, infinities and 10^30 were accepted as VAD and voice settings. The `checker` fixture
validates every event the server sends against the openai SDK's `RealtimeServerEvent` union.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import trio
from openai.types.realtime import RealtimeErrorEvent
from trio_websocket import open_websocket_url
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, CloseConnection, Request

from pipeline.server import ServerHandle
from tests.server.conftest import StartServer
from tests.server.support import Client, EventChecker, tone

LIMIT = 64 * 1024


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def expect_error(client: Client, raw: str, code: str, *, param: str | None, event_id: str | None) -> dict[str, Any]:
    await client.send(raw)
    event = await client.recv()
    assert event["type"] == "error", event
    RealtimeErrorEvent.model_validate(event)  # the SDK's own model of the error event
    error: dict[str, Any] = event["error"]
    assert (error["type"], error["code"], error["param"], error["event_id"]) == ("invalid_request_error", code, param, event_id), error
    assert error["message"]
    return error


async def test_bad_input_gets_errors_and_the_connection_goes_on(start_server: StartServer, checker: EventChecker) -> None:
    handle = await start_server(max_message_bytes=LIMIT)
    with trio.fail_after(15):
        async with open_websocket_url(handle.realtime_url) as ws:
            client = Client(ws)
            assert (await client.recv())["type"] == "session.created"

            # 1,000 nested brackets (2 KB): once a RecursionError that killed the connection.
            bomb = "[" * 1000 + "]" * 1000
            error = await expect_error(client, bomb, "invalid_event", param=None, event_id=None)
            assert "nested too deeply" in error["message"]
            deep = '{"type": "session.update", "event_id": "deep", "session": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"
            await expect_error(client, deep, "invalid_event", param=None, event_id="deep")

            # NaN and infinities are not JSON; 10^30 and out-of-range values are invalid_value.
            nan = '{"type": "session.update", "event_id": "n1", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": NaN}}}}}'
            error = await expect_error(client, nan, "invalid_event", param=None, event_id=None)
            assert "NaN" in error["message"]
            for value, param in ((1e30, "session.audio.output.speed"), (10**30, "session.audio.output.speed"), (0.1, "session.audio.output.speed")):
                raw = json.dumps({"type": "session.update", "event_id": "s1", "session": {"type": "realtime", "audio": {"output": {"speed": value}}}})
                await expect_error(client, raw, "invalid_value", param=param, event_id="s1")
            for key, value in (("threshold", 1.5), ("silence_duration_ms", 10**30), ("prefix_padding_ms", -1)):
                raw = json.dumps({"type": "session.update", "event_id": "v1", "session": {"type": "realtime",
                                  "audio": {"input": {"turn_detection": {"type": "server_vad", key: value}}}}})  # fmt: skip
                await expect_error(client, raw, "invalid_value", param=f"session.audio.input.turn_detection.{key}", event_id="v1")

            # An oversized message is read and dropped, not buffered, and answered.
            big = json.dumps({"type": "input_audio_buffer.append", "event_id": "big", "audio": base64.b64encode(os.urandom(LIMIT)).decode()})
            error = await expect_error(client, big, "invalid_event", param=None, event_id=None)
            assert "too large" in error["message"] and str(LIMIT) in error["message"]

            # Wrongly typed and out-of-order events.
            await expect_error(client, json.dumps({"type": "conversation.item.truncate", "event_id": "t1", "item_id": 5, "content_index": 0, "audio_end_ms": 1}),
                               "invalid_type", param="item_id", event_id="t1")  # fmt: skip
            await expect_error(client, json.dumps({"type": ["response.create"], "event_id": "t2"}), "invalid_type", param="type", event_id="t2")
            await expect_error(client, json.dumps({"type": "response.cancel", "event_id": "t3"}), "response_cancel_not_active", param=None, event_id="t3")

            # Nothing above changed the session, and a normal exchange works on the same connection.
            await client.send({"type": "session.update", "event_id": "ok", "session": {"type": "realtime", "audio": {"output": {"speed": 1.5}}}})
            updated = await client.recv()
            assert updated["type"] == "session.updated"
            turn_detection = updated["session"]["audio"]["input"]["turn_detection"]
            assert (turn_detection["threshold"], turn_detection["silence_duration_ms"], turn_detection["prefix_padding_ms"]) == (0.5, 200, 300)
            assert updated["session"]["audio"]["output"]["speed"] == 1.5
            await client.send({"type": "conversation.item.create", "item": user_text("the sky is green today")})
            await client.until("conversation.item.done")
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done, _ = await client.until("response.done")
            assert done["response"]["status"] == "completed"
            assert done["response"]["output"][0]["content"][0]["text"] == "You said: the sky is green today."
            await client.append(tone(200))  # audio still flows
    errors = [e for e in checker.sent if e["type"] == "error"]
    assert len(errors) == 13 and all(e["error"]["type"] == "invalid_request_error" for e in errors)


async def test_invalid_utf8_text_frame_is_closed_with_1007(server: ServerHandle) -> None:
    """A WebSocket protocol violation is what a server does close on (RFC 6455 §8.1): with a close frame."""
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream(server.host, server.port)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=f"{server.host}:{server.port}", target="/v1/realtime")))
        events: list[Any] = []
        while not any(isinstance(e, AcceptConnection) for e in events):
            ws.receive_data(await stream.receive_some(65536))
            events += list(ws.events())
        payload = b'{"type": "\xff\xfe"}'
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await stream.send_all(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # FIN + text, masked
        close: CloseConnection | None = None
        while close is None:
            data = await stream.receive_some(65536)
            assert data, "the server dropped the connection without a close frame"
            ws.receive_data(data)
            close = next((e for e in ws.events() if isinstance(e, CloseConnection)), None)
        assert close.code == 1007
        await stream.aclose()
