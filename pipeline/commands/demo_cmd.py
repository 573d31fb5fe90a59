"""`rtpipe journal-demo`: a journaled session of generated audio through the meter actor, then its replay.

It shows the foundation end to end without a server: a generator capture source (tone bursts and silence,
paced in real time unless ``--fast``), the meter core, the bus, the journal, and the same verification
``rtpipe replay --verify`` prints (the actors that ran, nothing else), so the two always agree. It exits 1
when that verification fails.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from pipeline.runtime import ActorSpec

RATE = 24000


def tone_chunks(seconds: float, chunk_ms: int) -> list[bytes]:
    """Half-second 440 Hz bursts separated by half-second silences, as PCM16 chunks."""
    import numpy as np

    total = int(seconds * RATE)
    t = np.arange(total) / RATE
    on = (np.floor(t * 2) % 2 == 0).astype(np.float64)
    signal = 0.3 * np.sin(2 * math.pi * 440 * t) * on
    pcm = (signal * 32767).astype("<i2").tobytes()
    step = RATE * chunk_ms // 1000 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step)]


def generator_capture(chunks: list[bytes], chunk_ms: int, fast: bool) -> ActorSpec:
    import trio

    from events.audio import AudioChunk, CaptureEnded
    from pipeline.runtime import ActorContext, ActorSpec

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            start = trio.current_time()
            for index, pcm in enumerate(chunks):
                if not fast:
                    await trio.sleep_until(start + index * chunk_ms / 1000)
                await ctx.publish(AudioChunk(index=index, pcm=pcm))
            await ctx.publish(CaptureEnded(chunks=len(chunks)))

    return ActorSpec(name="capture", consumes=frozenset(), shell=shell)


def handle(args: argparse.Namespace) -> int:
    import trio

    from actors.meter.actor import meter_actor
    from pipeline.bus import Bus
    from pipeline.clock import TrioClock
    from pipeline.commands.inspect_cmd import render, survey
    from pipeline.commands.replay_cmd import verify
    from pipeline.journal import JournalWriter, make_header
    from pipeline.runtime import run_session

    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise UsageError(f"--seconds {args.seconds}: must be a number of seconds above 0")
    if args.chunk_ms <= 0:
        raise UsageError(f"--chunk-ms {args.chunk_ms}: must be a number of milliseconds above 0 (e.g. 40)")
    path = Path(args.journal or f"journals/demo-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.rtpj")
    config = {"meter_window_chunks": 12, "chunk_ms": args.chunk_ms, "source": "generator"}
    try:
        writer = JournalWriter(path, make_header(config))
    except FileExistsError:
        raise UsageError(f"{path}: already exists (a journal is never overwritten)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot create the journal ({exc.strerror})") from None

    async def main() -> None:
        bus = Bus(clock=TrioClock(), journal=writer)
        chunks = tone_chunks(args.seconds, args.chunk_ms)
        specs = [generator_capture(chunks, args.chunk_ms, args.fast), meter_actor(12)]
        outcome = await run_session(specs, bus=bus, end_when=["capture"])
        if not outcome.ok:
            raise SystemExit(f"rtpipe journal-demo: {outcome.failed_actor} failed: {outcome.error}")

    trio.run(main)
    print(render(survey(str(path))[0]))
    verification = verify(path)
    print("replay (as `rtpipe replay --verify` reports it):")
    print("\n".join(f"  {line}" for line in verification.lines))
    print(f"journal: {path}")
    return 0 if verification.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("journal-demo", help="journal generated audio through the meter actor and replay it")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the generated audio (default 3)")
    p.add_argument("--chunk-ms", type=int, default=40, help="chunk length in ms (default 40)")
    p.add_argument("--fast", action="store_true", help="do not pace the audio in real time")
    p.add_argument("--journal", help="journal path (default journals/demo-<time>.rtpj)")
    p.set_defaults(handler=handle)
