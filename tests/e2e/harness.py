"""Running live sessions in-process against the embedded server (real loopback WebSockets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from events.envelope import Envelope
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
    **overrides: Any,
) -> LiveRun:
    """Start the embedded server, run one --fast session of ``lines`` against it, read the journal back."""
    journal = tmp_path / "session.rtpj"
    with trio.fail_after(timeout_s):
        async with trio.open_nursery() as nursery:
            handle: ServerHandle = await nursery.start(serve, server or ServerConfig(seed=7))
            url = handle.realtime_url if middle is None else await middle(handle, nursery)
            config = RunConfig(
                server=url, input="script", script=lines, fast=True, quiet=True, journal=journal,
                output=str(tmp_path / "session.wav"), **overrides,
            )
            result = await run_live(config)
            nursery.cancel_scope.cancel()
    header, envelopes = load_envelopes(journal)
    assert header.header is not None
    return LiveRun(result=result, envelopes=envelopes, config=header.header.config)
