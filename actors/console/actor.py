"""Console actor: the live conversation as the user sees it.

Consumes: the conversation events of the projection (``PROJECTION_EVENTS`` without the text deltas: the
console prints a reply when it is done, not word by word) and the notices (``NOTICE_EVENTS``: session
ready/ending/failed, actor failures, drops, server errors, protocol violations, unknown events, unexpected
closes). Emits nothing: it is an output, not an edge, and has no core to replay.

It folds every event into a ``Conversation`` (the caller may pass its own, to print ``final_summary`` at
the end) and prints ``format_line(env, conversation)``: colours and roles with rich on a terminal, plain
lines when the stream is not a TTY, nothing with ``quiet`` (the conversation is still folded).

Buffer and drop policy: an inbox of 1024 events; nothing it consumes is droppable, so a stalled stdout
eventually slows the producers rather than losing what the user should see. It never sees audio.
At end of input it prints what is left in its inbox and returns; on cancellation it stops at once (lines are
flushed as they are written).
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

from actors.console.format import LABEL_STYLES, NOTICE_EVENTS, SummaryWindow, format_line, label_of
from events.protocol import AssistantTextDelta
from pipeline.projection import PROJECTION_EVENTS, Conversation
from pipeline.runtime import ActorContext, ActorSpec

__all__ = ["CONSUMES", "NAME", "console_actor"]

NAME = "console"
CONSUMES = (PROJECTION_EVENTS - {AssistantTextDelta}) | NOTICE_EVENTS
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
) -> ActorSpec:
    """``stream`` defaults to stdout; ``rich=None`` uses colours when the stream is a terminal."""
    conv = conversation if conversation is not None else Conversation()

    async def shell(ctx: ActorContext) -> None:
        out = stream if stream is not None else sys.stdout
        printer = _Printer(out, _isatty(out) if rich is None else rich)
        summaries = SummaryWindow()
        with ctx.inbox:
            async for env in ctx.inbox:
                conv.apply(env)
                if quiet:
                    continue
                for line in (format_line(env, conv), summaries.line(env)):
                    if line is not None:
                        printer(line)

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=CAPACITY)
