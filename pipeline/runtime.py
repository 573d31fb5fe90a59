"""The actor runtime: the core/shell contract, a generic shell, and the session supervisor.

A **core** is a plain synchronous object with ``handle(envelope) -> Sequence[Event]``: no I/O, no trio, no
clock. A **shell** is one async function that owns its inbox (``with ctx.inbox:``), feeds the core, and
performs the I/O the core asks for. ``run_session`` owns the one nursery of a session:

- every actor's inbox is subscribed before any actor starts, so nobody misses an early event;
- a ``SessionEnding`` event (or the end of every actor named in ``end_when``) starts the shutdown cascade: inboxes are closed in the
  order the actors were given (upstream first), each actor drains what it has and returns; an actor that does
  not return within ``grace_s`` is cancelled;
- an actor that raises stops the session: ``ActorFailed`` is journaled, the others are cancelled, the journal
  is closed, and the outcome carries one line saying what failed;
- something outside the session (a signal handler) ends it through a ``SessionControl``: ``end(reason)``
  journals ``SessionEnding(reason)`` at once and the same cascade runs, under one short bound for the whole
  shutdown (``SessionControl.grace_s``) instead of ``grace_s`` per actor.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from events.base import Event
from events.envelope import Envelope
from events.runtime import (
    ActorFailed,
    SessionEnding,
    SessionStarted,
    TimerCancelled,
    TimerFired,
    TimerRequested,
)
from pipeline.bus import DEFAULT_CAPACITY, Bus
from pipeline.clock import run_sync_held, simulated
from pipeline.inbox import Inbox


class Core(Protocol):
    def handle(self, env: Envelope) -> Sequence[Event]: ...


CoreFactory = Callable[[Mapping[str, Any]], Core]


class ActorContext:
    """What a shell is given: its name, its inbox, and publishing on its own behalf."""

    def __init__(self, name: str, inbox: Inbox, bus: Bus) -> None:
        self.name = name
        self.inbox = inbox
        self.bus = bus

    async def publish(self, event: Event, *, cause: int | None = None) -> Envelope:
        return await self.bus.publish(event, source=self.name, cause=cause)

    def publish_nowait(self, event: Event, *, cause: int | None = None) -> Envelope:
        return self.bus.publish_nowait(event, source=self.name, cause=cause)


Shell = Callable[[ActorContext], Awaitable[None]]


def event_types(types: Iterable[type[Event]]) -> frozenset[type[Event]]:
    """attrs converter: the set of event classes an actor consumes."""
    return frozenset(types)


@attrs.frozen(kw_only=True)
class ActorSpec:
    """One actor of a session: its name, what it consumes, its shell, and (for replay) its core factory."""

    name: str
    consumes: frozenset[type[Event]] = attrs.field(converter=event_types)
    shell: Shell
    capacity: int = DEFAULT_CAPACITY


OutputHook = Callable[[Envelope], Awaitable[None]]


async def run_core(ctx: ActorContext, core: Core, on_output: OutputHook | None = None) -> None:
    """The generic shell: feed every inbox envelope to the core, publish what it returns (caused by the
    input), and let ``on_output`` perform any I/O an output asks for."""
    with ctx.inbox:
        async for env in ctx.inbox:
            for out in core.handle(env):
                published = await ctx.publish(out, cause=env.seq)
                if on_output is not None:
                    await on_output(published)


SIM_FLUSH_INTERVAL_S = 0.25  # the journal flusher's period in session time on a simulated clock

CLOCK_CONSUMES = frozenset({TimerRequested, TimerCancelled})


async def clock_shell(ctx: ActorContext) -> None:
    """The timer edge: ``TimerRequested(key, delay_ms)`` comes back as ``TimerFired(key)`` after the delay.

    A new request with the same key replaces the pending one; ``TimerCancelled`` forgets it. Pending timers
    are dropped when the session ends.
    """
    pending: dict[str, tuple[float, int]] = {}
    with ctx.inbox:
        while True:
            deadline = min((d for d, _ in pending.values()), default=math.inf)
            with trio.move_on_at(deadline):
                try:
                    env = await ctx.inbox.receive()
                except trio.EndOfChannel:
                    return
                ev = env.event
                if isinstance(ev, TimerRequested):
                    pending[ev.key] = (trio.current_time() + ev.delay_ms / 1000, env.seq)
                elif isinstance(ev, TimerCancelled):
                    pending.pop(ev.key, None)
                continue
            now = trio.current_time()
            for key, (due, requested_seq) in sorted(pending.items(), key=lambda kv: kv[1]):
                if due <= now:
                    del pending[key]
                    await ctx.publish(TimerFired(key=key, requested_seq=requested_seq), cause=requested_seq)


def clock_actor(name: str = "clock") -> ActorSpec:
    return ActorSpec(name=name, consumes=CLOCK_CONSUMES, shell=clock_shell)


@attrs.frozen(kw_only=True)
class SessionOutcome:
    failed_actor: str | None = None
    error: str | None = None
    ending_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_actor is None


def one_line(exc: BaseException) -> str:
    """``Type: first line`` of an error; a group holding one real error (a shell's nursery) is unwrapped."""
    while isinstance(exc, BaseExceptionGroup):
        real = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        if len(real) != 1:
            break
        exc = real[0]
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class SessionControl:
    """A handle on a session from outside it (a signal handler): ``end(reason)`` asks it to end now.

    The session journals ``SessionEnding(reason)`` (source ``supervisor``) at once, without waiting for inbox
    room, and shuts down as usual (upstream first, each actor draining), except that the whole shutdown is
    bounded by ``grace_s``: an actor still draining then is cancelled. If the session is already ending
    (end of input, a failure) its reason stands and only the bound applies. Asked before the session has
    started, it ends as soon as it starts; asked after the session ended, or a second time, ``end`` does
    nothing and returns False.
    """

    def __init__(self, *, grace_s: float = 2.0) -> None:
        self.grace_s = grace_s
        self.reason: str | None = None
        self._sup: _Supervisor | None = None
        self._finished = False

    def end(self, reason: str) -> bool:
        if self.reason is not None or self._finished:
            return False
        self.reason = reason
        if self._sup is not None:
            self._apply(self._sup)
        return True

    def _attach(self, sup: _Supervisor) -> None:
        self._sup = sup
        if self.reason is not None:
            self._apply(sup)

    def _detach(self) -> None:
        self._sup = None
        self._finished = True

    def _apply(self, sup: _Supervisor) -> None:
        assert self.reason is not None
        sup.hurry(trio.current_time() + self.grace_s)
        if sup.ending_reason is None and not sup.bus.closed:
            sup.bus.publish_nowait_unchecked(SessionEnding(reason=self.reason), source="supervisor")


class _Supervisor:
    def __init__(self, specs: Sequence[ActorSpec], bus: Bus, grace_s: float) -> None:
        self.specs = list(specs)
        self.bus = bus
        # every inbox exists before any actor starts, so nobody misses an early event
        self.inboxes: dict[str, Inbox] = {
            spec.name: bus.subscribe(spec.name, spec.consumes, capacity=spec.capacity) for spec in specs
        }
        self.grace_s = grace_s
        self.scopes: dict[str, trio.CancelScope] = {}
        self.done: dict[str, trio.Event] = {spec.name: trio.Event() for spec in specs}
        self.failure: tuple[str, str] | None = None
        self.ending_reason: str | None = None
        self.deadline = math.inf  # the whole shutdown ends by then (set by SessionControl.end)
        self._waiting: trio.CancelScope | None = None  # the shutdown's wait for the actor draining now

    async def run_actor(self, spec: ActorSpec, ctx: ActorContext, nursery: trio.Nursery) -> None:
        with trio.CancelScope() as scope:
            self.scopes[spec.name] = scope
            try:
                await spec.shell(ctx)
            except Exception as exc:  # an actor failure stops the session; it never crashes the process
                if self.failure is None:
                    self.failure = (spec.name, one_line(exc))
                    failed = ActorFailed(actor=spec.name, error=one_line(exc))
                    if not self.bus.closed:
                        self.bus.publish_nowait_unchecked(failed, source="supervisor")
                nursery.cancel_scope.cancel()
            finally:
                self.done[spec.name].set()

    def hurry(self, deadline: float) -> None:
        """Bound the whole shutdown (the wait in progress too) by ``deadline``."""
        self.deadline = min(self.deadline, deadline)
        if self._waiting is not None:
            self._waiting.deadline = min(self._waiting.deadline, deadline)

    async def shutdown(self) -> None:
        """Close inboxes upstream-first; give each actor ``grace_s`` to drain (never past ``deadline``), then
        cancel it."""
        for spec in self.specs:
            inbox = self.inboxes[spec.name]
            inbox.close_input()
            with trio.move_on_at(min(trio.current_time() + self.grace_s, self.deadline)) as self._waiting:
                await self.done[spec.name].wait()
            self._waiting = None
            scope = self.scopes.get(spec.name)
            if scope is not None and not self.done[spec.name].is_set():
                scope.cancel()
                await self.done[spec.name].wait()



async def run_session(
    specs: Sequence[ActorSpec],
    *,
    bus: Bus,
    grace_s: float = 5.0,
    flush_interval_s: float = 0.02,
    end_when: Iterable[str] = (),
    control: SessionControl | None = None,
) -> SessionOutcome:
    """Run the actors of one session until it ends; close the journal; report how it ended.

    The session ends when a ``SessionEnding`` is published, when every actor named in ``end_when`` has
    returned, when an actor fails, or when ``control.end(reason)`` is called.
    """
    sup = _Supervisor(specs, bus, grace_s)
    ending = bus.subscribe("supervisor", {SessionEnding}, capacity=16)
    drivers = set(end_when)
    try:
        async with trio.open_nursery() as nursery:

            # the flush interval is a durability bound in wall time: on a simulated clock, where session time
            # runs several times faster, a longer interval in session time bounds the same and jumps less often
            interval = max(flush_interval_s, SIM_FLUSH_INTERVAL_S) if simulated() else flush_interval_s

            async def flusher() -> None:
                while True:
                    await trio.sleep(interval)
                    bus.flush(sync=False)
                    if bus.sync_due():
                        # off the loop: other sessions' audio must not wait for this one's disk; the writer
                        # never closes meanwhile (close runs after the flusher is cancelled, and syncs itself)
                        await run_sync_held(bus.sync)

            async def watch_ending() -> None:
                with ending:
                    async for env in ending:
                        assert isinstance(env.event, SessionEnding)
                        sup.ending_reason = env.event.reason
                        break
                await sup.shutdown()
                nursery.cancel_scope.cancel()

            async def watch_drivers() -> None:
                for name in drivers:
                    await sup.done[name].wait()
                if sup.failure is None and sup.ending_reason is None:
                    await bus.publish(SessionEnding(reason="end of input"), source="supervisor")

            async def watch_all_done() -> None:
                for name in sup.done:
                    await sup.done[name].wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(flusher)
            nursery.start_soon(watch_ending)
            nursery.start_soon(watch_all_done)
            await bus.publish(SessionStarted(actors=tuple(s.name for s in specs)), source="supervisor")
            if control is not None:
                control._attach(sup)
            for spec in specs:
                ctx = ActorContext(spec.name, sup.inboxes[spec.name], bus)
                nursery.start_soon(sup.run_actor, spec, ctx, nursery)
            if drivers:
                nursery.start_soon(watch_drivers)
    finally:
        if control is not None:
            control._detach()
        bus.close()
        if bus.journal is not None:
            bus.journal.close()
    if sup.failure is not None:
        return SessionOutcome(failed_actor=sup.failure[0], error=sup.failure[1], ending_reason=sup.ending_reason)
    return SessionOutcome(ending_reason=sup.ending_reason)
