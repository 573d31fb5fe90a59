"""Router + uploader against the real embedded Realtime server over a loopback WebSocket."""

from __future__ import annotations

import trio

from actors.router.actor import router_actor
from actors.uploader.actor import CONSUMES as UPLOADER_CONSUMES
from actors.uploader.actor import uploader_actor
from events.base import registered_tags
from events.commands import ClientEventSent, commit, item_create, item_delete, response_create, session_update
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDone,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ProtocolViolation,
    ResponseDone,
    ServerError,
    SessionCreated,
    SessionUpdated,
    UnknownServerEvent,
)
from pipeline.config import RunConfig
from pipeline.connection import connect, resolve_endpoint
from pipeline.runtime import ActorContext
from pipeline.server import ServerConfig, serve
from tests.actors.router.loopback import drain, new_bus

WATCHED = {SessionCreated, SessionUpdated, ServerError, ItemAdded, ItemDone, ItemDeleted, ClientEventSent}


async def test_session_round_trip_with_the_embedded_server() -> None:
    bus = new_bus()
    router_inbox = bus.subscribe("router", ())
    uploader_inbox = bus.subscribe("uploader", UPLOADER_CONSUMES, capacity=64)
    seen = bus.subscribe("test", WATCHED | {ResponseDone}, capacity=256)
    all_events = bus.subscribe("all", set(registered_tags().values()), capacity=10_000)

    async def next_of(kind: type) -> object:
        while True:
            env = await seen.receive()
            if isinstance(env.event, kind):
                return env.event

    with trio.fail_after(20):
        async with trio.open_nursery() as server_nursery:
            handle = await server_nursery.start(serve, ServerConfig())
            endpoint = resolve_endpoint("local", "gpt-realtime", None).at(handle.realtime_url)
            async with connect(endpoint) as ws, trio.open_nursery() as nursery:
                nursery.start_soon(router_actor(ws).shell, ActorContext("router", router_inbox, bus))
                nursery.start_soon(uploader_actor(ws).shell, ActorContext("uploader", uploader_inbox, bus))

                created = await next_of(SessionCreated)
                assert isinstance(created, SessionCreated) and created.session_id.startswith("sess_")

                await bus.publish(session_update("conductor_0001", RunConfig().session_object()), source="test")
                sent = await next_of(ClientEventSent)
                assert isinstance(sent, ClientEventSent)
                assert (sent.event_id, sent.type) == ("conductor_0001", "session.update") and sent.bytes > 500
                updated = await next_of(SessionUpdated)
                assert isinstance(updated, SessionUpdated) and updated.session["audio"]["output"]["voice"] == "shimmer"

                # an error caused by our command names our event_id
                await bus.publish(commit("conductor_0002"), source="test")
                error = await next_of(ServerError)
                assert isinstance(error, ServerError)
                assert (error.code, error.client_event_id) == ("input_audio_buffer_commit_empty", "conductor_0002")

                # item create at the root, then delete it: both confirmations come back typed
                summary = {"id": "sum_001", "type": "message", "role": "system",
                           "content": [{"type": "input_text", "text": "Résumé en français."}]}
                await bus.publish(item_create("summariser_0001", summary, previous_item_id="root"), source="test")
                added = await next_of(ItemAdded)
                assert added == ItemAdded(item_id="sum_001", item_type="message", role="system",
                                          status="completed", text="Résumé en français.")
                await bus.publish(item_delete("summariser_0002", "sum_001"), source="test")
                assert await next_of(ItemDeleted) == ItemDeleted(item_id="sum_001")

                # a text turn answered in speech: every server event parses, the audio arrives as PCM
                question = {"type": "message", "role": "user",
                            "content": [{"type": "input_text", "text": "What time is it?"}]}
                await bus.publish(item_create("conductor_0003", question), source="test")
                await bus.publish(response_create("conductor_0004"), source="test")
                done = await next_of(ResponseDone)
                assert isinstance(done, ResponseDone) and done.status == "completed"
                assert done.total_tokens is not None and done.total_tokens > 0

                router_inbox.close_input()
                uploader_inbox.close_input()
            server_nursery.cancel_scope.cancel()
    everything = drain(all_events)
    strays = [e.event for e in everything if isinstance(e.event, ProtocolViolation | UnknownServerEvent)]
    assert strays == []
    audio = [e.event for e in everything if isinstance(e.event, AssistantAudioDelta)]
    assert audio and sum(len(a.pcm) for a in audio) > 24_000  # more than half a second of speech
    transcript = [e.event for e in everything if isinstance(e.event, AssistantTextDone)]
    assert len(transcript) == 1 and transcript[0].modality == "audio" and transcript[0].text
