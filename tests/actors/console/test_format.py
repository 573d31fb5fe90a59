from __future__ import annotations

from typing import Any

import pytest

from actors.console.format import SummaryWindow, final_summary, format_line
from actors.console.lines import label_of, plural
from events import commands
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
from events.summary import SummaryApplied
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import Conversation


class Screen:
    """Folds events into a conversation and collects the console's lines, like the shell does."""

    def __init__(self) -> None:
        self.conversation = Conversation()
        self.seq = 0

    def __call__(self, event: Event) -> str | None:
        self.seq += 1
        env = Envelope(seq=self.seq, t_ns=self.seq, source="x", cause=None, event=event)
        self.conversation.apply(env)
        return format_line(env, self.conversation)

    def lines(self, *events: Event) -> list[str]:
        return [line for line in map(self, events) if line is not None]


def response_done(response_id: str, total: int | None, status: str = "completed", **kw: Any) -> ResponseDone:
    usage = {"total_tokens": total} if total is not None else {}
    return ResponseDone(response_id=response_id, status=status, usage=usage, **kw)


def test_a_conversation_reads_like_the_seed_history() -> None:
    screen = Screen()
    lines = screen.lines(
        SessionReady(session_id="sess_1"),
        ItemAdded(item_id="u1", item_type="message", role="user", status="completed"),
        ItemAdded(item_id="a1", previous_item_id="u1", item_type="message", role="assistant"),
        AssistantTextDone(response_id="r1", item_id="a1", modality="audio", text="It is sunny\nin Paris."),
        response_done("r1", 320),
        TranscriptResolved(item_id="u1", text="What's the weather in Paris?", via="event"),
    )
    assert lines == [
        "[session  ] ready (sess_1)",
        "[assistant] It is sunny in Paris.  (a1)",
        "[tokens   ] window 320 tokens (r1, completed)",
        "[user     ] What's the weather in Paris?  (u1)",
    ]


def test_tool_calls_and_outputs_are_shown() -> None:
    screen = Screen()
    lines = screen.lines(
        ItemAdded(item_id="f1", item_type="function_call", call_id="call_1", name="get_weather"),
        FunctionCallRequested(response_id="r1", item_id="f1", call_id="call_1", name="get_weather", arguments='{"location":\n "Paris"}'),
        commands.function_call_output("tools_0001", "call_1", '{"temperature": "21°C"}'),
        ItemAdded(item_id="o1", previous_item_id="f1", item_type="function_call_output", call_id="call_1"),
    )
    assert lines == [
        '[tool call] get_weather {"location": "Paris"}  (call_1)',
        '[tool     ] {"temperature": "21°C"}  (o1)',
    ]


def test_summaries_deletions_and_truncations_are_shown() -> None:
    screen = Screen()
    lines = screen.lines(
        ItemAdded(item_id="sum_001", item_type="message", role="system", text="Résumé de la conversation."),
        ItemDeleted(item_id="u1"),
        ItemTruncated(item_id="a3", audio_end_ms=1520),
    )
    assert lines == [
        "[system   ] Résumé de la conversation.  (sum_001)",
        "[deleted  ] u1",
        "[interrupt] assistant cut at 1520 ms  (a3)",
    ]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            TranscriptUnavailable(item_id="u2", reason="timed_out", detail="no transcript after 5 retrieves"),
            "[user     ] (transcript unavailable: timed_out: no transcript after 5 retrieves)  (u2)",
        ),
        (TranscriptUnavailable(item_id="u3", reason="failed"), "[user     ] (transcript unavailable: failed)  (u3)"),
        (
            TranscriptUnavailable(item_id="u4", reason="session ended"),
            "[user     ] (transcript unavailable: session ended)  (u4)",
        ),
        (TranscriptResolved(item_id="u5", text="", via="event"), "[user     ] (empty transcript)  (u5)"),
        (TranscriptLate(item_id="u6", text="what time is it", via="event"), "[user     ] what time is it [late]  (u6)"),
        (
            InboxDropped(subscriber="uploader", dropped_tag="audio.chunk", dropped_seq=812),
            "[dropped  ] audio.chunk #812 for uploader (its inbox was full)",
        ),
        (CaptureDropped(first_index=120, count=3), "[dropped  ] capture lost 3 chunks from #120"),
        (CaptureDropped(first_index=7, count=1), "[dropped  ] capture lost 1 chunk from #7"),
        (
            ServerError(code="conversation_already_has_active_response", message="busy", client_event_id="tools_0002"),
            "[error    ] server error [conversation_already_has_active_response]: busy (caused by tools_0002)",
        ),
        (ActorFailed(actor="uploader", error="OSError: broken pipe"), "[error    ] actor uploader failed: OSError: broken pipe"),
        (ProtocolViolation(detail="malformed JSON\nat 1:2", raw="{"), "[warning  ] protocol violation: malformed JSON at 1:2"),
        (UnknownServerEvent(type="response.mystery", raw="{}"), "[warning  ] unknown server event: response.mystery"),
        (SessionFailed(reason="server error [session_expired]: hit 60 min"), "[error    ] session failed: server error [session_expired]: hit 60 min"),
        (SessionEnding(reason="end of input"), "[session  ] ending: end of input"),
        (response_done("r9", None, status="failed"), "[tokens   ] no usage reported (r9, failed)"),
        (response_done("r7", 1), "[tokens   ] window 1 token (r7, completed)"),
        (
            response_done("r8", 90, status="cancelled", status_details={"type": "cancelled", "reason": "turn_detected"}),
            "[tokens   ] window 90 tokens (r8, cancelled: turn_detected)",
        ),
    ],
)
def test_notices(event: Event, line: str) -> None:
    assert Screen()(event) == line


