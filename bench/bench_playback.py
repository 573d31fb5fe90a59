"""Playback: audio-delta -> output latency (``AssistantAudioDelta`` published on a journaled bus until the
sink's ``write`` receives those bytes), in fast (non-real-time) mode with a sink that only timestamps.

One delta is in flight at a time, so this is the path's own latency (bus hop, core, playout, progress
report), not queueing behind earlier audio. Deltas are 100 ms of 24 kHz PCM16 (4,800 bytes), ten per item,
each item closed by ``response.done`` as the server would.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import trio

from actors.playback.actor import playback_actor
from actors.playback.sinks import NullSink
from bench.common import Result
from events.protocol import AssistantAudioDelta, ResponseDone
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import FsyncPolicy, JournalWriter, make_header
from pipeline.journal.writer import FsyncMode
from pipeline.runtime import ActorContext

N = 5_000
DELTAS_PER_ITEM = 10


def run() -> list[Result]:
    latencies: list[float] = []

    async def main(path: Path) -> None:
        journal = JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
        bus = Bus(clock=TrioClock(), journal=journal)
        written = trio.Event()
        sent_at = 0.0

        def on_write(pcm: bytes) -> None:
            latencies.append(time.perf_counter() - sent_at)
            written.set()

        spec = playback_actor(NullSink(on_write=on_write), realtime=False)
        ctx = ActorContext(spec.name, bus.subscribe(spec.name, spec.consumes, capacity=spec.capacity), bus)
        pcm = b"\x10\x00" * 2400
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spec.shell, ctx)
            for i in range(N):
                item, response = f"item_{i // DELTAS_PER_ITEM}", f"resp_{i // DELTAS_PER_ITEM}"
                written = trio.Event()
                sent_at = time.perf_counter()
                await bus.publish(AssistantAudioDelta(response_id=response, item_id=item, pcm=pcm), source="router")
                await written.wait()
                if i % DELTAS_PER_ITEM == DELTAS_PER_ITEM - 1:
                    await bus.publish(ResponseDone(response_id=response, status="completed"), source="router")
            ctx.inbox.close_input()  # end of input: playback drains and returns
        bus.close()
        journal.close()

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, Path(tmp) / "playback.rtpj")
    lat_ms = sorted(x * 1e3 for x in latencies)
    return [
        Result("audio delta -> output p50", statistics.median(lat_ms), "ms"),
        Result("audio delta -> output p99", lat_ms[int(len(lat_ms) * 0.99)], "ms", 1.0),
    ]


if __name__ == "__main__":
    for result in run():
        print(f"{result.name}: {result.value_text()} (target {result.target_text()})")
