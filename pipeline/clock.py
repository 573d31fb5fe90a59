"""Clocks: where envelope timestamps come from (injected, so tests use trio's autojump clock), and the
simulated clock a ``--fast`` session runs on.

``SimClock`` is a ``trio.abc.Clock`` for ``trio.run(..., clock=SimClock())``: time stands still while any task
can run and jumps to the next deadline once every task is waiting (for a deadline, a socket or a channel) and
one more poll of the sockets (after a real-time ``cushion_s``, none by default) scheduled nothing. Bytes on a
loopback socket (an in-process server and its client) are normally readable as soon as ``send`` returns, and
trio polls right after every send; for a kernel that hands them over late, the real-time cushion is
proportional to the jump: a jump of ``d`` seconds waits until ``d / max_rate`` real seconds have passed since
the previous one (50x by default: a 40 ms jump needs 0.8 ms, which the work between jumps usually takes
anyway; 2 ms at most, however far the jump), so late bytes can let the clock run ahead by a tick at most. Work that really takes time and that trio cannot see (a worker thread,
a child process waited on from a thread) **holds** the clock: ``with hold():`` (or ``run_sync_held``) keeps
time still until it is done, so nothing times out because the machine was busy and no deadline fires early.
``hold(live=True)`` lets time run at the real rate instead (a tool thread: its own timeout must still fire).
Work whose result is wanted only at a known later session time (the server's recognition, due after its
modelled latency) need not stop the session meanwhile: ``due(at)`` lets time run on, up to ``at``.

Everything here is per clock, and a clock belongs to one ``trio.run``: several runs (threads) each have their
own; several sessions inside one run share theirs. Under any other clock (trio's, ``MockClock``) holding does
nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import trio

T = TypeVar("T")

# The real time every task must have been idle before the clock jumps: epoll waits whole milliseconds.
DEFAULT_CUSHION_S = 0.0  # one more zero-timeout poll before a jump
DEFAULT_MAX_RATE = 50.0  # session seconds per real second a jump may move at most ...
MAX_CUSHION_S = 0.002  # ... up to this much real time (late loopback bytes take far less)
_IDLE_WAIT_S = 86400.0  # a real wait with nothing to jump to (a thread or a socket will wake the loop)


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the session started (monotonic)."""
        ...


class TrioClock:
    """Session time from ``trio.current_time()``, which follows a test's ``autojump_clock`` (or a
    ``SimClock``: a fast session's journal is then stamped in session time)."""

    def __init__(self) -> None:
        self._start = trio.current_time()

    def now_ns(self) -> int:
        return int((trio.current_time() - self._start) * 1_000_000_000)


class ManualClock:
    """A clock a test moves by hand."""

    def __init__(self, start_ns: int = 0) -> None:
        self.t_ns = start_ns

    def now_ns(self) -> int:
        return self.t_ns

    def advance_ms(self, ms: float) -> None:
        self.t_ns += int(ms * 1_000_000)


