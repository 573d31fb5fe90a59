"""pipeline/models.py agrees with the installed ``openai`` SDK, and the session rtpipe sends is one the SDK's
client-event models accept.

The tables' facts come from the SDK's own notes ("Deprecated values: ... Announced shutdown date: ..." in the
generated model files). These tests read those notes from the installed package, so an SDK update that
announces a shutdown for one of our defaults, or for any model a table lists without a notice, fails here
loudly instead of shipping a default that is about to stop working.
"""

from __future__ import annotations

import datetime
import itertools
import re
import typing
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.realtime import SessionUpdateEvent
from openai.types.realtime.audio_transcription import AudioTranscription
from openai.types.realtime.realtime_reasoning_effort import RealtimeReasoningEffort
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest
from openai.types.shared.chat_model import ChatModel
from pydantic import BaseModel

from pipeline.config import REASONING_EFFORTS, RunConfig
from pipeline.models import (
    CHAT_SOURCE,
    DEFAULT_REALTIME_MODEL,
    DEFAULT_SUMMARY_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    REALTIME_MODELS,
    REALTIME_SOURCE,
    REASONING_REALTIME,
    SUMMARY_MODELS,
    TRANSCRIPTION_MODELS,
    TRANSCRIPTION_SOURCE,
    ModelInfo,
    is_reasoning_realtime,
    shutdown_notice,
)

SDK = Path(openai.__file__).parent
TABLES: dict[str, typing.Mapping[str, ModelInfo]] = {
    REALTIME_SOURCE: REALTIME_MODELS,
    TRANSCRIPTION_SOURCE: TRANSCRIPTION_MODELS,
    CHAT_SOURCE: SUMMARY_MODELS,
}
DEFAULTS = {REALTIME_SOURCE: DEFAULT_REALTIME_MODEL, TRANSCRIPTION_SOURCE: DEFAULT_TRANSCRIPTION_MODEL,
            CHAT_SOURCE: DEFAULT_SUMMARY_MODEL}  # fmt: skip
_ENTRY = re.compile(r'-\s+((?:"[^"]+",?\s*)+):\s*Announced shutdown date:\s*(\d{4}-\d{2}-\d{2})')


def sdk_file(source: str) -> Path:
    """``openai/types/...`` in the installed package."""
    return SDK / source.removeprefix("openai/")


def announced(source: str) -> dict[str, datetime.date]:
    """Every model the SDK file's "Deprecated values" notes give a shutdown date, with the date."""
    text = sdk_file(source).read_text()
    notes = [block.split('"""')[0] for block in text.split("Deprecated values:")[1:]]
    assert notes, f"{source}: no 'Deprecated values' notes (has the SDK changed its docstrings?)"
    dates: dict[str, datetime.date] = {}
    for note in notes:
        for names, date in _ENTRY.findall(" ".join(note.split())):
            for name in re.findall(r'"([^"]+)"', names):
                dates[name] = datetime.date.fromisoformat(date)
    return dates


