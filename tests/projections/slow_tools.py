"""A user tool that replaces the built-in ``get_weather`` and never answers in time (a tool-timeout journal)."""

from __future__ import annotations

import time

from actors.tools.registry import tool


@tool(
    name="get_weather",
    description="current weather for a location (this one hangs)",
    parameters={"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    timeout_s=0.3,
)
def get_weather(location: str) -> str:
    time.sleep(2.0)
    return '{"never": "sent"}'
