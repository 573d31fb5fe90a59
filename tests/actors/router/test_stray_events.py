"""A misbehaving server on a real loopback WebSocket: in the middle of a real answer it sends a
``response.done`` for a response nobody created, an output item of that response and a delete of an item that
never existed (issue 10). Each becomes one journaled ``StateViolation`` and changes nothing else: the answer
arrives whole, the user's turn ends once, after the real ``response.done``, the conversation and the ledger
count one response, and the conductor and transcript cores replay. An out-of-band response (created with
``conversation: "none"``: no conversation items, but a ``response.created``) is legitimate and passes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import trio
import trio_websocket

from actors.conductor.actor import REPLAYABLE as CONDUCTOR
from actors.conductor.actor import conductor_actor
from actors.router.actor import router_actor
from actors.transcripts.actor import REPLAYABLE as TRANSCRIPTS
from actors.transcripts.actor import transcripts_actor
from actors.uploader.actor import uploader_actor
from events.audio import CaptureEnded
from events.envelope import Envelope
from events.playback import TurnEnded
from events.protocol import (
    AssistantAudioDelta,
    ProtocolViolation,
    ResponseDone,
    StateViolation,
    UnknownServerEvent,
)
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.journal import JournalWriter, load_envelopes, make_header
from pipeline.projections.conversation import Conversation
from pipeline.projections.ledger import Ledger
from pipeline.replay import replay
from pipeline.runtime import ActorContext, ActorSpec, clock_actor, run_session
from tests.actors.router.loopback import loopback
from tests.actors.router.messages import SESSION, USAGE, msg

CONFIG: dict[str, Any] = {
    "session": {"type": "realtime"},
    "end_linger_ms": 300,
    "end_timeout_ms": 20000,
    "conductor_wait_for_playback": False,  # no playback actor here: the turn ends at the response's done
}
WORDS = ["It", "is", "sunny", "in", "Paris", "today,", "with", "a", "light", "breeze."]
PCM = b"\x01\x00" * 480  # 20 ms
PCM_B64 = base64.b64encode(PCM).decode()


def response(rid: str, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None, conversation_id: str | None = "conv_1") -> dict[str, Any]:
    return {"object": "realtime.response", "id": rid, "status": status, "status_details": None, "output": output,
            "conversation_id": conversation_id, "output_modalities": ["audio"], "usage": usage, "metadata": None}  # fmt: skip


def assistant(item_id: str, status: str, transcript: str | None) -> dict[str, Any]:
    content = [] if transcript is None else [{"type": "output_audio", "transcript": transcript}]
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": status, "role": "assistant", "content": content}


def answer_with_strays() -> list[str]:
    user = {"id": "item_u1", "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
            "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
    ids = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    out = [
        msg("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_u1"),
        msg("input_audio_buffer.speech_stopped", audio_end_ms=1500, item_id="item_u1"),
        msg("input_audio_buffer.committed", item_id="item_u1", previous_item_id=None),
        msg("conversation.item.added", previous_item_id=None, item=user),
        msg("conversation.item.done", previous_item_id=None, item=user),
        msg("response.created", response=response("resp_1", "in_progress", [], None)),
        msg("response.output_item.added", response_id="resp_1", output_index=0, item=assistant("item_a1", "in_progress", None)),
        msg("conversation.item.added", previous_item_id="item_u1", item=assistant("item_a1", "in_progress", None)),
        msg("conversation.item.input_audio_transcription.completed", item_id="item_u1", content_index=0,
            transcript="what is the weather in Paris", usage={"type": "duration", "seconds": 1}),
    ]  # fmt: skip
    for i, word in enumerate(WORDS):
        out.append(msg("response.output_audio_transcript.delta", **ids, delta=word + " "))
        out.append(msg("response.output_audio.delta", **ids, delta=PCM_B64))
        if i == 4:  # the faults, mid-answer
            stray = response("resp_stray", "completed", [assistant("item_stray", "completed", "Nothing.")], USAGE)
            out.append(msg("response.done", response=stray))
            out.append(msg("response.output_item.added", response_id="resp_stray", output_index=0, item=assistant("item_s2", "in_progress", None)))
            out.append(msg("conversation.item.deleted", item_id="item_ghost"))
    text = " ".join(WORDS)
    out += [
        msg("response.output_audio.done", **ids),
        msg("response.output_audio_transcript.done", **ids, transcript=text),
        msg("conversation.item.done", previous_item_id="item_u1", item=assistant("item_a1", "completed", text)),
        msg("response.output_item.done", response_id="resp_1", output_index=0, item=assistant("item_a1", "completed", text)),
        msg("response.done", response=response("resp_1", "completed", [assistant("item_a1", "completed", text)], USAGE)),
        msg("rate_limits.updated", rate_limits=[]),
    ]
    return out


def out_of_band() -> list[str]:
    """A response created with ``conversation: "none"``: no conversation.item.* events for its item."""
    ids = {"response_id": "resp_oob", "item_id": "item_oob", "output_index": 0, "content_index": 0}
    item = {"id": "item_oob", "object": "realtime.item", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "positive"}]}  # fmt: skip
    return [
        msg("response.created", response=response("resp_oob", "in_progress", [], None, conversation_id=None)),
        msg("response.output_item.added", response_id="resp_oob", output_index=0, item={**item, "status": "in_progress", "content": []}),
        msg("response.output_text.delta", **ids, delta="positive"),
        msg("response.output_text.done", **ids, text="positive"),
        msg("response.output_item.done", response_id="resp_oob", output_index=0, item=item),
        msg("response.done", response=response("resp_oob", "completed", [item], USAGE, conversation_id=None)),
    ]


async def misbehaving_server(ws: trio_websocket.WebSocketConnection, script: list[str]) -> None:
    await ws.send_message(msg("session.created", session=SESSION))
    await ws.get_message()  # session.update
    await ws.send_message(msg("session.updated", session=SESSION))
    for text in script:
        await ws.send_message(text)
    await trio.sleep_forever()  # the client closes


def scripted_user() -> ActorSpec:
    """The user's side: one line said (the server plays it), then the end of input once the turn has ended."""

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            async for env in ctx.inbox:
                if isinstance(env.event, TurnEnded):
                    await ctx.publish(CaptureEnded(chunks=40))
                    return

    return ActorSpec(name="capture", consumes={TurnEnded}, shell=shell)


