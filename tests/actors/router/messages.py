"""Realistic GA server messages (shapes from realtime-protocol.md §5/§6 and the openai SDK models)."""

from __future__ import annotations

import base64
import json
from typing import Any

PCM = bytes(range(256)) * 8  # 2048 bytes = 1024 samples
PCM_B64 = base64.b64encode(PCM).decode()

USAGE = {
    "total_tokens": 320,
    "input_tokens": 132,
    "output_tokens": 188,
    "input_token_details": {
        "text_tokens": 59,
        "audio_tokens": 73,
        "image_tokens": 0,
        "cached_tokens": 64,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
}

SESSION = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_C9XyZabc123def456ghi",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "You are a friendly assistant.",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": None,
    "truncation": "auto",
    "prompt": None,
    "expires_at": 1765000000,
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
    },
    "include": None,
}

USER_ITEM = {
    "id": "item_user1",
    "object": "realtime.item",
    "type": "message",
    "status": "completed",
    "role": "user",
    "content": [{"type": "input_audio", "transcript": None}],
}

ASSISTANT_ITEM_DONE = {
    "id": "item_asst1",
    "object": "realtime.item",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_audio", "transcript": "It is sunny in Paris."}],
}

CALL_ITEM = {
    "id": "item_call1",
    "object": "realtime.item",
    "type": "function_call",
    "status": "in_progress",
    "name": "get_weather",
    "call_id": "call_sHlR7iaFwQ2YQOqm",
    "arguments": "",
}


def msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "event_id": "event_CAbc123", **fields})


def response(status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "object": "realtime.response",
        "id": "resp_1",
        "status": status,
        "status_details": extra.pop("status_details", None),
        "output": output,
        "conversation_id": "conv_1",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "usage": usage,
        "metadata": None,
        **extra,
    }
