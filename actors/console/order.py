"""Conversation order for the console: a user turn is printed before whatever answers it.

Why this exists: the server adds the user's item when it commits the speech and starts answering at once,
while the transcript comes from a separate transcription that often finishes later: after the tool call the
words asked for, after its result, sometimes after the whole reply. Printing each line as its event arrives
put ``[tool call] get_weather ...`` above ``[user] what is the weather like in paris``.

The choice: **reserve the user's line** when the item is added, and fill it when the transcript's outcome
arrives. Every line after a reserved place waits behind it; lines before it are not held. Compared with
holding all output "until the transcript resolves", a reservation is keyed by its item: the outcome fills
exactly its own place (a late transcript for turn 1 cannot land in turn 2's place), several pending turns
each keep theirs, and a turn whose words are known (typed text) holds nothing. Rewriting an earlier line
in place was not an option: the console is also piped and logged as plain lines, where cursor moves are
garbage, so both modes print the same lines in the same order.

The bound is on what the reader misses, not on the transcript: a place's clock starts when the first line
queues behind it (a transcript that takes long while nothing else happens delays nothing, which is the
common case: the server cannot answer before it has recognised the words), and after ``hold_ms`` (3 s, the
transcript resolver's own first wait before it starts to retrieve) the place is printed as ``[user]
(transcript pending)`` and what waited behind it follows; the outcome is then printed when it comes, as
its own user line, with the same item id. The transcripts actor guarantees an outcome for every user item (after its retries, or ``session
ended``), so the bound only decides how long the screen may lag, never whether a turn is shown. At the end
of the session ``flush`` prints what is left, places still unfilled as pending.

Per item, not per response: a response of the current models can carry a spoken preamble ("Let me check
that."), function calls and the answer as separate items, in any order. Each message item is its own line,
each function call its own line, in the order the items were produced (preamble, tool calls, answer), all
behind the user line they answer. The same reservation keeps that order: an assistant message reserves its
line when its item is added, and the line is filled when its text is done. That matters because the text of
a message is often done late: gpt-realtime-2 sends every message's ``.done`` events batched just before
``response.done``, after the function calls that followed the preamble. A message whose text never completes
(its response cancelled before its ``.done``, or its connection lost) gets its line, with what was said and
marked ``[interrupted]``, when its response ends or the connection is lost; so an assistant place waits at
most as long as its response, and needs no clock.

Re-seeding (issue 12): the items a re-seed creates again (``ReseedPlanned``) are the old conversation coming
back; their ``conversation.item.added`` prints nothing and reserves no place (no transcript will come for
them); the re-seed is one line of its own (actors/console/connection.py).

This is pure: time comes from envelope timestamps (``feed``) and from the caller (``expire(now_ns)``, which
the console shell calls at ``deadline_ns``); no clock, no I/O, so it is tested by feeding events.
"""

from __future__ import annotations

from collections import deque

import attrs

from actors.console.format import SummaryWindow, format_line
from events.connection import ConnectionLost, ReseedPlanned
from events.envelope import Envelope
from events.protocol import AssistantTextDone, ItemAdded, ItemDeleted, ResponseDone
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import Conversation, Turn, history_line

HOLD_MS = 3000


@attrs.define
class _Place:
    """A reserved user line: ``line`` stays None until the outcome (or the bound) fills it. ``due_ns`` is set
    when something printable first waits behind it."""

    item_id: str
    line: str | None = None
    due_ns: int | None = None


_DROPPED = ""  # the line of a place whose item went away (deleted before its text was done): nothing printed


