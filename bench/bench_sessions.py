"""Real-time sessions per process: many live sessions in one process against a server in another.

`rtpipe serve --port 0 --fixed-reply "hello there"` runs in its own process (no speech recognition: every
user turn is heard as the same words at once, so every turn gets the same spoken reply; its offline ASR is not
what is measured). This process runs N real-time sessions at once (`run_live`, one nursery each, all in one
`trio.run`), each a scripted user greeting the assistant over and over, with its journal and trace file, the
assistant's audio going nowhere (`output="none"`), for `DURATION_S` seconds of wall time.

Added chunk latency: from the moment a chunk is due (capture paces chunk ``i`` at ``start + i * 40 ms``; the
start is estimated as the earliest ``publish - i * 40 ms`` of the session) to the return of the socket write
that carries it, so it counts both a capture that wakes late (the process is busy) and the path to the socket
(journal append, bus hop, encode, frame write). The uploader's shell is unchanged; a wrapper around its inbox
notes which chunk it took and a wrapper around its socket when the write returned (as `bench_uploader`).

Beside it, the lateness of a bare task that only sleeps 20 ms at a time in the same loop: when it is as late as
the chunks, the delay is the loop's (or the machine's: other processes), not the audio path's.

CPU per session-minute: this process's CPU time (all threads) over the run, divided by the session-minutes
run; the server process's CPU (from /proc) is added for the total, so the server's share is visible. Sessions
per core = 60 CPU-seconds / client CPU-seconds per session-minute. Goal (issue 13): 100 per core for the client.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import trio

from bench.common import Result

STEPS = (5, 10, 20, 40, 80)  # stops at the first step whose p99 misses
DURATION_S = 20.0
# latencies of the first seconds (connect, session.update, first line's synthesis) are not counted
WARMUP_S = 3.0
P99_LIMIT_MS = 40.0
GOAL_PER_CORE = 100.0
CHUNK_S = 0.040
FIXED = "hello there"


@attrs.define
class Probe:
    """Per-session record: chunk index -> (publish time, socket write time), seconds of trio time."""

    published: dict[int, float] = attrs.Factory(dict)
    written: dict[int, float] = attrs.Factory(dict)
    pending: int | None = None


class TimedSocket:
    def __init__(self, ws: Any, probe: Probe) -> None:
        self.ws = ws
        self.probe = probe

    async def send_message(self, message: str) -> None:
        await self.ws.send_message(message)
        if self.probe.pending is not None:
            self.probe.written[self.probe.pending] = trio.current_time()
            self.probe.pending = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)  # the router reads through it; closing marks the real socket


def time_link(link: Any, probe: Probe) -> Any:
    """The call's link with every socket it hands out wrapped (the uploader sends on ``link.socket(n)``)."""
    original = link.socket
    wrapped: dict[int, TimedSocket] = {}

    def socket(number: int) -> Any:
        ws = original(number)
        if ws is None:
            return None
        timed = wrapped.get(number)
        if timed is None or timed.ws is not ws:
            timed = wrapped[number] = TimedSocket(ws, probe)
        return timed

    link.socket = socket
    return link


class TimedInbox:
    """The uploader's inbox, noting which chunk the shell took (everything else is the inbox itself)."""

    def __init__(self, inbox: Any, probe: Probe, start: float) -> None:
        self._inbox = inbox
        self._probe = probe
        self._start = start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inbox, name)

    def __enter__(self) -> Any:
        self._inbox.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._inbox.__exit__(*exc)

    async def __aiter__(self) -> AsyncIterator[Any]:
        from events.audio import AudioChunk

        async for env in self._inbox:
            if isinstance(env.event, AudioChunk):
                self._probe.pending = env.event.index
                self._probe.published[env.event.index] = self._start + env.t_ns / 1e9
            else:
                self._probe.pending = None
            yield env


@contextlib.contextmanager
def timed_uploaders(probes: list[Probe]) -> Iterator[None]:
    """Every session started meanwhile gets its uploader wrapped (shell unchanged) and a new probe."""
    import pipeline.session as session
    from pipeline.runtime import ActorContext, ActorSpec

    real: Callable[..., ActorSpec] = session.__dict__["uploader_actor"]

    def wrapped(ws: Any, **kwargs: Any) -> ActorSpec:
        probe = Probe()
        probes.append(probe)
        spec = real(time_link(ws, probe), **kwargs)

        async def shell(ctx: ActorContext) -> None:
            # the bus's clock counts from its own start: session time 0 is now minus what it reads now
            start = trio.current_time() - ctx.bus.clock.now_ns() / 1e9
            ctx.inbox = TimedInbox(ctx.inbox, probe, start)  # type: ignore[assignment]
            await spec.shell(ctx)

        return attrs.evolve(spec, shell=shell)

    setattr(session, "uploader_actor", wrapped)  # noqa: B010 (not a name mypy sees exported)
    try:
        yield
    finally:
        setattr(session, "uploader_actor", real)  # noqa: B010


def chunk_latencies_ms(probe: Probe, warm_from: float) -> list[float]:
    done = [i for i in probe.written if i in probe.published]
    if not done:
        return []
    start = min(probe.published[i] - i * CHUNK_S for i in done)
    return [(probe.written[i] - (start + i * CHUNK_S)) * 1e3 for i in done if probe.published[i] >= warm_from]


