"""Two slow user tools (replacing the built-in weather and time) for tests/e2e/test_multi_item.py: each takes
``DELAY_S`` of real work, so two calls of one response that run concurrently overlap, and calls that ran one
after the other would not."""

from __future__ import annotations

import json
import time

from actors.tools.registry import tool

DELAY_S = 0.4


@tool(
    name="get_weather",
    description="current weather for a location",
    parameters={"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    timeout_s=5.0,
)
def get_weather(location: str) -> str:
    time.sleep(DELAY_S)
    return json.dumps({"location": location, "temperature": "17°C", "condition": "sunny"})


@tool(
    name="get_current_time",
    description="the current time in a timezone",
    parameters={"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    timeout_s=5.0,
)
def get_current_time(timezone: str) -> str:
    time.sleep(DELAY_S)
    return json.dumps({"timezone": timezone, "time": "21:04"})
