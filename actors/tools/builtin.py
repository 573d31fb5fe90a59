"""The seeds' three tools: ``get_weather`` (simulated), ``get_current_time`` (a real timezone conversion) and
``set_reminder`` (simulated: remembered in memory, nothing fires).

Schemas are the seeds' (seed-behaviour.md, "Tools"). Results are JSON strings. Weather is deterministic in
the location (a hash of its normalised text, no randomness), so a session's answers can be tested and
compared. The time tool takes an IANA zone ("UTC", "America/New_York"), also written as a city ("New York",
"Tokyo"), and the machine's local zone when none is given; an unknown zone is an error output the model can
read (``ToolError``). Reminder ids count per registry (``rem_001``...), never process-wide.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from actors.tools.registry import DEFAULT_TIMEOUT_S, Tool, ToolError

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": 'The city and country, e.g. "Paris, France"'},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The temperature unit"},
    },
    "required": ["location"],
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timezone": {
            "type": "string",
            "description": 'The timezone, e.g. "UTC" or "America/New_York"; local time if absent',
        },
    },
    "required": [],
}
REMINDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What to be reminded of"},
        "time": {"type": "string", "description": 'When, e.g. "in 5 minutes"'},
    },
    "required": ["message", "time"],
}

CONDITIONS = ("sunny", "partly cloudy", "cloudy", "light rain", "rainy", "windy", "foggy", "clear")


def get_weather(location: str, unit: str = "celsius") -> str:
    """Simulated current weather: the same location always gives the same weather."""
    place = " ".join(location.split())
    if not place:
        raise ToolError("location is empty")
    digest = hashlib.sha256(place.lower().encode()).digest()
    celsius = -5 + digest[0] % 41  # -5..35 °C
    temperature = f"{celsius}°C" if unit == "celsius" else f"{round(celsius * 9 / 5 + 32)}°F"
    return json.dumps(
        {
            "location": place,
            "temperature": temperature,
            "condition": CONDITIONS[digest[1] % len(CONDITIONS)],
            "humidity": f"{30 + digest[2] % 61}%",
            "wind": f"{digest[3] % 41} km/h",
        },
        ensure_ascii=False,
    )


@functools.cache
def _zone_names() -> dict[str, str]:
    """Lower-cased zone keys and their last components ("new_york"), mapped to the IANA key."""
    names: dict[str, str] = {}
    for key in sorted(zoneinfo.available_timezones()):
        names.setdefault(key.lower(), key)
        names.setdefault(key.rsplit("/", 1)[-1].lower(), key)
    return names


def resolve_zone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA zone from its key or its city ("America/New_York", "new york", "Tokyo"); ``ToolError`` if none."""
    text = name.strip()
    if not text:
        raise ToolError("timezone is empty")
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    key = _zone_names().get(text.replace(" ", "_").lower())
    if key is None:
        raise ToolError(f"unknown timezone {text!r}: use an IANA name such as 'UTC' or 'America/New_York'")
    return zoneinfo.ZoneInfo(key)


def current_time(timezone: str | None, now_utc: datetime) -> dict[str, Any]:
    """The time tool's answer for ``now_utc`` (an aware datetime): pure, so tests pass their own instant."""
    zone: tzinfo | None = resolve_zone(timezone) if timezone is not None else None
    local = now_utc.astimezone(zone)  # None: the machine's local zone
    if zone is not None:
        label = str(zone)
    else:
        label = local.tzname() or "local"
    offset = local.strftime("%z")
    return {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M:%S"),
        "timezone": label,
        "utc_offset": f"{offset[:3]}:{offset[3:]}" if offset else "+00:00",
        "unix_timestamp": int(now_utc.timestamp()),
    }


def make_get_current_time(now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Callable[..., str]:
    def get_current_time(timezone: str | None = None) -> str:
        """The current date and time in a timezone (local if absent)."""
        return json.dumps(current_time(timezone, now()))

    return get_current_time


class Reminders:
    """The reminders set during one session (simulated: kept, never fired)."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def set_reminder(self, message: str, time: str) -> str:
        what = " ".join(message.split())
        if not what:
            raise ToolError("the reminder message is empty")
        reminder = {"id": f"rem_{len(self.items) + 1:03d}", "message": what, "time": " ".join(time.split())}
        self.items.append(reminder)
        return json.dumps(
            {
                "status": "success",
                "message": f"Reminder set: {what} ({reminder['time']})",
                "reminder_id": reminder["id"],
            }
        )


def builtin_tools(
    now: Callable[[], datetime] = lambda: datetime.now(UTC), *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Tool]:
    """Fresh instances of the three seed tools (a new reminder list each time)."""
    reminders = Reminders()
    return [
        Tool(
            name="get_weather",
            description="Get the current weather for a location",
            parameters=WEATHER_SCHEMA,
            function=get_weather,
            timeout_s=timeout_s,
        ),
        Tool(
            name="get_current_time",
            description="Get the current date and time",
            parameters=TIME_SCHEMA,
            function=make_get_current_time(now),
            timeout_s=timeout_s,
        ),
        Tool(
            name="set_reminder",
            description="Set a reminder",
            parameters=REMINDER_SCHEMA,
            function=reminders.set_reminder,
            timeout_s=timeout_s,
        ),
    ]