class ConsoleLines:
    """Turns envelopes into console lines in conversation order (see the module docstring)."""

    def __init__(self, *, hold_ms: int = HOLD_MS) -> None:
        if hold_ms < 0:
            raise ValueError("hold_ms must be >= 0")
        self.hold_ns = hold_ms * 1_000_000
        self._queue: deque[_Place | str] = deque()
        self._open: dict[str, _Place] = {}  # reserved places not yet filled, in the order they were made
        self._seen: set[str] = set()  # user items that got a place, or whose line was printed without one
        self._answered: set[str] = set()  # user items whose outcome line is out (or in its place)
        self._summaries = SummaryWindow()
        self._reseeding: set[str] = set()  # ids a re-seed creates again: their item.added prints nothing
        self._unsaid: dict[str, _Place] = {}  # assistant messages whose text is not done yet: their places

    @property
    def deadline_ns(self) -> int | None:
        """When the oldest unfilled place is due (``expire`` then releases it), or None."""
        return min((place.due_ns for place in self._open.values() if place.due_ns is not None), default=None)

    @property
    def waiting(self) -> int:
        """Lines (and places) not printed yet."""
        return len(self._queue)

    def feed(self, env: Envelope, conversation: Conversation) -> list[str]:
        """The lines ready to print after ``env``; call it after ``conversation.apply(env)``."""
        ev = env.event
        if isinstance(ev, ReseedPlanned):
            self._reseeding = set(ev.items)
        if isinstance(ev, ItemAdded) and ev.item_id in self._reseeding:
            self._reseeding.discard(ev.item_id)  # the old conversation coming back, not a new line
        elif isinstance(ev, ItemAdded) and ev.item_type == "message" and ev.role == "user":
            self._reserve(ev.item_id, env.t_ns, conversation)
        elif isinstance(ev, TranscriptResolved | TranscriptUnavailable):
            self._outcome(ev.item_id, format_line(env, conversation), env.t_ns)
        else:
            if isinstance(ev, ItemAdded) and ev.item_type == "message" and ev.role == "assistant" and not ev.text:
                self._unsaid.setdefault(ev.item_id, _Place(item_id=ev.item_id))
                self._queue.append(self._unsaid[ev.item_id])
                return self.expire(env.t_ns)
            if isinstance(ev, AssistantTextDone) and ev.item_id in self._unsaid:
                self._fill(self._unsaid.pop(ev.item_id), format_line(env, conversation), env.t_ns)
                return self.expire(env.t_ns)
            if isinstance(ev, ItemDeleted) and ev.item_id in self._unsaid:
                self._unsaid.pop(ev.item_id).line = _DROPPED
            elif isinstance(ev, ResponseDone | ConnectionLost):
                self._fill_unfinished(conversation, env.t_ns, final=False)
            for line in (format_line(env, conversation), self._summaries.line(env)):
                if line is not None:
                    self._queue.append(line)
                    self._start_clocks(env.t_ns)
        return self.expire(env.t_ns)

    def _fill(self, place: _Place, line: str | None, t_ns: int) -> None:
        place.line = line if line is not None else _DROPPED
        if place.line:
            self._start_clocks(t_ns)

    def _fill_unfinished(self, conversation: Conversation, t_ns: int, *, final: bool) -> None:
        """The assistant messages whose text will never be done (their response ended, or the connection did,
        or the session: ``final``) get their line now, with what was said of them."""
        for item_id, place in list(self._unsaid.items()):
            turn = conversation.turn(item_id)
            if turn is None:
                del self._unsaid[item_id]
                self._fill(place, None, t_ns)
            elif final or turn.status not in ("streaming", "pending"):
                del self._unsaid[item_id]
                self._fill(place, history_line(turn), t_ns)

    def expire(self, now_ns: int) -> list[str]:
        """Fill every place due by ``now_ns`` with its pending line; return what can be printed now."""
        for item_id, place in list(self._open.items()):
            if place.due_ns is not None and place.due_ns <= now_ns:
                del self._open[item_id]
                place.line = _pending_line(item_id)
        return self._ready()

    def flush(self, conversation: Conversation | None = None) -> list[str]:
        """Everything left, at the end of the session: unfilled user places print as pending, unfinished
        assistant messages with what was said of them."""
        for item_id, place in self._open.items():
            place.line = _pending_line(item_id)
        self._open.clear()
        self._fill_unfinished(conversation or Conversation(), 0, final=True)
        return self._ready()

    def _reserve(self, item_id: str, t_ns: int, conversation: Conversation) -> None:
        if item_id in self._seen:
            return  # added again, or its outcome came first and was printed then
        self._seen.add(item_id)
        place = _Place(item_id=item_id)
        turn = conversation.turn(item_id)
        if turn is not None and turn.status == "resolved":  # typed text: the words are known now
            place.line = history_line(turn)
            self._answered.add(item_id)
            self._queue.append(place)
            self._start_clocks(t_ns)
        else:
            self._queue.append(place)
            self._open[item_id] = place

    def _outcome(self, item_id: str, line: str | None, t_ns: int) -> None:
        if item_id in self._answered or line is None:
            return  # exactly one line per outcome (typed text resolved at once, a repeat)
        self._answered.add(item_id)
        self._seen.add(item_id)
        place = self._open.get(item_id)
        if place is not None:
            place.line = line
            self._start_clocks(t_ns, before=place)
            del self._open[item_id]
        else:  # no place (the outcome came before its item) or the bound already printed it as pending
            self._queue.append(line)
            self._start_clocks(t_ns)

    def _start_clocks(self, t_ns: int, *, before: _Place | None = None) -> None:
        """Something printable now waits behind the open places (all of them, or those ahead of ``before``):
        the bound of each starts now, unless it already runs."""
        for place in self._open.values():  # in queue order
            if before is not None and place is before:
                break
            if place.due_ns is None:
                place.due_ns = t_ns + self.hold_ns

    def _ready(self) -> list[str]:
        out: list[str] = []
        while self._queue:
            head = self._queue[0]
            if isinstance(head, str):
                out.append(head)
            elif head.line is not None:
                if head.line != _DROPPED:
                    out.append(head.line)
            else:
                break
            self._queue.popleft()
        return out


def _pending_line(item_id: str) -> str:
    return history_line(Turn(item_id=item_id, role="user", text=None, status="pending", kind="message"))
