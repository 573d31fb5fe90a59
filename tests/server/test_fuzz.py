"""Property tests: no client input can break the server's core (issue 10, "the embedded server under bad input").

Every input (random JSON, random mutations of valid events, raw text damage, sequences of them in any order
with the server's own work interleaved) gets either acceptance or exactly one `error` event, no exception
escapes, the error is an `invalid_request_error` with a code and a message (a `server_error` would be a bug
of this server), it echoes the client's `event_id` whenever the event could be read, and every event the
server sends is strict JSON that validates against the openai SDK's server-event models.
"""

from __future__ import annotations

import base64
import copy
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.server.connection import CoreConfig, RealtimeCore
from pipeline.server.effects import Close, Output, Recognize, Send, Stream, Synthesize
from pipeline.server.ids import IdGenerator
from pipeline.server.protocol import MAX_DEPTH
from tests.server.support import EventChecker, silence, tone

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
TONE = base64.b64encode(tone(120)).decode()
QUIET = base64.b64encode(silence(300)).decode()


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# One or more valid examples of each of the 11 client events (valid in shape; some are refused by state).
VALID: list[dict[str, Any]] = [
    {"type": "session.update", "event_id": "ev_s1", "session": {
        "type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"], "tools": [WEATHER_TOOL],
        "tool_choice": "auto", "max_output_tokens": 200,
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.8, "token_limits": {"post_instructions": 8000}},
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "noise_reduction": {"type": "near_field"},
                      "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                      "turn_detection": {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200,
                                         "silence_duration_ms": 300, "idle_timeout_ms": None,
                                         "create_response": True, "interrupt_response": True}},
            "output": {"voice": "marin", "speed": 1.2, "format": {"type": "audio/pcmu"}}}}},
    {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}},
    {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio"],
                                           "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}},
    {"type": "input_audio_buffer.append", "event_id": "ev_a1", "audio": TONE},
    {"type": "input_audio_buffer.append", "audio": QUIET},
    {"type": "input_audio_buffer.commit", "event_id": "ev_c1"},
    {"type": "input_audio_buffer.clear"},
    {"type": "conversation.item.create", "event_id": "ev_i1", "item": user_text("what is the weather in Paris")},
    {"type": "conversation.item.create", "previous_item_id": "root",
     "item": {"id": "sum_001", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "Résumé."}]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": TONE}]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi."}]}},
    {"type": "conversation.item.create", "item": {"type": "function_call", "name": "get_weather", "arguments": "{}", "call_id": "call_2"}},
    {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_2", "output": "{\"t\": 17}"}},
    {"type": "conversation.item.delete", "event_id": "ev_d1", "item_id": "sum_001"},
    {"type": "conversation.item.retrieve", "item_id": "sum_001"},
    {"type": "conversation.item.truncate", "item_id": "sum_001", "content_index": 0, "audio_end_ms": 100},
    {"type": "response.create", "event_id": "ev_r1"},
    {"type": "response.create", "response": {
        "output_modalities": ["text"], "instructions": "x", "conversation": "none", "metadata": {"k": "v"},
        "input": [{"type": "item_reference", "id": "sum_001"}, user_text("hi")], "max_output_tokens": 50, "tool_choice": "none"}},
    {"type": "response.create", "response": {"audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}}}}},
    {"type": "response.cancel", "event_id": "ev_x1"},
    {"type": "response.cancel", "response_id": "resp_x"},
    {"type": "output_audio_buffer.clear"},
]  # fmt: skip

# Values that probe types and ranges; NaN and infinities come out of json.dumps as the non-standard literals.
EXTREMES: list[Any] = [float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 10**30, 2**31, -1, 0, 0.0, 0.25, 1.5, 1, 4096, 4097, 1e-300, True, None, "", "x" * 40, [], {}]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(EXTREMES),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
key_names = st.sampled_from(["type", "event_id", "session", "item", "audio", "response", "item_id", "modalities", "voice",
                             "turn_detection", "threshold", "speed", "content", "role", "id", "input", "conversation",
                             "previous_item_id", "output_modalities", "rate", "format"]) | st.text(max_size=8)  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


ENUM_STRINGS = ["text", "audio", "server_vad", "semantic_vad", "auto", "none", "required", "root", "user", "assistant",
                "system", "input_text", "input_audio", "output_text", "output_audio", "message", "function_call",
                "function_call_output", "item_reference", "audio/pcm", "audio/pcmu", "audio/pcma", "realtime",
                "transcription", "sum_001", "call_2", "resp_x", "marin", "nope", "retention_ratio", "disabled", "low",
                "high", "near_field", "whisper-1", TONE[:7], "ev_dup"]  # fmt: skip
numbers = st.sampled_from([v for v in EXTREMES if isinstance(v, (int, float))]) | st.integers() | st.floats(allow_nan=False)


def _perturbed(draw: st.DrawFn, target: Any) -> Any:
    """A value of (mostly) the same JSON type: where range, enum and state checks live."""
    if isinstance(target, bool) or target is None:
        return draw(st.booleans() | st.none() | json_values)
    if isinstance(target, (int, float)):
        return draw(numbers)
    if isinstance(target, str):
        return draw(st.sampled_from(ENUM_STRINGS) | st.text(max_size=40))
    return draw(json_values)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event with a few random edits: perturb, replace, delete, add a key, wrap in a list, nest deeply."""
    event: Any = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(event)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths[::-1]))  # the deepest first: shrinking leaves the envelope alone
        parent, key = _get(event, path[:-1]), path[-1]
        op = draw(st.sampled_from(["perturb", "perturb", "perturb", "replace", "delete", "add", "wrap", "nest"]))
        if op == "perturb":
            parent[key] = _perturbed(draw, parent[key])
        elif op == "replace":
            parent[key] = draw(json_values)
        elif op == "delete":
            del parent[key]
        elif op == "add":
            if isinstance(parent[key], dict):
                parent[key][draw(key_names)] = draw(json_values)
        elif op == "wrap":
            parent[key] = [parent[key]]
        else:  # nest: bury the value under many levels of arrays and objects
            buried = parent[key]
            for level in range(draw(st.integers(1, 2 * MAX_DEPTH))):
                buried = [buried] if level % 2 else {"a": buried}
            parent[key] = buried
    if draw(st.integers(0, 30)) == 13:
        event = draw(json_values)  # now and then, not even the envelope survives
    return event


@st.composite
def damaged_text(draw: st.DrawFn) -> str:
    """The JSON text of a valid event with characters inserted, deleted or replaced, or cut short."""
    text = json.dumps(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(st.sampled_from(["[", "]", "{", "}", '"', ",", ":", "\\", "\\ud800", "NaN", "-Infinity", "1e400", "9" * 5000, "\x00"]) | st.text(max_size=3))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        else:
            text = text[:at]
    return text


bombs = st.integers(1, 3000).map(lambda n: "[" * n + "]" * n) | st.integers(1, 3000).map(
    lambda n: '{"type": "session.update", "event_id": "deep", "session": ' + '{"a": ' * n + "1" + "}" * n + "}"
)

raw_inputs = st.one_of(
    json_values.map(json.dumps),
    mutated_events().map(json.dumps),
    mutated_events().map(json.dumps),
    damaged_text(),
    bombs,
    st.sampled_from(VALID).map(json.dumps),
    st.binary(max_size=40),
)


def _readable_event_id(raw: str | bytes) -> str | None:
    """The event_id a strict JSON reader finds at the top level (what the error must echo), else None."""
    try:
        data = json.loads(raw, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) else None


class Driver:
    """A core with the shell's work (ASR, TTS, streaming) done by the test, possibly late and interleaved."""

    def __init__(self) -> None:
        self.core = RealtimeCore(CoreConfig(transcript_delay_ms=10, chunk_ms=100), IdGenerator(3))
        self.checker = EventChecker()
        self.pending: list[Output] = []
        self.item_ids: list[str] = []
        self.response_ids: list[str] = []
        self.check(self.core.open())

    def check(self, outputs: list[Output]) -> list[dict[str, Any]]:
        sent = []
        for output in outputs:
            if isinstance(output, Send):
                json.dumps(output.event, allow_nan=False)  # strict JSON out
                self.checker.server_event(output.event)
                sent.append(output.event)
                self._track(output.event)
            elif not isinstance(output, Close):
                self.pending.append(output)
        assert not self.checker.violations, self.checker.violations[:3]
        return sent

    def _track(self, event: dict[str, Any]) -> None:
        if event["type"] == "conversation.item.added" and event["item"]["id"] not in self.item_ids:
            self.item_ids.append(event["item"]["id"])
        elif event["type"] == "conversation.item.deleted" and event["item_id"] in self.item_ids:
            self.item_ids.remove(event["item_id"])
        elif event["type"] == "response.created":
            self.response_ids.append(event["response"]["id"])

    def receive(self, raw: str | bytes) -> None:
        outputs = self.core.receive(raw)
        assert not self.core.internal_errors, self.core.internal_errors
        sent = self.check(outputs)
        errors = [e for e in sent if e["type"] == "error"]
        if self.core.last_accepted is not None:
            assert not errors, errors
            self.checker.client_event(self.core.last_accepted)
            assert not self.checker.violations, self.checker.violations[:3]
        else:
            assert len(outputs) == 1 and len(errors) == 1, sent
            error = errors[0]["error"]
            assert error["type"] == "invalid_request_error", error
            assert isinstance(error["code"], str) and error["code"] and error["message"], error
            expected = _readable_event_id(raw)
            if expected is not None:
                assert error["event_id"] == expected, (error, expected)

    def work(self, steps: int) -> None:
        """Do up to `steps` pieces of pending shell work, oldest first."""
        for _ in range(steps):
            if not self.pending:
                return
            effect = self.pending.pop(0)
            if isinstance(effect, Recognize):
                self.check(self.core.recognized(effect.item_id, "what is the weather in Paris"))
                if effect.transcript_delay_s is not None:
                    self.check(self.core.transcription_due(effect.item_id))
            elif isinstance(effect, Synthesize):
                self.check(self.core.synthesized(effect.response_id, tone(250)))
            elif isinstance(effect, Stream):
                outputs, finished = self.core.advance(effect.response_id)
                self.check(outputs)
                if not finished:
                    self.pending.append(effect)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_inputs)