class _Activity(trio.abc.Instrument):
    """Tells its clock whenever a task is scheduled (anything at all happened)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        self.clock._activity = True


class SimClock(trio.abc.Clock):
    """Simulated time: jumps to the next deadline when every task waits; held while real work runs.

    ``jumps`` counts the jumps and ``held_s`` the real seconds spent held (for benches and tests).
    """

    def __init__(
        self, *, cushion_s: float = DEFAULT_CUSHION_S, max_rate: float = DEFAULT_MAX_RATE, start: float = 0.0
    ) -> None:
        if cushion_s < 0:
            raise ValueError("cushion_s must be >= 0")
        if max_rate <= 0:
            raise ValueError("max_rate must be > 0")
        self.cushion_s = cushion_s
        self.max_rate = max_rate
        self._last_jump_real = time.perf_counter()
        self._base = start  # simulated time at _real_base
        self._real_base = time.perf_counter()
        self._frozen = 0  # holds that stop time
        self._live = 0  # holds that let it run at the real rate
        self._primed = False  # the last sleep asked for was the cushion
        self._activity = False  # a task was scheduled since then
        self._held_since: float | None = None
        self._dues: list[float] = []  # work in flight that must be done before time reaches these
        self.jumps = 0
        self.held_s = 0.0

    def __repr__(self) -> str:
        return f"<SimClock t={self.current_time():.6f} frozen={self._frozen} live={self._live} jumps={self.jumps}>"

    # --- trio.abc.Clock

    def start_clock(self) -> None:
        trio.lowlevel.add_instrument(_Activity(self))

    def current_time(self) -> float:
        if self._live and not self._frozen:
            return self._base + (time.perf_counter() - self._real_base)
        return self._base

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # trio asks only when no task is runnable
        now = self.current_time()
        if deadline <= now:
            return 0.0
        if self._frozen or (self._dues and deadline >= min(self._dues)):
            self._primed = False
            return _IDLE_WAIT_S  # a real wait: the work's end wakes the loop
        if self._live:
            self._primed = False
            return deadline - now
        if self._primed and not self._activity and deadline < math.inf:
            real = time.perf_counter()
            wait = min((deadline - now) / self.max_rate, MAX_CUSHION_S) - (real - self._last_jump_real)
            if wait > 0:
                return wait  # still primed: a jump this soon after the last one waits its share of real time
            self._primed = False
            self._base = deadline  # idle for a whole cushion: jump
            self._last_jump_real = real
            self.jumps += 1
            return 0.0
        self._primed = True
        self._activity = False
        return self.cushion_s if deadline < math.inf else _IDLE_WAIT_S

    # --- holding

    def _fold(self) -> None:
        self._base = self.current_time()
        self._real_base = time.perf_counter()

    @contextlib.contextmanager
    def hold(self, *, live: bool = False) -> Iterator[None]:
        """Keep time still (or, ``live``, running at the real rate) until the block ends."""
        self._fold()
        if self._frozen == 0 and self._live == 0:
            self._held_since = time.perf_counter()
        if live:
            self._live += 1
        else:
            self._frozen += 1
        self._primed = False
        try:
            yield
        finally:
            self._fold()
            if live:
                self._live -= 1
            else:
                self._frozen -= 1
            if self._frozen == 0 and self._live == 0 and self._held_since is not None:
                self.held_s += time.perf_counter() - self._held_since
                self._held_since = None
            self._primed = False

    @contextlib.contextmanager
    def due(self, at: float) -> Iterator[None]:
        """Work in flight whose result is wanted at session time ``at``: time goes on meanwhile (the rest of the
        session runs alongside), but cannot reach ``at`` until the block ends."""
        self._dues.append(at)
        try:
            yield
        finally:
            self._dues.remove(at)
            self._primed = False

    @property
    def held(self) -> bool:
        return bool(self._frozen or self._live)


def current_sim_clock() -> SimClock | None:
    """The ``SimClock`` of the running ``trio.run``, or None under any other clock."""
    clock = trio.lowlevel.current_clock()
    return clock if isinstance(clock, SimClock) else None


def simulated() -> bool:
    """This ``trio.run`` runs on simulated time."""
    return current_sim_clock() is not None


def hold(*, live: bool = False) -> contextlib.AbstractContextManager[None]:
    """Hold the current run's ``SimClock`` for the block; nothing under any other clock."""
    clock = current_sim_clock()
    return clock.hold(live=live) if clock is not None else contextlib.nullcontext()


async def run_sync_held(
    fn: Callable[[], T],
    *,
    limiter: trio.CapacityLimiter | None = None,
    abandon_on_cancel: bool = False,
    due: float | None = None,
) -> T:
    """``trio.to_thread.run_sync(fn)`` with the clock held while the thread works; with ``due`` (a session
    time the caller waits for anyway before using the result) time runs on meanwhile, up to ``due``."""
    clock = current_sim_clock()
    holding: contextlib.AbstractContextManager[None]
    if clock is None:
        holding = contextlib.nullcontext()
    elif due is not None and due > clock.current_time():
        holding = clock.due(due)
    else:
        holding = clock.hold()
    with holding:
        return await trio.to_thread.run_sync(fn, limiter=limiter, abandon_on_cancel=abandon_on_cancel)
