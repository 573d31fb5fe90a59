"""Summariser core: old turns become one system message at the root; the items it replaces are deleted.

Theory of operation
-------------------
The core folds its own ``Conversation`` (pipeline/projections/conversation.py) from every envelope it is given, then
decides. One summary at a time; the phase says where it is::

    IDLE ──response.done, window ≥ trigger, > keep_last_turns turns, something to summarise──┐ SummaryStarted
     ▲                                                                                         │
     │      AWAITING_TRANSCRIPTS ──all candidate transcripts settled, or :transcripts timer──► │
     │                                                                                         ▼
     ├──SummaryFailed / empty text──(SummaryAbandoned, same id next time)────────────── GENERATING
     │                                                                                         │ SummaryGenerated
     ├──error on our create / :ack timer──(SummaryAbandoned, nothing deleted)────────── INSERTING
     │                                                                                         │ item.added sum_NNN
     └──every delete acknowledged, refused, or :ack timer──(SummaryApplied)──────────── DELETING

* Candidates are fixed when a summary starts: every item but those of the last ``keep_last_turns`` turns. A
  turn is one user message, or everything the assistant did in answer to it (its message items, a spoken
  preamble included, its tool calls and their outputs: the current models put several items in one
  response), so the kept turns are the last question with its whole answer, never an answer without its
  question. A function call stays with its output: a call whose output is kept (or has not arrived) is kept
  too, so the server never holds an output whose call was deleted.
* A user turn whose transcript is pending is waited for, at most ``summary_transcript_wait_ms``. A turn
  with no text when the summary is requested (transcript unavailable, still pending after the wait, an
  assistant item without a transcript) is **kept verbatim**: never deleted unsummarised. Kept turns end up
  after the summary, in their order.
* When no candidate has text other than a previous summary, nothing happens: no empty summary is inserted
  and nothing is deleted. A previous summary (``sum_NNN``) among the candidates is folded into the new one
  and replaced with the rest.
* The summary is created at the root (``previous_item_id: "root"``) with id ``sum_001``, ``sum_002``...; the
  deletes are sent only after the server's ``conversation.item.added`` for it, so nothing is deleted unless
  its summary is in place. An id is reused only when its attempt ended before the create was sent.
* Every wait is a timer keyed by the attempt (``summariser:<attempt>:transcripts``/``:ack``/``:deletes``): a stale
  expiry is ignored. Client ``event_id``s are ``summariser_0001``...; a server ``error`` naming the create
  abandons the attempt, one naming a delete leaves that item in place (reported in ``SummaryApplied``).
* An abandoned attempt returns to IDLE; the next ``response.done`` over the trigger starts a new one.
* Every ``response.done`` over the trigger gets one verdict: ``SummaryStarted`` (the attempt then ends in
  ``SummaryApplied`` or ``SummaryAbandoned``) or ``SummarySkipped`` with the reason (too few turns, nothing
  with a transcript, a summary already in progress). The conductor waits on it (actors/conductor/core.py).
* ``ConnectionLost`` ends the attempt in progress: waiting for transcripts, generating or inserting, it is
  ``SummaryAbandoned`` with the reason ``connection lost`` (nothing was deleted; the conversation is re-seeded
  as it was); once the summary item is in place (deleting), it is ``SummaryApplied`` with the deletes not yet
  acknowledged as undeleted (the summary is in the conversation, so in the re-seed). An attempt whose request
  went out uses up its id, so a model answer arriving later cannot be taken for the next attempt's.
* Summary ids continue after the highest ``sum_NNN`` any ``conversation.item.added`` showed (a re-seed, a
  ``--resume`` of a call that had ``sum_001``...): a resumed call writes ``sum_002`` next, never a second
  ``sum_001``.

The chat-completions request (``chat_request``): current summary models are reasoning models, which accept
no sampling ``temperature`` but the default and no ``max_tokens``; so ``temperature=0`` is sent only to models
that take it (gpt-4o-mini and the other pre-reasoning chat models), and the output is bounded with
``max_completion_tokens`` (it counts reasoning tokens too), which every current chat model accepts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

from events import commands
from events.base import Event
from events.connection import ConnectionLost
from events.envelope import Envelope
from events.protocol import ItemAdded, ItemDeleted, ResponseDone, ServerError
from events.runtime import TimerCancelled, TimerFired, TimerRequested
from events.summary import (
    SummaryAbandoned,
    SummaryApplied,
    SummaryFailed,
    SummaryGenerated,
    SummaryRequested,
    SummarySkipped,
    SummaryStarted,
)
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.models import DEFAULT_SUMMARY_MODEL
from pipeline.projections.conversation import Conversation, Turn
from pipeline.projections.seed import summary_number

NAME = "summariser"
SUMMARY_PREFIX = "sum_"
STYLES = ("paragraph", "bullets", "json")
CONNECTION_LOST = "connection lost"
MAX_COMPLETION_TOKENS = 4096  # a summary is a paragraph; the bound leaves room for a reasoning model's thinking
# chat models that take a sampling temperature (the reasoning models, o-series and gpt-5 onwards, do not)
_REASONING_CHAT = re.compile(r"^(o\d|gpt-5)")

_STYLE_INSTRUCTIONS = {
    "paragraph": "as one concise paragraph",
    "bullets": "as a short list of bullet points, one line each, starting with '- '",
    "json": (
        'as a JSON object with the keys "topics", "facts" and "open_requests", each a list of short strings; '
        "output only the JSON"
    ),
}


class Phase(enum.Enum):
    IDLE = "idle"
    AWAITING_TRANSCRIPTS = "awaiting_transcripts"
    GENERATING = "generating"
    INSERTING = "inserting"
    DELETING = "deleting"


def summary_prompt(language: str, style: str) -> str:
    """The system prompt of the summary model (the seed's, with language and style as options)."""
    return (
        "You summarise conversations between a user and a voice assistant. "
        f"Summarise the conversation below in {language}, {_STYLE_INSTRUCTIONS[style]}, so that it can be used "
        "as context for the rest of the dialogue. Keep names, places, numbers, decisions and what the user "
        "asked for, in the order they came up. A line starting with 'system:' is the summary of the earlier "
        "conversation: fold it in. Output only the summary."
    )


def takes_temperature(model: str) -> bool:
    """Whether ``model`` accepts ``temperature=0`` (reasoning chat models accept only the default)."""
    return not _REASONING_CHAT.match(model.strip().lower().removeprefix("openai/"))


def chat_request(model: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for one summary, valid for ``model``."""
    request: dict[str, Any] = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "max_completion_tokens": MAX_COMPLETION_TOKENS,
    }
    if takes_temperature(model):
        request["temperature"] = 0  # the same conversation gives the same summary
    return request


def transcript_line(turn: Turn) -> str:
    """One line per turn, role-labelled, whitespace collapsed."""
    text = " ".join((turn.text or "").split())
    if turn.kind == "function_call":
        return f"assistant: (called the tool {text})"
    if turn.kind == "function_call_output":
        return f"tool: {text}"
    return f"{turn.role}: {text}"


def is_summary(turn: Turn) -> bool:
    return turn.kind == "message" and turn.role == "system" and turn.item_id.startswith(SUMMARY_PREFIX)


def has_text(turn: Turn) -> bool:
    return turn.text is not None and bool(turn.text.strip()) and turn.status not in ("pending", "unavailable")



SUMMARY_TURNS = "exchanges"  # the config value saying what a kept turn is (RunConfig.for_cores writes it)


def exchange_turns(items: list[Turn]) -> list[list[Turn]]:
    """The conversation's items grouped in turns: each user or system message on its own, and everything
    the assistant did between two of them (messages, tool calls, tool outputs) as one turn."""
    groups: list[list[Turn]] = []
    for item in items:
        if _is_speaker(item) or not groups or _is_speaker(groups[-1][0]):
            groups.append([item])
        else:
            groups[-1].append(item)
    return groups


def _is_speaker(item: Turn) -> bool:
    return item.kind == "message" and item.role in ("user", "system")

class SummariserCore:
    def __init__(
        self,
        *,
        enabled: bool = True,
        trigger: int = 2000,
        keep_last_turns: int = 2,
        model: str = DEFAULT_SUMMARY_MODEL,
        language: str = "French",
        style: str = "paragraph",
        transcript_wait_ms: int = 3000,
        ack_timeout_ms: int = 5000,
        keep_by_exchange: bool = True,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"summary_style must be one of {', '.join(STYLES)}, not {style!r}")
        if keep_last_turns < 0:
            raise ValueError("keep_last_turns must be >= 0")
        self.enabled = enabled
        self.trigger = trigger
        self.keep_last_turns = keep_last_turns
        # a kept turn is a question or the whole answer to it; a journal recorded before that (no
        # ``summary_turns`` key in its header) counted items, and replays as it was recorded
        self.keep_by_exchange = keep_by_exchange
        self.model = model
        self.prompt = summary_prompt(language, style)
        self.transcript_wait_ms = transcript_wait_ms
        self.ack_timeout_ms = ack_timeout_ms
        self.conversation = Conversation()
        self.phase = Phase.IDLE
        self._number = 1  # of the next summary id
        self._seen_number = 0  # the highest sum_NNN the server has shown (ours, a re-seed's, a resumed call's)
        self._attempt = 0
        self._commands = 0
        self._timer: str | None = None
        self._window_before: int | None = None
        self._candidates: tuple[str, ...] = ()
        self._replace: tuple[str, ...] = ()
        self._summaries: frozenset[str] = frozenset()  # previous summaries among _replace
        self._create_id: str | None = None
        self._deletes: dict[str, str] = {}  # delete event_id -> item_id, while unanswered
        self._deleted: set[str] = set()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SummariserCore:
        return cls(
            enabled=bool(config.get("summary_enabled", True)),
            trigger=int(config.get("summary_trigger", 2000)),
            keep_last_turns=int(config.get("keep_last_turns", 2)),
            keep_by_exchange=config.get("summary_turns") == SUMMARY_TURNS,
            model=str(config.get("summary_model") or DEFAULT_SUMMARY_MODEL),
            language=str(config.get("summary_language", "French")),
            style=str(config.get("summary_style", "paragraph")),
            transcript_wait_ms=int(config.get("summary_transcript_wait_ms", 3000)),
            ack_timeout_ms=int(config.get("summary_ack_timeout_ms", 5000)),
        )

    @property
    def summary_id(self) -> str:
        return f"{SUMMARY_PREFIX}{self._number:03d}"

    # -- the state machine ----------------------------------------------------------------------------------

    def handle(self, env: Envelope) -> Sequence[Event]:
        self.conversation.apply(env)
        ev = env.event
        phase = self.phase
        if isinstance(ev, ItemAdded):
            self._saw_item(ev.item_id)
        if isinstance(ev, ConnectionLost):
            return self._on_connection_lost()
        if isinstance(ev, ResponseDone):
            return self._on_response_done(ev)
        if isinstance(ev, TimerFired):
            return self._on_timer(ev) if ev.key == self._timer else []
        if phase is Phase.AWAITING_TRANSCRIPTS and isinstance(ev, TranscriptResolved | TranscriptUnavailable | ItemDeleted):
            return [] if self._pending_transcripts() else self._request()
        if phase is Phase.GENERATING and isinstance(ev, SummaryGenerated | SummaryFailed):
            return self._on_generated(ev) if ev.summary_id == self.summary_id else []
        if phase is Phase.INSERTING:
            if isinstance(ev, ItemAdded) and ev.item_id == self.summary_id:
                return self._delete_replaced()
            if isinstance(ev, ServerError) and ev.client_event_id is not None and ev.client_event_id == self._create_id:
                return self._abandon(f"the server refused the summary item: {ev.one_line()}", id_used=True)
        if phase is Phase.DELETING:
            if isinstance(ev, ItemDeleted) and ev.item_id in self._deletes.values():
                self._deletes = {k: v for k, v in self._deletes.items() if v != ev.item_id}
                self._deleted.add(ev.item_id)
                return self._finish() if not self._deletes else []
            if isinstance(ev, ServerError) and ev.client_event_id in self._deletes:
                del self._deletes[ev.client_event_id]
                return self._finish() if not self._deletes else []
        return []

    def _on_response_done(self, ev: ResponseDone) -> list[Event]:
        """Every response whose window reached the trigger gets one verdict: started or skipped (and why)."""
        total = ev.total_tokens
        if not self.enabled or total is None or total < self.trigger:
            return []
        if self.phase is not Phase.IDLE:
            return [self._skip(ev, total, f"{self.summary_id} is still in progress")]
        turns = self.conversation.turns
        groups = exchange_turns(turns) if self.keep_by_exchange else [[t] for t in turns]
        if len(groups) <= self.keep_last_turns:
            return [self._skip(ev, total, f"{len(groups)} turns, and the last {self.keep_last_turns} are kept")]
        candidates = self._select(groups)
        if not any(not is_summary(t) and (has_text(t) or self._waitable(t)) for t in candidates):
            # no empty summary, no deletes
            return [self._skip(ev, total, "nothing to summarise: no older turn has a transcript")]
        self._attempt += 1
        self._window_before = total
        self._candidates = tuple(t.item_id for t in candidates)
        started = SummaryStarted(summary_id=self.summary_id, response_id=ev.response_id, window=total)
        if self._pending_transcripts():
            self.phase = Phase.AWAITING_TRANSCRIPTS
            return [started, self._start_timer("transcripts", self.transcript_wait_ms)]
        return [started, *self._request()]

    @staticmethod
    def _skip(ev: ResponseDone, total: int, reason: str) -> SummarySkipped:
        return SummarySkipped(response_id=ev.response_id, window=total, reason=reason)

    def _select(self, groups: list[list[Turn]]) -> list[Turn]:
        split = len(groups) - self.keep_last_turns
        head = [t for group in groups[:split] for t in group]
        kept = [t for group in groups[split:] for t in group]
        kept_outputs = {t.call_id for t in kept if t.kind == "function_call_output"}
        head_outputs = {t.call_id for t in head if t.kind == "function_call_output"}
        return [
            t
            for t in head
            if not (t.kind == "function_call" and (t.call_id in kept_outputs or t.call_id not in head_outputs))
        ]

    @staticmethod
    def _waitable(turn: Turn) -> bool:
        return turn.kind == "message" and turn.role == "user" and turn.status == "pending"

    def _pending_transcripts(self) -> bool:
        for item_id in self._candidates:
            turn = self.conversation.turn(item_id)
            if turn is not None and self._waitable(turn):
                return True
        return False

    def _request(self) -> list[Event]:
        turns = [t for t in map(self.conversation.turn, self._candidates) if t is not None and has_text(t)]
        if not any(not is_summary(t) for t in turns):
            # what had no transcript is kept; nothing is left to summarise (and nothing is deleted)
            return self._abandon("nothing left to summarise: the older turns have no transcript", id_used=False)
        out = self._stop_timer()
        # the previous summary first, then the turns in their order
        ordered = [t for t in turns if is_summary(t)] + [t for t in turns if not is_summary(t)]
        self._replace = tuple(t.item_id for t in turns)
        self._summaries = frozenset(t.item_id for t in turns if is_summary(t))
        messages = (
            {"role": "system", "content": self.prompt},
            {"role": "user", "content": "\n".join(transcript_line(t) for t in ordered)},
        )
        self.phase = Phase.GENERATING
        request = SummaryRequested(
            summary_id=self.summary_id, messages=messages, model=self.model, item_ids_to_replace=self._replace
        )
        return [*out, request]

    def _on_generated(self, ev: SummaryGenerated | SummaryFailed) -> list[Event]:
        if isinstance(ev, SummaryFailed):
            return self._abandon(f"the summary model failed: {ev.error}", id_used=False)
        text = ev.text.strip()
        if not text:
            return self._abandon("the summary model returned an empty summary", id_used=False)
        self._create_id = self._next_command_id()
        self.phase = Phase.INSERTING
        create = commands.item_create(self._create_id, commands.system_message(self.summary_id, text), "root")
        return [create, self._start_timer("ack", self.ack_timeout_ms)]

    def _delete_replaced(self) -> list[Event]:
        out = self._stop_timer()
        present = set(self.conversation.item_ids)
        deletes = []
        self._deletes, self._deleted = {}, set()
        for item_id in self._replace:
            if item_id in present:
                event_id = self._next_command_id()
                self._deletes[event_id] = item_id
                deletes.append(commands.item_delete(event_id, item_id))
            else:
                self._deleted.add(item_id)  # gone already (deleted by someone else meanwhile)
        self.phase = Phase.DELETING
        if not deletes:
            return [*out, *self._finish()]
        return [*out, *deletes, self._start_timer("deletes", self.ack_timeout_ms)]

    def _finish(self) -> list[Event]:
        out = self._stop_timer()
        deleted = tuple(i for i in self._replace if i in self._deleted)
        applied = SummaryApplied(
            summary_id=self.summary_id,
            replaced_turns=sum(1 for i in deleted if i not in self._summaries),
            window_before=self._window_before,
            replaced_item_ids=deleted,
            undeleted_item_ids=tuple(i for i in self._replace if i not in self._deleted),
        )
        self._number += 1
        self._reset()
        return [*out, applied]

    def _saw_item(self, item_id: str) -> None:
        """A ``sum_NNN`` in the conversation: the next id is after it (applied between attempts, so the id of
        the attempt in progress never changes under it)."""
        number = summary_number(item_id)
        if number is not None and number > self._seen_number:
            self._seen_number = number
            if self.phase is Phase.IDLE:
                self._number = max(self._number, number + 1)

    def _on_connection_lost(self) -> list[Event]:
        if self.phase is Phase.IDLE:
            return []
        if self.phase is Phase.DELETING:  # the summary is in place; what was not deleted stays
            self._deletes = {}
            return self._finish()
        return self._abandon(CONNECTION_LOST, id_used=self.phase is not Phase.AWAITING_TRANSCRIPTS)

    def _on_timer(self, ev: TimerFired) -> list[Event]:
        self._timer = None  # it fired: nothing to cancel
        if self.phase is Phase.AWAITING_TRANSCRIPTS:
            return self._request()
        if self.phase is Phase.INSERTING:
            return self._abandon(
                f"no conversation.item.added for {self.summary_id} within {self.ack_timeout_ms} ms", id_used=True
            )
        if self.phase is Phase.DELETING:
            self._deletes = {}
            return self._finish()
        return []

    def _abandon(self, reason: str, *, id_used: bool) -> list[Event]:
        out = self._stop_timer()
        abandoned = SummaryAbandoned(summary_id=self.summary_id, reason=reason)
        if id_used:  # the create was sent: the server may still add it, so that id is never reused
            self._number += 1
        self._reset()
        return [*out, abandoned]

    def _reset(self) -> None:
        self._number = max(self._number, self._seen_number + 1)
        self.phase = Phase.IDLE
        self._candidates = self._replace = ()
        self._summaries = frozenset()
        self._create_id = None
        self._deletes, self._deleted = {}, set()
        self._window_before = None

    # -- helpers --------------------------------------------------------------------------------------------

    def _next_command_id(self) -> str:
        self._commands += 1
        return f"{NAME}_{self._commands:04d}"

    def _start_timer(self, what: str, delay_ms: int) -> TimerRequested:
        self._timer = f"{NAME}:{self._attempt}:{what}"
        return TimerRequested(key=self._timer, delay_ms=delay_ms)

    def _stop_timer(self) -> list[Event]:
        if self._timer is None:
            return []
        key, self._timer = self._timer, None
        return [TimerCancelled(key=key)]
