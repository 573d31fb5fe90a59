"""Tool runs: what the tools core asks for, what the tools shell brings back, and what the core refused.

The lifecycle of one ``response.function_call_arguments.done`` (``FunctionCallRequested``):

- valid call → ``ToolRunRequested`` (core output: the shell runs the tool) → ``ToolResult`` (EDGE: the
  outside world's answer, journaled before the core reacts, so replay never runs a tool);
- unknown tool, unparsable JSON or arguments that break the tool's schema → ``ToolRejected`` (core output:
  nothing runs; the same error output goes straight back to the model).

``output`` is always the exact text sent as the ``function_call_output`` item: the tool's result, or an error
object ``{"error": "<one line>", "kind": "<kind>"}`` the model can read.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_empty, non_negative

# Why a call produced an error output instead of a result.
ERROR_KINDS = ("invalid_json", "invalid_arguments", "unknown_tool", "tool_error", "exception", "timeout")
REJECTION_KINDS = ("invalid_json", "invalid_arguments", "unknown_tool")


@register
@attrs.frozen(kw_only=True)
class ToolRunRequested(Event):
    """A validated call: run tool ``name`` with ``arguments_json`` (a JSON object, already schema-checked)."""

    TAG: ClassVar[str] = "tool.run_requested"
    call_id: str = attrs.field(validator=non_empty)
    name: str = attrs.field(validator=non_empty)
    arguments_json: str
    response_id: str


@register
@attrs.frozen(kw_only=True)
class ToolResult(Event):
    """The shell's edge: a tool finished (``ok``), failed (``error_kind`` exception/tool_error) or timed out."""

    TAG: ClassVar[str] = "tool.result"
    EDGE: ClassVar[bool] = True
    call_id: str = attrs.field(validator=non_empty)
    name: str
    output: str
    ok: bool
    error_kind: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(ERROR_KINDS))
    )
    duration_ms: int = attrs.field(default=0, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.ok != (self.error_kind is None):
            raise ValueError("ToolResult: ok is True exactly when error_kind is None")


@register
@attrs.frozen(kw_only=True)
class ToolRejected(Event):
    """A call the core refused without running anything; ``output`` is the error sent back to the model."""

    TAG: ClassVar[str] = "tool.rejected"
    call_id: str = attrs.field(validator=non_empty)
    name: str
    response_id: str
    error_kind: str = attrs.field(validator=attrs.validators.in_(REJECTION_KINDS))
    output: str
