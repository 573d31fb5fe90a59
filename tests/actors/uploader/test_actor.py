from __future__ import annotations

import base64
import json

import trio
import trio_websocket

from actors.router.actor import router_actor
from actors.uploader.actor import CONSUMES, REPLAYABLE, uploader_actor
from events.audio import AudioChunk
from events.commands import ClientEventSent, ClientSendFailed, item_delete, response_create, session_update
from events.envelope import Envelope
from events.playback import SessionReady
from events.protocol import ConnectionClosed
from pipeline.connection import close
from pipeline.replay import replay_actor
from pipeline.runtime import ActorContext
from tests.actors.router.loopback import drain, loopback, new_bus


def chunk(i: int) -> AudioChunk:
    return AudioChunk(index=i, pcm=bytes([i % 256, 0]) * 960)  # 40 ms of a distinct value per chunk


async def test_frames_go_out_in_seq_order_and_commands_are_journaled_with_their_event_id() -> None:
    received: list[str] = []
    peer_done = trio.Event()

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        try:
            while True:
                message = await ws.get_message()
                assert isinstance(message, str)
                received.append(message)
        except trio_websocket.ConnectionClosed:
            peer_done.set()

    bus = new_bus()
    inbox = bus.subscribe("uploader", CONSUMES, capacity=64)
    seen = bus.subscribe("test", {ClientEventSent, ClientSendFailed, AudioChunk, SessionReady}, capacity=100)
    update = session_update("conductor_0001", {"type": "realtime"})
    create = response_create("tools_0001")
    inputs = [update, chunk(0), SessionReady(session_id="sess_1"), *map(chunk, range(1, 6)), create, chunk(6)]
    published: list[Envelope] = [await bus.publish(ev, source="test") for ev in inputs]
    inbox.close_input()  # end of input: the uploader sends what is queued and returns

    with trio.fail_after(10):
        async with loopback(server) as ws:
            await uploader_actor(ws).shell(ActorContext("uploader", inbox, bus))
            await close(ws)
            await peer_done.wait()

    wire = [json.loads(text) for text in received]
    assert [w["type"] for w in wire] == ["session.update"] + ["input_audio_buffer.append"] * 5 + [
        "response.create",
        "input_audio_buffer.append",
    ]
    assert wire[0] == {"type": "session.update", "event_id": "conductor_0001", "session": {"type": "realtime"}}
    assert wire[6] == {"type": "response.create", "event_id": "tools_0001"}
    appended = [base64.b64decode(w["audio"], validate=True) for w in wire if w["type"] == "input_audio_buffer.append"]
    assert appended == [chunk(i).pcm for i in (1, 2, 3, 4, 5, 6)]  # chunk 0 came before the session was ready

    edges = [e for e in drain(seen) if isinstance(e.event, ClientEventSent | ClientSendFailed)]
    assert [(e.event, e.source, e.cause) for e in edges] == [
        (ClientEventSent(event_id="conductor_0001", type="session.update", bytes=len(received[0])), "uploader",
         published[0].seq),
        (ClientEventSent(event_id="tools_0001", type="response.create", bytes=len(received[6])), "uploader",
         published[8].seq),
    ]

    # replay sees the uploader as a core that emits nothing and whose edges it does not expect back
    everything = published + edges
    result = replay_actor(everything, REPLAYABLE, {})
    assert result.ok and result.fed == len(inputs)


async def test_after_the_server_closes_audio_stops_and_every_command_fails_with_the_reason() -> None:
    first_received = trio.Event()

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.get_message()
        first_received.set()
        await ws.aclose(1011, "session expired")

    bus = new_bus()
    up_inbox = bus.subscribe("uploader", CONSUMES, capacity=64)
    router_inbox = bus.subscribe("router", ())
    seen = bus.subscribe("test", {ClientEventSent, ClientSendFailed, ConnectionClosed}, capacity=100)
    with trio.fail_after(10):
        async with loopback(server) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(uploader_actor(ws).shell, ActorContext("uploader", up_inbox, bus))
            nursery.start_soon(router_actor(ws).shell, ActorContext("router", router_inbox, bus))
            await bus.publish(SessionReady(session_id="sess_1"), source="test")
            await bus.publish(item_delete("summariser_0001", "item_1"), source="test")
            await first_received.wait()
            # the router sees the close first: from then on the socket refuses every send
            assert (await seen.receive()).event == ClientEventSent(
                event_id="summariser_0001",
                type="conversation.item.delete",
                bytes=len('{"type":"conversation.item.delete","event_id":"summariser_0001","item_id":"item_1"}'),
            )
            assert (await seen.receive()).event == ConnectionClosed(code=1011, reason="session expired")
            await bus.publish(chunk(1), source="test")
            await bus.publish(item_delete("summariser_0002", "item_2"), source="test")
            await bus.publish(chunk(2), source="test")
            await bus.publish(response_create("tools_0001"), source="test")
            up_inbox.close_input()
            router_inbox.close_input()
    failures = [e.event for e in drain(seen)]
    assert failures == [
        ClientSendFailed(event_id="summariser_0002", type="conversation.item.delete",
                         error="socket closed (code 1011: session expired)"),
        ClientSendFailed(event_id="tools_0001", type="response.create",
                         error="socket closed (code 1011: session expired)"),
    ]
