"""The journal as a debugger on a one-hour call: `show`, `latency`, `render`, `export`, `inspect` and `replay
--verify`, each as the user runs it (a fresh process), timed, with its peak memory (the child's max RSS). Each
reads the journal as a stream, so its memory does not grow with the call's length (goal: under 150 MB).

The journal is built here: an hour of 40 ms capture chunks (speech and silence), and every 15 s a turn as a
real-time session journals it (VAD start/stop, commit, the user item, its transcript, a response with 5 s of
assistant audio in 200 ms deltas with their text, real-time playback progress every 40 ms, done, rate
limits). The meter, playback and transcripts cores run over it as it is written and their outputs are
journaled with their causes, so `replay --verify` has real work to check (every chunk through the meter).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Result
from events.audio import AudioChunk
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AssistantTextDelta,
    AssistantTextDone,
    AudioCommitted,
    InputTranscriptCompleted,
    ItemAdded,
    ItemDone,
    OutputItemAdded,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
)
from events.runtime import SessionEnding, SessionStarted
from pipeline.config import RunConfig
from pipeline.journal import FsyncPolicy, JournalWriter, iter_journal, make_header
from pipeline.journal.writer import FsyncMode

HOUR_S = 3600
CHUNK_MS = 40
TURN_EVERY_S = 15
REPLY_MS = 5000
TARGET_S = 3.0
ROOT = Path(__file__).resolve().parents[1]
MS = 1_000_000


def _pcm(ms: int, amplitude: int) -> bytes:
    t = np.arange(ms * 24) / 24000
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()


SPEECH, SILENCE, REPLY_BLOCK = _pcm(CHUNK_MS, 6000), bytes(CHUNK_MS * 48), _pcm(200, 5000)


def _turn(k: int) -> Iterator[tuple[int, str, Event]]:
    """The non-capture events of turn ``k`` (the user speaks 2 s from ``start``), as (t_ns, source, event)."""
    start = (k * TURN_EVERY_S + 1) * 1000
    user, reply, response = f"item_u{k:04d}", f"item_a{k:04d}", f"resp_{k:04d}"
    yield (start + 300) * MS, "router", SpeechStarted(item_id=user, audio_start_ms=start + 300)
    yield (start + 2500) * MS, "router", SpeechStopped(item_id=user, audio_end_ms=start + 2500)
    yield (start + 2501) * MS, "router", AudioCommitted(item_id=user)
    yield (start + 2502) * MS, "router", ItemAdded(item_id=user, item_type="message", role="user", status="completed")
    yield (start + 2600) * MS, "router", ResponseCreated(response_id=response)
    usage = {"type": "tokens", "input_tokens": 20, "output_tokens": 8, "total_tokens": 28}
    yield (start + 2700) * MS, "router", InputTranscriptCompleted(item_id=user, transcript="what is the weather like in paris", usage=usage)
    yield (start + 3000) * MS, "router", OutputItemAdded(response_id=response, item_id=reply, item_type="message", role="assistant")
    yield (start + 3001) * MS, "router", ItemAdded(item_id=reply, previous_item_id=user, item_type="message", role="assistant", status="in_progress")
    for n in range(REPLY_MS // 200):
        yield (start + 3010 + n * 20) * MS, "router", AssistantAudioDelta(response_id=response, item_id=reply, pcm=REPLY_BLOCK)
        if n % 5 == 0:
            yield (start + 3011 + n * 20) * MS, "router", AssistantTextDelta(response_id=response, item_id=reply, modality="audio", delta=" sunny")
    yield (start + 3600) * MS, "router", AssistantAudioDone(response_id=response, item_id=reply)
    yield (start + 3601) * MS, "router", AssistantTextDone(response_id=response, item_id=reply, modality="audio", text="It is sunny" * 5)
    for n in range(REPLY_MS // CHUNK_MS):
        yield (start + 3050 + n * CHUNK_MS) * MS, "playback", PlaybackProgress(item_id=reply, played_ms=(n + 1) * CHUNK_MS, received_ms=REPLY_MS)
    end = start + 3050 + REPLY_MS
    yield end * MS, "playback", PlaybackFinished(item_id=reply, played_ms=REPLY_MS)
    yield (end + 1) * MS, "router", ItemDone(item_id=reply, previous_item_id=user, item_type="message", role="assistant", status="completed")
    total = 300 + 10 * k
    usage = {"total_tokens": total, "input_tokens": total - 100, "output_tokens": 100}
    yield (end + 2) * MS, "router", ResponseDone(response_id=response, status="completed", usage=usage,
                                                 output_item_ids=(reply,), output_types=("message",))  # fmt: skip
    yield (end + 3) * MS, "router", RateLimitsUpdated(rate_limits=({"name": "tokens", "limit": 40000, "remaining": 39000},))


def _capture() -> Iterator[tuple[int, str, Event]]:
    for i in range(HOUR_S * 1000 // CHUNK_MS):
        t_ms = i * CHUNK_MS
        in_turn = (t_ms - 1000) % (TURN_EVERY_S * 1000)
        speaking = t_ms >= 1000 and 300 <= in_turn < 2300
        yield t_ms * MS + 500_000, "capture", AudioChunk(index=i, pcm=SPEECH if speaking else SILENCE)


def build(path: Path) -> int:
    """Write the hour; run the replayable cores over it as they would have run, journaling their outputs."""
    from pipeline.registry import replayable_actors

    config = RunConfig(fast=False).for_cores()
    actors = {name: a for name, a in replayable_actors().items() if name in ("meter", "playback", "transcripts")}
    cores = {name: (a.consumes, a.make_core(config)) for name, a in actors.items()}
    events: list[tuple[int, str, Event]] = [(0, "supervisor", SessionStarted(actors=tuple(actors)))]
    events += list(_capture())
    for k in range(HOUR_S // TURN_EVERY_S - 1):
        events += list(_turn(k))
    events.sort(key=lambda e: e[0])
    events.append((events[-1][0] + MS, "conductor", SessionEnding(reason="end of input")))
    writer = JournalWriter(path, make_header(config), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
    seq = 0

    def append(t_ns: int, source: str, event: Event, cause: int | None) -> None:
        nonlocal seq
        env = Envelope(seq=seq, t_ns=t_ns, source=source, cause=cause, event=event)
        seq += 1
        writer.append(env)
        for name, (consumes, core) in cores.items():
            if type(event) in consumes:
                for out in core.handle(env):
                    append(t_ns, name, out, env.seq)

    for t_ns, source, event in events:
        append(t_ns, source, event, None)
    writer.close()
    return seq


_CHILD = """
import os, sys
from pipeline.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
times = os.times()
print(f"peak-kb {peak_kb} cpu-s {times.user + times.system}", file=sys.stderr)
sys.exit(code)
"""


def _measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one `rtpipe` process. The peak is the child's own
    high-water mark (``VmHWM`` of its address space): a forked child's ``ru_maxrss`` would start at this
    bench's own size. CPU time is shown beside the wall time: on a shared machine the difference is waiting."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"rtpipe {' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    fields = next(line.split() for line in done.stderr.splitlines() if line.startswith("peak-kb "))
    return elapsed, float(fields[3]), int(fields[1]) / 1024


def run() -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "hour.rtpj"
        started = time.perf_counter()
        records = build(journal)
        build_s = time.perf_counter() - started
        size_mb = journal.stat().st_size / 1e6
        results.append(Result(f"one-hour journal: {records:,} records, {size_mb:,.0f} MB (built in {build_s:.0f} s)", records, "records"))
        started = time.perf_counter()
        stream = iter_journal(journal)
        for _ in stream:
            pass
        read_s = time.perf_counter() - started
        assert stream.records == records and stream.clean
        results.append(Result(f"hour journal streamed ({size_mb / read_s:,.0f} MB/s)", records / read_s, "records/s", 500_000, "min"))
        commands: list[tuple[str, list[str]]] = [
            ("show", ["show", str(journal)]),
            ("latency", ["latency", str(journal)]),
            ("render", ["render", str(journal), "-o", str(Path(tmp) / "hour.wav")]),
            ("export", ["export", str(journal), "-o", str(Path(tmp) / "hour.md")]),
            ("inspect", ["inspect", str(journal)]),
            ("replay --verify", ["replay", str(journal), "--verify"]),
        ]
        for name, argv in commands:
            seconds, cpu_s, peak_mb = _measure(argv)
            results.append(Result(f"{name} (hour; {cpu_s:.2f} s CPU)", seconds, "s", TARGET_S))
            results.append(Result(f"{name} (hour) peak memory", peak_mb, "MB", 150))
    return results


def main(argv: list[str]) -> Any:  # `python -m bench.bench_debug`: the rows alone
    for r in run():
        print(f"| debug | {r.name} | {r.value_text()} | {r.target_text()} | {r.ratio_text()} |")


if __name__ == "__main__":
    main(sys.argv[1:])
