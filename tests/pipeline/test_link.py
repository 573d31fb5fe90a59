"""The link and the connection actor on real loopback sockets: the router follows the call from socket to
socket (a fresh guard each), the uploader sends each frame on its own connection, and the connection actor
opens, reports and retires sockets (the wait on the session clock, a refused or rejected handshake)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_websocket

from actors.router.actor import router_actor
from actors.uploader.actor import CONSUMES as UPLOADER_CONSUMES
from actors.uploader.actor import uploader_actor
from events.base import registered_tags
from events.commands import ClientEventSent, ClientSendFailed, response_create
from events.connection import (
    ConnectionRetired,
    ConversationReseeded,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)
from events.protocol import ConnectionClosed, ResponseCreated, ResponseDone, StateViolation
from pipeline.bus import Bus
from pipeline.clock import SimClock, TrioClock
from pipeline.connection import Endpoint, connect
from pipeline.link import Link, connection_actor
from pipeline.runtime import ActorContext
from tests.actors.router.loopback import drain, events_of
from tests.actors.router.messages import msg

ALL_EVENTS = set(registered_tags().values())
CREATED = msg("response.created", response={"id": "resp_1", "status": "in_progress", "output": []})
DONE = msg("response.done", response={"id": "resp_1", "status": "completed", "output": [], "usage": {}})


class Peers:
    """A loopback server whose connections the test drives: ``accepted`` receives each server-side socket."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.send, self.accepted = trio.open_memory_channel[trio_websocket.WebSocketConnection](10)
        self.port = 0
        self.status: int | None = None  # reject every upgrade with this HTTP status

    async def start(self) -> Peers:
        async def handler(request: trio_websocket.WebSocketRequest) -> None:
            if self.status is not None:
                await request.reject(self.status)
                return
            ws = await request.accept()
            await self.send.send(ws)
            with trio.CancelScope():
                await trio.sleep_forever()  # the test drives it; cancelled with the nursery

        server = await self.nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        self.port = server.port
        return self

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(url=f"ws://127.0.0.1:{self.port}/v1/realtime?model=gpt-realtime")


@asynccontextmanager
async def peers() -> AsyncIterator[Peers]:
    async with trio.open_nursery() as nursery:
        yield await Peers(nursery).start()
        nursery.cancel_scope.cancel()


async def test_the_router_reads_the_next_socket_after_a_close_with_a_fresh_guard() -> None:
    bus = Bus(clock=TrioClock())
    inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", ALL_EVENTS, capacity=100)
    with trio.fail_after(10):
        async with peers() as server, connect(server.endpoint) as first, connect(server.endpoint) as second:
            one, two = await server.accepted.receive(), await server.accepted.receive()
            link = Link(first)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(router_actor(link).shell, ActorContext("router", inbox, bus))
                await one.send_message(CREATED)
                await one.aclose(1011, "gone")
                while not isinstance((await seen.receive()).event, ConnectionClosed):
                    pass
                link.attach(second)
                # resp_1 belongs to the first connection's session: on the second it was never created
                await two.send_message(DONE)
                got = [await seen.receive()]
                await trio.sleep(0.05)
                got += drain(seen)
                inbox.close_input()
    assert [type(e) for e in events_of(got)] == [StateViolation]
    assert isinstance(got[0].event, StateViolation) and got[0].event.response_id == "resp_1"


async def test_the_router_moves_to_a_newer_socket_while_the_old_one_is_still_open() -> None:
    bus = Bus(clock=TrioClock())
    inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", ALL_EVENTS, capacity=100)
    with trio.fail_after(10):
        async with peers() as server, connect(server.endpoint) as first, connect(server.endpoint) as second:
            one, two = await server.accepted.receive(), await server.accepted.receive()
            link = Link(first)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(router_actor(link).shell, ActorContext("router", inbox, bus))
                await one.send_message(CREATED)
                await seen.receive()
                link.attach(second)  # a recycle: make before break
                await trio.sleep(0.05)
                await one.send_message(DONE)  # the old session's: not read any more
                await two.send_message(CREATED)
                await two.send_message(DONE)
                got = [(await seen.receive()).event, (await seen.receive()).event]
                await trio.sleep(0.05)
                got += events_of(drain(seen))
                inbox.close_input()
    assert [type(e) for e in got] == [ResponseCreated, ResponseDone]


