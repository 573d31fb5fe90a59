"""The conductor's side of a call that outlives its connection: losses, reconnects, re-seeds, recycles.

Theory of operation
-------------------
``Reconnector`` is a pure state machine the conductor core drives (no I/O, no clock, no randomness: every
delay comes from the attempt number). Its state, ``LinkState``::

    UP ──loss (unexpected close / session_expired)──► WAITING ──Reconnected──► CONFIGURING ──session.updated──► SEEDING
     ▲                                                 ▲   │                        │ created: session.update       │
     │                                                 │   └─ReconnectFailed: next attempt (backoff), or give up    │
     │                                                 └────── loss before the re-seed ends: next attempt ──────────┤
     └─────────────────────────── ConversationReseeded (every item acknowledged or refused, or timed out) ─────────┘
    UP ──recycle timer, then a quiet moment──► WAITING (recycle: the old connection stays up) ... ► UP (old retired)
    give up (bounded attempts, a fatal failure, a rejected session.update) ──► DOWN: SessionFailed + SessionEnding

- A loss: ``ConnectionLost(reason, code, reconnecting=True, interrupted=open responses)`` and
  ``ReconnectRequested(attempt=1, delay_ms=backoff(1))``. ``backoff(n) = min(backoff_max_ms, backoff_ms *
  2**(n-1))``. The server's ``session_expired`` error is the loss; the close that follows it (1001) is the
  same loss and is ignored while a reconnect is already under way.
- ``ReconnectFailed``: the next attempt after its backoff, until ``attempts`` have failed (or one was fatal:
  an HTTP 401/403), then one line: "connection lost (code 1006) and 5 reconnect attempts failed: <last
  error>". A new connection that is lost again before its re-seed ends counts as a failed attempt too.
- A new connection: ``session.created`` -> the run's ``session.update`` again -> ``session.updated`` -> the
  re-seed (reseed.py) from the plan the conductor builds from its own folded ``Conversation``: ``ReseedPlanned``
  and one ``conversation.item.create`` per item, then ``ConversationReseeded`` once the server has answered for
  every item. The attempt count starts again after that.
- Recycle (``max_session_minutes``): the timer ``conductor:recycle`` runs from the first ``SessionReady`` (and
  again from every re-seed: each connection is a new server session with its own cap). Once it has fired, the
  first quiet moment (the conductor says when) gets ``ReconnectRequested(attempt=1, delay_ms=0, recycle=True)``;
  the same flow follows on the new socket with ``recycle=True``, while the old connection stays up (make
  before break) until the connection actor retires it after the re-seed. A recycle attempt that fails leaves
  the old connection in use and tries again at a quiet moment after the next backoff; after ``attempts``
  (or a fatal failure) it stops trying (the server's expiry, if it comes, is then an ordinary loss).
- Reconnect off (``--no-reconnect``): ``ConnectionLost(reconnecting=False)`` and the session fails as it always
  did. A config without the key (a journal from before issue 12) gets the old behaviour exactly: no
  ``ConnectionLost``, no recycle timer, so old journals replay unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from actors.conductor.reseed import RESEED_TIMEOUT_MS, Seeding
from events import commands
from events.base import Event
from events.connection import ConnectionLost, Reconnected, ReconnectFailed, ReconnectRequested
from events.playback import SessionFailed
from events.protocol import ServerError
from events.runtime import SessionEnding, TimerCancelled, TimerRequested
from pipeline.projections.seed import SeedPlan

RECYCLE_KEY = "conductor:recycle"
RESEED_KEY = "conductor:reseed"


class LinkState(enum.Enum):
    UP = "up"  # the current connection is configured (and seeded, after a reconnect)
    WAITING = "waiting"  # a (re)connection is requested; the connection actor answers
    CONFIGURING = "configuring"  # a new connection: session.created -> session.update -> session.updated
    SEEDING = "seeding"  # the seed's items are being created on it
    DOWN = "down"  # given up: the session is failing


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """``enabled`` None: a config from before issue 12 (the old behaviour, see the module docstring)."""

    enabled: bool | None = None
    attempts: int = 5
    backoff_ms: int = 250
    backoff_max_ms: int = 8000
    recycle_ms: int | None = None  # renew the session this long after it is ready (None: never)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ReconnectPolicy:
        enabled = config.get("reconnect")
        minutes = config.get("max_session_minutes")
        return cls(
            enabled=None if enabled is None else bool(enabled),
            attempts=int(config.get("reconnect_attempts", 5)),
            backoff_ms=int(config.get("reconnect_backoff_ms", 250)),
            backoff_max_ms=int(config.get("reconnect_backoff_max_ms", 8000)),
            recycle_ms=round(float(minutes) * 60_000) if enabled and minutes is not None else None,
        )

    def delay_ms(self, attempt: int) -> int:
        """The wait before attempt ``attempt`` (from 1): doubling from ``backoff_ms``, at most ``backoff_max_ms``."""
        return int(min(self.backoff_max_ms, self.backoff_ms * 2 ** max(0, attempt - 1)))


PlanSource = Callable[[], SeedPlan]


def closed_line(code: int | None) -> str:
    return f"connection lost (code {code})" if code is not None else "connection lost (no close code)"


class Reconnector:
    def __init__(self, policy: ReconnectPolicy, next_id: Callable[[], str], session: Mapping[str, Any]) -> None:
        self.policy = policy
        self.next_id = next_id
        self.session = dict(session)
        self.state = LinkState.UP
        self.attempt = 0  # the attempt under way (0: none)
        self.loss: str | None = None  # what was lost, for the give-up line
        self.recycling = False  # the request under way renews a healthy connection
        self.update_id: str | None = None
        self.seeding: Seeding | None = None
        self.seeded: set[str] = set()  # every id a re-seed created: never a new turn
        self.recycle_due = False
        self.recycle_attempt = 0

    @property
    def enabled(self) -> bool:
        return bool(self.policy.enabled)

    @property
    def busy(self) -> bool:
        """A (re)connection or re-seed is under way: the session is not idle."""
        return self.state is not LinkState.UP

    # -- losing a connection ---------------------------------------------------------------------------------

    def lost(self, reason: str, code: int | None, interrupted: Sequence[str], loss: str) -> list[Event]:
        """The connection closed unexpectedly or the server's session expired (``loss``: for the give-up
        line). Call only when ``enabled`` is not None."""
        if self.state is LinkState.DOWN:
            return []
        if not self.enabled:
            self.state = LinkState.DOWN
            return [ConnectionLost(reason=reason, code=code, reconnecting=False, interrupted=tuple(interrupted))]
        if self.state is LinkState.WAITING:
            if not self.recycling or self.loss is not None:
                return []  # the same loss (session_expired, then its close)
            # the old connection dropped while its successor is being opened: that request stands
            self.loss = loss
            return [ConnectionLost(reason=reason, code=code, reconnecting=True, interrupted=tuple(interrupted))]
        lost = ConnectionLost(reason=reason, code=code, reconnecting=True, interrupted=tuple(interrupted))
        if self.state is LinkState.UP:
            self.loss = loss
            self.recycling = False
            self.attempt = 0
            return [lost, *self._request()]
        # CONFIGURING / SEEDING: the new connection did not last: a failed attempt
        self.loss = self.loss or loss
        self.seeding = None
        self.recycling = False
        out: list[Event] = [lost, TimerCancelled(key=RESEED_KEY)]
        if self.attempt >= self.policy.attempts:
            return out + self._give_up(f"the connection was lost again ({reason})")
        return out + self._request()

    def _request(self) -> list[Event]:
        self.attempt += 1
        self.state = LinkState.WAITING
        return [ReconnectRequested(attempt=self.attempt, delay_ms=self.policy.delay_ms(self.attempt))]

    def _give_up(self, last_error: str, *, fatal: bool = False) -> list[Event]:
        self.state = LinkState.DOWN
        loss = self.loss or "connection lost"
        if fatal:
            line = f"{loss} and reconnect attempt {self.attempt} was refused: {last_error}"
        else:
            tries = f"{self.attempt} reconnect attempt{'s' if self.attempt != 1 else ''}"
            line = f"{loss} and {tries} failed: {last_error}"
        return [SessionFailed(reason=line), SessionEnding(reason=line)]

    # -- the connection actor's answers ------------------------------------------------------------------------

    def reconnected(self, ev: Reconnected) -> list[Event]:
        if self.state is not LinkState.WAITING:
            return []
        self.state = LinkState.CONFIGURING
        return [TimerRequested(key=RESEED_KEY, delay_ms=RESEED_TIMEOUT_MS)]

    def failed(self, ev: ReconnectFailed) -> list[Event]:
        if self.state is not LinkState.WAITING:
            return []
        if self.recycling and self.loss is None:  # the old connection is still in use: try later
            self.recycling = False
            self.state = LinkState.UP
            self.recycle_attempt = self.attempt
            self.attempt = 0
            if ev.fatal or self.recycle_attempt >= self.policy.attempts:
                return []  # stop renewing; an expiry will be an ordinary loss
            return [TimerRequested(key=RECYCLE_KEY, delay_ms=self.policy.delay_ms(self.recycle_attempt + 1))]
        if ev.fatal:
            return self._give_up(ev.error, fatal=True)
        if self.attempt >= self.policy.attempts:
            return self._give_up(ev.error)
        return self._request()

    # -- configuring and seeding the new connection -------------------------------------------------------------

    def created(self) -> list[Event]:
        if self.state is not LinkState.CONFIGURING:
            return []
        self.update_id = self.next_id()
        return [commands.session_update(self.update_id, self.session)]

    def updated(self, plan: PlanSource, *, resumed_from: str | None = None) -> list[Event]:
        if self.state is not LinkState.CONFIGURING or self.update_id is None:
            return []
        recycle = self.recycling and self.loss is None
        return self.seed(plan(), recycle=recycle, resumed_from=resumed_from)

    def seed(self, plan: SeedPlan, *, recycle: bool = False, resumed_from: str | None = None) -> list[Event]:
        """Create ``plan``'s items on the current connection (a re-seed, or a ``--resume``'s first seed)."""
        self.seeding, creates = Seeding.plan(plan, self.next_id, resumed_from=resumed_from, recycle=recycle)
        self.seeded.update(self.seeding.items)
        self.state = LinkState.SEEDING
        out: list[Event] = [self.seeding.planned(), *creates]
        return out + self._maybe_done()

    def item_added(self, item_id: str) -> list[Event]:
        if self.state is not LinkState.SEEDING or self.seeding is None or not self.seeding.acknowledge(item_id):
            return []
        return self._maybe_done()

    def error(self, ev: ServerError) -> tuple[list[Event], str | None]:
        """A server error: the events it causes, and a failure line when it rejected our session.update."""
        if self.state is LinkState.CONFIGURING and self.update_id is not None and ev.client_event_id == self.update_id:
            self.state = LinkState.DOWN
            return [], f"the server rejected session.update: {ev.one_line()}"
        if self.state is LinkState.SEEDING and self.seeding is not None and self.seeding.refuse(ev.client_event_id):
            return self._maybe_done(), None
        return [], None

    def timed_out(self) -> list[Event]:
        """``conductor:reseed`` fired: the new connection took too long to be configured and seeded."""
        if self.state is LinkState.SEEDING and self.seeding is not None:
            return self._finish()
        if self.state is LinkState.CONFIGURING:
            self.update_id = None
            lost = "the new connection was not configured in time"
            if self.attempt >= self.policy.attempts:
                return self._give_up(lost)
            return self._request()
        return []

    def _maybe_done(self) -> list[Event]:
        if self.seeding is None or not self.seeding.done:
            return []
        return self._finish()

    def _finish(self) -> list[Event]:
        assert self.seeding is not None
        result = self.seeding.result()
        self.seeding = None
        self.state = LinkState.UP
        self.attempt = 0
        self.loss = None
        self.recycling = False
        self.update_id = None
        out: list[Event] = [result, TimerCancelled(key=RESEED_KEY)]
        if result.resumed_from is None and self.policy.recycle_ms is not None:
            # a new server session: its own maximum duration counts from now
            self.recycle_due = False
            self.recycle_attempt = 0
            out.append(TimerRequested(key=RECYCLE_KEY, delay_ms=self.policy.recycle_ms))
        return out

    # -- recycling ------------------------------------------------------------------------------------------

    def ready(self) -> list[Event]:
        """The session is ready for the first time: the recycle timer starts."""
        if self.policy.recycle_ms is None:
            return []
        return [TimerRequested(key=RECYCLE_KEY, delay_ms=self.policy.recycle_ms)]

    def recycle_timer(self) -> None:
        if self.policy.recycle_ms is not None and self.state is LinkState.UP:
            self.recycle_due = True

    def recycle(self) -> list[Event]:
        """A quiet moment: renew the connection if it is due."""
        if not self.recycle_due or self.state is not LinkState.UP:
            return []
        self.recycle_due = False
        self.recycling = True
        self.loss = None
        self.attempt = self.recycle_attempt
        self.attempt += 1
        self.state = LinkState.WAITING
        return [ReconnectRequested(attempt=self.attempt, delay_ms=0, recycle=True)]