def test_quiet_facts_produce_no_line() -> None:
    screen = Screen()
    assert screen(ConnectionClosed(code=1000, reason="bye", by_us=True)) is None
    # the conductor's connection.lost (or session.failed) that follows says what a close means, with its code
    assert screen(ConnectionClosed(code=1011, reason="internal error")) is None
    assert screen(ItemAdded(item_id="u1", item_type="message", role="user")) is None  # shown when transcribed
    assert screen(commands.item_retrieve("transcripts_0001", "u1")) is None


def test_label_of() -> None:
    assert label_of("[tool call] x") == "tool call"
    assert label_of("[user     ] hi  (u1)") == "user"
    assert label_of("plain text") == ""


def test_final_summary() -> None:
    screen = Screen()
    screen.lines(
        ItemAdded(item_id="u1", item_type="message", role="user"),
        ItemAdded(item_id="a1", item_type="message", role="assistant"),
        ItemAdded(item_id="f1", item_type="function_call", call_id="c", name="get_current_time"),
        response_done("r1", 1500),
        ItemAdded(item_id="u2", item_type="message", role="user"),
        TranscriptUnavailable(item_id="u2", reason="failed"),
        ItemAdded(item_id="a2", item_type="message", role="assistant"),
        response_done("r2", 900),
    )
    assert final_summary(
        screen.conversation, journal="journals/s.rtpj", audio="out.wav", ending_reason="end of input"
    ) == (
        "2 user turns (1 without transcript), 2 assistant replies, 1 tool call; 2 responses; "
        "token window 900 (peak 1500); ended: end of input; journal: journals/s.rtpj; audio: out.wav"
    )
    assert final_summary(Conversation()) == "0 user turns, 0 assistant replies; 0 responses; no usage reported"


def test_final_summary_counts_in_the_singular_and_shows_empty_and_late_transcripts() -> None:
    screen = Screen()
    screen.lines(
        ItemAdded(item_id="u1", item_type="message", role="user"),
        TranscriptResolved(item_id="u1", text="", via="event"),
        ItemAdded(item_id="a1", item_type="message", role="assistant"),
        response_done("r1", 1),
        ItemAdded(item_id="u2", item_type="message", role="user"),
        TranscriptUnavailable(item_id="u2", reason="timed_out"),
        TranscriptLate(item_id="u2", text="hello", via="event"),
        ItemAdded(item_id="u3", item_type="message", role="user"),
        TranscriptUnavailable(item_id="u3", reason="session ended"),
        ItemAdded(item_id="s1", item_type="message", role="system", text="summary"),
        ItemAdded(item_id="f1", item_type="function_call", call_id="c", name="get_current_time"),
    )
    assert final_summary(screen.conversation) == (
        "3 user turns (1 without transcript, 1 with an empty transcript, 1 with a late transcript), "
        "1 assistant reply, 1 tool call, 1 system message; 1 response; token window 1 (peak 1)"
    )


def test_plural() -> None:
    assert [plural(n, "response") for n in (0, 1, 2)] == ["0 responses", "1 response", "2 responses"]
    assert plural(1, "reply", "replies") == "1 reply" and plural(3, "reply", "replies") == "3 replies"


def test_summary_lines_pluralise_and_survive_an_unknown_window() -> None:
    applied = SummaryApplied(summary_id="sum_001", replaced_turns=1, window_before=None)
    assert Screen()(applied) == "[summary  ] sum_001 at the root replaced 1 item (window before: unknown)"
    window = SummaryWindow()
    assert window.line(Envelope(seq=1, t_ns=1, source="x", cause=None, event=applied)) is None
    done = Envelope(seq=2, t_ns=2, source="x", cause=None, event=response_done("r2", 1))
    assert window.line(done) == "[summary  ] sum_001: window unknown -> 1 token"
