"""The console prints a conversation in conversation order: a user turn before whatever answers it.

The events are fed in the order the embedded server (and the real service) produce them: the user's item is
added, the answer (tool call, tool output, reply) starts, and the transcript resolves afterwards.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import trio

from actors.console.actor import console_actor
from actors.console.order import ConsoleLines
from events import commands
from events.base import Event
from events.envelope import Envelope
from events.protocol import (
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ResponseDone,
    ServerError,
)
from events.runtime import SessionEnding
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.projections.conversation import Conversation
from pipeline.runtime import ActorContext, ActorSpec, run_session

MS = 1_000_000


class Screen:
    """Folds events and collects printed lines, like the console shell; ``at(ms)`` sets the next timestamp."""

    def __init__(self, hold_ms: int = 3000) -> None:
        self.conversation = Conversation()
        self.order = ConsoleLines(hold_ms=hold_ms)
        self.seq = 0
        self.t_ns = 0
        self.printed: list[str] = []

    def feed(self, *events: Event, at_ms: float | None = None) -> list[str]:
        if at_ms is not None:
            self.t_ns = int(at_ms * MS)
        out: list[str] = []
        for event in events:
            self.seq += 1
            env = Envelope(seq=self.seq, t_ns=self.t_ns, source="x", cause=None, event=event)
            self.conversation.apply(env)
            out += self.order.feed(env, self.conversation)
        self.printed += out
        return out


def user(item_id: str, previous: str | None = None, text: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="user", status="completed", text=text)


def assistant(item_id: str, previous: str) -> ItemAdded:
    return ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="assistant")


def done(response_id: str, total: int, **kw: Any) -> ResponseDone:
    return ResponseDone(response_id=response_id, status="completed", usage={"total_tokens": total}, **kw)


def weather_call() -> list[Event]:
    """The answer to "what is the weather like in paris" as the server sends it, before the transcript."""
    return [
        ItemAdded(item_id="f1", previous_item_id="u1", item_type="function_call", call_id="call_1", name="get_weather"),
        FunctionCallRequested(response_id="r1", item_id="f1", call_id="call_1", name="get_weather", arguments='{"location": "Paris"}'),
        done("r1", 372),
        commands.function_call_output("tools_0001", "call_1", '{"temperature": "17°C"}'),
        ItemAdded(item_id="o1", previous_item_id="f1", item_type="function_call_output", call_id="call_1"),
    ]


def reply() -> list[Event]:
    return [
        assistant("a1", "o1"),
        AssistantTextDone(response_id="r2", item_id="a1", modality="audio", text="The weather in Paris is sunny at 17°C."),
        done("r2", 470),
    ]


EXPECTED = [
    "[user     ] what is the weather like in paris  (u1)",
    '[tool call] get_weather {"location": "Paris"}  (call_1)',
    "[tokens   ] window 372 tokens (r1, completed)",
    '[tool     ] {"temperature": "17°C"}  (o1)',
    "[assistant] The weather in Paris is sunny at 17°C.  (a1)",
    "[tokens   ] window 470 tokens (r2, completed)",
]


def test_the_user_line_comes_before_the_tool_call_and_result_it_caused() -> None:
    screen = Screen()
    assert screen.feed(user("u1"), at_ms=0) == []  # its place is reserved
    assert screen.feed(*weather_call(), at_ms=400) == []  # and everything after it waits behind it
    assert screen.order.waiting == 4  # the place, the tool call, its tokens, its output
    screen.feed(TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"), at_ms=900)
    screen.feed(*reply(), at_ms=1500)
    assert screen.printed == EXPECTED
    assert screen.order.waiting == 0 and screen.order.deadline_ns is None


def test_the_transcript_arriving_after_the_whole_reply_still_goes_first() -> None:
    screen = Screen()
    screen.feed(user("u1"), at_ms=0)
    screen.feed(*weather_call(), *reply(), at_ms=1000)
    assert screen.printed == []
    screen.feed(TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"), at_ms=2900)
    assert screen.printed == EXPECTED


def test_lines_before_the_user_item_are_not_held() -> None:
    screen = Screen()
    assert screen.feed(ServerError(code="x", message="before"), user("u1")) == ["[error    ] server error [x]: before"]


def test_a_transcript_slower_than_the_bound_shows_the_turn_as_pending_then_its_words() -> None:
    screen = Screen(hold_ms=3000)
    screen.feed(user("u1"), at_ms=0)
    assert screen.order.deadline_ns is None  # nothing waits behind it yet: no hurry
    screen.feed(*weather_call(), at_ms=500)
    assert screen.order.deadline_ns == 3500 * MS  # the tool call has waited since 500 ms
    assert screen.order.expire(3499 * MS) == []
    # the shell's timer fires at the deadline: the place is printed as pending, and what waited follows
    released = screen.order.expire(3500 * MS)
    assert released == ["[user     ] (transcript pending)  (u1)", *EXPECTED[1:4]]
    assert screen.order.deadline_ns is None
    screen.printed += released
    screen.feed(TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"), at_ms=4000)
    screen.feed(*reply(), at_ms=4500)
    assert screen.printed == [released[0], *EXPECTED[1:4], EXPECTED[0], *EXPECTED[4:]]


def test_an_event_past_the_bound_releases_the_place_by_its_own_timestamp() -> None:
    screen = Screen(hold_ms=3000)
    screen.feed(user("u1"), at_ms=0)
    screen.feed(ServerError(code="x", message="held"), at_ms=100)
    assert screen.feed(ServerError(code="x", message="later"), at_ms=3100) == [
        "[user     ] (transcript pending)  (u1)",
        "[error    ] server error [x]: held",
        "[error    ] server error [x]: later",
    ]


def test_a_slow_transcript_with_nothing_waiting_behind_it_delays_nothing() -> None:
    """The embedded server (like a model) answers only once it has recognised the words: the transcript can
    take seconds, and the answer comes with it; the bound runs from the answer, not from the item."""
    screen = Screen(hold_ms=3000)
    screen.feed(user("u1"), at_ms=0)
    assert screen.order.expire(60_000 * MS) == []
    screen.feed(*weather_call(), at_ms=6000)
    screen.feed(TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"), at_ms=6010)
    screen.feed(*reply(), at_ms=7000)
    assert screen.printed == EXPECTED


def test_a_filled_place_starts_the_clock_of_the_open_places_ahead_of_it_only() -> None:
    screen = Screen(hold_ms=3000)
    screen.feed(user("u1"), at_ms=0)
    screen.feed(user("u2", "u1"), at_ms=100)
    screen.feed(user("u3", "u2"), at_ms=200)
    screen.feed(TranscriptResolved(item_id="u2", text="second", via="event"), at_ms=1000)
    assert screen.order.deadline_ns == 4000 * MS  # u1's (u2's words wait behind it); u3 has nothing behind
    assert screen.order.expire(4000 * MS) == ["[user     ] (transcript pending)  (u1)", "[user     ] second  (u2)"]
    assert screen.order.deadline_ns is None


def test_the_outcome_that_comes_with_the_late_event_still_fills_its_place() -> None:
    screen = Screen(hold_ms=3000)
    screen.feed(user("u1"), at_ms=0)
    assert screen.feed(TranscriptResolved(item_id="u1", text="hi", via="event"), at_ms=3200) == ["[user     ] hi  (u1)"]


def test_several_pending_turns_keep_their_own_places() -> None:
    screen = Screen()
    screen.feed(user("u1"), at_ms=0)
    screen.feed(assistant("a1", "u1"), AssistantTextDone(response_id="r1", item_id="a1", modality="audio", text="One."), at_ms=100)
    screen.feed(user("u2", "a1"), at_ms=200)
    screen.feed(assistant("a2", "u2"), AssistantTextDone(response_id="r2", item_id="a2", modality="audio", text="Two."), at_ms=300)
    # the second transcript first: it fills its own place, which still waits behind the first
    assert screen.feed(TranscriptResolved(item_id="u2", text="second", via="event"), at_ms=400) == []
    screen.feed(TranscriptResolved(item_id="u1", text="first", via="event"), at_ms=500)
    assert screen.printed == [
        "[user     ] first  (u1)",
        "[assistant] One.  (a1)",
        "[user     ] second  (u2)",
        "[assistant] Two.  (a2)",
    ]


def test_typed_text_holds_nothing_and_is_printed_once() -> None:
    screen = Screen()
    assert screen.feed(user("u1", text="hello")) == ["[user     ] hello  (u1)"]
    assert screen.feed(TranscriptResolved(item_id="u1", text="hello", via="event")) == []
    assert screen.feed(assistant("a1", "u1")) == []
    assert screen.order.deadline_ns is None


def test_an_outcome_before_its_item_is_printed_once() -> None:
    screen = Screen()
    assert screen.feed(TranscriptResolved(item_id="u1", text="early", via="event")) == ["[user     ] early  (u1)"]
    assert screen.feed(user("u1")) == []
    assert screen.order.deadline_ns is None


@pytest.mark.parametrize(
    ("outcome", "line"),
    [
        (TranscriptResolved(item_id="u1", text="", via="event"), "[user     ] (empty transcript)  (u1)"),
        (TranscriptUnavailable(item_id="u1", reason="failed", detail="Audio could not be transcribed."),
         "[user     ] (transcript unavailable: failed: Audio could not be transcribed.)  (u1)"),
    ],
)  # fmt: skip
def test_empty_and_unavailable_transcripts_fill_the_place_too(outcome: Event, line: str) -> None:
    screen = Screen()
    screen.feed(user("u1"), *weather_call())
    screen.feed(outcome)
    assert screen.printed == [line, *EXPECTED[1:4]]


def test_session_ended_fills_the_place_and_the_ending_line_follows_it() -> None:
    """A signal ends the session while a transcript is pending: the transcripts actor's outcome comes after
    SessionEnding, and the screen still reads user, answer, ending."""
    screen = Screen()
    screen.feed(user("u1"), *weather_call(), SessionEnding(reason="interrupted"))
    assert screen.printed == []
    screen.feed(TranscriptUnavailable(item_id="u1", reason="session ended"))
    assert screen.printed == [
        "[user     ] (transcript unavailable: session ended)  (u1)",
        *EXPECTED[1:4],
        "[session  ] ending: interrupted",
    ]
    screen.feed(TranscriptLate(item_id="u1", text="what is the weather like in paris", via="event"))
    assert screen.printed[-1] == "[user     ] what is the weather like in paris [late]  (u1)"


def test_flush_prints_what_is_left_with_unfilled_places_as_pending() -> None:
    screen = Screen()
    screen.feed(user("u1"), *weather_call())
    assert screen.order.flush() == ["[user     ] (transcript pending)  (u1)", *EXPECTED[1:4]]
    assert screen.order.flush() == []


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError):
        ConsoleLines(hold_ms=-1)


# -- the shell: its timer releases a place at the bound, in session time ------------------------------------


class TimedStream(io.StringIO):
    """Records the trio time at which each line is written."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def write(self, s: str) -> int:
        for line in s.splitlines():
            self.times.append((trio.current_time(), line))
        return super().write(s)


