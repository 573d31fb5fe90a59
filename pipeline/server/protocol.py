"""Client event validation, the way the real service does it (§4, §7, §11.1, §11.8 of the protocol notes).

`parse_client_event` turns one text frame into a validated event dict or raises `ClientError` carrying the
client's `event_id`, so the error can echo it. The checks, in order:

1. the frame is strict JSON (`decode_event`): no `NaN`/`Infinity` literals, no number that overflows a double,
   no unpaired surrogate escape, at most `MAX_DEPTH` levels of arrays and objects. Python's `json` accepts
   the first three, which RFC 8259 parsers such as the real service's refuse, and raises `RecursionError` on
   about 1,000 nested brackets (the real nesting limit is not documented [INF]). Each is answered with one
   `error` event and the session goes on (the SDK's `RealtimeErrorEvent`: "Most errors are recoverable and
   the session will stay open"). Code `invalid_event` for all of them [INF: the docs' only example of a
   malformed event uses it; no recorded answer of the real service to bad JSON is public];
2. the frame is a JSON object (`invalid_event` otherwise), with a `type` (`invalid_event`: "The 'type' field
   is missing.") naming one of the 11 GA client events (`invalid_value`, param `type`);
3. no key the GA models do not know (`unknown_parameter`, e.g. "Unknown parameter: 'session.modalities'."):
   the SDK models use `extra="allow"`, so a beta-shaped event would otherwise slip through (§11.1);
4. the event validates, strictly, against the SDK model for its type; pydantic errors become
   `missing_required_parameter` / `invalid_type` / `invalid_value` with an OpenAI-style dotted `param`.

`{"type": "item_reference"}` entries in `response.create.response.input` are valid on the wire but not in the
SDK's pydantic union (§11.8): they are checked here on their own and left out of the model validation.
"""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any, Final, Literal, Union

import pydantic
from openai.types.realtime import RealtimeClientEvent

from pipeline.server.errors import ClientError, invalid_type, invalid_value, missing, unknown

# Deepest nesting of arrays and objects accepted in one event. The real limit is not documented [INF]; 64
# leaves room for any sensible tool schema (about 28 nested object levels) while keeping every later step
# (pydantic, deepcopy in the session merge, json.dumps of the echo, the client's msgpack journal) far from
# Python's recursion limit.
MAX_DEPTH: Final = 64

_MODELS: Final[dict[str, type[pydantic.BaseModel]]] = {}
for _member in typing.get_args(typing.get_args(RealtimeClientEvent)[0]):
    _MODELS[typing.get_args(_member.model_fields["type"].annotation)[0]] = _member

