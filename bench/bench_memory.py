"""Memory over a long --fast conversation: process RSS after 1 and after 10 minutes of conversation.

Conversation time is the audio that went through the session (user audio sent + assistant audio received).
The scripted user repeats a short exchange (with a story) until 10 minutes of conversation have passed. The
goal: RSS at 10 minutes within 10 % of RSS at 1 minute (no actor keeps audio it is not sending or playing;
the projection keeps text only). The server runs as its own `rtpipe serve` process: it must keep every item's
audio (for `conversation.item.retrieve`), which is the server's memory, not the pipeline's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

from bench.common import Result
from events.audio import AudioChunk
from events.protocol import AssistantAudioDelta
from pipeline.config import RunConfig
from pipeline.runtime import ActorContext, ActorSpec
from pipeline.session import run_live

MARKS_S = (60, 600)
LINES = ("hello there", "tell me a short story", "what time is it", "thank you")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_observer(samples: dict[int, float], done: trio.Event) -> ActorSpec:
    """Samples RSS when the conversation's audio crosses each mark."""

    async def shell(ctx: ActorContext) -> None:
        audio_bytes = 0
        with ctx.inbox:
            async for env in ctx.inbox:
                event = env.event
                if isinstance(event, AudioChunk | AssistantAudioDelta):
                    audio_bytes += len(event.pcm)
                for mark in MARKS_S:
                    if mark not in samples and audio_bytes / 48_000 >= mark:
                        samples[mark] = rss_mib()
                        if mark == MARKS_S[-1]:
                            done.set()

    return ActorSpec(name="rss", consumes={AudioChunk, AssistantAudioDelta}, shell=shell, capacity=4096)


def conversation(url: str, tmp: Path, samples: dict[int, float]) -> None:
    config = RunConfig(
        input="script", script=LINES * 40, fast=True, quiet=True, server=url, journal=tmp / "memory.rtpj", output="none"
    )

    async def main() -> None:
        done = trio.Event()
        async with trio.open_nursery() as nursery:

            async def stop_at_last_mark() -> None:
                await done.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_at_last_mark)
            await run_live(config, observers=[rss_observer(samples, done)])
            nursery.cancel_scope.cancel()

    trio.run(main)


def run() -> list[Result]:
    samples: dict[int, float] = {}
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = re.search(r"realtime: (ws://\S+)\)", server.stdout.readline())
        assert url, "rtpipe serve did not print its URL"
        with tempfile.TemporaryDirectory() as tmp:
            conversation(url.group(1), Path(tmp), samples)
    finally:
        server.terminate()
        server.wait(timeout=10)
    one, ten = samples.get(60, 0.0), samples.get(600, 0.0)
    return [
        Result("RSS after 1 min of conversation", one, "MiB"),
        Result("RSS after 10 min of conversation", ten, "MiB"),
        Result("RSS growth 1 -> 10 min", (ten / one) if one else 0.0, "x", 1.10),
    ]
