"""Conductor core: session set-up, turn-taking, and the end of the session.

Theory of operation
-------------------
Session set-up. The server speaks first (``session.created``); the conductor answers with one
``session.update`` carrying the session object of the run (config key ``session``, filled by the CLI from
``RunConfig.session_object(tools)``), and the first ``session.updated`` makes the session ready
(``SessionReady``: capture may start). An ``error`` naming our ``session.update`` fails the session. A
session resumed from an earlier call's journal (config ``seed``, the items ``pipeline.resume`` built, and
``parent``) seeds the conversation first (reconnect.py: ``ReseedPlanned``, the creates,
``ConversationReseeded(resumed_from=...)``) and is ready only then.

::

    CONNECTING ──created──► CONFIGURING ──updated──► READY ──CaptureEnded──► DRAINING ◄──busy──┐
                                 │         └─(seed)─► seeding ─reseeded─┘            idle │    │
                                 └──error on our update──► ENDED                          ▼    │
                                                                   ENDED ◄──linger── LINGERING ──┘
    any phase ──fatal server error, or a lost connection that cannot be replaced──► ENDED
                 (SessionFailed + SessionEnding)
    DRAINING/LINGERING ──end_timeout──► ENDED

    and, beside the phase, the connection (reconnect.py ``LinkState``):
    UP ──loss──► WAITING ──Reconnected──► CONFIGURING ──updated──► SEEDING ──reseeded──► UP
    UP ──recycle due, quiet moment──► WAITING (recycle) ...                               ► UP

Turn-taking. A ``response.done`` ends the assistant's turn when it is the last response of the turn: it is
not ``in_progress`` and has no function call (a function call means another response follows the tool
output). The turn ends (``TurnEnded``) once every assistant audio item of that response has been played
(``PlaybackFinished``, which may come before or after ``response.done``), or at once when it had no audio.
"Audio items" are the items that had at least one ``AssistantAudioDelta``: an item that never received a
byte will never be reported played. An out-of-band response (``ResponseCreated.out_of_band``: created with
``conversation: "none"``, e.g. a classification a user asked for) answers no turn: its ``response.done`` ends
nothing, but while it is open the session is not idle.

Summaries. When the session has a summariser (config ``summariser``, set by the live session when it runs
one, and ``summary_enabled``), every ``response.done`` whose window reached ``summary_trigger`` gets a verdict
from it (``SummaryStarted`` or ``SummarySkipped``, events/summary.py), and a started summary ends in
``SummaryApplied`` or ``SummaryAbandoned``. Until then the summariser is busy: a ``TurnEnded`` that falls due
is held back and released when it is done, and the session is not idle. So the scripted user does not talk
over a summary being applied (the next response's context is the same whatever the scheduling: runs are
comparable), and a session does not end with a summary half applied. The summariser's own timers bound
the wait.

End of session. After ``CaptureEnded`` the session may end when it is idle: nobody is speaking, no
response is open or waiting for its audio to be played, the assistant has answered the last user input
(the last ``TurnEnded`` belongs to a response created after it), every user item has its transcript
outcome, the summariser is not busy, and no reconnect or re-seed is under way. Idle requests a short linger timer (``conductor:linger``) so that a late event can still
arrive; anything that makes the session busy again cancels it. A hard bound (``conductor:end_timeout``,
requested at ``CaptureEnded``) ends the session even if the last answer never comes.

Connection losses (reconnect.py has the whole story). With ``reconnect`` on, a connection closed by the
other side or the server's ``session_expired`` is a loss, not the end: ``ConnectionLost`` (the open responses
``interrupted``: they are forgotten here, they will never finish, and nobody is speaking any more),
``ReconnectRequested`` with bounded exponential backoff, the session configuration again on the new
connection, and the re-seed from the conductor's own folded ``Conversation`` (it consumes
``PROJECTION_EVENTS``) with ``pipeline.projections.seed.build_seed``. Items the re-seed creates are the old
conversation coming back: never a new user turn, never an outcome to wait for. The user turns whose
transcript is missing are seeded as the audio the server committed for them (audio.py: the conductor mirrors
the uploader's audio gate, so it knows what was sent on which connection). After a reconnect's re-seed, if
the last user turn was seeded but its answer was lost (interrupted or never created) and the model had not
called a tool since that turn (then the answer is the tools core's: it asks again for the response that
follows its outputs), the conductor asks for the answer again (``response.create``). Recycle: after ``max_session_minutes`` the connection is renewed at the next
quiet moment (READY, nothing open, nobody speaking, no tool running, no transcript pending, no summary
running), make before break.

Fatal conditions (any phase): a server error with a code in ``FATAL_CODES`` (``session_expired`` only when
reconnecting is off), a rejected ``session.update``, a loss with reconnect off, or reconnecting given up
(bounded attempts, an HTTP 401/403); all end in ``SessionFailed(reason)`` and ``SessionEnding(reason)``, one
line. After ``ENDED`` the conductor emits nothing more.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from actors.conductor.audio import UserAudio
from actors.conductor.reconnect import (
    RECYCLE_KEY,
    RESEED_KEY,
    LinkState,
    Reconnector,
    ReconnectPolicy,
    closed_line,
)
from actors.conductor.reseed import resumed_plan
from actors.uploader.gate import GATE_EVENTS
from events import commands
from events.audio import AudioChunk, CaptureEnded
from events.base import Event
from events.connection import ConnectionLost, ConversationReseeded, Reconnected, ReconnectFailed
from events.envelope import Envelope
from events.playback import PlaybackFinished, SessionFailed, SessionReady, TurnEnded
from events.protocol import (
    AssistantAudioDelta,
    ConnectionClosed,
    FunctionCallRequested,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
)
from events.runtime import SessionEnding, TimerCancelled, TimerFired, TimerRequested
from events.summary import SummaryAbandoned, SummaryApplied, SummarySkipped, SummaryStarted
from events.tools import ToolRejected, ToolResult, ToolRunRequested
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.config import RunConfig
from pipeline.projections.conversation import PROJECTION_EVENTS, Conversation
from pipeline.projections.seed import SeedPlan, build_seed

NAME = "conductor"
LINGER_KEY = f"{NAME}:linger"
END_TIMEOUT_KEY = f"{NAME}:end_timeout"
FATAL_CODES = frozenset({"session_expired", "invalid_api_key", "insufficient_quota"})
END_OF_INPUT = "end of input"
END_TIMED_OUT = "end of input (timed out waiting for the last answer)"
__all__ = ["END_OF_INPUT", "END_TIMED_OUT", "RECYCLE_KEY", "RESEED_KEY", "ConductorCore", "Phase"]


class Phase(enum.Enum):
    CONNECTING = "connecting"
    CONFIGURING = "configuring"
    READY = "ready"
    DRAINING = "draining"  # capture ended; waiting for the last answer and transcripts
    LINGERING = "lingering"  # idle; the linger timer runs
    ENDED = "ended"


@attrs.define
class _AwaitingPlayback:
    """A final response whose audio is still being played."""

    status: str
    created_seq: int | None
    items: set[str]


class ConductorCore:
    def __init__(
        self,
        *,
        session: Mapping[str, Any],
        end_linger_ms: int = 300,
        end_timeout_ms: int = 20000,
        wait_for_playback: bool = True,
        summary_trigger: int | None = None,
        policy: ReconnectPolicy | None = None,
        seed: Sequence[Mapping[str, Any]] = (),
        resumed_from: str | None = None,
        hold_ms: int = 5000,
    ) -> None:
        self.session = dict(session)
        self.end_linger_ms = end_linger_ms
        self.end_timeout_ms = end_timeout_ms
        self.wait_for_playback = wait_for_playback
        self.phase = Phase.CONNECTING
        self.session_id: str | None = None
        self._counter = 0
        self._update_id: str | None = None
        # turn-taking
        self._speaking = False
        self._awaiting_answer = False
        self._answered = False  # a final response created after the last user input is done
        self._last_input_seq = -1
        self._last_user_item: str | None = None  # the last user input, when it was a committed item
        self._open: dict[str, int] = {}  # response_id -> seq of response.created
        self._out_of_band: dict[str, int] = {}  # open out-of-band responses: no turn of theirs to end
        self._audio: dict[str, set[str]] = {}  # response_id -> items that had audio
        self._item_response: dict[str, str] = {}  # audio item -> its response
        self._played_early: set[str] = set()  # items played before their response.done
        self._awaiting_playback: dict[str, _AwaitingPlayback] = {}
        self._pending_outcomes: set[str] = set()  # user items without a transcript outcome
        self._tools_running: set[str] = set()  # call ids of tool runs under way
        self._called_tools = False  # a function call since the last user input: its answer is the tools core's
        # summaries (None: no summariser in this session)
        self.summary_trigger = summary_trigger
        self._summary_verdicts: set[str] = set()  # responses over the trigger, awaiting started/skipped
        self._summary_running: str | None = None  # the summary attempt in progress
        self._held: list[Event] = []  # turn ends (TurnEnded) due while the summariser was busy
        # the connection: reconnects, re-seeds, recycles (reconnect.py) and what they need
        self.policy = policy or ReconnectPolicy()
        self.reconnect = Reconnector(self.policy, self._next_id, self.session)
        self.conversation = Conversation()
        self.user_audio = UserAudio(hold_ms=hold_ms)
        self.seed = resumed_plan(seed)  # a resumed call's seed (empty: none)
        self.resumed_from = resumed_from

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConductorCore:
        session = config.get("session")
        parent = config.get("parent")
        return cls(
            session=session if isinstance(session, Mapping) else RunConfig().session_object(),
            end_linger_ms=int(config.get("end_linger_ms", 300)),
            end_timeout_ms=int(config.get("end_timeout_ms", 20000)),
            wait_for_playback=bool(config.get("conductor_wait_for_playback", True)),
            summary_trigger=(
                int(config.get("summary_trigger", 2000))
                if config.get("summariser", False) and config.get("summary_enabled", True)
                else None
            ),
            policy=ReconnectPolicy.from_config(config),
            seed=[item for item in config.get("seed") or () if isinstance(item, Mapping)],
            resumed_from=str(parent["journal"]) if isinstance(parent, Mapping) and parent.get("journal") else None,
            hold_ms=int(config.get("reconnect_buffer_ms", 5000)),
        )

    def _next_id(self) -> str:
        self._counter += 1
        return f"{NAME}_{self._counter:04d}"

    @property
    def idle(self) -> bool:
        return not (
            self._speaking
            or self._awaiting_answer
            or self._open
            or self._out_of_band
            or self._awaiting_playback
            or self._pending_outcomes
            or self.summarising
            or self.reconnect.busy
        )

    @property
    def quiet(self) -> bool:
        """A moment to renew the connection: ready, idle, and no tool running."""
        return self.phase is Phase.READY and self.idle and not self._tools_running

    @property
    def summarising(self) -> bool:
        return bool(self._summary_verdicts) or self._summary_running is not None

    def handle(self, env: Envelope) -> Sequence[Event]:
        ev = env.event
        kind = type(ev)
        if kind is AudioChunk:  # 25 a second: the cheapest path
            self.user_audio.chunk(ev)  # type: ignore[arg-type]
            return []
        if self.phase is Phase.ENDED:
            return []
        if kind in PROJECTION_EVENTS:
            self.conversation.apply(env)
        if kind in GATE_EVENTS:
            self.user_audio.follow(ev)
        out: list[Event]
        if isinstance(ev, SessionCreated):
            out = self._on_created(ev)
        elif isinstance(ev, SessionUpdated):
            out = self._on_updated()
        elif isinstance(ev, ServerError):
            out = self._on_error(ev)
        elif isinstance(ev, ConnectionClosed):
            out = [] if ev.by_us else self._on_closed(ev)
        elif isinstance(ev, Reconnected):
            out = self.reconnect.reconnected(ev)
        elif isinstance(ev, ReconnectFailed):
            out = self._ended_if_given_up(self.reconnect.failed(ev))
        elif isinstance(ev, TimerFired):
            out = self._on_timer(ev)
        elif isinstance(ev, CaptureEnded):
            out = self._on_capture_ended()
        else:
            out = self._on_turn_event(env)
        reseeded = next((o for o in out if isinstance(o, ConversationReseeded)), None)
        if reseeded is not None:
            out += self._after_reseed(reseeded)
        if self.reconnect.recycle_due and self.quiet:
            out += self.reconnect.recycle()
        if self.phase in (Phase.DRAINING, Phase.LINGERING):
            out += self._check_end()
        return out

    # -- set-up and failure ---------------------------------------------------------------------------------

    def _on_created(self, ev: SessionCreated) -> list[Event]:
        if self.reconnect.state is LinkState.CONFIGURING:
            self.session_id = ev.session_id
            return self.reconnect.created()
        if self.phase is not Phase.CONNECTING:
            return []
        self.session_id = ev.session_id
        self._update_id = self._next_id()
        self.phase = Phase.CONFIGURING
        return [commands.session_update(self._update_id, self.session)]

    def _on_updated(self) -> list[Event]:
        resuming = bool(self.seed) and self.phase in (Phase.CONNECTING, Phase.CONFIGURING)
        if self.reconnect.state is LinkState.CONFIGURING:
            if resuming:  # the first connection was lost before the resumed call's seed was in: again
                return self.reconnect.updated(lambda: self.seed, resumed_from=self.resumed_from or "")
            return self.reconnect.updated(self._plan)
        if self.phase is not Phase.CONFIGURING:
            return []
        if resuming:  # --resume: the conversation first, then the session is ready
            return self.reconnect.seed(self.seed, resumed_from=self.resumed_from or "")
        return self._ready()

    def _ready(self) -> list[Event]:
        self.phase = Phase.READY
        return [SessionReady(session_id=self.session_id or ""), *self.reconnect.ready()]

    def _plan(self) -> SeedPlan:
        return build_seed(self.conversation, audio=self.user_audio.items)

    def _on_error(self, ev: ServerError) -> list[Event]:
        if self._update_id is not None and ev.client_event_id == self._update_id and self.phase is Phase.CONFIGURING:
            return self._fail(f"the server rejected session.update: {ev.one_line()}")
        out, failure = self.reconnect.error(ev)
        if failure is not None:
            return self._fail(failure)
        if out:
            return out
        if ev.code == "session_expired" and self.policy.enabled is not None:
            return self._lose(ev.one_line(), None, "session expired")
        if ev.code in FATAL_CODES:
            return self._fail(ev.one_line())
        return []

    def _on_closed(self, ev: ConnectionClosed) -> list[Event]:
        if self.policy.enabled is None:  # a journal from before reconnecting existed
            return self._fail(_closed_reason(ev))
        return self._lose(_closed_reason(ev), ev.code, closed_line(ev.code))

    def _lose(self, reason: str, code: int | None, loss: str) -> list[Event]:
        interrupted = [*self._open, *self._out_of_band]
        out = self.reconnect.lost(reason, code, interrupted, loss)
        if any(isinstance(o, ConnectionLost) for o in out):
            self._forget_responses(interrupted)
            self._speaking = False  # the server that heard the user start is gone
        if self.reconnect.state is LinkState.DOWN and not self.reconnect.enabled:
            return out + self._fail(reason)
        return self._ended_if_given_up(out)

    def _forget_responses(self, response_ids: Sequence[str]) -> None:
        """Responses that will never finish: nothing of theirs is waited for any more."""
        for response_id in response_ids:
            self._open.pop(response_id, None)
            self._out_of_band.pop(response_id, None)
            for item_id in self._audio.pop(response_id, set()):
                self._item_response.pop(item_id, None)
                self._played_early.discard(item_id)

    def _ended_if_given_up(self, out: list[Event]) -> list[Event]:
        if any(isinstance(o, SessionEnding) for o in out):
            self.phase = Phase.ENDED
        return out

    def _fail(self, reason: str) -> list[Event]:
        self.phase = Phase.ENDED
        return [SessionFailed(reason=reason), SessionEnding(reason=reason)]

    def _after_reseed(self, done: ConversationReseeded) -> list[Event]:
        if self.phase in (Phase.CONNECTING, Phase.CONFIGURING):
            return self._ready()  # --resume (or a first connection lost before it was ready)
        if done.recycle or done.resumed_from is not None:
            return []
        answer_lost = self._awaiting_answer and not self._answered and self._last_user_item in done.items
        if answer_lost and not self._called_tools:
            return [commands.response_create(self._next_id())]  # the answer went with the old connection
        return []

    # -- turn-taking ----------------------------------------------------------------------------------------

    def _on_turn_event(self, env: Envelope) -> list[Event]:
        ev = env.event
        if isinstance(ev, SpeechStarted):
            self._speaking = True
            self._user_input(env.seq, None)
            self.user_audio.speech_started(ev.item_id, ev.audio_start_ms)
        elif isinstance(ev, SpeechStopped):
            self.user_audio.speech_stopped(ev.item_id, ev.audio_end_ms)
        elif isinstance(ev, ItemAdded):
            return self._on_item_added(env, ev)
        elif isinstance(ev, TranscriptResolved | TranscriptUnavailable):
            self._pending_outcomes.discard(ev.item_id)
            if isinstance(ev, TranscriptResolved):
                self.user_audio.forget(ev.item_id)
        elif isinstance(ev, TranscriptLate):
            self.user_audio.forget(ev.item_id)
        elif isinstance(ev, ResponseCreated):
            if ev.out_of_band:
                self._out_of_band[ev.response_id] = env.seq
            else:
                self._open[ev.response_id] = env.seq
        elif isinstance(ev, AssistantAudioDelta):
            if ev.item_id not in self._item_response and ev.response_id not in self._out_of_band:
                self._audio.setdefault(ev.response_id, set()).add(ev.item_id)
                self._item_response[ev.item_id] = ev.response_id
        elif isinstance(ev, PlaybackFinished):
            return self._on_played(ev.item_id)
        elif isinstance(ev, ResponseDone):
            return self._on_response_done(ev)
        elif isinstance(ev, SummaryStarted | SummarySkipped | SummaryApplied | SummaryAbandoned):
            return self._on_summary(ev)
        elif isinstance(ev, FunctionCallRequested):
            self._called_tools = True
        elif isinstance(ev, ToolRunRequested):
            self._tools_running.add(ev.call_id)
        elif isinstance(ev, ToolResult | ToolRejected):
            self._tools_running.discard(ev.call_id)
        return []

    def _on_item_added(self, env: Envelope, ev: ItemAdded) -> list[Event]:
        if ev.item_id in self.reconnect.seeded:  # the old conversation coming back, not a new turn
            return self.reconnect.item_added(ev.item_id)
        if ev.item_type == "message" and ev.role == "user":
            self._speaking = False
            self._user_input(env.seq, ev.item_id)
            self._pending_outcomes.add(ev.item_id)
        return []

    def _on_summary(self, ev: SummaryStarted | SummarySkipped | SummaryApplied | SummaryAbandoned) -> list[Event]:
        if isinstance(ev, SummaryStarted | SummarySkipped):
            self._summary_verdicts.discard(ev.response_id)
            if isinstance(ev, SummaryStarted):
                self._summary_running = ev.summary_id
        elif ev.summary_id == self._summary_running:
            self._summary_running = None
        if self.summarising or not self._held:
            return []
        held, self._held = self._held, []
        return held

    def _user_input(self, seq: int, item_id: str | None) -> None:
        """The user said something new (``item_id``: committed as that item; None: speech has started)."""
        self._awaiting_answer = True
        self._answered = False
        self._last_input_seq = seq
        self._last_user_item = item_id
        self._called_tools = False

    def _on_played(self, item_id: str) -> list[Event]:
        response_id = self._item_response.get(item_id)
        if response_id is None:
            return []
        waiting = self._awaiting_playback.get(response_id)
        if waiting is None:
            self._played_early.add(item_id)  # its response.done has not come yet
            return []
        waiting.items.discard(item_id)
        self._item_response.pop(item_id, None)
        if waiting.items:
            return []
        del self._awaiting_playback[response_id]
        return self._end_turn(response_id, waiting.status, waiting.created_seq)

    def _on_response_done(self, ev: ResponseDone) -> list[Event]:
        if ev.status == "in_progress":
            return []
        total = ev.total_tokens
        if self.summary_trigger is not None and total is not None and total >= self.summary_trigger:
            self._summary_verdicts.add(ev.response_id)  # the summariser answers with started or skipped
        if ev.response_id in self._out_of_band:
            self._out_of_band.pop(ev.response_id, None)  # it answered no turn: nothing to end
            return []
        created_seq = self._open.pop(ev.response_id, None)
        if not ev.has_function_calls and created_seq is not None and created_seq > self._last_input_seq:
            self._answered = True  # the answer is complete (its audio may still be playing)
        items = self._audio.pop(ev.response_id, set())
        unplayed = {i for i in items if i not in self._played_early} if self.wait_for_playback else set()
        for item_id in items - unplayed:
            self._played_early.discard(item_id)
            self._item_response.pop(item_id, None)
        if ev.has_function_calls:
            # not the end of the turn: the tool output and another response follow; its audio (if any) is
            # not waited for, so forget it
            for item_id in unplayed:
                self._item_response.pop(item_id, None)
            return []
        if unplayed:
            self._awaiting_playback[ev.response_id] = _AwaitingPlayback(ev.status, created_seq, unplayed)
            return []
        return self._end_turn(ev.response_id, ev.status, created_seq)

    def _end_turn(self, response_id: str, status: str, created_seq: int | None) -> list[Event]:
        # the user's last input has its answer only if this response started after it (a response cancelled
        # by the user speaking over it does not answer what interrupted it)
        if created_seq is None or created_seq > self._last_input_seq:
            self._awaiting_answer = False
        ended = TurnEnded(response_id=response_id, status=status)
        if self.summarising:
            self._held.append(ended)  # released when the summariser is done
            return []
        return [ended]

    # -- the end ------------------------------------------------------------------------------------------

    def _on_capture_ended(self) -> list[Event]:
        if self.phase in (Phase.DRAINING, Phase.LINGERING):
            return []
        self.phase = Phase.DRAINING
        return [TimerRequested(key=END_TIMEOUT_KEY, delay_ms=self.end_timeout_ms)]

    def _check_end(self) -> list[Event]:
        if self.phase is Phase.DRAINING and self.idle:
            self.phase = Phase.LINGERING
            return [TimerRequested(key=LINGER_KEY, delay_ms=self.end_linger_ms)]
        if self.phase is Phase.LINGERING and not self.idle:
            self.phase = Phase.DRAINING
            return [TimerCancelled(key=LINGER_KEY)]
        return []

    def _on_timer(self, ev: TimerFired) -> list[Event]:
        if ev.key == RECYCLE_KEY:
            self.reconnect.recycle_timer()
            return []
        if ev.key == RESEED_KEY:
            return self._ended_if_given_up(self.reconnect.timed_out())
        if ev.key == LINGER_KEY and self.phase is Phase.LINGERING:
            self.phase = Phase.ENDED
            return [SessionEnding(reason=END_OF_INPUT), TimerCancelled(key=END_TIMEOUT_KEY)]
        if ev.key == END_TIMEOUT_KEY and self.phase in (Phase.DRAINING, Phase.LINGERING):
            out: list[Event] = [TimerCancelled(key=LINGER_KEY)] if self.phase is Phase.LINGERING else []
            self.phase = Phase.ENDED
            return [SessionEnding(reason=END_TIMED_OUT), *out]
        return []


def _closed_reason(ev: ConnectionClosed) -> str:
    detail = f"code {ev.code}" if ev.code is not None else "no close code"
    if ev.reason:
        detail += f": {ev.reason}"
    return f"connection closed by the server ({detail})"
