"""A scenario file: ``[[scenario]]`` tables, each a conversation to hold and what must be true of it.

Every key is checked when the file is read, before any session starts: a mistake is a ``ScenarioError``
whose text is one line naming the file, the scenario and the key (``rtpipe eval`` exits 2 with it). Run
settings (any ``rtpipe run`` flag, spelt as in ``rtpipe run --config``: ``summary_trigger = 400``,
``summary_enabled = false``) are checked by ``RunConfig`` itself, so a value ``rtpipe run`` refuses is refused
here with the same words. The README's "`rtpipe eval`: scenario tests" section is the full format.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from pipeline.config import ConfigError, RunConfig, show

# keys of a scenario table that are not run settings
USER_KEYS = ("say", "wav")
EXPECTATION_KEYS = (
    "turns",
    "transcript_contains",
    "untranscribed_turns",
    "tool",
    "reply_contains",
    "interrupted",
    "summary",
    "max_window_tokens",
    "max_first_audio_ms",
)
OTHER_KEYS = ("name", "settings", "embedded_server", "xfail")
# run settings a scenario cannot set: eval decides them, or the user side says them
_NOT_SETTINGS = {
    "api_key": "the OPENAI_API_KEY environment variable (never a file)",
    "script": "say = [...]",
    "input": "say = [...] or wav = \"file.wav\"",
    "journal": "rtpipe eval --journals DIR",
    "quiet": "nothing: rtpipe eval always runs sessions quietly",
    "fast": "nothing: rtpipe eval runs --fast against the embedded server, in real time against OpenAI",
}
SETTINGS = tuple(sorted({f.name for f in attrs.fields(RunConfig)} - set(_NOT_SETTINGS)))
# knobs of the embedded server a scenario may set (ServerConfig's names): its faults and its seed
EMBEDDED_SERVER_KEYS = (
    "transcript_fault",
    "transcript_delay_ms",
    "error_after_responses",
    "drop_socket_after_s",
    "drop_socket_on",
    "refuse_connections_after",
    "max_session_s",
    "seed",
)
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written; ``str(error)`` is one line."""


@attrs.frozen(kw_only=True)
class ToolExpectation:
    """A tool call that must happen: this name, with at least these arguments (``args``, a subset), and a
    result containing ``result_contains`` when given."""

    name: str
    args: Mapping[str, Any] = attrs.field(factory=dict)
    result_contains: str | None = None

    def describe(self) -> str:
        args = ", ".join(f"{k} = {show(v)}" for k, v in self.args.items())
        text = f"{self.name}({args})"
        return text + (f" with a result containing {show(self.result_contains)}" if self.result_contains else "")


@attrs.frozen(kw_only=True)
class Expectations:
    turns: int | None = None
    transcript_contains: tuple[str, ...] = ()
    untranscribed_turns: int | None = None
    tools: tuple[ToolExpectation, ...] | None = None  # () expects no tool call at all; None: not checked
    reply_contains: tuple[str, ...] = ()
    interrupted: bool | None = None
    summary: bool | None = None
    max_window_tokens: int | None = None
    max_first_audio_ms: float | None = None

    @property
    def count(self) -> int:
        checks = (self.turns, self.untranscribed_turns, self.tools, self.interrupted, self.summary,
                  self.max_window_tokens, self.max_first_audio_ms)  # fmt: skip
        return sum(c is not None for c in checks) + len(self.transcript_contains) + len(self.reply_contains)


@attrs.frozen(kw_only=True)
class Scenario:
    name: str
    file: Path
    say: tuple[str, ...] = ()  # script lines, or
    wav: Path | None = None  # a recording (resolved against the scenario file's folder)
    settings: Mapping[str, Any] = attrs.field(factory=dict)  # RunConfig fields, checked
    embedded_server: Mapping[str, Any] = attrs.field(factory=dict)  # ServerConfig fields, checked
    expect: Expectations = attrs.field(factory=Expectations)
    xfail: str | None = None

    @property
    def slug(self) -> str:
        """The scenario's name as a file name (its journal's)."""
        return _SLUG.sub("-", self.name).strip("-.") or "scenario"

    def run_config(self, **fixed: Any) -> RunConfig:
        """The session's configuration: the user side, the scenario's settings, then ``fixed`` (what eval
        decides: journal, server, fast...), which wins."""
        values: dict[str, Any] = {"quiet": True, **self.settings}
        if self.wav is not None:
            values["input"] = str(self.wav)
        else:
            values.update(input="script", script=self.say)
        values.update(fixed)
        return RunConfig(**values)


def load_file(path: Path) -> list[Scenario]:
    """Every scenario of the file at ``path``, checked (``ScenarioError`` otherwise)."""
    from pipeline.commands.run_cmd import read_text  # the same wording as `rtpipe run --config`

    return parse(read_text(path, str(path), ScenarioError, kind="scenario file"), path)


