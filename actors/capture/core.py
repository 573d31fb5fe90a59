"""Script core: the turn-taking of a scripted user (which line to speak next, and when).

Theory of operation. The scripted user speaks line 0 as soon as the session is ready. After starting a line
it waits until the server has heard it (``AudioCommitted``: server VAD ended the user turn); from then on the
assistant is answering. The next line starts

- for a plain line: when the answer is over (``TurnEnded``, published by the conductor once the assistant's
  final response is done and its audio played);
- for a barge-in line (``[barge MS] text``): as soon as ``PlaybackProgress.played_ms >= MS`` for an item the
  assistant plays while answering, i.e. the user talks over the answer. If the answer ends before reaching
  ``MS`` played, the line is spoken at ``TurnEnded`` like a plain one, so a short answer cannot stall the
  script.

Requiring the commit first is what makes a ``TurnEnded`` or progress report count as the answer to *this*
line: the interrupted answer's leftovers (its progress reports, a turn end for the cancelled response) all
come before the barge-in line has been committed. After the last line's answer the core emits
``ScriptFinished``. A first line marked barge-in is spoken at session start like a plain one.

States: WAITING_FOR_SESSION -> LINE_SENT -> ANSWERING -> (LINE_SENT ...) -> FINISHED.
Pure: no I/O, no clock. Capture from a file or microphone has no script; replay then uses ``IdleCore``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors.capture.events import ScriptFinished, ScriptLineStarted
from actors.capture.script import DEMO_SCRIPT, ScriptLine, parse_script
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackProgress, SessionReady, TurnEnded
from events.protocol import AudioCommitted


class ScriptState(enum.Enum):
    WAITING_FOR_SESSION = "waiting_for_session"
    LINE_SENT = "line_sent"  # the current line is being spoken; the server has not committed it yet
    ANSWERING = "answering"  # the server heard the line; the assistant is answering it
    FINISHED = "finished"


class ScriptCore:
    def __init__(self, lines: Iterable[str | ScriptLine]) -> None:
        self.lines = parse_script(lines)
        self.state = ScriptState.WAITING_FOR_SESSION
        self.current = -1  # index of the line last started

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ScriptCore:
        return cls(config.get("script") or DEMO_SCRIPT)

    def handle(self, env: Envelope) -> Sequence[Event]:
        event = env.event
        if self.state is ScriptState.WAITING_FOR_SESSION and isinstance(event, SessionReady):
            return self._next_line()
        if self.state is ScriptState.LINE_SENT and isinstance(event, AudioCommitted):
            self.state = ScriptState.ANSWERING
            return []
        if self.state is ScriptState.ANSWERING:
            if isinstance(event, TurnEnded):
                return self._next_line()
            if isinstance(event, PlaybackProgress):
                following = self._following()
                if following is not None and following.barge_at_ms is not None:
                    if event.played_ms >= following.barge_at_ms:
                        return self._next_line()
        return []

    def _following(self) -> ScriptLine | None:
        index = self.current + 1
        return self.lines[index] if index < len(self.lines) else None

    def _next_line(self) -> list[Event]:
        line = self._following()
        if line is None:
            self.state = ScriptState.FINISHED
            return [ScriptFinished(lines=len(self.lines))]
        self.current += 1
        self.state = ScriptState.LINE_SENT
        return [ScriptLineStarted(index=self.current, text=line.text, barge_at_ms=line.barge_at_ms)]


class IdleCore:
    """The capture core when there is no script (file, microphone, generator): it decides nothing."""

    def handle(self, env: Envelope) -> Sequence[Event]:
        return []


def capture_core_from_config(config: Mapping[str, Any]) -> ScriptCore | IdleCore:
    """Replay's view of capture: the script core for ``input == "script"`` (lines from ``script``, the demo
    when empty), otherwise a core that emits nothing."""
    if config.get("input", "script") == "script":
        return ScriptCore.from_config(config)
    return IdleCore()
