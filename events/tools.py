"""Tool runs: what the tools core asks for, what the tools shell brings back, and what the core refused.

The lifecycle of one ``response.function_call_arguments.done`` (``FunctionCallRequested``):

- valid call → ``ToolRunRequested`` (core output: the shell runs the tool) → ``ToolResult`` (EDGE: the
  outside world's answer, journaled before the core reacts, so replay never runs a tool);
- unknown tool, unparsable JSON or arguments that break the tool's schema → ``ToolRejected`` (core output:
  nothing runs; the same error output goes straight back to the model).

``output`` is always the exact text sent as the ``function_call_output`` item: the tool's result (a string as
the tool returned it, anything else as strict JSON: no NaN, no infinity), or an error object
``{"error": "<one line>", "kind": "<kind>"}`` the model can read.

A run that outlives its timeout is answered ``ToolResult(error_kind="timeout")`` at the deadline, whatever it
does afterwards. If it finishes later anyway, the shell journals what it produced as ``ToolLateResult`` (an
edge nobody consumes): the record of what the tool did, never sent to the model.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from events.base import Event, register
from events.validators import non_empty, non_negative

# Why a call produced an error output instead of a result.
# ``invalid_output``: the tool returned a value strict JSON cannot encode (NaN, an infinity, a set, a cycle...).
ERROR_KINDS = (
    "invalid_json",
    "invalid_arguments",
    "unknown_tool",
    "tool_error",
    "exception",
    "timeout",
    "invalid_output",
)
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


@register
@attrs.frozen(kw_only=True)
class ToolLateResult(Event):
    """The shell's edge for a run that finished after its timeout: what it produced (``output`` and
    ``error_kind`` as a ``ToolResult`` would carry them) and when (``duration_ms`` from its start). Journaled
    for the record only: the model was told ``timeout`` at the deadline and never sees this."""

    TAG: ClassVar[str] = "tool.late_result"
    EDGE: ClassVar[bool] = True
    call_id: str = attrs.field(validator=non_empty)
    name: str
    output: str
    error_kind: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(ERROR_KINDS))
    )
    duration_ms: int = attrs.field(default=0, validator=non_negative)
    timeout_ms: int = attrs.field(default=0, validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class ToolOutputDropped(Event):
    """A tool's output had nowhere to go: its ``function_call`` item was not re-seeded after a lost connection
    (issue 12), so the new conversation has no call to answer. The ``ToolResult`` stays in the journal."""

    TAG: ClassVar[str] = "tool.output_dropped"
    call_id: str = attrs.field(validator=non_empty)
    reason: str = attrs.field(default="its call was not re-seeded after the connection was lost", validator=non_empty)
