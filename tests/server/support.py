"""Helpers for the server tests: central event validation, a fake speech backend, a small trio client."""

from __future__ import annotations

import base64
import json
import typing
from typing import Any

import numpy as np
import pydantic
import trio
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from trio_websocket import WebSocketConnection

SERVER_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
CLIENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)
SERVER_TYPES = frozenset(
    typing.get_args(m.model_fields["type"].annotation)[0]
    for m in typing.get_args(typing.get_args(RealtimeServerEvent)[0])
)
# Events the SDK union knows but a GA WebSocket server must never send (§10, §11.12).
FORBIDDEN_TYPES = frozenset(
    {"output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared", "conversation.created", "conversation.item.created"}
)


class EventChecker:
    """Validates every event the server sends and every client event it accepts; collects violations."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []

    def server_event(self, event: dict[str, Any]) -> None:
        self.sent.append(event)
        kind = event.get("type")
        if kind not in SERVER_TYPES or kind in FORBIDDEN_TYPES:
            self.violations.append(f"unexpected server event type {kind!r}")
            return
        if not str(event.get("event_id", "")).startswith("event_"):
            self.violations.append(f"{kind}: bad event_id {event.get('event_id')!r}")
        try:
            SERVER_ADAPTER.validate_python(json.loads(json.dumps(event)))
        except pydantic.ValidationError as error:
            self.violations.append(f"{kind} failed RealtimeServerEvent: {error}")

    def client_event(self, event: dict[str, Any]) -> None:
        self.accepted.append(event)
        checked = event
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("input"), list):
            # §11.8: item_reference is valid on the wire but not in the SDK union.
            kept = [i for i in response["input"] if not (isinstance(i, dict) and i.get("type") == "item_reference")]
            checked = {**event, "response": {**response, "input": kept}}
        try:
            CLIENT_ADAPTER.validate_python(checked)
        except pydantic.ValidationError as error:
            self.violations.append(f"accepted client event {event.get('type')} fails RealtimeClientEvent: {error}")


def tone(ms: int, *, level: float = 0.3, freq: float = 220.0) -> bytes:
    t = np.arange(ms * 24) / 24000
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return b"\0\0" * (ms * 24)


class FakeSpeech:
    """Deterministic speech: TTS is a tone (20 ms per character); ASR returns what the test scripted."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.synthesized: list[str] = []

    def synthesize(self, text: str, *, voice: str, speed: float) -> bytes:
        self.synthesized.append(text)
        return tone(max(100, 20 * len(text)))

    def transcribe(self, pcm24k: bytes) -> str:
        return self.heard.pop(0) if self.heard else ""


class Client:
    """A minimal Realtime client over trio-websocket, keeping every event it received."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.ws.send_message(event if isinstance(event, str) else json.dumps(event))

    async def recv(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await self.ws.get_message())
        self.received.append(event)
        return event

    async def until(self, kind: str, **match: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Receive until an event of `kind` (matching `match`); return it and everything before it."""
        seen = []
        while True:
            event = await self.recv()
            seen.append(event)
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event, seen

    async def append(self, pcm: bytes, chunk_ms: int = 40) -> None:
        step = chunk_ms * 48
        for start in range(0, len(pcm), step):
            await self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[start : start + step]).decode()})

    async def no_event_within(self, seconds: float) -> bool:
        with trio.move_on_after(seconds):
            await self.recv()
            return False
        return True


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
