"""Running live sessions in-process against the embedded server (real loopback WebSockets)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from events.envelope import Envelope
from pipeline.clock import SimClock
from pipeline.config import RunConfig
from pipeline.journal import load_envelopes
from pipeline.registry import replayable_actors
from pipeline.replay import ActorReplay, replay
from pipeline.server import ServerConfig, ServerHandle, serve
from pipeline.session import SessionResult, run_live

Middle = Callable[[ServerHandle, trio.Nursery], Awaitable[str]]


@attrs.frozen(kw_only=True)
class LiveRun:
    result: SessionResult
    envelopes: list[Envelope]
    config: dict[str, Any]

    def events(self, cls: type[Any]) -> list[Any]:
        return [e.event for e in self.envelopes if isinstance(e.event, cls)]

    def envs(self, cls: type[Any]) -> list[Envelope]:
        return [e for e in self.envelopes if isinstance(e.event, cls)]

    def replay(self) -> list[ActorReplay]:
        from events.runtime import SessionStarted

        ran = set(self.events(SessionStarted)[0].actors)
        actors = [a for name, a in replayable_actors().items() if name in ran]
        return replay(self.envelopes, actors, self.config)


async def live_run(
    tmp_path: Path,
    *,
    lines: tuple[str, ...],
    server: ServerConfig | None = None,
    middle: Middle | None = None,
    timeout_s: float = 90,
    simulated: bool = True,
    **overrides: Any,
) -> LiveRun:
    """Start the embedded server, run one --fast session of ``lines`` against it, read the journal back.

    ``simulated`` (the default): server, ``middle`` and session run in a ``trio.run`` of their own on a
    ``SimClock`` (in a worker thread), so the session is paced as in real time but in session time, the same
    conversation whatever the machine's load (issue 13), and ``timeout_s`` is session time. Otherwise they
    run unpaced on the caller's clock."""
    journal = tmp_path / "session.rtpj"

    async def body() -> SessionResult:
        with trio.fail_after(timeout_s):
            async with trio.open_nursery() as nursery:
                handle: ServerHandle = await nursery.start(serve, server or ServerConfig(seed=7))
                url = handle.realtime_url if middle is None else await middle(handle, nursery)
                config = RunConfig(
                    server=url, input="script", script=lines, fast=True, quiet=True, journal=journal,
                    output=str(tmp_path / "session.wav"), **overrides,
                )  # fmt: skip
                result = await run_live(config, handle_signals=False)
                nursery.cancel_scope.cancel()
        return result

    if simulated:
        result = await trio.to_thread.run_sync(functools.partial(trio.run, body, clock=SimClock()))
    else:
        result = await body()
    header, envelopes = load_envelopes(journal)
    assert header.header is not None
    return LiveRun(result=result, envelopes=envelopes, config=header.header.config)
