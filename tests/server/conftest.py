"""Fixtures: an in-process server whose every sent event is validated against the SDK's models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import pytest
import trio
from trio_websocket import open_websocket_url

from pipeline.server import ServerConfig, ServerHandle, serve
from tests.server.support import Client, EventChecker, FakeSpeech

StartServer = Callable[..., Awaitable[ServerHandle]]


@pytest.fixture
def checker() -> Any:
    checker = EventChecker()
    yield checker
    assert not checker.violations, "\n".join(checker.violations[:5])


@pytest.fixture
def fake_speech() -> FakeSpeech:
    return FakeSpeech()


@pytest.fixture
async def start_server(nursery: trio.Nursery, checker: EventChecker, fake_speech: FakeSpeech) -> StartServer:
    """Start a server with config overrides; `real_speech=True` uses espeak-ng / Whisper."""

    async def start(*, real_speech: bool = False, **overrides: Any) -> ServerHandle:
        # no modelled service latency (recognition, first audio): protocol tests need not wait for it
        config = attrs.evolve(
            ServerConfig(seed=7, pacing_ms=1.0, transcript_delay_ms=50, recognition_ms=0, first_audio_ms=0), **overrides
        )
        handle: ServerHandle = await nursery.start(
            partial(
                serve,
                config,
                observer=checker.server_event,
                client_observer=checker.client_event,
                speech=None if real_speech else fake_speech,
            )
        )
        return handle

    return start


@pytest.fixture
async def server(start_server: StartServer) -> ServerHandle:
    return await start_server()


@pytest.fixture
async def client(server: ServerHandle) -> AsyncIterator[Client]:
    async with open_websocket_url(server.realtime_url + "?model=gpt-realtime") as ws:
        yield Client(ws)
