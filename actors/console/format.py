"""What the console says, as pure functions: one line per fact, with a stable 9-character label.

``format_line(env, conversation)`` is called after ``conversation.apply(env)``, so the line can show the turn
as the projection now knows it. Lines look like the seed's history printout, ``[label    ] text  (id)``,
which keeps them easy to read and to grep (``[user     ]``, ``[assistant]``, ``[tool call]``, ``[tokens   ]``,
``[error    ]``...). ``LABEL_STYLES`` gives each label its colour on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from events.audio import CaptureDropped
from events.base import Event
from events.envelope import Envelope
from events.playback import SessionFailed, SessionReady
from events.protocol import (
    AssistantTextDone,
    ConnectionClosed,
    FunctionCallRequested,
    ItemAdded,
    ItemDeleted,
    ItemTruncated,
    ProtocolViolation,
    ResponseDone,
    ServerError,
    UnknownServerEvent,
)
from events.runtime import ActorFailed, InboxDropped, SessionEnding
from events.summary import SummaryAbandoned, SummaryApplied
from events.tools import ToolRejected, ToolResult
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.projection import Conversation, Turn, history_line

LABEL_STYLES = {
    "user": "bold cyan",
    "assistant": "bold green",
    "system": "magenta",
    "tool call": "yellow",
    "tool": "yellow",
    "tokens": "dim",
    "session": "blue",
    "deleted": "dim magenta",
    "interrupt": "magenta",
    "notice": "yellow",
    "dropped": "yellow",
    "warning": "yellow",
    "error": "bold red",
    "summary": "bold cyan",
}

# the events that only produce a notice (the conversation ones are in PROJECTION_EVENTS)
NOTICE_EVENTS: frozenset[type[Event]] = frozenset(
    {
        SessionReady,
        SessionEnding,
        SessionFailed,
        ActorFailed,
        InboxDropped,
        CaptureDropped,
        ServerError,
        ProtocolViolation,
        UnknownServerEvent,
        ConnectionClosed,
        SummaryApplied,
        SummaryAbandoned,
        ToolRejected,
        ToolResult,
    }
)


def labelled(label: str, text: str) -> str:
    return f"[{label:<9}] {text}"


def label_of(line: str) -> str:
    """The label of a line made by ``labelled`` (for styling)."""
    return line[1:10].strip() if line.startswith("[") and line[10:11] == "]" else ""


def one_line(text: str) -> str:
    return " ".join(text.split())


def format_line(env: Envelope, conversation: Conversation) -> str | None:
    formatter = _FORMATTERS.get(type(env.event))
    return formatter(env.event, conversation) if formatter is not None else None


def _turn_line(item_id: str, conversation: Conversation, fallback: Turn) -> str:
    turn = conversation.turn(item_id)
    return history_line(turn if turn is not None else fallback)


def _resolved(ev: TranscriptResolved, conv: Conversation) -> str:
    fallback = Turn(item_id=ev.item_id, role="user", text=ev.text, status="resolved", kind="message")
    return _turn_line(ev.item_id, conv, fallback)


def _unavailable(ev: TranscriptUnavailable, conv: Conversation) -> str:
    detail = f" ({one_line(ev.detail)})" if ev.detail else ""
    return labelled("notice", f"no transcript for {ev.item_id}: {ev.reason}{detail}")


def _added(ev: ItemAdded, conv: Conversation) -> str | None:
    # user text is shown when its transcript resolves, assistant text when it is done; summaries and tool
    # outputs are complete when they are added
    turn = conv.turn(ev.item_id)
    if turn is None or turn.text is None:
        return None
    if turn.kind == "function_call_output" or (turn.kind == "message" and turn.role == "system"):
        return history_line(turn)
    return None


def _assistant_done(ev: AssistantTextDone, conv: Conversation) -> str:
    fallback = Turn(item_id=ev.item_id, role="assistant", text=ev.text, status="resolved", kind="message")
    return _turn_line(ev.item_id, conv, fallback)


def _function_call(ev: FunctionCallRequested, conv: Conversation) -> str:
    return labelled("tool call", f"{ev.name} {one_line(ev.arguments)}  ({ev.call_id})")


def _response_done(ev: ResponseDone, conv: Conversation) -> str:
    status = ev.status
    reason = ev.status_details.get("reason") if ev.status != "completed" else None
    if reason:
        status = f"{status}: {reason}"
    total = ev.total_tokens
    if total is None:
        return labelled("tokens", f"no usage reported ({ev.response_id}, {status})")
    return labelled("tokens", f"window {total} tokens ({ev.response_id}, {status})")


def _deleted(ev: ItemDeleted, conv: Conversation) -> str:
    return labelled("deleted", ev.item_id)


def _truncated(ev: ItemTruncated, conv: Conversation) -> str:
    return labelled("interrupt", f"assistant cut at {ev.audio_end_ms} ms  ({ev.item_id})")


def _session_ready(ev: SessionReady, conv: Conversation) -> str:
    return labelled("session", f"ready ({ev.session_id})")


def _session_ending(ev: SessionEnding, conv: Conversation) -> str:
    return labelled("session", f"ending: {ev.reason}")


def _session_failed(ev: SessionFailed, conv: Conversation) -> str:
    return labelled("error", f"session failed: {ev.reason}")


def _actor_failed(ev: ActorFailed, conv: Conversation) -> str:
    return labelled("error", f"actor {ev.actor} failed: {ev.error}")


def _inbox_dropped(ev: InboxDropped, conv: Conversation) -> str:
    return labelled("dropped", f"{ev.dropped_tag} #{ev.dropped_seq} for {ev.subscriber} (its inbox was full)")


def _capture_dropped(ev: CaptureDropped, conv: Conversation) -> str:
    chunks = "chunk" if ev.count == 1 else "chunks"
    return labelled("dropped", f"capture lost {ev.count} {chunks} from #{ev.first_index}")


def _server_error(ev: ServerError, conv: Conversation) -> str:
    caused = f" (caused by {ev.client_event_id})" if ev.client_event_id else ""
    return labelled("error", one_line(ev.one_line()) + caused)


def _violation(ev: ProtocolViolation, conv: Conversation) -> str:
    return labelled("warning", f"protocol violation: {one_line(ev.detail)}")


def _unknown(ev: UnknownServerEvent, conv: Conversation) -> str:
    return labelled("warning", f"unknown server event: {ev.type}")


def _closed(ev: ConnectionClosed, conv: Conversation) -> str | None:
    if ev.by_us:
        return None
    code = f"code {ev.code}" if ev.code is not None else "no close code"
    reason = f": {one_line(ev.reason)}" if ev.reason else ""
    return labelled("error", f"connection closed by the server ({code}{reason})")


def _summary_applied(ev: SummaryApplied, conv: Conversation) -> str:
    turns = "turn" if ev.replaced_turns == 1 else "turns"
    kept = f"; {len(ev.undeleted_item_ids)} not deleted" if ev.undeleted_item_ids else ""
    return labelled(
        "summary", f"{ev.summary_id} at the root replaced {ev.replaced_turns} {turns} (window before: {ev.window_before} tokens{kept})"
    )


def _summary_abandoned(ev: SummaryAbandoned, conv: Conversation) -> str:
    return labelled("warning", f"summary {ev.summary_id} abandoned, conversation unchanged: {one_line(ev.reason)}")


def _tool_rejected(ev: ToolRejected, conv: Conversation) -> str:
    return labelled("warning", f"tool call {ev.name} rejected ({ev.error_kind})  ({ev.call_id})")


def _tool_result(ev: ToolResult, conv: Conversation) -> str | None:
    if ev.ok:
        return None
    return labelled("warning", f"tool {ev.name} failed ({ev.error_kind}) after {ev.duration_ms} ms  ({ev.call_id})")


class SummaryWindow:
    """Announces each applied summary's window before and after: the after comes with the next response."""

    def __init__(self) -> None:
        self._pending: list[SummaryApplied] = []

    def line(self, env: Envelope) -> str | None:
        event = env.event
        if isinstance(event, SummaryApplied):
            self._pending.append(event)
            return None
        if isinstance(event, ResponseDone) and self._pending and event.total_tokens is not None:
            done, self._pending = self._pending, []
            ids = ", ".join(s.summary_id for s in done)
            return labelled("summary", f"{ids}: window {done[0].window_before} -> {event.total_tokens} tokens")
        return None


