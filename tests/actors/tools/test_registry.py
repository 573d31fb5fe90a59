"""User tools: loading ``module:attribute`` (sync and async functions, Tool instances, dicts, lists) and the
one-line errors a user sees for a bad spec."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from actors.tools.registry import Tool, ToolLoadError, ToolRegistry, load_tools

USER_TOOLS = '''
import asyncio
from actors.tools.registry import Tool, tool

ADD = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}

@tool(description="Add two numbers", parameters=ADD, timeout_s=2.0)
def add(a, b):
    return {"sum": a + b}

async def shout(text):
    """Shout the text back."""
    return text.upper()

shout.__tool_schema__ = {"parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}

as_dict = {"name": "echo", "description": "Echo", "parameters": {"type": "object"}, "function": lambda **kw: kw}
as_tool = Tool(name="ping", parameters={"type": "object"}, function=lambda: "pong")
everything = [add, shout, as_dict, as_tool]

def undescribed(x):
    return x

bad_schema = {"name": "broken", "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}}, "function": add}
bad_name = {"name": "has space", "parameters": {"type": "object"}, "function": add}
not_a_tool = 42
empty = []
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "my_user_tools.py"
    path.write_text(textwrap.dedent(USER_TOOLS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def test_a_sync_function_with_its_schema(user_module: Path) -> None:
    [add] = load_tools("my_user_tools:add")
    assert (add.name, add.description, add.timeout_s, add.is_async) == ("add", "Add two numbers", 2.0, False)
    assert add.session_tool() == {
        "type": "function",
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]},
    }
    assert add.function(a=1, b=2) == {"sum": 3}


async def test_an_async_function_described_by_dunder_tool_schema(user_module: Path) -> None:
    [shout] = load_tools("my_user_tools:shout")
    assert (shout.name, shout.description, shout.timeout_s, shout.is_async) == ("shout", "Shout the text back.", 10.0, True)
    assert await shout.function(text="hi") == "HI"


def test_a_list_of_functions_dicts_and_tools_and_a_file_path(user_module: Path) -> None:
    assert [t.name for t in load_tools("my_user_tools:everything")] == ["add", "shout", "echo", "ping"]
    assert [t.name for t in load_tools(f"{user_module}:as_tool")] == ["ping"]


def test_a_module_in_the_working_directory_loads_without_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cwd_only_tools.py").write_text(textwrap.dedent(USER_TOOLS))
    monkeypatch.chdir(tmp_path)
    assert [t.name for t in load_tools("cwd_only_tools:add")] == ["add"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here", "--tools no_colon_here: expected module:attribute (e.g. mytools:weather)"),
        ("no_such_module_xyz:f", "--tools no_such_module_xyz:f: cannot import no_such_module_xyz: ModuleNotFoundError: No module named 'no_such_module_xyz'"),
        ("my_user_tools:missing", "--tools my_user_tools:missing: my_user_tools has no attribute missing"),
        ("my_user_tools:undescribed", "--tools my_user_tools:undescribed: function undescribed has no JSON-schema description"),
        ("my_user_tools:bad_schema", "--tools my_user_tools:bad_schema: tool broken: parameters are not a valid JSON schema"),
        ("my_user_tools:bad_name", "--tools my_user_tools:bad_name: tool has space: tool name 'has space' must be"),
        ("my_user_tools:not_a_tool", "--tools my_user_tools:not_a_tool: int is not a tool"),
        ("my_user_tools:empty", "--tools my_user_tools:empty: the list holds no tools"),
        ("/nowhere/tools.py:f", "--tools /nowhere/tools.py:f: no such file /nowhere/tools.py"),
    ],
)
def test_a_bad_spec_is_one_clear_line(user_module: Path, spec: str, message: str) -> None:
    with pytest.raises(ToolLoadError) as info:
        load_tools(spec)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_a_module_that_fails_to_import_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken_tools.py"
    path.write_text("raise RuntimeError('boom\\nsecond line')\n")
    with pytest.raises(ToolLoadError) as info:
        load_tools(f"{path}:f")
    assert str(info.value) == f"--tools {path}:f: cannot import {path}: RuntimeError: boom"


def test_user_tools_join_the_builtins_and_may_replace_one(user_module: Path) -> None:
    registry = ToolRegistry.default(["my_user_tools:add"])
    assert registry.names == ("get_weather", "get_current_time", "set_reminder", "add")
    weather = Tool(name="get_weather", parameters={"type": "object"}, function=lambda: "real weather")
    replaced = ToolRegistry.default()
    replaced.add(weather, replace=True)
    assert replaced.get("get_weather") is weather and len(replaced) == 3
    with pytest.raises(ToolLoadError, match="already registered"):
        replaced.add(weather)
    with pytest.raises(ToolLoadError, match="a tool named add is already loaded"):
        ToolRegistry.default(["my_user_tools:add", "my_user_tools:everything"])


def test_the_default_timeout_applies_where_a_tool_sets_none(user_module: Path) -> None:
    registry = ToolRegistry.default(["my_user_tools:everything"], default_timeout_s=4.0)
    timeouts = {t.name: t.timeout_s for t in registry}
    # built-ins, the dict and shout take the default; add sets 2 s; a Tool instance keeps its own
    assert timeouts == {"get_weather": 4.0, "get_current_time": 4.0, "set_reminder": 4.0, "add": 2.0, "shout": 4.0, "echo": 4.0, "ping": 10.0}
    assert ToolRegistry.default(builtins=False).names == ()


def test_a_tool_needs_an_object_schema_and_a_positive_timeout() -> None:
    with pytest.raises(ValueError, match='"type": "object"'):
        Tool(name="t", parameters={"type": "string"}, function=print)
    with pytest.raises(ValueError, match="timeout_s"):
        Tool(name="t", parameters={"type": "object"}, function=print, timeout_s=0)


async def test_an_async_tool_chooses_its_event_loop_and_a_bad_choice_is_one_line() -> None:
    from actors.tools.registry import tool
    from actors.tools.run import execute

    @tool(parameters={"type": "object"}, event_loop="asyncio")
    async def on_asyncio() -> str:
        import asyncio

        await asyncio.sleep(0)
        return "asyncio ran me"

    loaded = Tool.from_function(on_asyncio)
    assert loaded.event_loop == "asyncio"
    assert await execute(loaded, {}) == ("asyncio ran me", None)
    assert Tool(name="t", parameters={"type": "object"}, function=print).event_loop == "trio"
    with pytest.raises(ToolLoadError, match=r"^tool t: event_loop must be 'trio' or 'asyncio', got 'gevent'$"):
        Tool.from_mapping({"name": "t", "parameters": {"type": "object"}, "function": print, "event_loop": "gevent"})
