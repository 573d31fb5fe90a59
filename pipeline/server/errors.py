"""Errors a client can cause, in the shape of the real service's `error` event (§7 of the protocol notes).

Raised inside the sans-IO core and turned into one `error` event that echoes the client's `event_id`; the
connection always survives them.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """An `invalid_request_error` (or another `error.type`) caused by one client event."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type
        self.event_id: str | None = None

    def body(self, event_id: str | None) -> dict[str, Any]:
        return {
            "type": self.error_type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": event_id,
        }


def describe_type(value: object) -> str:
    """The JSON type name OpenAI uses in `invalid_type` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_value(param: str, value: object, supported: list[str] | None = None) -> ClientError:
    shown = value if isinstance(value, str) else repr(value)
    message = f"Invalid value: '{shown}'."
    if supported:
        message += " Supported values are: " + ", ".join(f"'{s}'" for s in supported) + "."
    return ClientError(message, code="invalid_value", param=param)


def invalid_type(param: str, expected: str, value: object) -> ClientError:
    return ClientError(
        f"Invalid type for '{param}': expected {expected}, but got {describe_type(value)} instead.",
        code="invalid_type",
        param=param,
    )


def missing(param: str) -> ClientError:
    return ClientError(f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param)


def unknown(param: str) -> ClientError:
    return ClientError(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def number_out_of_range(param: str, value: float, *, minimum: float | None, maximum: float | None) -> ClientError:
    """A number outside its documented range: `invalid_value`, with the REST API's wording of the bound.

    The REST API words these "decimal above maximum value. Expected a value <= 2, but got 3 instead."; the
    code here is `invalid_value`, the Realtime API's code for a value it refuses (protocol notes §7).
    """
    kind = "integer" if isinstance(value, int) else "decimal"
    if isinstance(value, float) or abs(value) < 10**16:
        shown = f"{value:g}"
    else:  # a big integer (float() of it may overflow)
        digits = str(abs(value))
        shown = f"{'-' if value < 0 else ''}{digits[0]}e+{len(digits) - 1}"
    if value != value:  # NaN
        message = f"{kind} is not a number. Expected a finite value, but got {shown} instead."
    elif maximum is not None and value > maximum:
        message = f"{kind} above maximum value. Expected a value <= {maximum:g}, but got {shown} instead."
    else:
        message = f"{kind} below minimum value. Expected a value >= {minimum or 0:g}, but got {shown} instead."
    return ClientError(f"Invalid '{param}': {message}", code="invalid_value", param=param)


def string_too_long(param: str, value: str, maximum: int) -> ClientError:
    return ClientError(
        f"Invalid '{param}': string too long. Expected a string with maximum length {maximum}, "
        f"but got a string with length {len(value)} instead.",
        code="string_above_max_length",
        param=param,
    )


def session_expired(max_session_s: float) -> ClientError:
    """The error that ends a session at its maximum duration. The real wording is "Your session hit the maximum
    duration of 60 minutes." [OBS]; a shorter limit set for testing is said the same way, in whole minutes when
    it is some ("1 minute", "2 minutes"), else in seconds ("8 seconds", "90 seconds", "0.5 seconds") [INF: the
    service's limit is fixed, so its wording for other durations is not observable]."""
    if max_session_s % 60 == 0:
        count, unit = max_session_s / 60, "minute"
    else:
        count, unit = max_session_s, "second"
    return ClientError(
        f"Your session hit the maximum duration of {count:g} {unit}{'' if count == 1 else 's'}.", code="session_expired"
    )
