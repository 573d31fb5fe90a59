"""The tool registry: the seeds' three built-in tools plus any user tool, each a Python function with a
JSON-schema description.

A user tool is loaded with ``load_tools("module:attribute")`` (``rtpipe run --tools module:attribute``; the
module part may also be a path to a ``.py`` file). The attribute may be:

- a plain function (sync or ``async def``) carrying its description in ``__tool_schema__``, most easily set
  with the ``@tool(...)`` decorator below::

      from actors.tools.registry import tool

      @tool(description="Add two numbers", parameters={
          "type": "object",
          "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
          "required": ["a", "b"],
      }, timeout_s=2.0)
      def add(a: float, b: float) -> dict[str, float]:
          return {"sum": a + b}

  (``__tool_schema__`` is a dict with ``parameters`` and optionally ``description``, ``name``, ``timeout_s``
  and ``event_loop``; the name defaults to the function's, the description to its docstring's first line);
- a ``Tool`` instance;
- a dict ``{"name", "description", "parameters", "function", "timeout_s"?}``;
- a list or tuple of any of these.

The function is called with the validated arguments as keyword arguments, always off the session's event loop
(``actors/tools/run.py``): a sync function in a worker thread, an ``async def`` on an event loop of its own in a
worker thread, trio by default or asyncio with ``event_loop="asyncio"`` (libraries built on anyio, such as
httpx, work on either). It returns a string (sent as is) or anything strict JSON can encode (sent as JSON; NaN,
infinities, sets, bytes... become an ``invalid_output`` error). Raising ``ToolError("...")`` gives the model
that message as a ``tool_error``; any other exception becomes an ``exception`` error output; a run past its
timeout becomes a ``timeout`` error output at the deadline; none of them stops the session.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import jsonschema

from events.base import thaw

DEFAULT_TIMEOUT_S = 10.0
EVENT_LOOPS = ("trio", "asyncio")  # what an async tool's own loop can be
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

F = TypeVar("F", bound=Callable[..., Any])


class ToolError(Exception):
    """Raised by a tool for an error the model should read (bad location, unknown timezone): its message is
    sent back as ``{"error": message, "kind": "tool_error"}``."""


class ToolLoadError(ValueError):
    """A user tool cannot be loaded or described; ``str(error)`` is one line saying what and why."""


def _check_name(_inst: Any, _attr: attrs.Attribute[Any], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(f"tool name {value!r} must be 1-64 letters, digits, '_' or '-'")


def _check_parameters(_inst: Any, _attr: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    if value.get("type") != "object":
        raise ValueError('parameters must be a JSON schema with "type": "object"')
    try:
        jsonschema.Draft202012Validator.check_schema(value)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"parameters are not a valid JSON schema: {exc.message}") from None


def _check_timeout(_inst: Any, _attr: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {value!r}")


def _check_event_loop(_inst: Any, _attr: attrs.Attribute[Any], value: str) -> None:
    if value not in EVENT_LOOPS:
        raise ValueError(f"event_loop must be 'trio' or 'asyncio', got {value!r}")


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return thaw(value)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Tool:
    """One tool: what the model is told (name, description, JSON-schema parameters) and what runs."""

    name: str = attrs.field(validator=_check_name)
    description: str = ""
    parameters: dict[str, Any] = attrs.field(converter=_plain, validator=_check_parameters)
    function: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    timeout_s: float = attrs.field(default=DEFAULT_TIMEOUT_S, converter=float, validator=_check_timeout)
    event_loop: str = attrs.field(default="trio", validator=_check_event_loop)

    @property
    def is_async(self) -> bool:
        fn = self.function
        return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)

    def session_tool(self) -> dict[str, Any]:
        """The ``session.update`` ``tools`` entry."""
        return {"type": "function", "name": self.name, "description": self.description, "parameters": _plain(self.parameters)}

    @classmethod
    def from_function(cls, function: Callable[..., Any], *, default_timeout_s: float = DEFAULT_TIMEOUT_S) -> Tool:
        """A tool from a function carrying ``__tool_schema__`` (see the module docstring)."""
        schema = getattr(function, "__tool_schema__", None)
        label = getattr(function, "__name__", repr(function))
        if not isinstance(schema, Mapping):
            raise ToolLoadError(
                f"function {label} has no JSON-schema description: decorate it with @tool(...) or set "
                "__tool_schema__ = {'description': ..., 'parameters': {...}}"
            )
        doc = inspect.getdoc(function) or ""
        described = {"name": label, "description": doc.splitlines()[0] if doc else "", **schema, "function": function}
        return cls.from_mapping(described, default_timeout_s=default_timeout_s)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, default_timeout_s: float = DEFAULT_TIMEOUT_S) -> Tool:
        unknown = set(data) - {"name", "description", "parameters", "function", "timeout_s", "event_loop", "type"}
        if unknown:
            raise ToolLoadError(f"unknown tool description keys {sorted(unknown)}")
        missing = [k for k in ("name", "parameters", "function") if k not in data]
        if missing:
            raise ToolLoadError(f"tool description lacks {', '.join(missing)}")
        name = data["name"]
        if not isinstance(data["parameters"], Mapping):
            raise ToolLoadError(f"tool {name}: parameters must be a JSON schema object")
        try:
            return cls(
                name=name,
                description=str(data.get("description") or ""),
                parameters=data["parameters"],
                function=data["function"],
                timeout_s=data.get("timeout_s", default_timeout_s),
                event_loop=data.get("event_loop", "trio"),
            )
        except (TypeError, ValueError) as exc:
            raise ToolLoadError(f"tool {name}: {_first_line(exc)}") from None


def tool(
    *,
    parameters: Mapping[str, Any],
    description: str | None = None,
    name: str | None = None,
    timeout_s: float | None = None,
    event_loop: str | None = None,
) -> Callable[[F], F]:
    """Decorator: attach a JSON-schema description (``__tool_schema__``) to a sync or async function
    (``event_loop``: ``"trio"``, the default, or ``"asyncio"``, the loop an async function runs on)."""

    def attach(function: F) -> F:
        schema: dict[str, Any] = {"parameters": dict(parameters)}
        if description is not None:
            schema["description"] = description
        if name is not None:
            schema["name"] = name
        if timeout_s is not None:
            schema["timeout_s"] = timeout_s
        if event_loop is not None:
            schema["event_loop"] = event_loop
        function.__tool_schema__ = schema  # type: ignore[attr-defined]
        return function

    return attach


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _as_tools(obj: Any, default_timeout_s: float) -> list[Tool]:
    if isinstance(obj, Tool):
        return [obj]
    if isinstance(obj, Mapping):
        return [Tool.from_mapping(obj, default_timeout_s=default_timeout_s)]
    if isinstance(obj, list | tuple):
        return [t for item in obj for t in _as_tools(item, default_timeout_s)]
    if callable(obj):
        return [Tool.from_function(obj, default_timeout_s=default_timeout_s)]
    raise ToolLoadError(f"{type(obj).__name__} is not a tool: expected a function, a Tool, a dict or a list of them")


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ToolLoadError(f"no such file {path}")
    spec = importlib.util.spec_from_file_location(f"rtpipe_user_tools_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ToolLoadError(f"cannot load {path} as a Python module")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _import(module: str) -> Any:
    if module.endswith(".py"):
        return _import_file(Path(module))
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # `rtpipe` as a console script does not have the working directory on sys.path (`python -m` does):
        # a module file there is loaded by path rather than by changing the process-wide sys.path
        local = Path(*module.split(".")).with_suffix(".py")
        if exc.name == module.split(".")[0] and local.is_file():
            return _import_file(local)
        raise


def load_tools(spec: str, *, default_timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Tool]:
    """The tools named by ``module:attribute`` (or ``path/to/file.py:attribute``); one-line ``ToolLoadError``.
    ``default_timeout_s`` is the timeout of a described function or dict that does not set its own."""
    module, sep, attribute = spec.rpartition(":")
    if not sep or not module or not attribute:
        raise ToolLoadError(f"--tools {spec}: expected module:attribute (e.g. mytools:weather)")
    try:
        obj = _import(module)
    except ToolLoadError as exc:
        raise ToolLoadError(f"--tools {spec}: {exc}") from None
    except Exception as exc:  # an import error of the user's module: one line, never a traceback
        raise ToolLoadError(f"--tools {spec}: cannot import {module}: {type(exc).__name__}: {_first_line(exc)}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ToolLoadError(f"--tools {spec}: {module} has no attribute {attribute}") from None
    try:
        tools = _as_tools(obj, default_timeout_s)
    except ToolLoadError as exc:
        raise ToolLoadError(f"--tools {spec}: {exc}") from None
    if not tools:
        raise ToolLoadError(f"--tools {spec}: the list holds no tools")
    return tools


class ToolRegistry:
    """Tools by name. ``ToolRegistry.default(specs)`` holds the built-ins plus the user tools of ``specs``
    (a user tool with a built-in's name replaces it; two user tools with one name are an error)."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    @classmethod
    def default(
        cls, specs: Iterable[str] = (), *, builtins: bool = True, default_timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> ToolRegistry:
        """``RunConfig`` maps here: ``tool_specs``, ``builtin_tools``, ``tool_timeout_s`` (the timeout of the
        built-ins and of user tools that do not set their own)."""
        from actors.tools.builtin import builtin_tools

        registry = cls(builtin_tools(timeout_s=default_timeout_s) if builtins else ())
        user: set[str] = set()
        for spec in specs:
            for t in load_tools(spec, default_timeout_s=default_timeout_s):
                if t.name in user:
                    raise ToolLoadError(f"--tools {spec}: a tool named {t.name} is already loaded")
                user.add(t.name)
                registry.add(t, replace=True)
        return registry

    def add(self, t: Tool, *, replace: bool = False) -> None:
        if t.name in self._tools and not replace:
            raise ToolLoadError(f"a tool named {t.name} is already registered")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def session_tools(self) -> list[dict[str, Any]]:
        """The ``session.update`` ``tools`` entries, in registration order."""
        return [t.session_tool() for t in self._tools.values()]
