"""SimClock: time jumps to the next deadline when every task waits, stands still while it is held (real work
in a thread), runs at the real rate under a live hold, and never jumps while loopback bytes are in flight."""

from __future__ import annotations

import functools
import math
import threading
import time

import trio

from pipeline.clock import MAX_CUSHION_S, SimClock, TrioClock, current_sim_clock, hold, run_sync_held


def run(fn, clock: SimClock | None = None):  # type: ignore[no-untyped-def]
    return trio.run(fn, clock=clock or SimClock())


def test_sleeps_jump_to_their_deadlines() -> None:
    async def main() -> tuple[float, list[float]]:
        woke: list[float] = []

        async def sleeper(s: float) -> None:
            await trio.sleep(s)
            woke.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            for s in (3600.0, 0.04, 1.5):
                nursery.start_soon(sleeper, s)
        return trio.current_time(), woke

    wall = time.perf_counter()
    end, woke = run(main)
    assert time.perf_counter() - wall < 2.0
    assert woke == [0.04, 1.5, 3600.0]
    assert end == 3600.0


def test_journal_clock_reads_session_time() -> None:
    async def main() -> int:
        clock = TrioClock()
        await trio.sleep(12.5)
        return clock.now_ns()

    assert run(main) == 12_500_000_000


def test_held_thread_takes_no_time_and_no_deadline_fires_early() -> None:
    order: list[str] = []

    async def main() -> float:
        async def ticker() -> None:
            await trio.sleep(0.01)
            order.append("tick")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await run_sync_held(lambda: time.sleep(0.3))
            order.append("work done")
            at = trio.current_time()
        return at

    assert run(main) == 0.0
    assert order == ["work done", "tick"]


def test_an_unheld_thread_lets_time_run_on() -> None:
    """The failure holding prevents: trio cannot see a thread, so the clock jumps while it works."""
    order: list[str] = []

    async def main() -> None:
        async def ticker() -> None:
            await trio.sleep(0.01)
            order.append("tick")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.to_thread.run_sync(lambda: time.sleep(0.3))
            order.append("work done")

    run(main)
    assert order == ["tick", "work done"]


def test_live_hold_runs_at_the_real_rate() -> None:
    async def main() -> float:
        t0 = trio.current_time()
        with hold(live=True):
            with trio.move_on_after(0.2):
                await trio.to_thread.run_sync(lambda: time.sleep(5), abandon_on_cancel=True)
        return trio.current_time() - t0

    elapsed = run(main)
    assert 0.19 <= elapsed < 1.0


def test_hold_is_a_no_op_under_other_clocks() -> None:
    async def main() -> None:
        assert current_sim_clock() is None
        with hold():
            await trio.lowlevel.checkpoint()

    trio.run(main)


async def _echo(stream: trio.SocketStream) -> None:
    async for data in stream:
        await stream.send_all(data)