async def test_the_uploader_sends_each_frame_on_the_connection_it_was_decided_for() -> None:
    bus = Bus(clock=TrioClock())
    inbox = bus.subscribe("uploader", UPLOADER_CONSUMES, capacity=64)
    seen = bus.subscribe("test", {ClientEventSent, ClientSendFailed}, capacity=100)
    with trio.fail_after(10):
        async with peers() as server, connect(server.endpoint) as first, connect(server.endpoint) as second:
            one, two = await server.accepted.receive(), await server.accepted.receive()
            link = Link(first)
            await one.aclose(1011, "gone")
            await bus.publish(response_create("tools_0001"), source="test")  # connection 1: gone
            await bus.publish(Reconnected(attempt=1, connection=2), source="test")
            link.attach(second)
            await bus.publish(response_create("tools_0002"), source="test")  # connection 2
            inbox.close_input()
            await uploader_actor(link).shell(ActorContext("uploader", inbox, bus))
            assert '"tools_0002"' in await two.get_message()
    outcomes = events_of(drain(seen))
    assert isinstance(outcomes[0], ClientSendFailed) and outcomes[0].error.startswith("socket closed")
    assert isinstance(outcomes[1], ClientEventSent) and outcomes[1].event_id == "tools_0002"


def run_connection_actor(requests: list[object], *, status: int | None = None, close_port: bool = False) -> tuple[list[object], float, Link]:
    """Run the connection actor on simulated time against a loopback server; publish ``requests`` in turn,
    each after the previous one was answered. The events it published, the session time taken, its link."""
    found: list[object] = []
    link_box: list[Link] = []
    elapsed: list[float] = []

    async def main() -> None:
        bus = Bus(clock=TrioClock())
        inbox = bus.subscribe("connection", {ReconnectRequested, ConversationReseeded})
        seen = bus.subscribe("test", {Reconnected, ReconnectFailed, ConnectionRetired}, capacity=100)
        with trio.fail_after(60):
            async with peers() as server, connect(server.endpoint) as first:
                server.status = status
                link = Link(first)
                link_box.append(link)
                endpoint = server.endpoint
                if close_port:
                    endpoint = Endpoint(url="ws://127.0.0.1:9/v1/realtime")  # discard port: nothing listens
                start = trio.current_time()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(connection_actor(link, endpoint).shell, ActorContext("connection", inbox, bus))
                    for request in requests:
                        await bus.publish(request, source="conductor")  # type: ignore[arg-type]
                        if isinstance(request, ReconnectRequested):
                            answer = await seen.receive()
                            found.append(answer.event)
                    while True:  # the retirement, if any, follows the re-seed
                        await trio.sleep(0.1)
                        more = drain(seen)
                        if not more:
                            break
                        found.extend(e.event for e in more)
                    elapsed.append(trio.current_time() - start)
                    inbox.close_input()

    trio.run(main, clock=SimClock())
    return found, elapsed[0], link_box[0]


def test_the_connection_actor_waits_on_the_session_clock_opens_and_swaps_in_the_new_socket() -> None:
    began = time.perf_counter()
    found, session_s, link = run_connection_actor([ReconnectRequested(attempt=3, delay_ms=8000)])
    assert found == [Reconnected(attempt=3, connection=2)]
    assert session_s >= 8.0 and time.perf_counter() - began < 8.0  # simulated time: the wait is not real
    assert link.number == 2 and link.socket(1) is None and link.final  # the dead one detached; ended


def test_a_recycle_keeps_the_old_socket_until_the_reseed_then_retires_it() -> None:
    found, _, link = run_connection_actor(
        [ReconnectRequested(attempt=1, delay_ms=0, recycle=True), ConversationReseeded(items=(), recycle=True)]
    )
    assert found == [Reconnected(attempt=1, connection=2, recycle=True), ConnectionRetired(connection=1)]
    assert link.socket(1) is None and link.number == 2


def test_a_refused_or_rejected_handshake_is_a_failed_attempt_and_401_is_fatal() -> None:
    found, _, _ = run_connection_actor([ReconnectRequested(attempt=1, delay_ms=0)], close_port=True)
    [failed] = found
    assert isinstance(failed, ReconnectFailed) and not failed.fatal
    assert failed.error == "cannot reach ws://127.0.0.1:9/v1/realtime: connection refused (is the server running?)"
    found, _, _ = run_connection_actor([ReconnectRequested(attempt=2, delay_ms=0)], status=401)
    [failed] = found
    assert isinstance(failed, ReconnectFailed) and failed.fatal and failed.attempt == 2
    assert "HTTP 401" in failed.error
    found, _, _ = run_connection_actor([ReconnectRequested(attempt=1, delay_ms=0)], status=503)
    assert isinstance(found[0], ReconnectFailed) and not found[0].fatal