async def run(tmp_path: Path, script: list[str]) -> tuple[list[Envelope], dict[str, Any]]:
    path = tmp_path / "stray.rtpj"
    bus = Bus(clock=TrioClock(), journal=JournalWriter(path, make_header(CONFIG)))
    with trio.fail_after(20):
        async with loopback(lambda ws: misbehaving_server(ws, script)) as ws:
            specs = [scripted_user(), router_actor(ws), conductor_actor(CONFIG), transcripts_actor(CONFIG), uploader_actor(ws), clock_actor()]
            outcome = await run_session(specs, bus=bus)
    assert outcome.ok and outcome.ending_reason == "end of input", outcome
    journal, envs = load_envelopes(path)
    assert journal.header is not None
    reports = replay(envs, [CONDUCTOR, TRANSCRIPTS], journal.header.config)
    assert [(r.actor, r.divergences) for r in reports] == [("conductor", 0), ("transcripts", 0)]
    return envs, journal.header.config


async def test_a_stray_done_mid_answer_is_journaled_and_changes_nothing(tmp_path: Path) -> None:
    envs, config = await run(tmp_path, answer_with_strays())
    events = [e.event for e in envs]
    violations = [e for e in envs if isinstance(e.event, StateViolation)]
    assert [(v.source, v.cause) for v in violations] == [("router", None)] * 3  # edges, like every server event
    refused = [v.event for v in violations if isinstance(v.event, StateViolation)]
    assert [(v.server_type, v.response_id, v.item_id) for v in refused] == [
        ("response.done", "resp_stray", None),
        ("response.output_item.added", "resp_stray", "item_s2"),
        ("conversation.item.deleted", None, "item_ghost"),
    ]
    assert refused[0].reason == "response.done for response resp_stray, which this connection never saw created"
    assert not any(isinstance(e, ProtocolViolation | UnknownServerEvent) for e in events)

    # turn-taking: one turn end, for the real answer, after its own response.done (not the stray one's)
    dones = [e for e in envs if isinstance(e.event, ResponseDone)]
    turn_ends = [e for e in envs if isinstance(e.event, TurnEnded)]
    assert [d.event.response_id for d in dones if isinstance(d.event, ResponseDone)] == ["resp_1"]
    assert [t.event for t in turn_ends] == [TurnEnded(response_id="resp_1", status="completed")]
    assert turn_ends[0].seq > dones[0].seq > violations[-1].seq
    # the answer arrived whole, and the conversation and the ledger count one response
    assert sum(isinstance(e, AssistantAudioDelta) for e in events) == len(WORDS)
    conversation = Conversation.fold(envs)
    assert [(t.role, t.text) for t in conversation.turns] == [("user", "what is the weather in Paris"), ("assistant", " ".join(WORDS))]
    assert conversation.responses == 1
    assert [r.response_id for r in Ledger.fold_config(envs, config).responses] == ["resp_1"]


async def test_an_out_of_band_response_is_legitimate(tmp_path: Path) -> None:
    script = [m for m in answer_with_strays() if "stray" not in m and "item_s2" not in m and "item_ghost" not in m]
    envs, _ = await run(tmp_path, out_of_band() + script)
    assert not any(isinstance(e.event, StateViolation | ProtocolViolation) for e in envs)
    assert [e.event.response_id for e in envs if isinstance(e.event, ResponseDone)] == ["resp_oob", "resp_1"]
    # it is not an answer to the user: the only turn that ends is the real one
    assert [e.event.response_id for e in envs if isinstance(e.event, TurnEnded)] == ["resp_1"]