def test_any_single_input_is_accepted_or_answered_with_one_error(raw: str | bytes) -> None:
    driver = Driver()
    driver.receive(raw)
    driver.work(200)
    driver.receive(json.dumps({"type": "input_audio_buffer.clear", "event_id": "after"}))  # the session goes on
    assert driver.core.last_accepted is not None


def _stateful(draw: st.DrawFn, driver: Driver) -> list[dict[str, Any]]:
    """Events about what exists now (or just did): items, responses, speech through the VAD."""
    item_id = draw(st.sampled_from([*driver.item_ids, "nope"]))
    response_id = draw(st.sampled_from([*driver.response_ids, "resp_nope"]))
    choices: list[list[dict[str, Any]]] = [
        [{"type": "conversation.item.delete", "event_id": "ev_sd", "item_id": item_id}],
        [{"type": "conversation.item.retrieve", "item_id": item_id}],
        [{"type": "conversation.item.truncate", "event_id": "ev_st", "item_id": item_id,
          "content_index": draw(st.integers(-1, 2)), "audio_end_ms": draw(st.integers(-5, 400))}],
        [{"type": "conversation.item.create", "previous_item_id": item_id, "item": user_text("and tomorrow?")}],
        [{"type": "response.cancel", "event_id": "ev_sc", "response_id": response_id}],
        [{"type": "response.create", "response": {"conversation": draw(st.sampled_from(["auto", "none"])),
                                                  "input": [{"type": "item_reference", "id": item_id}]}}],
        [{"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
         for chunk in (tone(100), tone(100), tone(100), silence(200), silence(200))],
        [{"type": "input_audio_buffer.append", "audio": TONE}, {"type": "input_audio_buffer.commit"}],
    ]  # fmt: skip
    return draw(st.sampled_from(choices))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_any_sequence_in_any_order_with_work_interleaved(data: st.DataObject) -> None:
    driver = Driver()
    for _ in range(data.draw(st.integers(1, 14))):
        kind = data.draw(st.sampled_from(["valid", "valid", "stateful", "stateful", "stateful", "mutated", "raw"]))
        if kind == "valid":
            raws = [json.dumps(data.draw(st.sampled_from(VALID)))]
        elif kind == "stateful":
            raws = [json.dumps(e) for e in data.draw(st.composite(lambda draw: _stateful(draw, driver))())]
        elif kind == "mutated":
            raws = [json.dumps(data.draw(mutated_events()))]
        else:
            raws = [data.draw(raw_inputs)]
        for raw in raws:
            driver.receive(raw)
            driver.work(data.draw(st.integers(0, 6)))
    driver.work(500)
    driver.receive(json.dumps({"type": "conversation.item.create", "item": user_text("still there?")}))
    assert driver.core.last_accepted is not None


# ---------------------------------------------------------------- session.update numeric ranges (an oracle)

RANGES = {
    ("turn_detection", "threshold"): (0.0, 1.0),
    ("turn_detection", "prefix_padding_ms"): (0, 2**31 - 1),
    ("turn_detection", "silence_duration_ms"): (0, 2**31 - 1),
    ("turn_detection", "idle_timeout_ms"): (0, 2**31 - 1),
    ("noise_reduction", "strength"): (0.0, 1.0),
    ("output", "speed"): (0.25, 1.5),
}
floats_any = st.floats() | st.sampled_from([float("nan"), float("inf"), -1e30, 1e30, 0.25, 1.5, 0.0, 1.0]) | st.integers(-(10**31), 10**31)
ints_any = st.integers(-(10**31), 10**31) | st.sampled_from([0, -1, 2**31 - 1, 2**31, 10**30])


def _in_range(value: float, lo: float, hi: float) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value)) and lo <= value <= hi


