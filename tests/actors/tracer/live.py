"""A live session with the session's own tracer pointed at a fake Maxim: the embedded server over real loopback
WebSockets, the pipeline of ``pipeline/session.py``, the tracer's ``environ`` aimed at ``fake``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from actors.tracer.actor import tracer_actor
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.config import RunConfig
from pipeline.connection import connect, resolve_endpoint
from pipeline.journal import JournalWriter, make_header
from pipeline.projections.conversation import Conversation
from pipeline.runtime import SessionOutcome, run_session
from pipeline.server import ServerConfig, ServerHandle, serve
from pipeline.session import build_actors, core_config, make_sink, make_source
from tests.actors.tracer.fake_maxim import FakeMaxim


async def run_traced_session(
    make_config: Callable[[str], RunConfig],
    *,
    journal: Path,
    fake: FakeMaxim,
    repo_id: str,
    fail_after_s: float,
    extra_cores: Mapping[str, Any] | None = None,
) -> tuple[SessionOutcome, dict[str, Any]]:
    """Serve, run the session ``make_config(server_url)`` describes; return its outcome and core config.

    ``fake`` is closed after."""
    try:
        with trio.fail_after(fail_after_s):
            async with trio.open_nursery() as nursery:
                handle: ServerHandle = await nursery.start(serve, ServerConfig(seed=7))
                config = make_config(handle.realtime_url)
                cores = {**core_config(config), **(extra_cores or {})}
                bus = Bus(clock=TrioClock(), journal=JournalWriter(journal, make_header(cores)))
                environ = {"MAXIM_API_KEY": "test-key", "MAXIM_LOG_REPO_ID": repo_id, "MAXIM_BASE_URL": fake.base_url}
                async with connect(resolve_endpoint(config.server, config.model, None)) as ws:
                    specs = build_actors(config, cores, ws, source=make_source(config), sink=make_sink(config, None),
                                         conversation=Conversation(), stream=None)  # fmt: skip
                    # the session's own tracer, pointed at the fake Maxim instead of the process environment
                    specs = [tracer_actor(journal_path=journal, config=cores, environ=environ) if s.name == "tracer" else s
                             for s in specs]  # fmt: skip
                    outcome = await run_session(specs, bus=bus)
                nursery.cancel_scope.cancel()
    finally:
        fake.close()
    return outcome, cores
