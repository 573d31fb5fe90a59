"""The console with the current realtime models: one response carries a spoken preamble, function calls and
the answer as separate items; each is its own line, in the order the server produced them, behind the user
line they answer. And the reconnect lifecycle: one clear line per fact, re-seeded items print nothing."""

from __future__ import annotations

import pytest

from actors.console.format import NOTICE_EVENTS, format_line
from events import commands
from events.base import Event
from events.connection import (
    ConnectionLost,
    ConnectionRetired,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
    ReseedPlanned,
)
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemTruncated,
    OutputItemAdded,
    ResponseDone,
    ServerError,
)
from events.transcripts import TranscriptResolved
from pipeline.projections.conversation import Conversation
from tests.actors.console.test_order import Screen, user


def said(response: str, item: str, previous: str, text: str, index: int = 0) -> list[Event]:
    return [
        OutputItemAdded(response_id=response, item_id=item, output_index=index, item_type="message", role="assistant"),
        ItemAdded(item_id=item, previous_item_id=previous, item_type="message", role="assistant", status="in_progress"),
        AssistantTextDone(response_id=response, item_id=item, modality="audio", text=text),
    ]


def call(response: str, item: str, previous: str, call_id: str, name: str, args: str, index: int) -> list[Event]:
    return [
        OutputItemAdded(response_id=response, item_id=item, output_index=index, item_type="function_call"),
        ItemAdded(item_id=item, previous_item_id=previous, item_type="function_call", call_id=call_id, name=name),
        FunctionCallRequested(response_id=response, item_id=item, call_id=call_id, name=name, arguments=args),
    ]


def done(response: str, total: int, status: str = "completed", reason: str | None = None) -> ResponseDone:
    details = {"type": status, "reason": reason} if reason else {}
    return ResponseDone(response_id=response, status=status, usage={"total_tokens": total}, status_details=details)


def test_preamble_two_tool_calls_and_the_answer_are_each_a_line_in_order() -> None:
    screen = Screen()
    screen.feed(user("u1"), at_ms=0)
    screen.feed(
        *said("r1", "pre", "u1", "Let me check that."),
        *call("r1", "f1", "pre", "call_1", "get_weather", '{"city": "Paris"}', 1),
        *call("r1", "f2", "f1", "call_2", "get_time", '{"city": "Tokyo"}', 2),
        done("r1", 400),
        commands.function_call_output("tools_0001", "call_2", '{"time": "21:04"}'),
        ItemAdded(item_id="o2", previous_item_id="f2", item_type="function_call_output", call_id="call_2"),
        commands.function_call_output("tools_0002", "call_1", '{"sky": "clear"}'),
        ItemAdded(item_id="o1", previous_item_id="o2", item_type="function_call_output", call_id="call_1"),
        *said("r2", "ans1", "o1", "It is clear in Paris."),
        *said("r2", "ans2", "ans1", "And it is 21:04 in Tokyo.", index=1),
        done("r2", 520),
        at_ms=300,
    )
    assert screen.printed == []  # all of it waits behind the user's line
    screen.feed(TranscriptResolved(item_id="u1", text="the weather in Paris and the time in Tokyo", via="event"), at_ms=900)
    assert screen.printed == [
        "[user     ] the weather in Paris and the time in Tokyo  (u1)",
        "[assistant] Let me check that.  (pre)",
        '[tool call] get_weather {"city": "Paris"}  (call_1)',
        '[tool call] get_time {"city": "Tokyo"}  (call_2)',
        "[tokens   ] window 400 tokens (r1, completed)",
        '[tool     ] {"time": "21:04"}  (o2)',
        '[tool     ] {"sky": "clear"}  (o1)',
        "[assistant] It is clear in Paris.  (ans1)",
        "[assistant] And it is 21:04 in Tokyo.  (ans2)",
        "[tokens   ] window 520 tokens (r2, completed)",
    ]