CLIENT_EVENT_TYPES: Final = tuple(
    [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.truncate",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    ]
)
assert set(CLIENT_EVENT_TYPES) == set(_MODELS), "SDK client event union changed"

# Read-only fields of the session object that clients often echo back from `session.created`.
_TOLERATED: Final = {"session": {"object", "id", "expires_at"}}

_TYPE_NAMES: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a decimal",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _candidates(annotation: Any) -> list[Any]:
    """Flatten Optional / Union / Annotated into the alternatives."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_candidates(arg))
        return out
    return [annotation]


def _literal_values(model: type[pydantic.BaseModel], field: str) -> tuple[Any, ...] | None:
    info = model.model_fields.get(field)
    if info is None:
        return None
    values: list[Any] = []
    for alternative in _candidates(info.annotation):
        if typing.get_origin(alternative) is Literal:
            values.extend(typing.get_args(alternative))
        elif alternative is type(None):
            continue
        else:
            return None  # a plain str field: no discrimination possible
    return tuple(values)


def _pick_model(alternatives: list[Any], data: dict[str, Any]) -> tuple[type[pydantic.BaseModel] | None, list[Any]]:
    """The model the data selects by its `type` then `role`, and the branches still plausible."""
    models = [a for a in alternatives if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
    for discriminator in ("type", "role"):
        matching = []
        for model in models:
            values = _literal_values(model, discriminator)
            if values is None or discriminator not in data or data[discriminator] in values:
                matching.append(model)
        if not matching:
            return None, models
        models = matching
    return (models[0] if models else None), models[:1]


def find_unknown_key(annotation: Any, data: Any, path: str, chosen: set[str] | None = None) -> str | None:
    """The dotted path of the first key `annotation` (a model type) does not declare, if any.

    `chosen` collects the names of the union branches the data selects, to rank validation errors.
    """
    alternatives = _candidates(annotation)
    if isinstance(data, dict):
        model, plausible = _pick_model(alternatives, data)
        if chosen is not None:
            chosen.update(m.__name__ for m in plausible)
        if model is None:
            return None
        tolerated = _TOLERATED.get(path, set())
        for key, value in data.items():
            child = f"{path}.{key}" if path else key
            info = model.model_fields.get(key)
            if info is None:
                if key in tolerated:
                    continue
                return child
            found = find_unknown_key(info.annotation, value, child, chosen)
            if found:
                return found
    elif isinstance(data, list):
        for alternative in alternatives:
            if typing.get_origin(alternative) in (list, typing.List):  # noqa: UP006
                (element,) = typing.get_args(alternative)
                for index, value in enumerate(data):
                    found = find_unknown_key(element, value, f"{path}[{index}]", chosen)
                    if found:
                        return found
    return None


def _param_path(loc: tuple[int | str, ...], data: Any, error_type: str) -> tuple[str, int, Any]:
    """Map a pydantic `loc` onto the client's JSON: (dotted param, depth, offending value)."""
    param = ""
    depth = 0
    current = data
    for position, segment in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(segment, int) and isinstance(current, list) and segment < len(current):
            param += f"[{segment}]"
            current = current[segment]
            depth += 1
        elif isinstance(segment, str) and isinstance(current, dict) and (
            segment in current or (last and error_type == "missing")
        ):
            param += f".{segment}" if param else segment
            current = current.get(segment)
            depth += 1
    return param, depth, current


def _expected_values(detail: Any) -> list[str]:
    expected = str((detail.get("ctx") or {}).get("expected", ""))
    return [part.strip().strip("'") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def _translate(error: pydantic.ValidationError, data: dict[str, Any], chosen: set[str]) -> ClientError:
    ranked = []
    for index, detail in enumerate(error.errors()):
        param, depth, value = _param_path(detail["loc"], data, detail["type"])
        # Errors inside union branches the data did not select are noise; prefer the selected branch,
        # and a discriminator mismatch only when nothing else is wrong.
        branches = {s for s in detail["loc"] if isinstance(s, str) and s[:1].isupper()}
        other_branch = bool(branches - chosen)
        discriminator = detail["type"] == "literal_error" and str(detail["loc"][-1]) in ("type", "role")
        ranked.append((other_branch, discriminator, -depth, index, detail, param, value))
    ranked.sort(key=lambda r: r[:4])
    detail, param, value = ranked[0][4:]
    kind = detail["type"]
    if kind == "missing":
        return missing(param)
    if kind in _TYPE_NAMES:
        return invalid_type(param, _TYPE_NAMES[kind], value)
    if kind == "literal_error":
        supported: list[str] = []
        for row in ranked:
            if row[4]["type"] == "literal_error" and row[5] == param and row[0] == ranked[0][0]:
                supported += [v for v in _expected_values(row[4]) if v not in supported]
        return invalid_value(param, value, supported)
    return ClientError(f"Invalid '{param}': {detail['msg']}.", code="invalid_value", param=param or None)


def _strip_item_references(data: dict[str, Any]) -> dict[str, Any]:
    """Check `item_reference` inputs of `response.create` and remove them for the model validation."""
    response = data.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("input"), list):
        return data
    kept = []
    for index, entry in enumerate(response["input"]):
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            param = f"response.input[{index}]"
            for key in entry:
                if key not in ("type", "id"):
                    raise unknown(f"{param}.{key}")
            if "id" not in entry:
                raise missing(f"{param}.id")
            if not isinstance(entry["id"], str):
                raise invalid_type(f"{param}.id", "a string", entry["id"])
        else:
            kept.append(entry)
    return {**data, "response": {**response, "input": kept}}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _bad_json(detail: str) -> ClientError:
    return ClientError(f"The server failed to parse the event: invalid JSON ({detail}).", code="invalid_event")


def _has_surrogate(text: str) -> bool:
    if text.isascii():  # O(1) for the compact ASCII strings that carry audio
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_tree(data: Any) -> None:
    """Depth and string checks over the decoded value, iteratively (the value may be deep)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for key, child in value.items():
                if _has_surrogate(key):
                    raise _bad_json("a key holds an unpaired surrogate escape")
                stack.append((child, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            stack.extend((child, depth + 1) for child in value)
        elif isinstance(value, str) and _has_surrogate(value):
            raise _bad_json("a string holds an unpaired surrogate escape")


def _too_deep() -> ClientError:
    return ClientError(
        f"The event is nested too deeply: at most {MAX_DEPTH} levels of arrays and objects are allowed.",
        code="invalid_event",
    )


def decode_event(raw: str | bytes) -> Any:
    """Strict JSON: what Python's `json` accepts beyond the standard is refused (see the module docstring)."""
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except UnicodeDecodeError:
        raise _bad_json("the frame is not valid UTF-8") from None
    except ValueError as exc:
        detail = "number out of range" if "integer string conversion" in str(exc) else str(exc)
        raise _bad_json(detail) from None
    return data


def parse_client_event(raw: str | bytes) -> dict[str, Any]:
    """One client frame → the validated event dict; `ClientError` (with `.event_id`) otherwise."""
    data = decode_event(raw)
    if not isinstance(data, dict):
        _check_tree(data)
        raise ClientError("The event must be a JSON object.", code="invalid_event")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    try:
        _check_tree(data)
        return _validate(data)
    except ClientError as error:
        error.event_id = event_id
        raise


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    if "type" not in data:
        raise ClientError("The 'type' field is missing.", code="invalid_event", param="type")
    event_type = data["type"]
    if not isinstance(event_type, str):
        raise invalid_type("type", "a string", event_type)
    model = _MODELS.get(event_type)
    if model is None:
        raise invalid_value("type", event_type, list(CLIENT_EVENT_TYPES))
    if event_type == "session.update" and isinstance(data.get("session"), dict) and "type" not in data["session"]:
        raise missing("session.type")
    checked = _strip_item_references(data) if event_type == "response.create" else data
    chosen: set[str] = set()
    unknown_key = find_unknown_key(model, checked, "", chosen)
    if unknown_key:
        raise unknown(unknown_key)
    try:
        model.model_validate(checked, strict=True)
    except pydantic.ValidationError as error:
        raise _translate(error, checked, chosen) from None
    return data