_FORMATTERS: dict[type[Event], Callable[[Any, Conversation], str | None]] = {
    SummaryApplied: _summary_applied,
    SummaryAbandoned: _summary_abandoned,
    ToolRejected: _tool_rejected,
    ToolResult: _tool_result,
    TranscriptResolved: _resolved,
    TranscriptUnavailable: _unavailable,
    ItemAdded: _added,
    AssistantTextDone: _assistant_done,
    FunctionCallRequested: _function_call,
    ResponseDone: _response_done,
    ItemDeleted: _deleted,
    ItemTruncated: _truncated,
    SessionReady: _session_ready,
    SessionEnding: _session_ending,
    SessionFailed: _session_failed,
    ActorFailed: _actor_failed,
    InboxDropped: _inbox_dropped,
    CaptureDropped: _capture_dropped,
    ServerError: _server_error,
    ProtocolViolation: _violation,
    UnknownServerEvent: _unknown,
    ConnectionClosed: _closed,
}


def final_summary(
    conversation: Conversation,
    *,
    journal: str | Path | None = None,
    audio: str | Path | None = None,
    ending_reason: str | None = None,
) -> str:
    """The line the CLI prints at the end: turns, tokens, and where the journal and audio are."""
    totals = conversation.totals
    user = totals["user"]
    unavailable = totals["unavailable"]
    parts = [f"{user} user turn{'s' if user != 1 else ''}" + (f" ({unavailable} without transcript)" if unavailable else "")]
    parts.append(f"{totals['assistant']} assistant repl{'ies' if totals['assistant'] != 1 else 'y'}")
    if totals["function_call"]:
        parts.append(f"{totals['function_call']} tool call{'s' if totals['function_call'] != 1 else ''}")
    if totals["system"]:
        parts.append(f"{totals['system']} system message{'s' if totals['system'] != 1 else ''}")
    tokens = "no usage reported"
    if conversation.token_window is not None:
        tokens = f"token window {conversation.token_window} (peak {conversation.peak_tokens})"
    fields = [", ".join(parts), f"{conversation.responses} responses", tokens]
    if ending_reason:
        fields.append(f"ended: {ending_reason}")
    if journal is not None:
        fields.append(f"journal: {journal}")
    if audio is not None:
        fields.append(f"audio: {audio}")
    return "; ".join(fields)
