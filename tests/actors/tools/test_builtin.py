"""The seeds' three tools: schemas as the seed declares them, deterministic weather, a real timezone
conversion, reminders with ids counted per registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from actors.tools.builtin import builtin_tools, current_time, get_weather
from actors.tools.registry import ToolError, ToolRegistry

WINTER = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)
SUMMER = datetime(2024, 7, 15, 12, 0, 0, tzinfo=UTC)


def test_session_tools_are_the_seeds_three_with_their_schemas() -> None:
    tools = {t["name"]: t for t in ToolRegistry.default().session_tools()}
    assert list(tools) == ["get_weather", "get_current_time", "set_reminder"]
    assert all(t["type"] == "function" and t["description"] for t in tools.values())
    weather = tools["get_weather"]["parameters"]
    assert weather["required"] == ["location"]
    assert weather["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert tools["get_current_time"]["parameters"]["required"] == []
    assert set(tools["get_current_time"]["parameters"]["properties"]) == {"timezone"}
    assert tools["set_reminder"]["parameters"]["required"] == ["message", "time"]


def test_weather_is_deterministic_in_the_location_and_has_every_field() -> None:
    paris = json.loads(get_weather("Paris, France"))
    assert paris == json.loads(get_weather("  paris,   FRANCE ")) | {"location": "Paris, France"}
    assert set(paris) == {"location", "temperature", "condition", "humidity", "wind"}
    assert paris["temperature"].endswith("°C") and paris["humidity"].endswith("%") and paris["wind"].endswith(" km/h")
    others = {json.loads(get_weather(city))["temperature"] for city in ("Oslo", "Cairo", "Lima", "Tokyo", "Quito")}
    assert len(others) > 1  # not a constant


def test_fahrenheit_is_the_same_weather_converted() -> None:
    c = json.loads(get_weather("Paris", "celsius"))
    f = json.loads(get_weather("Paris", "fahrenheit"))
    celsius = int(c["temperature"].removesuffix("°C"))
    assert f["temperature"] == f"{round(celsius * 9 / 5 + 32)}°F"
    assert {k: v for k, v in c.items() if k != "temperature"} == {k: v for k, v in f.items() if k != "temperature"}


def test_empty_location_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="location is empty"):
        get_weather("   ")


def test_new_york_and_utc_agree_on_the_instant_and_follow_daylight_saving() -> None:
    utc = current_time("UTC", WINTER)
    ny = current_time("America/New_York", WINTER)
    assert utc == {"date": "2024-01-15", "time": "12:00:00", "timezone": "UTC", "utc_offset": "+00:00", "unix_timestamp": 1705320000}
    assert ny == {
        "date": "2024-01-15",
        "time": "07:00:00",
        "timezone": "America/New_York",
        "utc_offset": "-05:00",
        "unix_timestamp": 1705320000,
    }
    summer = current_time("America/New_York", SUMMER)
    assert (summer["time"], summer["utc_offset"]) == ("08:00:00", "-04:00")


def test_a_city_name_resolves_to_its_zone_and_the_date_can_change() -> None:
    assert current_time("new york", WINTER)["timezone"] == "America/New_York"
    tokyo = current_time("Tokyo", datetime(2024, 1, 15, 20, 30, tzinfo=UTC))
    assert (tokyo["timezone"], tokyo["date"], tokyo["time"]) == ("Asia/Tokyo", "2024-01-16", "05:30:00")


def test_unknown_timezone_is_an_error_the_model_can_read() -> None:
    with pytest.raises(ToolError, match="unknown timezone 'Mars/Olympus'"):
        current_time("Mars/Olympus", WINTER)


def test_local_time_when_no_timezone_is_given() -> None:
    local = current_time(None, WINTER)
    assert local["unix_timestamp"] == 1705320000 and local["timezone"]
    expected = WINTER.astimezone()
    assert local["time"] == expected.strftime("%H:%M:%S")


def test_the_time_tool_uses_its_clock() -> None:
    tool = next(t for t in builtin_tools(now=lambda: SUMMER) if t.name == "get_current_time")
    assert json.loads(tool.function(timezone="UTC"))["time"] == "12:00:00"


def test_reminders_succeed_with_ids_counted_per_registry() -> None:
    first = ToolRegistry.default().get("set_reminder")
    assert first is not None
    one = json.loads(first.function(message="call mom", time="in 5 minutes"))
    two = json.loads(first.function(message="buy bread", time="tonight"))
    assert one == {"status": "success", "message": "Reminder set: call mom (in 5 minutes)", "reminder_id": "rem_001"}
    assert two["reminder_id"] == "rem_002"
    fresh = ToolRegistry.default().get("set_reminder")
    assert fresh is not None
    assert json.loads(fresh.function(message="x", time="now"))["reminder_id"] == "rem_001"