def test_no_jump_while_loopback_bytes_are_in_flight() -> None:
    """Round trips over a real TCP socket on loopback while a 40 ms ticker and a 5 s timeout wait: the clock
    must not move during any of them (it moves only once both sides are idle). Loopback bytes are normally
    readable as soon as ``send`` returns, and trio polls again right after it; the cushion is the margin for
    a kernel that hands them over late (tested as a decision below, since that cannot be provoked reliably)."""

    async def main() -> tuple[float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await trio.sleep(0.04)
                ticks += 1

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(functools.partial(trio.serve_tcp, _echo, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(ticker)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            t0 = trio.current_time()
            payload = bytes(range(256)) * 64  # 16 KiB, several segments
            moved = 0.0
            for _ in range(300):
                start = trio.current_time()
                with trio.fail_after(5):
                    await stream.send_all(payload)
                    got = 0
                    while got < len(payload):
                        got += len(await stream.receive_some(65536))
                moved = max(moved, trio.current_time() - start)
            nursery.cancel_scope.cancel()
        assert t0 >= 0
        return moved, ticks

    moved, _ = run(main)
    assert moved == 0.0


def test_each_run_has_its_own_clock() -> None:
    """Two simulated runs in two threads at once: each jumps on its own."""
    results: dict[str, float] = {}

    def session(name: str, seconds: float) -> None:
        async def main() -> None:
            for _ in range(100):
                await trio.sleep(seconds / 100)
            results[name] = trio.current_time()

        trio.run(main, clock=SimClock())

    threads = [threading.Thread(target=session, args=(n, s)) for n, s in (("a", 60.0), ("b", 600.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert abs(results["a"] - 60.0) < 1e-6 and abs(results["b"] - 600.0) < 1e-6


def test_the_clock_jumps_only_after_a_whole_quiet_cushion() -> None:
    """The decision itself, driven as trio's loop drives it (it asks only when no task is runnable): first a
    real-time cushion; anything scheduled meanwhile (bytes that arrived, a thread that finished) starts it
    over; a cushion with nothing scheduled jumps to the deadline. Held, it never jumps."""
    clock = SimClock(cushion_s=0.001, max_rate=1e9)
    assert clock.deadline_to_sleep_time(5.0) == 0.001  # idle: wait a cushion first
    clock._activity = True  # a task was scheduled during the cushion (what the instrument reports)
    assert clock.deadline_to_sleep_time(5.0) == 0.001  # so wait again, no jump
    assert clock.current_time() == 0.0
    assert clock.deadline_to_sleep_time(5.0) == 0.0  # a whole quiet cushion: jump
    assert clock.current_time() == 5.0 and clock.jumps == 1
    with clock.hold():
        assert clock.deadline_to_sleep_time(6.0) > 3600  # held: a real wait, woken by the work's end
        assert clock.deadline_to_sleep_time(6.0) > 3600
        assert clock.current_time() == 5.0
    assert clock.deadline_to_sleep_time(6.0) == 0.001  # released: a fresh cushion before any jump
    assert clock.deadline_to_sleep_time(math.inf) > 3600  # nothing to jump to


def test_work_due_later_lets_time_run_up_to_its_due_time() -> None:
    """Recognition due 0.5 s after the commit: the session goes on meanwhile (40 ms ticks), but time cannot
    reach 0.5 s before the work is done, however long the machine takes."""
    ticks: list[float] = []

    async def main() -> tuple[float, float]:
        async def ticker() -> None:
            while True:
                await trio.sleep(0.04)
                ticks.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await run_sync_held(lambda: time.sleep(0.3), due=0.5)
            done_at = trio.current_time()
            await trio.sleep_until(0.5)
            nursery.cancel_scope.cancel()
        return done_at, trio.current_time()

    done_at, end = run(main)
    assert done_at < 0.5 and end == 0.5
    assert ticks and max(ticks) < 0.5 + 1e-9


def test_a_jump_waits_its_share_of_real_time() -> None:
    """The cushion proportional to the jump: at most ``max_rate`` session seconds per real second, so bytes a
    kernel hands over late can let the clock run ahead by a tick, not through a timeout."""
    clock = SimClock(max_rate=10.0)
    clock._last_jump_real = time.perf_counter()
    assert clock.deadline_to_sleep_time(5.0) == 0.0  # primed: one more poll
    wait = clock.deadline_to_sleep_time(0.01)
    assert 0.0005 < wait <= 0.001 and clock.current_time() == 0.0  # 10 ms at 10x: 1 ms of real time first
    assert clock.deadline_to_sleep_time(5.0) <= MAX_CUSHION_S  # a long jump: the cushion's cap at most
    clock._last_jump_real -= 1.0  # as if that much real time had passed (the work between jumps)
    assert clock.deadline_to_sleep_time(5.0) == 0.0 and clock.current_time() == 5.0

    async def main() -> float:
        started = time.perf_counter()
        for _ in range(20):
            await trio.sleep(0.01)
        return time.perf_counter() - started

    assert 0.018 < trio.run(main, clock=SimClock(max_rate=10.0)) < 1.0  # 200 ms of sleeps take >= 20 ms
