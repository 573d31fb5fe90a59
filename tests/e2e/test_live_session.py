"""End to end on the embedded server over real loopback WebSockets, with --fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio_websocket

from actors.capture.script import DEMO_SCRIPT
from events.commands import ClientCommand
from events.playback import PlaybackFinished, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDone,
    InputTranscriptCompleted,
    ItemAdded,
    ItemTruncated,
    ProtocolViolation,
    ResponseDone,
    UnknownServerEvent,
)
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.audio.wav import read_wav
from pipeline.server import ServerConfig, ServerHandle
from tests.e2e.harness import LiveRun, live_run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def user_items(run: LiveRun) -> list[str]:
    return [e.item_id for e in run.events(ItemAdded) if e.role == "user" and e.item_type == "message"]


def outcomes(run: LiveRun) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for ev in run.events(TranscriptResolved) + run.events(TranscriptUnavailable):
        found.setdefault(ev.item_id, []).append(ev)
    return found


def assert_replays_clean(run: LiveRun) -> None:
    reports = run.replay()
    assert {r.actor for r in reports} >= {"capture", "conductor", "transcripts", "playback", "uploader"}
    for report in reports:
        assert report.divergences == 0, report.first.describe() if report.first else report


async def test_scripted_demo_completes_with_transcripts_replies_audio_and_clean_replay(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=DEMO_SCRIPT)
    assert run.result.failure is None
    assert run.result.outcome.ending_reason == "end of input"
    users = user_items(run)
    assert len(users) >= 6
    # every user turn: exactly one outcome, a real transcript
    found = outcomes(run)
    for item in users:
        assert len(found[item]) == 1
        assert isinstance(found[item][0], TranscriptResolved) and found[item][0].text
    # every user turn has an assistant reply
    replies = [e for e in run.events(AssistantTextDone) if e.text]
    assert len(replies) >= len(users)
    heard = " ".join(t.text for t in run.events(TranscriptResolved))
    assert "weather" in heard and "time" in heard and "story" in heard
    # the WAV holds what was played: all audio received, except past the cut of an interrupted item
    received: dict[str, int] = {}
    for delta in run.events(AssistantAudioDelta):
        received[delta.item_id] = received.get(delta.item_id, 0) + len(delta.pcm)
    finished = {f.item_id: f for f in run.events(PlaybackFinished)}
    expected_ms = 0.0
    for item, size in received.items():
        full_ms = size / 48
        expected_ms += finished[item].played_ms if finished[item].interrupted else full_ms
    wav = read_wav(tmp_path / "session.wav")
    assert abs(len(wav) / 48 - expected_ms) <= 1 + 40 * sum(f.interrupted for f in finished.values())
    assert_replays_clean(run)


async def test_barge_in_truncates_at_the_played_position(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=("tell me a story", "[barge 1500] okay stop", "thank you"))
    truncates = [e for e in run.envs(ClientCommand) if e.event.type == "conversation.item.truncate"]
    assert len(truncates) == 1
    body = truncates[0].event.body
    item = body["item_id"]
    progress = [e.event for e in run.envs(PlaybackProgress) if e.seq < truncates[0].seq and e.event.item_id == item]
    assert body["audio_end_ms"] == progress[-1].played_ms >= 1500
    acks = run.events(ItemTruncated)
    assert [(a.item_id, a.audio_end_ms) for a in acks] == [(item, body["audio_end_ms"])]
    cancelled = [r for r in run.events(ResponseDone) if r.status == "cancelled"]
    assert cancelled and cancelled[0].status_details["reason"] == "turn_detected"
    assert_replays_clean(run)


LINES = ("hello there", "what time is it")


async def test_transcript_never_sent_is_resolved_by_retrieve(tmp_path: Path) -> None:
    run = await live_run(
        tmp_path, lines=LINES, server=ServerConfig(seed=3, transcript_fault="never"), transcript_timeout_ms=300
    )
    resolved = run.events(TranscriptResolved)
    assert len(resolved) == len(user_items(run)) == 2
    assert {r.via for r in resolved} == {"retrieve"}
    assert not run.events(InputTranscriptCompleted)
    assert_replays_clean(run)


async def test_failed_transcript_ends_unavailable_on_its_own_item(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=LINES, server=ServerConfig(seed=3, transcript_fault="fail"))
    unavailable = run.events(TranscriptUnavailable)
    assert sorted(u.item_id for u in unavailable) == sorted(user_items(run))
    assert {u.reason for u in unavailable} == {"failed"}
    assert not run.events(TranscriptResolved)
    assert_replays_clean(run)


async def test_delayed_transcript_arrives_after_response_done_and_attaches_to_its_item(tmp_path: Path) -> None:
    run = await live_run(
        tmp_path, lines=LINES, server=ServerConfig(seed=3, transcript_delay_ms=1500), transcript_timeout_ms=5000
    )
    users = user_items(run)
    first_done = next(e.seq for e in run.envs(ResponseDone))
    completed = {e.event.item_id: e.seq for e in run.envs(InputTranscriptCompleted)}
    assert completed[users[0]] > first_done  # the transcript came after the reply
    resolved = {r.item_id: r for r in run.events(TranscriptResolved)}
    assert set(resolved) == set(users)
    assert "hello" in resolved[users[0]].text.lower() and "time" in resolved[users[1]].text.lower()
    assert_replays_clean(run)


async def test_malformed_json_and_unknown_events_are_journaled_and_the_session_goes_on(tmp_path: Path) -> None:
    async def injecting_proxy(handle: ServerHandle, nursery: trio.Nursery) -> str:
        async def serve_one(request: trio_websocket.WebSocketRequest) -> None:
            client = await request.accept()
            async with trio_websocket.open_websocket_url(handle.realtime_url, max_message_size=2**26) as upstream:

                async def down() -> None:
                    while True:
                        message = await upstream.get_message()
                        await client.send_message(message)
                        if '"session.updated"' in message:
                            await client.send_message("{this is not json")
                            await client.send_message(json.dumps({"type": "response.future_thing", "event_id": "event_x1"}))

                async def up() -> None:
                    while True:
                        await upstream.send_message(await client.get_message())

                try:
                    async with trio.open_nursery() as pumps:
                        pumps.start_soon(down)
                        pumps.start_soon(up)
                except trio_websocket.ConnectionClosed:
                    pass

        server = await nursery.start(trio_websocket.serve_websocket, serve_one, "127.0.0.1", 0, None)
        return f"ws://127.0.0.1:{server.port}/v1/realtime"

    run = await live_run(tmp_path, lines=("hello there", "what time is it"), middle=injecting_proxy)
    assert run.result.failure is None
    assert len(run.events(ProtocolViolation)) == 1
    assert [u.type for u in run.events(UnknownServerEvent)] == ["response.future_thing"]
    assert len(run.events(TranscriptResolved)) == 2  # both turns still happened
    assert_replays_clean(run)


def rtpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True, timeout=240
    )


def test_rtpipe_run_prints_the_conversation_and_exits_0(tmp_path: Path) -> None:
    out = rtpipe("run", "--fast", "--say", "hello there", "--say", "what time is it", "--journal", str(tmp_path / "j.rtpj"))
    assert out.returncode == 0, out.stderr
    assert "[user     ] hello there" in out.stdout.lower()
    assert "[assistant]" in out.stdout
    assert "2 user turns" in out.stdout and str(tmp_path / "j.rtpj") in out.stdout
    assert (tmp_path / "j.wav").stat().st_size > 1000


def test_bad_input_path_is_one_line_exit_2(tmp_path: Path) -> None:
    out = rtpipe("run", "--input", str(tmp_path / "missing.wav"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no such file" in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_server_is_one_line_exit_1_and_journaled(tmp_path: Path) -> None:
    journal = tmp_path / "down.rtpj"
    out = rtpipe("run", "--fast", "--server", "ws://127.0.0.1:9/v1/realtime", "--journal", str(journal))
    assert out.returncode == 1
    assert "cannot reach ws://127.0.0.1:9/v1/realtime" in out.stderr and "Traceback" not in out.stderr
    inspect = json.loads(rtpipe("inspect", "--json", str(journal)).stdout)
    assert inspect["by_tag"] == {"session.failed": 1}