def test_a_barge_in_during_the_preamble_cuts_it_and_the_unfinished_answer_still_gets_its_line() -> None:
    screen = Screen()
    screen.feed(user("u1", text="tell me a story"), at_ms=0)
    screen.feed(
        OutputItemAdded(response_id="r1", item_id="pre", item_type="message", role="assistant"),
        ItemAdded(item_id="pre", previous_item_id="u1", item_type="message", role="assistant"),
        AssistantTextDelta(response_id="r1", item_id="pre", modality="audio", delta="Sure, here"),
        ItemTruncated(item_id="pre", audio_end_ms=400),
        AssistantTextDone(response_id="r1", item_id="pre", modality="audio", text="Sure, here is one."),
        OutputItemAdded(response_id="r1", item_id="ans", output_index=1, item_type="message", role="assistant"),
        ItemAdded(item_id="ans", previous_item_id="pre", item_type="message", role="assistant"),
        AssistantTextDelta(response_id="r1", item_id="ans", modality="audio", delta="Once upon"),
        done("r1", 300, status="cancelled", reason="turn_detected"),  # the answer's text was never done
        at_ms=100,
    )
    assert screen.printed == [
        "[user     ] tell me a story  (u1)",
        "[assistant] Sure, here [interrupted]  (pre)",  # its place was taken when it began
        "[interrupt] assistant cut at 400 ms  (pre)",
        "[assistant] Once upon [interrupted]  (ans)",
        "[tokens   ] window 300 tokens (r1, cancelled: turn_detected)",
    ]


def test_a_lost_connection_prints_the_cut_reply_then_the_reconnect_one_line_per_fact() -> None:
    screen = Screen()
    screen.feed(user("u1", text="tell me about Tokyo"), at_ms=0)
    screen.feed(
        *said("r1", "pre", "u1", "Let me think."),
        OutputItemAdded(response_id="r1", item_id="ans", output_index=1, item_type="message", role="assistant"),
        ItemAdded(item_id="ans", previous_item_id="pre", item_type="message", role="assistant"),
        AssistantTextDelta(response_id="r1", item_id="ans", modality="audio", delta="Tokyo is"),
        ConnectionLost(reason="connection closed by the server (code 1006)", code=1006, interrupted=("r1",)),
        ReconnectRequested(attempt=1, delay_ms=250),
        ReconnectFailed(attempt=1, error="connection refused"),
        ReconnectRequested(attempt=2, delay_ms=500),
        Reconnected(attempt=2, connection=2),
        ReseedPlanned(items=("u1", "pre", "ans")),
        ItemAdded(item_id="u1", item_type="message", role="user", text="tell me about Tokyo"),
        ItemAdded(item_id="pre", previous_item_id="u1", item_type="message", role="assistant", text="Let me think."),
        ItemAdded(item_id="ans", previous_item_id="pre", item_type="message", role="assistant", text="Tokyo is"),
        ConversationReseeded(items=("u1", "pre", "ans")),
        HeldAudioSent(sent_ms=1840, dropped_ms=0),
        at_ms=200,
    )
    assert screen.printed == [
        "[user     ] tell me about Tokyo  (u1)",
        "[assistant] Let me think.  (pre)",
        "[assistant] Tokyo is [interrupted]  (ans)",
        "[reconnect] connection lost: connection closed by the server (code 1006); reconnecting; 1 response in flight interrupted",
        "[reconnect] reconnect attempt 1 failed: connection refused",
        "[reconnect] connected again (connection 2, attempt 2)",
        "[reconnect] re-seeded 3 items; state restored",
        "[reconnect] sent 1840 ms of user audio held while disconnected",
    ]
    assert screen.order.waiting == 0 and screen.order.deadline_ns is None


