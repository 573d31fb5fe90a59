"""What the console says, as pure functions: one line per fact, with a stable 9-character label.

``format_line(env, conversation)`` is called after ``conversation.apply(env)``, so the line can show the turn
as the projection now knows it. Lines look like the seed's history printout, ``[label    ] text  (id)``,
which keeps them easy to read and to grep (``[user     ]``, ``[assistant]``, ``[tool call]``, ``[tokens   ]``,
``[error    ]``...). ``LABEL_STYLES`` gives each label its colour on a terminal.

A user turn's line comes from its transcript outcome: the words (``(empty transcript)`` when the recogniser
heard none), or ``(transcript unavailable: why)``; a transcript that comes after that (``TranscriptLate``) is
one more user line marked ``[late]``. Where these lines go in the output (before whatever answers them) is
decided by ``actors.console.order``. Counts are pluralised by ``lines.plural``: "1 response", "2 responses".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors.console.connection import CONNECTION_EVENTS, CONNECTION_FORMATTERS
from actors.console.lines import labelled, one_line, plural
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
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import Conversation, Turn, history_line

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
    "reconnect": "bold yellow",
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
        *CONNECTION_EVENTS,
    }
)


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
    why = f"{ev.reason}: {ev.detail}" if ev.detail else ev.reason
    fallback = Turn(item_id=ev.item_id, role="user", text=None, status="unavailable", kind="message", detail=why)
    return _turn_line(ev.item_id, conv, fallback)


def _late(ev: TranscriptLate, conv: Conversation) -> str:
    turn = conv.turn(ev.item_id)
    if turn is None or not turn.late:  # summarised before it came: shown, though no longer in the conversation
        turn = Turn(item_id=ev.item_id, role="user", text=ev.text, status="resolved", kind="message", late=True)
    return history_line(turn)


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
    return labelled("tokens", f"window {plural(total, 'token')} ({ev.response_id}, {status})")


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
    return labelled("dropped", f"capture lost {plural(ev.count, 'chunk')} from #{ev.first_index}")


def _server_error(ev: ServerError, conv: Conversation) -> str:
    caused = f" (caused by {ev.client_event_id})" if ev.client_event_id else ""
    return labelled("error", one_line(ev.one_line()) + caused)


def _violation(ev: ProtocolViolation, conv: Conversation) -> str:
    return labelled("warning", f"protocol violation: {one_line(ev.detail)}")


def _unknown(ev: UnknownServerEvent, conv: Conversation) -> str:
    return labelled("warning", f"unknown server event: {ev.type}")


def _closed(ev: ConnectionClosed, conv: Conversation) -> str | None:
    """Nothing: what a close means is the conductor's word, printed from the event that follows it
    (``connection.lost``: reconnecting, or not; ``session.failed`` in a journal from before reconnects), each
    of which names the close code. A close is not an error while the call goes on."""
    return None


def _tokens(count: int | None) -> str:
    return plural(count, "token") if count is not None else "unknown"


def _summary_applied(ev: SummaryApplied, conv: Conversation) -> str:
    kept = f"; {len(ev.undeleted_item_ids)} not deleted" if ev.undeleted_item_ids else ""
    return labelled(
        "summary",
        f"{ev.summary_id} at the root replaced {plural(ev.replaced_turns, 'item')} "
        f"(window before: {_tokens(ev.window_before)}{kept})",
    )


def _summary_abandoned(ev: SummaryAbandoned, conv: Conversation) -> str:
    return labelled("warning", f"summary {ev.summary_id} abandoned, conversation unchanged: {one_line(ev.reason)}")


def _tool_rejected(ev: ToolRejected, conv: Conversation) -> str:
    return labelled("warning", f"tool call {ev.name} rejected ({ev.error_kind})  ({ev.call_id})")


def _tool_result(ev: ToolResult, conv: Conversation) -> str | None:
    if ev.ok:
        return None
    return labelled("warning", f"tool {ev.name} failed ({ev.error_kind}) after {ev.duration_ms} ms  ({ev.call_id})")


def _ignoring_conversation(line: Callable[[Any], str | None]) -> Callable[[Any, Conversation], str | None]:
    def formatter(ev: Any, conv: Conversation) -> str | None:
        return line(ev)

    return formatter


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
            before = done[0].window_before if done[0].window_before is not None else "unknown"
            return labelled("summary", f"{ids}: window {before} -> {_tokens(event.total_tokens)}")
        return None


_FORMATTERS: dict[type[Event], Callable[[Any, Conversation], str | None]] = {
    SummaryApplied: _summary_applied,
    SummaryAbandoned: _summary_abandoned,
    ToolRejected: _tool_rejected,
    ToolResult: _tool_result,
    TranscriptResolved: _resolved,
    TranscriptUnavailable: _unavailable,
    TranscriptLate: _late,
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
    **{kind: _ignoring_conversation(line) for kind, line in CONNECTION_FORMATTERS.items()},
}


def final_summary(
    conversation: Conversation,
    *,
    journal: str | Path | None = None,
    audio: str | Path | None = None,
    ending_reason: str | None = None,
) -> str:
    """The line the CLI prints at the end: turns (and how many user turns had no words, an empty transcript or
    a late one), tokens, and where the journal and audio are."""
    totals = conversation.totals
    notes = [
        f"{totals['unavailable']} without transcript" if totals["unavailable"] > 0 else "",
        f"{totals['empty']} with an empty transcript" if totals["empty"] > 0 else "",
        f"{totals['late']} with a late transcript" if totals["late"] > 0 else "",
    ]
    notes = [note for note in notes if note]
    parts = [plural(totals["user"], "user turn") + (f" ({', '.join(notes)})" if notes else "")]
    parts.append(plural(totals["assistant"], "assistant reply", "assistant replies"))
    if totals["function_call"]:
        parts.append(plural(totals["function_call"], "tool call"))
    if totals["system"]:
        parts.append(plural(totals["system"], "system message"))
    tokens = "no usage reported"
    if conversation.token_window is not None:
        tokens = f"token window {conversation.token_window} (peak {conversation.peak_tokens})"
    fields = [", ".join(parts), plural(conversation.responses, "response"), tokens]
    if ending_reason:
        fields.append(f"ended: {ending_reason}")
    if journal is not None:
        fields.append(f"journal: {journal}")
    if audio is not None:
        fields.append(f"audio: {audio}")
    return "; ".join(fields)
