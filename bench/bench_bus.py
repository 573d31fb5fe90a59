"""Bus: latency of one hop (publish -> a subscriber's receive) with the journal attached."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import trio
import trio.lowlevel

from bench.common import Result
from events.audio import AudioChunk
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import FsyncPolicy, JournalWriter, make_header
from pipeline.journal.writer import FsyncMode

N = 20_000


def run() -> list[Result]:
    latencies: list[float] = []

    async def main(path: Path) -> None:
        bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE)))
        inbox = bus.subscribe("uploader", {AudioChunk}, capacity=1024)
        sent: dict[int, float] = {}
        pcm = b"\x01\x00" * 960

        async def consumer() -> None:
            async for env in inbox:
                latencies.append(time.perf_counter() - sent[env.seq])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            for i in range(N):
                # stamp just before publishing; seq is predictable (single publisher)
                sent[bus._next_seq] = time.perf_counter()
                await bus.publish(AudioChunk(index=i, pcm=pcm), source="capture")
                await trio.lowlevel.checkpoint()
            bus.close()
        bus.journal.close()  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, Path(tmp) / "bus.rtpj")
    lat_us = sorted(x * 1e6 for x in latencies)
    return [
        Result("bus hop p50 (publish -> receive)", statistics.median(lat_us), "µs"),
        Result("bus hop p99", lat_us[int(len(lat_us) * 0.99)], "µs", 1000.0),
    ]
