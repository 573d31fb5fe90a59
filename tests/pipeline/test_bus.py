from __future__ import annotations

from pathlib import Path

import trio

from events.audio import AudioChunk
from events.runtime import InboxDropped
from pipeline.bus import Bus
from pipeline.clock import ManualClock, TrioClock
from tests.toy import ToyDoubled, ToyNumber


def chunk(i: int) -> AudioChunk:
    return AudioChunk(index=i, pcm=b"\x00\x00" * 4)


async def test_every_subscriber_sees_seq_order_with_concurrent_publishers(autojump_clock: trio.abc.Clock) -> None:
    bus = Bus(clock=TrioClock())
    slow = bus.subscribe("slow", {ToyNumber}, capacity=2)
    fast = bus.subscribe("fast", {ToyNumber}, capacity=64)
    seen: dict[str, list[int]] = {"slow": [], "fast": []}

    async def consume(name: str, inbox: object, delay: float) -> None:
        with inbox:  # type: ignore[attr-defined]
            async for env in inbox:  # type: ignore[attr-defined]
                seen[name].append(env.seq)
                await trio.sleep(delay)

    async def producer(k: int) -> None:
        for i in range(20):
            await bus.publish(ToyNumber(n=k * 100 + i), source=f"p{k}")
            await trio.sleep(0.001 * k)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume, "slow", slow, 0.01)
            nursery.start_soon(consume, "fast", fast, 0.0)
            async with trio.open_nursery() as producers:
                for k in range(4):
                    producers.start_soon(producer, k)
            bus.close()
    assert seen["slow"] == sorted(seen["slow"]) and len(seen["slow"]) == 80
    assert seen["fast"] == list(range(80))


async def test_full_audio_inbox_drops_and_journals_the_drop_while_other_events_block(
    autojump_clock: trio.abc.Clock,
) -> None:
    bus = Bus(clock=TrioClock())
    audio = bus.subscribe("uploader", {AudioChunk, ToyNumber}, capacity=3)
    drops = bus.subscribe("console", {InboxDropped}, capacity=64)
    for i in range(5):
        await bus.publish(chunk(i), source="capture")  # never waits
    assert len(audio) == 3
    dropped = [drops.receive_nowait().event for _ in range(2)]
    assert dropped == [
        InboxDropped(subscriber="uploader", dropped_tag="audio.chunk", dropped_seq=3),
        InboxDropped(subscriber="uploader", dropped_tag="audio.chunk", dropped_seq=5),
    ]
    # a non-audio event waits for room instead of dropping
    published = trio.Event()

    async def publish_number() -> None:
        await bus.publish(ToyNumber(n=1), source="x")
        published.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(publish_number)
            await trio.sleep(1)
            assert not published.is_set()  # backpressure: still waiting after a (virtual) second
            first = await audio.receive()
            assert first.event == chunk(0)
            await published.wait()
    rest = [audio.receive_nowait().event for _ in range(3)]
    assert rest == [chunk(1), chunk(2), ToyNumber(n=1)]


async def test_closed_receiver_never_blocks_publishers() -> None:
    bus = Bus(clock=ManualClock())
    inbox = bus.subscribe("gone", {ToyNumber}, capacity=1)
    inbox.close()
    with trio.fail_after(1):
        for i in range(5):
            await bus.publish(ToyNumber(n=i), source="x")


async def test_envelopes_carry_clock_time_and_cause() -> None:
    clock = ManualClock()
    bus = Bus(clock=clock)
    inbox = bus.subscribe("s", {ToyNumber, ToyDoubled})
    first = await bus.publish(ToyNumber(n=1), source="a")
    clock.advance_ms(40)
    second = await bus.publish(ToyDoubled(n=2, running_total=2), source="b", cause=first.seq)
    assert (first.seq, first.t_ns, second.seq, second.t_ns, second.cause) == (0, 0, 1, 40_000_000, 0)
    bus.close()
    assert [e.seq async for e in inbox] == [0, 1]


def test_an_fsync_is_due_by_the_journal_policy_always_included(tmp_path: Path) -> None:
    """The flusher asks the bus whether to fsync (in a worker thread): ``always`` is due on every flush,
    ``interval`` once a period, ``close`` never before the close."""
    from pipeline.journal.writer import FsyncPolicy, JournalWriter, make_header

    for policy, due in (("always", True), ("interval:3600", False), ("close", False)):
        writer = JournalWriter(tmp_path / f"{policy.split(':')[0]}.rtpj", make_header({}), fsync=FsyncPolicy.from_text(policy))
        bus = Bus(clock=ManualClock(), journal=writer)
        bus.sync()  # the period of interval starts now
        assert bus.sync_due() is due, policy
        writer.close()
