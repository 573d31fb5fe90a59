from __future__ import annotations

from pathlib import Path

import pytest
import trio

from events.runtime import ActorFailed, SessionEnding, TimerFired, TimerRequested
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import EndReason, JournalWriter, load_envelopes, make_header
from pipeline.runtime import ActorContext, ActorSpec, SessionControl, clock_actor, run_core, run_session
from tests.toy import DoublerCore, ToyDoubled, ToyNumber


def numbers_source(values: list[int], pause: float = 0.0) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for v in values:
                await ctx.publish(ToyNumber(n=v))
                await trio.sleep(pause)

    return ActorSpec(name="source", consumes=frozenset(), shell=shell)


def doubler() -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        await run_core(ctx, DoublerCore())

    return ActorSpec(name="doubler", consumes={ToyNumber}, shell=shell)


def collector(seen: list[int]) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for env in ctx.inbox:
                assert isinstance(env.event, ToyDoubled)
                seen.append(env.event.n)

    return ActorSpec(name="collector", consumes={ToyDoubled}, shell=shell)


def new_bus(path: Path) -> Bus:
    return Bus(clock=TrioClock(), journal=JournalWriter(path, make_header({"factor": 2})))


async def test_end_of_input_cascades_and_nothing_is_lost(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    seen: list[int] = []
    bus = new_bus(tmp_path / "a.rtpj")
    with trio.fail_after(30):
        outcome = await run_session(
            [numbers_source(list(range(50)), 0.01), doubler(), collector(seen)], bus=bus, end_when=["source"]
        )
    assert outcome.ok and outcome.ending_reason == "end of input"
    assert seen == [2 * v for v in range(50)]
    journal, envs = load_envelopes(tmp_path / "a.rtpj")
    assert journal.end.reason is EndReason.CLOSED
    doubled = [e for e in envs if isinstance(e.event, ToyDoubled)]
    assert all(e.source == "doubler" and e.cause is not None for e in doubled)


async def test_failing_actor_stops_the_session_and_is_journaled(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    async def broken(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for env in ctx.inbox:
                if isinstance(env.event, ToyNumber) and env.event.n == 3:
                    raise RuntimeError("tool registry exploded\nsecond line is not shown")

    bus = new_bus(tmp_path / "f.rtpj")
    with trio.fail_after(30):
        outcome = await run_session(
            [numbers_source(list(range(10_000)), 0.01), ActorSpec(name="broken", consumes={ToyNumber}, shell=broken)],
            bus=bus,
        )
    assert not outcome.ok
    assert outcome.failed_actor == "broken"
    assert outcome.error == "RuntimeError: tool registry exploded"
    journal, envs = load_envelopes(tmp_path / "f.rtpj")
    assert journal.end.reason is EndReason.CLOSED  # closed even though an actor failed
    failures = [e.event for e in envs if isinstance(e.event, ActorFailed)]
    assert failures == [ActorFailed(actor="broken", error="RuntimeError: tool registry exploded")]


async def test_session_ending_event_stops_actors_that_would_run_forever(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async def forever(ctx: ActorContext) -> None:
        with ctx.inbox:
            await trio.sleep_forever()

    async def ender(ctx: ActorContext) -> None:
        with ctx.inbox:
            await trio.sleep(5)
            await ctx.publish(SessionEnding(reason="user pressed Ctrl-C"))

    bus = new_bus(tmp_path / "e.rtpj")
    with trio.fail_after(60):
        outcome = await run_session(
            [ActorSpec(name="ender", consumes=(), shell=ender), ActorSpec(name="forever", consumes=(), shell=forever)],
            bus=bus,
            grace_s=2,
        )
    assert outcome.ok and outcome.ending_reason == "user pressed Ctrl-C"


async def test_clock_actor_fires_timers_replaces_and_cancels(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    fired: list[tuple[str, float]] = []

    async def requester(ctx: ActorContext) -> None:
        with ctx.inbox:
            start = trio.current_time()
            await ctx.publish(TimerRequested(key="a", delay_ms=400))
            await ctx.publish(TimerRequested(key="b", delay_ms=100))
            await ctx.publish(TimerRequested(key="a", delay_ms=800))  # replaces the first "a"
            async for env in ctx.inbox:
                assert isinstance(env.event, TimerFired)
                fired.append((env.event.key, round(trio.current_time() - start, 3)))
                if len(fired) == 2:
                    return

    bus = new_bus(tmp_path / "t.rtpj")
    with trio.fail_after(30):
        outcome = await run_session(
            [ActorSpec(name="req", consumes={TimerFired}, shell=requester), clock_actor()], bus=bus, end_when=["req"]
        )
    assert outcome.ok
    assert fired == [("b", 0.1), ("a", 0.8)]


@pytest.mark.parametrize("capacity", [1, 8])
async def test_small_inboxes_still_deliver_everything(
    tmp_path: Path, autojump_clock: trio.abc.Clock, capacity: int
) -> None:
    seen: list[int] = []
    bus = new_bus(tmp_path / f"c{capacity}.rtpj")
    spec = collector(seen)
    small = ActorSpec(name=spec.name, consumes=spec.consumes, shell=spec.shell, capacity=capacity)
    with trio.fail_after(30):
        await run_session([numbers_source(list(range(100))), doubler(), small], bus=bus, end_when=["source"])
    assert seen == [2 * v for v in range(100)]


async def test_a_failure_inside_a_shells_nursery_is_reported_as_its_one_line(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async def nested(ctx: ActorContext) -> None:
        with ctx.inbox:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep_forever)
                raise ValueError("bad tool argument 'unit'")

    bus = new_bus(tmp_path / "n.rtpj")
    with trio.fail_after(30):
        outcome = await run_session([ActorSpec(name="tools", consumes=(), shell=nested)], bus=bus)
    assert outcome.error == "ValueError: bad tool argument 'unit'"


def slow_drainer(seen: list[int], *, per_event_s: float) -> ActorSpec:
    """Takes ``per_event_s`` for each event it drains: a shutdown bound must cut it short."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for env in ctx.inbox:
                assert isinstance(env.event, ToyDoubled)
                await trio.sleep(per_event_s)
                seen.append(env.event.n)

    return ActorSpec(name="slow", consumes={ToyDoubled}, shell=shell)


async def test_control_end_journals_the_reason_and_bounds_the_whole_shutdown(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """A signal ends the session at once: SessionEnding(reason) is journaled, the cores drain what they can,
    and the whole shutdown is bounded by the control's grace (not grace_s per actor)."""
    control = SessionControl(grace_s=1.5)
    seen: list[int] = []
    bus = new_bus(tmp_path / "s.rtpj")

    async def press_ctrl_c() -> None:
        await trio.sleep(3)
        assert control.end("interrupted")
        assert not control.end("terminated")  # the first reason stands

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(press_ctrl_c)
            start = trio.current_time()
            outcome = await run_session(
                [numbers_source(list(range(1000)), 0.01), doubler(), slow_drainer(seen, per_event_s=0.5)],
                bus=bus,
                grace_s=30,
                control=control,
            )
            took = trio.current_time() - start
    assert outcome.ok and outcome.ending_reason == "interrupted"
    assert 3 <= took <= 3 + 1.5 + 0.1
    journal, envs = load_envelopes(tmp_path / "s.rtpj")
    assert journal.end.reason is EndReason.CLOSED
    endings = [e for e in envs if isinstance(e.event, SessionEnding)]
    assert [(e.source, e.event) for e in endings] == [("supervisor", SessionEnding(reason="interrupted"))]
    assert len(seen) >= 6  # the slow core kept draining until the bound
    assert not control.end("hangup")  # over: nothing to end


async def test_control_end_before_the_session_starts_ends_it_as_it_starts(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    control = SessionControl()
    assert control.end("terminated")
    bus = new_bus(tmp_path / "b.rtpj")
    with trio.fail_after(30):
        outcome = await run_session([numbers_source(list(range(1000)), 0.01), doubler()], bus=bus, control=control)
    assert outcome.ending_reason == "terminated"
    journal, envs = load_envelopes(tmp_path / "b.rtpj")
    assert journal.end.reason is EndReason.CLOSED
    assert [type(e.event).__name__ for e in envs][:2] == ["SessionStarted", "SessionEnding"]


async def test_control_end_while_already_ending_keeps_the_reason_but_hurries(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    control = SessionControl(grace_s=1)
    seen: list[int] = []

    async def ender(ctx: ActorContext) -> None:
        with ctx.inbox:
            for n in range(100):
                await ctx.publish(ToyNumber(n=n))
            await ctx.publish(SessionEnding(reason="end of input"))
            await trio.sleep(2)  # the shutdown now waits on the slow drainer
            control.end("interrupted")
            await trio.sleep_forever()

    bus = new_bus(tmp_path / "h.rtpj")
    with trio.fail_after(60):
        start = trio.current_time()
        outcome = await run_session(
            [ActorSpec(name="src", consumes=(), shell=ender), doubler(), slow_drainer(seen, per_event_s=0.5)],
            bus=bus,
            grace_s=30,
            control=control,
        )
        took = trio.current_time() - start
    assert outcome.ending_reason == "end of input"
    assert took <= 2 + 1 + 0.1 and len(seen) < 100
    _, envs = load_envelopes(tmp_path / "h.rtpj")
    assert [e.event.reason for e in envs if isinstance(e.event, SessionEnding)] == ["end of input"]


async def test_an_interval_fsync_never_stalls_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many sessions share one loop: each one's once-a-second fsync (milliseconds on a real disk) runs in a worker
    thread, so a slow disk holds no other task back. Real clock: the point is wall time."""
    import os
    import time

    from pipeline.journal import FsyncPolicy

    synced: list[float] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.25)  # a disk that takes a quarter of a second
        synced.append(time.monotonic())

    monkeypatch.setattr(os, "fsync", slow_fsync)
    writer = JournalWriter(tmp_path / "slow.rtpj", make_header({}), fsync=FsyncPolicy.from_text("interval:0.1"))
    bus = Bus(clock=TrioClock(), journal=writer)
    gaps: list[float] = []

    def ticker() -> ActorSpec:
        async def shell(ctx: ActorContext) -> None:
            with ctx.inbox:
                last = trio.current_time()
                for _ in range(60):  # 0.6 s at 10 ms
                    await trio.sleep(0.01)
                    now = trio.current_time()
                    gaps.append(now - last)
                    last = now

        return ActorSpec(name="ticker", consumes=frozenset(), shell=shell)

    with trio.fail_after(30):
        outcome = await run_session([ticker()], bus=bus, end_when=["ticker"])
    assert outcome.ok
    assert synced  # the flusher did fsync while the ticker ran (and once more at close)
    assert max(gaps) < 0.2, max(gaps)  # a 0.25 s fsync on the loop would show as a gap of at least 0.25 s
