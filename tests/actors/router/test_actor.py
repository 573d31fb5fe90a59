from __future__ import annotations

import trio
import trio_websocket

from actors.router.actor import router_actor
from events.base import registered_tags
from events.protocol import (
    AssistantAudioDelta,
    AudioBufferCleared,
    ConnectionClosed,
    ItemAdded,
    ItemDeleted,
    ProtocolViolation,
    ResponseCreated,
    SessionCreated,
    UnknownServerEvent,
)
from pipeline.connection import close
from pipeline.runtime import ActorContext
from tests.actors.router.loopback import drain, events_of, loopback, new_bus
from tests.actors.router.messages import PCM, PCM_B64, SESSION, msg

ALL_EVENTS = set(registered_tags().values())


async def test_router_publishes_each_message_in_order_and_survives_bad_ones() -> None:
    script = [
        msg("session.created", session=SESSION),
        '{"type": "conversation.item.deleted", "item_id": ',  # malformed JSON
        msg("response.brand_new_thing", detail="x"),  # unknown type
        msg("response.created", response={"id": "resp_1", "status": "in_progress", "output": []}),
        msg("response.output_audio.delta", response_id="resp_1", item_id="item_a", output_index=0,
            content_index=0, delta=PCM_B64),
        msg("response.output_audio.delta", response_id="resp_1", item_id="item_a", output_index=0,
            content_index=0, delta="@@not base64@@"),
        msg("conversation.item.added", previous_item_id=None, item={"id": "item_1", "type": "message", "role": "user"}),
        msg("conversation.item.deleted", item_id="item_1"),
    ]

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        for text in script:
            await ws.send_message(text)
        await ws.send_message(b"\x00\x01binary")
        await ws.send_message(msg("input_audio_buffer.cleared"))
        await ws.aclose(1001, "going away")

    bus = new_bus()
    inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", ALL_EVENTS, capacity=100)
    with trio.fail_after(10):
        async with loopback(server) as ws:
            await router_actor(ws).shell(ActorContext("router", inbox, bus))
    envs = drain(seen)
    assert all(e.source == "router" and e.cause is None for e in envs)
    events = events_of(envs)
    assert [type(e) for e in events] == [
        SessionCreated, ProtocolViolation, UnknownServerEvent, ResponseCreated, AssistantAudioDelta, ProtocolViolation,
        ItemAdded, ItemDeleted, ProtocolViolation, AudioBufferCleared, ConnectionClosed,
    ]
    assert events[4] == AssistantAudioDelta(response_id="resp_1", item_id="item_a", pcm=PCM)
    assert isinstance(events[8], ProtocolViolation) and "binary frame of 8 bytes" in events[8].detail
    assert events[-1] == ConnectionClosed(code=1001, reason="going away", by_us=False)


async def test_router_stops_when_its_inbox_is_closed_and_publishes_nothing_more() -> None:
    release = trio.Event()

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(msg("input_audio_buffer.cleared"))
        await release.wait()

    bus = new_bus()
    inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", ALL_EVENTS, capacity=100)
    with trio.fail_after(10):
        async with loopback(server) as ws:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(router_actor(ws).shell, ActorContext("router", inbox, bus))
                envs = [await seen.receive()]
                inbox.close_input()  # what the supervisor does when the session ends
            release.set()
    assert events_of(envs + drain(seen)) == [AudioBufferCleared()]


async def test_closing_the_socket_ourselves_is_reported_as_by_us() -> None:
    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(msg("input_audio_buffer.cleared"))
        with trio.move_on_after(5):
            await ws.get_message()  # the close

    bus = new_bus()
    inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", ALL_EVENTS, capacity=100)
    with trio.fail_after(10):
        async with loopback(server) as ws:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(router_actor(ws).shell, ActorContext("router", inbox, bus))
                assert (await seen.receive()).event == AudioBufferCleared()
                await close(ws)
    closed = events_of(drain(seen))
    assert len(closed) == 1 and isinstance(closed[0], ConnectionClosed)
    assert closed[0].by_us and closed[0].code == 1000