@attrs.frozen
class Step:
    sessions: int
    p99_ms: float
    p50_ms: float
    chunks: int
    client_cpu_s: float
    server_cpu_s: float
    session_minutes: float
    timer_p99_ms: float  # lateness of a bare 20 ms timer task in the same loop (the loop's own delay)

    @property
    def client_per_minute(self) -> float:
        return self.client_cpu_s / self.session_minutes

    @property
    def total_per_minute(self) -> float:
        return (self.client_cpu_s + self.server_cpu_s) / self.session_minutes


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_step(n: int, url: str, server_pid: int, tmp: Path, duration_s: float = DURATION_S) -> Step:
    from pipeline.config import RunConfig
    from pipeline.session import run_live

    probes: list[Probe] = []
    lines = (FIXED,) * 200
    configs = [
        RunConfig(
            input="script",
            script=lines,
            quiet=True,
            server=url,
            output="none",
            journal=tmp / f"s{n}-{i}.rtpj",
            summary_enabled=False,
        )
        for i in range(n)
    ]
    marks: dict[str, float] = {}
    failures: list[str] = []
    lateness: list[float] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def one(config: RunConfig) -> None:
                result = await run_live(config, handle_signals=False, stream=None)
                failures.append(result.failure or f"ended early: {result.outcome.ending_reason}")

            async def bare_timer() -> None:
                # a task doing nothing but waking every 20 ms: how late the loop itself runs a due task
                due = trio.current_time()
                while True:
                    due += 0.020
                    await trio.sleep_until(due)
                    if due >= marks["warm"]:
                        lateness.append((trio.current_time() - due) * 1e3)

            for config in configs:
                nursery.start_soon(one, config)
            nursery.start_soon(bare_timer)
            marks["warm"] = trio.current_time() + WARMUP_S
            await trio.sleep(WARMUP_S)
            marks["cpu0"], marks["srv0"], marks["t0"] = (
                time.process_time(),
                proc_cpu_s(server_pid),
                time.perf_counter(),
            )
            await trio.sleep(duration_s - WARMUP_S)
            marks["cpu1"], marks["srv1"], marks["t1"] = (
                time.process_time(),
                proc_cpu_s(server_pid),
                time.perf_counter(),
            )
            nursery.cancel_scope.cancel()

    with timed_uploaders(probes):
        trio.run(main)
    if failures:  # every session should still be talking when the step ends
        raise RuntimeError(f"{len(failures)} of {n} sessions ended early, e.g. {failures[0]}")
    latencies = sorted(x for p in probes for x in chunk_latencies_ms(p, marks["warm"]))
    minutes = n * (marks["t1"] - marks["t0"]) / 60
    return Step(
        sessions=n,
        p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else float("inf"),
        p50_ms=latencies[len(latencies) // 2] if latencies else float("inf"),
        chunks=len(latencies),
        client_cpu_s=marks["cpu1"] - marks["cpu0"],
        server_cpu_s=marks["srv1"] - marks["srv0"],
        session_minutes=minutes,
        timer_p99_ms=sorted(lateness)[int(len(lateness) * 0.99)] if lateness else float("inf"),
    )


@contextlib.contextmanager
def fixed_reply_server() -> Iterator[tuple[str, int]]:
    command = [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--fixed-reply", FIXED]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        found = re.search(r"realtime: (ws://\S+)\)", server.stdout.readline())
        assert found, "rtpipe serve did not print its URL"
        yield found.group(1), server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(steps: tuple[int, ...] = STEPS, duration_s: float = DURATION_S) -> list[Result]:
    results: list[Step] = []
    with fixed_reply_server() as (url, pid), tempfile.TemporaryDirectory() as tmp:
        for n in steps:
            step = run_step(n, url, pid, Path(tmp), duration_s)
            results.append(step)
            print(
                f"  {n} sessions: chunk p50 {step.p50_ms:.1f} ms p99 {step.p99_ms:.1f} ms ({step.chunks} chunks), bare timer late p99 {step.timer_p99_ms:.1f} ms, "
                f"client {step.client_per_minute:.2f} CPU-s/session-min, server {step.server_cpu_s / step.session_minutes:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if step.p99_ms >= P99_LIMIT_MS:
                break
    held = [s for s in results if s.p99_ms < P99_LIMIT_MS]
    best = max(held, key=lambda s: s.sessions) if held else results[0]
    # CPU per session-minute from the busiest step that held (the most sessions: fixed costs spread thinnest)
    client = best.client_per_minute
    per_core = 60.0 / client if client > 0 else 0.0
    return [
        Result(
            "largest concurrent real-time sessions with chunk p99 < 40 ms",
            float(best.sessions if held else 0),
            "sessions",
        ),
        Result(f"added chunk latency p99 at {best.sessions} sessions", best.p99_ms, "ms", P99_LIMIT_MS),
        Result(
            f"bare timer task lateness p99 at {best.sessions} sessions (the loop's own delay)",
            best.timer_p99_ms,
            "ms",
        ),
        Result("client CPU per session-minute (pipeline + journal)", client, "CPU-s", 60.0 / GOAL_PER_CORE),
        Result(
            "server CPU per session-minute (fixed reply, no ASR)",
            best.server_cpu_s / best.session_minutes,
            "CPU-s",
        ),
        Result("client + server CPU per session-minute", best.total_per_minute, "CPU-s"),
        Result(
            "client sessions per core (60 CPU-s / client CPU per session-minute)",
            per_core,
            "sessions",
            GOAL_PER_CORE,
            "min",
        ),
    ]


if __name__ == "__main__":
    for result in run():
        print(f"{result.name}: {result.value_text()} (target {result.target_text()}, {result.ratio_text()})")
