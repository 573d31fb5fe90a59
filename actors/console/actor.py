"""Console actor: the live conversation as the user sees it.

Consumes: the conversation events of the projection (``PROJECTION_EVENTS``; the text deltas only to know what
was said of a message cut before its text was done, by a lost connection: a reply is printed when it is done,
never word by word) and the notices (``NOTICE_EVENTS``: session
ready/ending/failed, actor failures, drops, server errors, protocol violations, unknown events, unexpected
closes, and the reconnect lifecycle of actors/console/connection.py: connection lost, reconnect attempt
failed, reconnected, re-seeded, held audio sent, old connection retired, resumed from a journal). Emits nothing: it is an output, not an edge, and has no core to replay.

It folds every event into a ``Conversation`` (the caller may pass its own, to print ``final_summary`` at
the end) and prints the lines of ``format_line(env, conversation)`` in conversation order
(``actors.console.order``: a user turn's line is reserved when its item is added and filled when its
transcript resolves, so it comes before the tool call and the reply that answer it; every message item and
function call of a response is its own line, in the server's order; the wait is bounded by
``hold_ms``, timed here with the bus clock): colours and roles with rich on a terminal, plain lines when the
stream is not a TTY, nothing with ``quiet`` (the conversation is still folded).

Buffer and drop policy: an inbox of 1024 events; nothing it consumes is droppable, so a stalled stdout
eventually slows the producers rather than losing what the user should see. It never sees audio.
At end of input it prints what is left in its inbox, then any line still waiting for a transcript (as
pending), and returns; on cancellation it stops at once (lines are flushed as they are written; a line
still waiting is lost, which only a cancelled drain can cause).
"""

from __future__ import annotations

import math
import sys
from typing import TextIO

import trio
from rich.console import Console
from rich.text import Text

from actors.console.format import LABEL_STYLES, NOTICE_EVENTS
from actors.console.lines import label_of
from actors.console.order import HOLD_MS, ConsoleLines
from events.envelope import Envelope
from pipeline.projections.conversation import PROJECTION_EVENTS, Conversation
from pipeline.runtime import ActorContext, ActorSpec

__all__ = ["CONSUMES", "NAME", "console_actor"]

NAME = "console"
CONSUMES = PROJECTION_EVENTS | NOTICE_EVENTS
CAPACITY = 1024


class _Printer:
    def __init__(self, stream: TextIO, rich: bool) -> None:
        self.stream = stream
        self.console = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True) if rich else None

    def __call__(self, line: str) -> None:
        if self.console is None:
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        label = label_of(line)
        text = Text(line)
        if label:
            text.stylize(LABEL_STYLES.get(label, ""), 0, 11)
            if label in ("error", "warning", "dropped", "notice"):
                text.stylize(LABEL_STYLES[label], 11)
        self.console.print(text)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console_actor(
    *,
    quiet: bool = False,
    stream: TextIO | None = None,
    rich: bool | None = None,
    conversation: Conversation | None = None,
    hold_ms: int = HOLD_MS,
) -> ActorSpec:
    """``stream`` defaults to stdout; ``rich=None`` uses colours when the stream is a terminal; ``hold_ms``
    bounds how long lines wait behind a user turn whose transcript has not come yet."""
    conv = conversation if conversation is not None else Conversation()
    order = ConsoleLines(hold_ms=hold_ms)  # validated here, before anything starts

    async def shell(ctx: ActorContext) -> None:
        out = stream if stream is not None else sys.stdout
        printer = _Printer(out, _isatty(out) if rich is None else rich)
        clock = ctx.bus.clock

        def show(lines: list[str]) -> None:
            if not quiet:
                for line in lines:
                    printer(line)

        async def next_envelope(deadline: int | None) -> Envelope | None:
            """The next envelope, or None when ``deadline`` (bus clock) passes first. What is already queued
            always comes first: its own timestamp decides whether a reserved line was due before it."""
            if deadline is not None:
                try:
                    env = ctx.inbox.receive_nowait()
                except trio.WouldBlock:
                    pass
                else:
                    await trio.lowlevel.cancel_shielded_checkpoint()  # let others run; the envelope is ours
                    return env
            wait_s = math.inf if deadline is None else max(0.0, (deadline - clock.now_ns()) / 1e9)
            with trio.move_on_after(wait_s):
                return await ctx.inbox.receive()
            return None

        with ctx.inbox:
            while True:
                deadline = order.deadline_ns
                try:
                    env = await next_envelope(deadline)
                except trio.EndOfChannel:
                    break
                if env is None:  # a reserved user line is due: print it as pending, and what waited behind it
                    show(order.expire(max(clock.now_ns(), deadline or 0)))
                    continue
                conv.apply(env)
                if not quiet:
                    show(order.feed(env, conv))
            show(order.flush(conv))

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=CAPACITY)