def test_resumed_items_reserve_no_place_and_print_nothing_but_the_resume_line() -> None:
    screen = Screen()
    screen.feed(
        ReseedPlanned(items=("sum_002", "u7", "o7"), summary_id="sum_002", audio_items=("u7",), resumed_from="old.rtpj"),
        ItemAdded(item_id="sum_002", item_type="message", role="system", text="The user planned a trip."),
        ItemAdded(item_id="u7", previous_item_id="sum_002", item_type="message", role="user"),
        ItemAdded(item_id="o7", previous_item_id="u7", item_type="function_call_output", call_id="c7", text="{}"),
        ConversationReseeded(
            items=("sum_002", "u7", "o7"), summary_id="sum_002", audio_items=("u7",), resumed_from="old.rtpj"
        ),
        at_ms=0,
    )
    assert screen.printed == [
        "[session  ] resumed from old.rtpj: re-seeded 3 items; summary sum_002 at the root; "
        "1 user turn as recorded audio; state restored"
    ]
    assert screen.order.waiting == 0 and screen.order.deadline_ns is None
    screen.feed(user("u8", "o7"), TranscriptResolved(item_id="u8", text="and the hotel", via="event"), at_ms=100)
    assert screen.printed[-1] == "[user     ] and the hotel  (u8)"


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            ConnectionLost(reason="server error [session_expired]: 60 minutes", interrupted=()),
            "[reconnect] connection lost: server error [session_expired]: 60 minutes; reconnecting",
        ),
        (
            ConnectionLost(reason="connection closed by the server", code=1011, reconnecting=False, interrupted=("r1", "r2")),
            "[error    ] connection lost: connection closed by the server (code 1011); not reconnecting",
        ),
        (
            ReconnectRequested(attempt=1, delay_ms=0, recycle=True),
            "[reconnect] renewing the session before the server's time limit: opening a new connection",
        ),
        (ReconnectRequested(attempt=3, delay_ms=1000), None),
        (
            ReconnectFailed(attempt=2, error="invalid_api_key: Incorrect API key", fatal=True),
            "[error    ] reconnect attempt 2 failed for good: invalid_api_key: Incorrect API key",
        ),
        (Reconnected(attempt=1, connection=3, recycle=True), "[reconnect] new connection 3 open (recycle)"),
        (
            ConversationReseeded(items=("a", "b", "c", "d"), summary_id="sum_001", restored=False, missing=("c", "d")),
            "[reconnect] re-seeded 4 items; summary sum_001 at the root; state NOT restored: 2 refused (c, d)",
        ),
        (ConversationReseeded(items=("a",), recycle=True), "[reconnect] re-seeded 1 item; state restored"),
        (
            HeldAudioSent(sent_ms=5000, dropped_ms=1200),
            "[reconnect] sent 5000 ms of user audio held while disconnected "
            "(the oldest 1200 ms did not fit and were dropped)",
        ),
        (HeldAudioSent(sent_ms=0), None),
        (ConnectionRetired(connection=1), "[reconnect] old connection 1 closed (recycled)"),
    ],
)
def test_connection_lines(event: Event, line: str | None) -> None:
    assert type(event) in NOTICE_EVENTS or type(event) in (ConnectionLost, ReseedPlanned)
    env = Envelope(seq=1, t_ns=0, source="x", cause=None, event=event)
    assert format_line(env, Conversation()) == line


def test_messages_closed_at_the_end_of_the_response_keep_their_place_before_the_calls() -> None:
    """gpt-realtime-2 sends every message's .done events just before response.done, after the function calls
    that followed the spoken preamble: the preamble's line still comes first."""
    screen = Screen()
    screen.feed(user("u1", text="weather in Paris and time in Tokyo"), at_ms=0)
    screen.feed(
        OutputItemAdded(response_id="r1", item_id="pre", item_type="message", role="assistant"),
        ItemAdded(item_id="pre", previous_item_id="u1", item_type="message", role="assistant"),
        AssistantTextDelta(response_id="r1", item_id="pre", modality="audio", delta="Let me check both."),
        *call("r1", "f1", "pre", "call_1", "get_weather", '{"city": "Paris"}', 1),
        *call("r1", "f2", "f1", "call_2", "get_time", '{"city": "Tokyo"}', 2),
        at_ms=100,
    )
    assert screen.printed == ["[user     ] weather in Paris and time in Tokyo  (u1)"]  # the calls wait
    screen.feed(
        AssistantTextDone(response_id="r1", item_id="pre", modality="audio", text="Let me check both."),
        done("r1", 400),
        at_ms=900,
    )
    assert screen.printed[1:] == [
        "[assistant] Let me check both.  (pre)",
        '[tool call] get_weather {"city": "Paris"}  (call_1)',
        '[tool call] get_time {"city": "Tokyo"}  (call_2)',
        "[tokens   ] window 400 tokens (r1, completed)",
    ]


def test_an_unfinished_message_at_the_end_of_the_session_is_printed_with_what_was_said() -> None:
    screen = Screen()
    screen.feed(ItemAdded(item_id="a1", item_type="message", role="assistant"), at_ms=0)
    screen.feed(AssistantTextDelta(response_id="r1", item_id="a1", modality="audio", delta="Goodbye and"), at_ms=10)
    screen.feed(ServerError(code="x", message="after"), at_ms=20)
    assert screen.printed == []
    assert screen.order.flush(screen.conversation) == ["[assistant] Goodbye and  (a1)", "[error    ] server error [x]: after"]


def test_the_console_follows_the_text_deltas_to_show_what_a_lost_answer_had_said() -> None:
    from actors.console.actor import CONSUMES

    assert AssistantTextDelta in CONSUMES and ConnectionLost in CONSUMES and ReseedPlanned in CONSUMES
    assert {Reconnected, ReconnectFailed, ConversationReseeded, HeldAudioSent, ConnectionRetired} <= CONSUMES