def parse(text: str, path: Path) -> list[Scenario]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
    extra = sorted(set(data) - {"scenario"})
    if extra:
        raise ScenarioError(f"{path}: unknown top-level key {extra[0]!r} (a scenario file holds [[scenario]] tables only)")
    tables = data.get("scenario")
    if not isinstance(tables, list) or not tables:
        raise ScenarioError(f"{path}: no [[scenario]] tables")
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ScenarioError(f"{path}: scenario #{index}: must be a table ([[scenario]])")
        scenario = _scenario(table, path, index)
        if scenario.name in seen or scenario.slug in {s.slug for s in scenarios}:
            raise ScenarioError(f"{path}: scenario {scenario.name!r}: name: another scenario has this name (names must differ)")
        seen.add(scenario.name)
        scenarios.append(scenario)
    return scenarios


class _Where:
    """Names the file and scenario in every error: ``demo.toml: scenario "weather": turns = "two": ...``."""

    def __init__(self, path: Path, name: str) -> None:
        self.prefix = f"{path}: scenario {name!r}"

    def error(self, key: str, value: object, allowed: str) -> ScenarioError:
        return ScenarioError(f"{self.prefix}: {key} = {show(value)}: must be {allowed}")

    def say(self, text: str) -> ScenarioError:
        return ScenarioError(f"{self.prefix}: {text}")


def _scenario(table: dict[str, Any], path: Path, index: int) -> Scenario:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        label = f"scenario #{index}"
        if name is None:
            raise ScenarioError(f"{path}: {label}: name: missing (every scenario needs a name = \"...\")")
        raise ScenarioError(f"{path}: {label}: name = {show(name)}: must be non-empty text")
    name = name.strip()
    where = _Where(path, name)
    known = set(USER_KEYS) | set(EXPECTATION_KEYS) | set(OTHER_KEYS) | set(SETTINGS)
    for key in table:
        if key not in known:
            raise where.say(_unknown(key, known))
    settings = _settings(table, where)
    say, wav = _user_side(table, path, where)
    embedded = _embedded(table.get("embedded_server"), where)
    if embedded and isinstance(settings.get("server"), str) and settings["server"].strip() not in ("auto", "local"):
        raise where.say("embedded_server: set, but server names another server (the faults are the embedded server's)")
    xfail = table.get("xfail")
    if xfail is not None and (not isinstance(xfail, str) or not xfail.strip()):
        raise where.error("xfail", xfail, "text saying why the scenario is expected to fail")
    scenario = Scenario(name=name, file=path, say=say, wav=wav, settings=settings, embedded_server=embedded,
                        expect=_expectations(table, where), xfail=xfail)  # fmt: skip
    try:  # RunConfig's own checks, worded as a scenario file's key
        scenario.run_config(journal=Path("check.rtpj"))
    except ConfigError as exc:
        key = exc.field if exc.field in SETTINGS else {"script": "say"}.get(exc.field, exc.field)
        raise where.error(key, exc.value, exc.allowed) from None
    return scenario


def _unknown(key: str, known: Collection[str], *, hinted: bool = True) -> str:
    """``unknown key 'x' (did you mean y?)`` as `rtpipe run --config` says it, with the scenario keys' hints."""
    from pipeline.commands.run_cmd import _KEY_HINTS, unknown_key

    hints = {**_KEY_HINTS, **_NOT_SETTINGS, "server_faults": "embedded_server = { transcript_fault = ... }",
             "transcript_fault": "embedded_server = { transcript_fault = ... }", "expect": "the expectation keys themselves"}  # fmt: skip
    return unknown_key(key, known, hints if hinted else {})


def _settings(table: dict[str, Any], where: _Where) -> dict[str, Any]:
    nested = table.get("settings", {})
    if not isinstance(nested, dict):
        raise where.error("settings", nested, "a table of rtpipe run settings (settings = { summary_trigger = 400 })")
    for key in nested:
        if key not in SETTINGS:
            raise where.say(f"settings: {_unknown(key, SETTINGS)}")
    top = {k: v for k, v in table.items() if k in SETTINGS}
    both = sorted(set(top) & set(nested))
    if both:
        raise where.say(f"{both[0]}: set both as a key and in settings (keep one)")
    values = {**nested, **top}
    for key in ("output_modalities", "tool_specs"):
        if isinstance(values.get(key), list):  # TOML arrays; as `rtpipe run --config` reads them
            values[key] = tuple(values[key])
    return values