@settings(max_examples=250, deadline=None)
@given(
    threshold=floats_any, prefix=ints_any, silence_ms=ints_any, idle=ints_any | st.none(), strength=floats_any, speed=floats_any,
    which=st.sets(st.sampled_from(sorted(RANGES)), min_size=1),
)  # fmt: skip
def test_session_update_numbers_are_accepted_exactly_in_their_documented_ranges(
    threshold: float, prefix: int, silence_ms: int, idle: int | None, strength: float, speed: float, which: set[tuple[str, str]]
) -> None:
    values = {("turn_detection", "threshold"): threshold, ("turn_detection", "prefix_padding_ms"): prefix,
              ("turn_detection", "silence_duration_ms"): silence_ms, ("turn_detection", "idle_timeout_ms"): idle,
              ("noise_reduction", "strength"): strength, ("output", "speed"): speed}  # fmt: skip
    chosen = {key: values[key] for key in which}
    audio: dict[str, Any] = {"input": {}, "output": {}}
    for (block, name), value in chosen.items():
        if block == "turn_detection":
            audio["input"].setdefault("turn_detection", {"type": "server_vad"})[name] = value
        elif block == "noise_reduction":
            audio["input"]["noise_reduction"] = {"type": "far_field", name: value}
        else:
            audio["output"][name] = value
    raw = json.dumps({"type": "session.update", "event_id": "u1", "session": {"type": "realtime", "audio": audio}})
    bad = [key for key, value in chosen.items() if value is not None and not _in_range(value, *RANGES[key])]
    driver = Driver()
    driver.receive(raw)
    if not bad:
        assert driver.core.last_accepted is not None
        merged = driver.core.session["audio"]
        for (block, name), value in chosen.items():
            where = merged["output"] if block == "output" else merged["input"][block]
            assert where[name] == value
        return
    assert driver.core.last_accepted is None
    error = driver.checker.sent[-1]["error"]
    non_finite = any(isinstance(value, float) and not math.isfinite(value) for value in (chosen[key] for key in bad))
    if non_finite:  # NaN / Infinity are not JSON: refused by the parser
        assert error["code"] == "invalid_event" and "invalid JSON" in error["message"]
        assert error["event_id"] is None
        return
    params = {f"session.audio.output.{n}" if b == "output" else f"session.audio.input.{b}.{n}" for b, n in bad}
    assert (error["code"], error["event_id"]) == ("invalid_value", "u1") and error["param"] in params, (error, params)
    assert "maximum value" in error["message"] or "minimum value" in error["message"]
