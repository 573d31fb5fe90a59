"""Scripted user lines: parsing and the demo conversation.

A script is a list of lines. A plain line is spoken when the assistant has finished answering the previous
one; a line written ``[barge 1500] text`` is spoken over the assistant, once 1500 ms of its answer have been
played.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

_BARGE = re.compile(r"^\[\s*barge\s+(\d+)\s*\]\s*(.*)$", re.IGNORECASE)


class ScriptError(ValueError):
    """A script line cannot be parsed; ``str(error)`` is one line naming the line and the problem."""


@attrs.frozen(kw_only=True)
class ScriptLine:
    text: str
    barge_at_ms: int | None = None

    @property
    def barges_in(self) -> bool:
        return self.barge_at_ms is not None


def parse_script_line(text: str) -> ScriptLine:
    """``"hello"`` -> plain line; ``"[barge 1500] stop"`` -> spoken once 1500 ms of the answer played."""
    line = text.strip()
    if line.startswith("["):
        match = _BARGE.match(line)
        if match is None:
            raise ScriptError(f"script line {text!r}: expected '[barge MS] text'")
        words = match.group(2).strip()
        if not words:
            raise ScriptError(f"script line {text!r}: nothing to say after the barge marker")
        return ScriptLine(text=words, barge_at_ms=int(match.group(1)))
    if not line:
        raise ScriptError("script line is empty")
    return ScriptLine(text=line)


def parse_script(lines: Iterable[str | ScriptLine]) -> tuple[ScriptLine, ...]:
    return tuple(line if isinstance(line, ScriptLine) else parse_script_line(line) for line in lines)


# The demo conversation, in plain words: the embedded server's recogniser (Whisper) hears ordinary speech, so no
# line is phrased for it. The short story is generated in under 3 s (server pacing), so the barge-in at 5 s cuts
# only played audio. That each line is heard word for word is checked in tests/actors/capture/test_demo_heard.py.
DEMO_SCRIPT: tuple[str, ...] = (
    "hello there",
    "what is the weather like in Paris",
    "what time is it",
    "remind me to call mom in five minutes",
    "tell me a short story",
    "[barge 5000] okay stop",
    "what did we talk about first",
    "thank you, goodbye",
)