def literal_names(annotation: Any) -> set[str]:
    """The string literals inside a (possibly nested) Union/Literal annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return {a for a in typing.get_args(annotation) if isinstance(a, str)}
    return set().union(*(literal_names(a) for a in typing.get_args(annotation)))


KNOWN = {
    REALTIME_SOURCE: literal_names(RealtimeSessionCreateRequest.model_fields["model"].annotation),
    TRANSCRIPTION_SOURCE: literal_names(AudioTranscription.model_fields["model"].annotation),
    CHAT_SOURCE: literal_names(ChatModel),
}


@pytest.mark.parametrize("source", list(TABLES))
def test_every_shutdown_we_list_is_in_the_sdk_notes_with_its_date(source: str) -> None:
    sdk = announced(source)
    for name, info in TABLES[source].items():
        assert info.source == source and sdk_file(source).is_file()
        if info.shutdown is not None:
            assert sdk.get(name) == info.shutdown, f"{name}: we say {info.shutdown}, the SDK {sdk.get(name)}"


@pytest.mark.parametrize("source", list(TABLES))
def test_every_shutdown_the_sdk_announces_is_in_our_table(source: str) -> None:
    """A model the SDK deprecates cannot be chosen without the warning (nor sit in a table as current)."""
    table = TABLES[source]
    for name, date in announced(source).items():
        assert name in table, f"{name} ({source}) shuts down on {date} and is missing from pipeline/models.py"
        notice = shutdown_notice(name, table)
        assert notice is not None and notice.date == date, name


@pytest.mark.parametrize("source", list(TABLES))
def test_the_defaults_are_current_known_models_with_no_notice(source: str) -> None:
    default = DEFAULTS[source]
    assert default in KNOWN[source], f"{default} is not a model the SDK knows for {source}"
    assert default not in announced(source), f"the SDK announces a shutdown for our default {default}"
    assert shutdown_notice(default) is None
    for info in TABLES[source].values():
        assert info.name in KNOWN[source], f"{info.name} is not a model the SDK knows for {source}"
        if info.replacement is not None:  # a replacement is itself current
            assert info.replacement in KNOWN[source] and info.replacement not in announced(source), info


def test_the_reasoning_models_are_the_ones_the_sdk_names() -> None:
    text = sdk_file(REALTIME_SOURCE).read_text()
    named = set(re.findall(r"reasoning(?:-capable)? Realtime models such as `([^`]+)`", text))
    assert named and named <= REASONING_REALTIME  # the docstrings' example (gpt-realtime-2) is one of ours
    assert REASONING_REALTIME <= KNOWN[REALTIME_SOURCE]
    assert all(is_reasoning_realtime(name) for name in REASONING_REALTIME)
    # --reasoning-effort takes exactly the efforts the SDK's session accepts
    assert set(typing.get_args(RealtimeReasoningEffort)) == set(REASONING_EFFORTS)


def extras(model: BaseModel, path: str = "session") -> list[str]:
    """Keys the SDK model kept as extras (its models allow unknown keys): each is a key the API does not know."""
    found = [f"{path}.{key}" for key in model.model_extra or {}]
    for name in type(model).model_fields:
        found += _extras_in(getattr(model, name), f"{path}.{name}")
    return found


def _extras_in(value: Any, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        return extras(value, path)
    if isinstance(value, list | tuple):
        return [e for i, v in enumerate(value) for e in _extras_in(v, f"{path}[{i}]")]
    return []


def validated(config: RunConfig) -> RealtimeSessionCreateRequest:
    tools = [{"type": "function", "name": "get_weather", "description": "The weather.",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]  # fmt: skip
    event = SessionUpdateEvent.model_validate({"type": "session.update", "session": config.session_object(tools)})
    session = event.session
    assert isinstance(session, RealtimeSessionCreateRequest)
    assert extras(session) == []  # every key is one the GA session knows, at every level
    return session


def test_the_default_session_validates_against_the_sdk() -> None:
    session = validated(RunConfig())
    assert session.model == "gpt-realtime-2.1" and session.truncation == "auto"
    assert session.reasoning is None and session.parallel_tool_calls is None  # not sent by default
    assert session.audio is not None and session.audio.input is not None
    assert session.audio.input.transcription is not None and session.audio.input.transcription.model == "gpt-transcribe"


@pytest.mark.parametrize(
    ("effort", "parallel", "truncation"),
    list(itertools.product((None, *REASONING_EFFORTS), (None, True, False),
                           ("auto", "disabled", "retention_ratio:0.01", "retention_ratio:0.8", "retention_ratio:1"))),
)  # fmt: skip
def test_every_combination_of_the_new_settings_validates(effort: str | None, parallel: bool | None, truncation: str) -> None:
    session = validated(RunConfig(reasoning_effort=effort, parallel_tool_calls=parallel, truncation=truncation))
    assert (session.reasoning.effort if session.reasoning else None) == effort
    assert session.parallel_tool_calls is parallel
    if truncation.startswith("retention_ratio:"):
        assert not isinstance(session.truncation, str) and session.truncation is not None
        assert session.truncation.type == "retention_ratio"
        assert session.truncation.retention_ratio == float(truncation.partition(":")[2])
    else:
        assert session.truncation == truncation


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-1.5", "gpt-realtime-mini"])
def test_a_seed_model_session_validates_and_carries_no_reasoning(model: str) -> None:
    session = validated(RunConfig(model=model, transcription_model="gpt-4o-transcribe", truncation="disabled"))
    assert session.model == model and session.reasoning is None and session.parallel_tool_calls is None
