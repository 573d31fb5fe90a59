"""Uploader: added chunk latency, capture → socket write.

An ``AudioChunk`` (40 ms of 24 kHz PCM16) is published on a journaled bus, as capture does; the uploader
shell base64-encodes it and writes it to a real loopback WebSocket served by trio-websocket. The clock starts
just before ``publish`` and stops right after ``send_message`` returns (a wrapper around the socket, the shell
is unchanged). One chunk is in flight at a time, so this is the path's own latency (journal append, bus hop,
encode, frame write), not queueing behind earlier audio.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import trio
import trio_websocket

from actors.uploader.actor import uploader_actor
from bench.common import Result
from events.audio import AudioChunk
from events.playback import SessionReady
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.connection import Endpoint, connect
from pipeline.journal import FsyncPolicy, JournalWriter, make_header
from pipeline.journal.writer import FsyncMode
from pipeline.runtime import ActorContext

N = 3_000
WARMUP = 100
CHUNK_BYTES = 1_920  # 40 ms at 24 kHz PCM16 mono


class TimedSocket:
    """Forwards ``send_message`` and notes when each write returned."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.sent = trio.Event()
        self.sent_at = 0.0

    async def send_message(self, message: str) -> None:
        await self.ws.send_message(message)
        self.sent_at = time.perf_counter()
        self.sent.set()


def run() -> list[Result]:
    latencies: list[float] = []

    async def main(path: Path) -> None:
        async def sink(request: trio_websocket.WebSocketRequest) -> None:
            ws = await request.accept()
            try:
                while True:
                    await ws.get_message()
            except trio_websocket.ConnectionClosed:
                pass

        async with trio.open_nursery() as server_nursery:
            server = await server_nursery.start(trio_websocket.serve_websocket, sink, "127.0.0.1", 0, None)
            journal = JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
            bus = Bus(clock=TrioClock(), journal=journal)
            async with connect(Endpoint(url=f"ws://127.0.0.1:{server.port}/v1/realtime")) as ws:
                timed = TimedSocket(ws)
                spec = uploader_actor(timed)
                ctx = ActorContext(spec.name, bus.subscribe(spec.name, spec.consumes, capacity=spec.capacity), bus)
                pcm = b"\x10\x00" * (CHUNK_BYTES // 2)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(spec.shell, ctx)
                    await bus.publish(SessionReady(session_id="sess_bench"), source="conductor")
                    for i in range(N + WARMUP):
                        timed.sent = trio.Event()
                        started = time.perf_counter()
                        await bus.publish(AudioChunk(index=i, pcm=pcm), source="capture")
                        await timed.sent.wait()
                        if i >= WARMUP:
                            latencies.append(timed.sent_at - started)
                    ctx.inbox.close_input()
            bus.close()
            journal.close()
            server_nursery.cancel_scope.cancel()

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, Path(tmp) / "uploader.rtpj")
    lat_ms = sorted(x * 1e3 for x in latencies)
    return [
        Result("added chunk latency p50 (capture -> socket write)", statistics.median(lat_ms), "ms", 1.0),
        Result("added chunk latency p99", lat_ms[int(len(lat_ms) * 0.99)], "ms", 1.0),
    ]


if __name__ == "__main__":
    for result in run():
        print(f"{result.name}: {result.value_text()} (target {result.target_text()}, {result.ratio_text()})")