def _user_side(table: dict[str, Any], path: Path, where: _Where) -> tuple[tuple[str, ...], Path | None]:
    say, wav = table.get("say"), table.get("wav")
    if say is None and wav is None:
        raise where.say("say / wav: missing (what the user says: say = [\"line\", ...] or wav = \"file.wav\")")
    if say is not None and wav is not None:
        raise where.say("say and wav: both set (a scenario's user speaks lines or plays a recording, not both)")
    if wav is not None:
        if not isinstance(wav, str) or not wav.strip():
            raise where.error("wav", wav, "the path of a WAV file, relative to the scenario file")
        resolved = (path.parent / wav).resolve() if not Path(wav).is_absolute() else Path(wav)
        if not resolved.is_file():
            raise where.say(f"wav = {show(wav)}: no such file ({resolved})")
        return (), resolved
    if isinstance(say, str):
        say = [say]
    if not isinstance(say, list) or not say or not all(isinstance(line, str) and line.strip() for line in say):
        raise where.error("say", say, "a non-empty list of lines (non-empty text each)")
    from actors.capture.script import ScriptError, parse_script_line

    for line in say:
        try:
            parse_script_line(line)
        except ScriptError as exc:
            raise where.say(f"say: {exc}") from None
    return tuple(say), None


def _embedded(value: object, where: _Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.error("embedded_server", value, "a table (embedded_server = { transcript_fault = \"never\" })")
    for key in value:
        if key not in EMBEDDED_SERVER_KEYS:
            raise where.say(f"embedded_server: {_unknown(key, EMBEDDED_SERVER_KEYS, hinted=False)}; known: {', '.join(EMBEDDED_SERVER_KEYS)}")
    from pipeline.server.config import TRANSCRIPT_FAULTS, ServerConfig

    fault = value.get("transcript_fault")
    if fault is not None and fault not in TRANSCRIPT_FAULTS:
        raise where.error("embedded_server.transcript_fault", fault, "one of " + ", ".join(TRANSCRIPT_FAULTS))
    for key in ("transcript_delay_ms", "error_after_responses", "refuse_connections_after", "seed"):
        if key in value and not _is_int(value[key]):
            raise where.error(f"embedded_server.{key}", value[key], "a whole number")
    for key in ("drop_socket_after_s", "max_session_s"):
        if key in value and not _is_number(value[key]):
            raise where.error(f"embedded_server.{key}", value[key], "a number of seconds")
    drops = value.get("drop_socket_on")
    if drops is not None and not (isinstance(drops, list) and all(isinstance(d, str) for d in drops)):
        raise where.error("embedded_server.drop_socket_on", drops, 'a list of moments (["tool-call", "audio:2"])')
    try:
        ServerConfig(**value)
    except (ValueError, TypeError) as exc:
        raise where.say(f"embedded_server: {exc}") from None
    return dict(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(float(value))  # type: ignore[arg-type]


def _texts(table: dict[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = table.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip() for t in items):
        raise where.error(key, value, "non-empty text, or a list of non-empty texts")
    return tuple(items)


def _count(table: dict[str, Any], key: str, where: _Where, *, minimum: int = 0) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not _is_int(value) or value < minimum:
        raise where.error(key, value, f"a whole number, at least {minimum}")
    return int(value)


def _boolean(table: dict[str, Any], key: str, where: _Where) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise where.error(key, value, "true or false (a TOML boolean, not a string)")
    return value


def _tools(value: object, where: _Where) -> tuple[ToolExpectation, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, dict) else value
    allowed = 'a table { name = "get_weather", args = { ... } }, a list of them, or [] for no tool call'
    if not isinstance(items, list):
        raise where.error("tool", value, allowed)
    tools = []
    for item in items:
        if not isinstance(item, dict):
            raise where.error("tool", item, allowed)
        unknown = sorted(set(item) - {"name", "args", "result_contains"})
        if unknown:
            raise where.say(f"tool: unknown key {unknown[0]!r} (a tool expectation has name, args and result_contains)")
        name, args, result = item.get("name"), item.get("args", {}), item.get("result_contains")
        if not isinstance(name, str) or not name.strip():
            raise where.say("tool: name missing or empty (the tool's name, e.g. name = \"get_weather\")")
        if not isinstance(args, dict):
            raise where.error("tool.args", args, "a table of the arguments the call must include")
        if result is not None and (not isinstance(result, str) or not result.strip()):
            raise where.error("tool.result_contains", result, "non-empty text")
        tools.append(ToolExpectation(name=name.strip(), args=args, result_contains=result))
    return tuple(tools)


def _expectations(table: dict[str, Any], where: _Where) -> Expectations:
    first_audio = table.get("max_first_audio_ms")
    if first_audio is not None and (not _is_number(first_audio) or first_audio <= 0):
        raise where.error("max_first_audio_ms", first_audio, "a number of milliseconds greater than 0")
    return Expectations(
        turns=_count(table, "turns", where),
        transcript_contains=_texts(table, "transcript_contains", where),
        untranscribed_turns=_count(table, "untranscribed_turns", where),
        tools=_tools(table.get("tool"), where),
        reply_contains=_texts(table, "reply_contains", where),
        interrupted=_boolean(table, "interrupted", where),
        summary=_boolean(table, "summary", where),
        max_window_tokens=_count(table, "max_window_tokens", where, minimum=1),
        max_first_audio_ms=None if first_audio is None else float(first_audio),
    )
