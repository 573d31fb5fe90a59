"""Clocks: where envelope timestamps come from. Injected, so tests use trio's autojump clock."""

from __future__ import annotations

from typing import Protocol

import trio


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the session started (monotonic)."""
        ...


class TrioClock:
    """Session time from ``trio.current_time()``, which follows a test's ``autojump_clock``."""

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
