"""Summariser events: a summary's life from request to its place at the conversation root.

Every ``response.done`` whose window reached the trigger gets exactly one verdict: ``SummaryStarted`` (an
attempt begins; it ends in ``SummaryApplied`` or ``SummaryAbandoned``) or ``SummarySkipped`` (why not).
Other actors (the conductor) rely on that to know when the summariser is busy.
``SummaryRequested`` (core) asks the shell for a chat completion; the shell answers with the edge
``SummaryGenerated`` or ``SummaryFailed`` (the LLM is the outside world: its text enters the journal before
anything reacts to it, so replay never calls it). ``SummaryApplied`` says the summary is at the root and the
items it replaced are deleted on the server; ``SummaryAbandoned`` says an attempt stopped and the
conversation was left as it was (it will be retried after the next response).
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from events.base import Event, FrozenDict, freeze, freeze_mapping, register
from events.validators import non_empty, non_negative, str_tuple


def _messages(values: Any) -> tuple[FrozenDict, ...]:
    return tuple(freeze(v) for v in values)


@register
@attrs.frozen(kw_only=True)
class SummaryStarted(Event):
    """The window of ``response_id`` (``window`` tokens) reached the trigger: attempt ``summary_id`` begins."""

    TAG: ClassVar[str] = "summary.started"
    summary_id: str = attrs.field(validator=non_empty)
    response_id: str = attrs.field(validator=non_empty)
    window: int = attrs.field(validator=non_negative)


@register
@attrs.frozen(kw_only=True)
class SummarySkipped(Event):
    """The window of ``response_id`` reached the trigger but no summary starts, for ``reason`` (one line)."""

    TAG: ClassVar[str] = "summary.skipped"
    response_id: str = attrs.field(validator=non_empty)
    window: int = attrs.field(validator=non_negative)
    reason: str


@register
@attrs.frozen(kw_only=True)
class SummaryRequested(Event):
    """Summarise these chat ``messages`` with ``model`` (temperature 0); the result replaces
    ``item_ids_to_replace`` (which may include the previous summary, folded in)."""

    TAG: ClassVar[str] = "summary.requested"
    summary_id: str = attrs.field(validator=non_empty)
    messages: tuple[FrozenDict, ...] = attrs.field(converter=_messages)
    model: str = attrs.field(validator=non_empty)
    item_ids_to_replace: tuple[str, ...] = attrs.field(converter=str_tuple)


@register
@attrs.frozen(kw_only=True)
class SummaryGenerated(Event):
    """The summary model answered (``usage`` as the chat completions API reports it)."""

    TAG: ClassVar[str] = "summary.generated"
    EDGE: ClassVar[bool] = True
    summary_id: str = attrs.field(validator=non_empty)
    text: str
    usage: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze_mapping)


@register
@attrs.frozen(kw_only=True)
class SummaryFailed(Event):
    """The summary model could not be reached or refused (one line; never a key or header)."""

    TAG: ClassVar[str] = "summary.failed"
    EDGE: ClassVar[bool] = True
    summary_id: str = attrs.field(validator=non_empty)
    error: str


@register
@attrs.frozen(kw_only=True)
class SummaryAbandoned(Event):
    """This attempt stopped; nothing was deleted unless its summary was in place. Retried later."""

    TAG: ClassVar[str] = "summary.abandoned"
    summary_id: str = attrs.field(validator=non_empty)
    reason: str


@register
@attrs.frozen(kw_only=True)
class SummaryApplied(Event):
    """``summary_id`` is at the root and ``replaced_turns`` items were deleted (acknowledged by the server).

    ``window_before`` is the token window of the response that triggered it (the window after comes with the
    next ``response.done``). ``undeleted_item_ids`` are items whose delete the server refused or never
    acknowledged: they stay in the conversation (and will be folded into the next summary).
    """

    TAG: ClassVar[str] = "summary.applied"
    summary_id: str = attrs.field(validator=non_empty)
    replaced_turns: int = attrs.field(validator=non_negative)
    window_before: int | None = attrs.field(default=None, validator=non_negative)
    replaced_item_ids: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    undeleted_item_ids: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
