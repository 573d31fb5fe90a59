from __future__ import annotations

import io

import trio

from actors.console.actor import console_actor
from actors.console.format import final_summary
from events.base import Event
from events.playback import SessionReady
from events.protocol import AssistantAudioDelta, AssistantTextDone, ItemAdded, ResponseDone, ServerError
from events.transcripts import TranscriptResolved
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.projections.conversation import Conversation
from pipeline.runtime import ActorContext, ActorSpec, run_session

EVENTS: list[Event] = [
    SessionReady(session_id="sess_1"),
    ItemAdded(item_id="u1", item_type="message", role="user", status="completed"),
    ItemAdded(item_id="a1", previous_item_id="u1", item_type="message", role="assistant"),
    AssistantAudioDelta(response_id="r1", item_id="a1", pcm=b"\0\0" * 480),
    AssistantTextDone(response_id="r1", item_id="a1", modality="audio", text="Hello!"),
    ResponseDone(response_id="r1", status="completed", usage={"total_tokens": 42}),
    TranscriptResolved(item_id="u1", text="Hi there", via="event"),
    ServerError(code="oops", message="something odd"),
]

PLAIN = [  # the user's line first, though its transcript came after the reply
    "[session  ] ready (sess_1)",
    "[user     ] Hi there  (u1)",
    "[assistant] Hello!  (a1)",
    "[tokens   ] window 42 tokens (r1, completed)",
    "[error    ] server error [oops]: something odd",
    "[session  ] ending: end of input",  # published by the supervisor when the source is done
]


def source() -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for ev in EVENTS:
                await ctx.publish(ev)

    return ActorSpec(name="source", consumes=(), shell=shell)


async def run(console: ActorSpec) -> None:
    with trio.fail_after(10):
        outcome = await run_session([source(), console], bus=Bus(clock=TrioClock()), end_when=["source"])
    assert outcome.ok


async def test_plain_lines_when_the_stream_is_not_a_terminal(autojump_clock: trio.abc.Clock) -> None:
    stream = io.StringIO()
    conversation = Conversation()
    await run(console_actor(stream=stream, conversation=conversation))
    assert stream.getvalue().splitlines() == PLAIN
    assert "\x1b[" not in stream.getvalue()
    # the caller's conversation was folded: the CLI prints its summary at the end
    assert final_summary(conversation) == "1 user turn, 1 assistant reply; 1 response; token window 42 (peak 42)"


async def test_rich_output_colours_the_same_lines(autojump_clock: trio.abc.Clock) -> None:
    stream = io.StringIO()
    await run(console_actor(stream=stream, rich=True))
    text = stream.getvalue()
    assert "\x1b[" in text
    plain = [line for line in (strip_ansi(x) for x in text.splitlines()) if line]
    assert plain == PLAIN


async def test_quiet_prints_nothing_but_still_folds(autojump_clock: trio.abc.Clock) -> None:
    stream = io.StringIO()
    conversation = Conversation()
    await run(console_actor(quiet=True, stream=stream, rich=True, conversation=conversation))
    assert stream.getvalue() == ""
    assert [t.text for t in conversation.turns] == ["Hi there", "Hello!"]


def strip_ansi(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "\x1b":
            i = s.index("m", i) + 1
            continue
        out.append(s[i])
        i += 1
    return "".join(out)