async def run_console(events_at: list[tuple[float, Event]], hold_ms: int) -> TimedStream:
    stream = TimedStream()

    async def source(ctx: ActorContext) -> None:
        with ctx.inbox:
            start = trio.current_time()
            for at, event in events_at:
                await trio.sleep_until(start + at)
                await ctx.publish(event)

    with trio.fail_after(30):
        outcome = await run_session(
            [ActorSpec(name="source", consumes=(), shell=source), console_actor(stream=stream, rich=False, hold_ms=hold_ms)],
            bus=Bus(clock=TrioClock()),
            end_when=["source"],
        )
    assert outcome.ok
    return stream


async def test_the_console_actor_prints_in_conversation_order(autojump_clock: trio.abc.Clock) -> None:
    events_at: list[tuple[float, Event]] = [(0.0, user("u1"))]
    events_at += [(0.3, e) for e in weather_call()]
    events_at += [(0.8, TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"))]
    events_at += [(1.2, e) for e in reply()]
    stream = await run_console(events_at, hold_ms=3000)
    assert stream.getvalue().splitlines() == [*EXPECTED, "[session  ] ending: end of input"]


async def test_the_console_actor_releases_a_late_turn_at_the_bound(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    events_at: list[tuple[float, Event]] = [(0.0, user("u1"))]
    events_at += [(0.3, e) for e in weather_call()]
    events_at += [(10.0, TranscriptResolved(item_id="u1", text="what is the weather like in paris", via="event"))]
    stream = await run_console(events_at, hold_ms=2000)
    lines = [(round(t - start, 3), line) for t, line in stream.times]
    assert lines[:4] == [  # printed by the shell's timer 2 s after the tool call queued, not by a later event
        (2.3, "[user     ] (transcript pending)  (u1)"),
        (2.3, EXPECTED[1]),
        (2.3, EXPECTED[2]),
        (2.3, EXPECTED[3]),
    ]
    assert lines[4] == (10.0, EXPECTED[0])
