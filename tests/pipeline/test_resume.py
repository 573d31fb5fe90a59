"""load_resume: the seed of ``rtpipe run --resume J`` from real journals (finished, torn, corrupt, growing)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from events import commands
from events.audio import AudioChunk
from events.connection import (
    ConnectionLost,
    ConversationReseeded,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)
from events.envelope import Envelope
from events.playback import SessionReady
from events.protocol import AudioCommitted, ItemAdded, SpeechStarted, SpeechStopped
from pipeline.clock import SimClock
from pipeline.config import RunConfig
from pipeline.journal import JournalWriter, make_header
from pipeline.projections.seed import summary_number
from pipeline.resume import BYTES_PER_MS, ResumeError, _AudioLine, load_resume
from pipeline.server import ServerConfig, serve
from pipeline.server.protocol import parse_client_event
from pipeline.session import run_live

FAULT_LINES = ("what is the weather like in Paris", "what time is it")


@attrs.define
class Recorded:
    journal: Path
    # per connection, every input_audio_buffer.append the server accepted on it
    connections: list[bytearray] = attrs.Factory(list)
    # item_id -> [connection, audio_start_ms, audio_end_ms], as the server said
    spans: dict[str, list[int]] = attrs.Factory(dict)

    def committed(self, item_id: str) -> bytes:
        """The audio the server committed as the user item: its span of its connection's input."""
        connection, start_ms, end_ms = self.spans[item_id]
        return bytes(self.connections[connection][start_ms * BYTES_PER_MS : end_ms * BYTES_PER_MS])


def record(
    journal: Path, *, fault: str = "none", lines: tuple[str, ...] = (), server: dict[str, Any] | None = None, **overrides: Any
) -> Recorded:
    """One --fast call against the embedded server on a simulated clock; the server's own view of the audio
    it was sent on each connection and of where each user turn lies in it are kept beside the journal."""
    seen = Recorded(journal)

    def client_event(event: dict[str, Any]) -> None:
        if event.get("type") == "input_audio_buffer.append":
            seen.connections[-1].extend(base64.b64decode(event["audio"]))

    def server_event(event: dict[str, Any]) -> None:
        if event.get("type") == "session.created":  # the first event of every connection
            seen.connections.append(bytearray())
        elif event.get("type") == "input_audio_buffer.speech_started":
            seen.spans[event["item_id"]] = [len(seen.connections) - 1, event["audio_start_ms"], -1]
        elif event.get("type") == "input_audio_buffer.speech_stopped":
            seen.spans[event["item_id"]][2] = event["audio_end_ms"]

    async def body() -> None:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                handle = await nursery.start(
                    lambda task_status: serve(
                        ServerConfig(seed=5, transcript_fault=fault, **(server or {})),
                        task_status=task_status,
                        observer=server_event,
                        client_observer=client_event,
                    )
                )
                config = RunConfig(
                    server=handle.realtime_url, input="script", script=lines, fast=True, quiet=True,
                    journal=journal, output="none", **overrides,
                )  # fmt: skip
                await run_live(config, handle_signals=False)
                nursery.cancel_scope.cancel()

    trio.run(body, clock=SimClock())
    return seen


@pytest.fixture(scope="module")
def failed_transcripts(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Two tool turns whose transcriptions fail: both user turns must come back as their recorded audio."""
    return record(tmp_path_factory.mktemp("resume") / "fail.rtpj", fault="fail", lines=FAULT_LINES)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo script, summarised (trigger 800): a root summary, tool calls, a barge-in."""
    return record(tmp_path_factory.mktemp("resume") / "demo.rtpj", summary_trigger=800).journal


def assert_valid_chain(items: list[dict[str, Any]]) -> None:
    previous = "root"
    for n, item in enumerate(items, 1):
        event = {"type": "conversation.item.create", "event_id": f"c_{n}", "previous_item_id": previous, "item": item}
        parse_client_event(json.dumps(event))  # the embedded server's strict check (the SDK's models)
        previous = item["id"]


@pytest.mark.slow
def test_a_finished_demo_resumes_with_its_latest_summary_first(demo: Path) -> None:
    seed = load_resume(demo)
    items = seed.items
    assert items[0]["role"] == "system" and summary_number(items[0]["id"]) is not None
    assert seed.summary_id == items[0]["id"]
    assert seed.parent["journal"] == str(demo)
    assert seed.parent["ended"] == "end of input"
    assert isinstance(seed.parent["session_id"], str) and seed.parent["session_id"]
    assert seed.notices == ()
    # what the demo said last is there, as text, in order, and nothing older than the summary is
    users = [i["content"][0]["text"] for i in items if i.get("role") == "user"]
    assert users[-1].lower().startswith("thank you")
    assert all(i["content"][0]["type"] == "input_text" for i in items if i.get("role") == "user")
    assert not any("weather" in u.lower() for u in users)  # summarised away
    assert_valid_chain(items)
    assert json.loads(json.dumps(items)) == items  # JSON-ready, as the cores config carries it
    assert seed.describe().startswith(f"resuming from {demo} (ended: end of input): {len(items)} items (summary sum_")


@pytest.mark.slow
def test_turns_without_transcript_come_back_as_exactly_the_audio_the_server_committed(
    failed_transcripts: Recorded,
) -> None:
    seed = load_resume(failed_transcripts.journal)
    users = [i for i in seed.items if i.get("role") == "user"]
    assert len(users) == len(FAULT_LINES)
    assert seed.audio_items == tuple(u["id"] for u in users)
    for user in users:
        expected = failed_transcripts.committed(user["id"])
        got = base64.b64decode(user["content"][0]["audio"])
        assert len(got) == len(expected) > 24000  # over half a second of speech
        assert got == expected
    kinds = [i["type"] for i in seed.items]
    assert kinds.count("function_call") == kinds.count("function_call_output") == 2
    assert_valid_chain(seed.items)


@pytest.mark.slow
def test_a_torn_a_corrupt_and_a_still_growing_journal_still_resume(demo: Path, tmp_path: Path) -> None:
    data = demo.read_bytes()
    torn = tmp_path / "torn.rtpj"
    torn.write_bytes(data[: len(data) * 2 // 3 + 7])
    seed = load_resume(torn)
    assert seed.parent["ended"] is None  # it crashed: no session.ending was read
    assert len(seed.notices) == 1 and "torn tail" in seed.notices[0]
    assert len(seed.items) >= 4
    assert "did not end cleanly" in seed.describe()
    assert_valid_chain(seed.items)

    corrupt = bytearray(data)
    middle = len(data) // 2
    corrupt[middle : middle + 16] = bytes(b ^ 0x5A for b in corrupt[middle : middle + 16])
    (tmp_path / "corrupt.rtpj").write_bytes(bytes(corrupt))
    damaged = load_resume(tmp_path / "corrupt.rtpj")
    assert any("skipped" in n for n in damaged.notices)
    assert damaged.parent["ended"] == "end of input"
    assert_valid_chain(damaged.items)


def test_not_a_journal_or_no_conversation_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    empty = tmp_path / "empty.rtpj"
    with JournalWriter(empty, make_header({"model": "gpt-realtime"})):
        pass
    for path, words in [(tmp_path / "missing.rtpj", "no such file"), (text, "cannot resume from"), (empty, "holds no conversation")]:
        with pytest.raises(ResumeError) as caught:
            load_resume(path)
        message = str(caught.value)
        assert words in message and "\n" not in message
        assert isinstance(caught.value, ValueError)


def envelope(seq: int, event: Any, source: str = "router") -> Envelope:
    return Envelope(seq=seq, t_ns=seq * 1_000_000, source=source, cause=None, event=event)


def test_a_turn_seeded_as_audio_by_an_earlier_resume_keeps_its_audio(tmp_path: Path) -> None:
    """A journal that was itself resumed: the user turn it seeded as audio has no speech events in it; its
    audio is the one in the header's seed (and in the conductor's create)."""
    pcm = (b"\x10\x00\xf0\xff" * 1200)
    item = {"id": "item_u1", "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": base64.b64encode(pcm).decode()}]}
    for where in ("header", "command"):
        journal = tmp_path / f"{where}.rtpj"
        header = make_header({"seed": [item]} if where == "header" else {})
        with JournalWriter(journal, header) as writer:
            if where == "command":
                writer.append(envelope(1, commands.item_create("conductor_0002", item, previous_item_id="root"), "conductor"))
            writer.append(envelope(2, ItemAdded(item_id="item_u1", previous_item_id=None, item_type="message", role="user", status="completed")))
        seed = load_resume(journal)
        assert seed.items == [item]
        assert seed.audio_items == ("item_u1",)
        assert seed.parent["ended"] is None


def test_user_turns_whose_span_was_never_stopped_are_left_out(tmp_path: Path) -> None:
    journal = tmp_path / "j.rtpj"
    with JournalWriter(journal, make_header({})) as writer:
        writer.append(envelope(1, SpeechStarted(item_id="item_u1", audio_start_ms=0)))
        writer.append(envelope(2, ItemAdded(item_id="item_u1", item_type="message", role="user", status="completed")))
        writer.append(envelope(3, ItemAdded(item_id="item_u2", previous_item_id="item_u1", item_type="message", role="user", text="typed")))
    seed = load_resume(journal)
    assert [i["id"] for i in seed.items] == ["item_u2"]
    assert seed.plan.skipped[0].item_id == "item_u1"


# -- the uploader's behaviour, replayed: where each chunk landed on which connection -------------------------


def chunks(line: _AudioLine, start: int, count: int, size: int = 40 * BYTES_PER_MS) -> list[tuple[int, int, bytes] | None]:
    return [line.chunk(seq, AudioChunk(index=seq, pcm=bytes([seq % 256]) * size)) for seq in range(start, start + count)]


def test_nothing_is_sent_before_the_session_is_ready_nor_what_the_bus_dropped() -> None:
    line = _AudioLine(5000, unsent=frozenset({12}))
    assert chunks(line, 1, 3) == [None, None, None]
    line.follow(SessionReady(session_id="s"))
    placed = chunks(line, 10, 4)
    assert [(p[0], p[1]) if p else None for p in placed] == [(0, 0), (0, 1920), None, (0, 3840)]


def test_audio_held_while_disconnected_goes_first_on_the_new_connection_bounded_to_the_buffer() -> None:
    line = _AudioLine(100)  # 100 ms: two and a half chunks
    line.follow(SessionReady(session_id="s"))
    chunks(line, 1, 2)
    line.follow(ConnectionLost(reason="closed", reconnecting=True))
    assert chunks(line, 3, 4) == [None] * 4
    assert line.follow(Reconnected(attempt=1, connection=2)) == []
    sent = line.follow(ConversationReseeded(items=()))
    assert [(c, off, pcm[0]) for c, off, pcm in sent] == [(1, 0, 5), (1, 1920, 6)]  # the oldest two dropped
    after = line.chunk(7, AudioChunk(index=7, pcm=b"\x07" * 1920))
    assert after is not None and after[:2] == (1, 3840)
    # a recycle holds from its request; a resume's reseed (nothing held) starts no new connection
    line.follow(ReconnectRequested(attempt=1, delay_ms=0, recycle=True))
    assert line.chunk(8, AudioChunk(index=8, pcm=b"\x08" * 1920)) is None
    assert [(c, off) for c, off, _ in line.follow(ConversationReseeded(items=(), recycle=True))] == [(2, 0)]
    assert line.follow(ConversationReseeded(items=())) == [] and line.connection == 2
    # a loss that ends the call holds nothing
    line.follow(ConnectionLost(reason="closed", reconnecting=False))
    placed = line.chunk(9, AudioChunk(index=9, pcm=b"\x09" * 1920))
    assert placed is not None and placed[:2] == (2, 1920)


def test_a_turn_cut_by_the_loss_is_sent_again_from_its_start_and_a_failed_recycle_goes_back_to_the_old_connection() -> None:
    """The two behaviours of the uploader's gate a re-implementation missed: the audio the old server never
    committed (the user was speaking) heads the held audio; a failed recycle attempt releases to the old
    connection, whose positions go on."""
    line = _AudioLine(5000)
    line.follow(SessionReady(session_id="s"))
    chunks(line, 1, 3)  # committed below: not sent again
    line.follow(AudioCommitted(item_id="item_u1"))
    chunks(line, 4, 2)  # silence after the commit, then the user speaks
    line.follow(SpeechStarted(item_id="item_u2", audio_start_ms=80))
    chunks(line, 6, 3)
    line.follow(ConnectionLost(reason="closed (1006)", code=1006, reconnecting=True))
    chunks(line, 9, 2)
    line.follow(Reconnected(attempt=1, connection=2))
    sent = line.follow(ConversationReseeded(items=()))
    assert [(c, off // 1920, pcm[0]) for c, off, pcm in sent] == [(1, n, seq) for n, seq in enumerate(range(4, 11))]
    # a recycle whose new connection never opens: the held chunks follow what the connection already had
    line.follow(ReconnectRequested(attempt=1, delay_ms=0, recycle=True))
    chunks(line, 11, 2)
    back = line.follow(ReconnectFailed(attempt=1, error="connection refused"))
    assert [(c, off // 1920, pcm[0]) for c, off, pcm in back] == [(1, 7, 11), (1, 8, 12)]
    after = line.chunk(13, AudioChunk(index=13, pcm=b"\x0d" * 1920))
    assert after is not None and after[:2] == (1, 9 * 1920)


def test_a_reconnected_turn_is_cut_from_its_own_connection(tmp_path: Path) -> None:
    """speech_started/stopped count from each connection's first sample: a turn on the second connection is
    cut from the audio that connection was sent (the held chunks first)."""
    from events.transcripts import TranscriptUnavailable

    journal = tmp_path / "j.rtpj"
    seq = iter(range(1, 10_000))
    chunk_bytes = 40 * BYTES_PER_MS
    with JournalWriter(journal, make_header({"reconnect_buffer_ms": 5000})) as writer:
        def put(event: Any, source: str = "router") -> None:
            writer.append(envelope(next(seq), event, source))

        put(SessionReady(session_id="sess_1"), "conductor")
        for i in range(10):
            put(AudioChunk(index=i, pcm=bytes([i]) * chunk_bytes), "capture")
        put(ConnectionLost(reason="closed (1006)", code=1006, reconnecting=True), "conductor")
        for i in range(10, 15):
            put(AudioChunk(index=i, pcm=bytes([i]) * chunk_bytes), "capture")
        put(ConversationReseeded(items=()), "conductor")
        for i in range(15, 20):
            put(AudioChunk(index=i, pcm=bytes([i]) * chunk_bytes), "capture")
        # on the new connection: chunks 10..14 are at 0..200 ms, 15..19 at 200..400 ms
        put(SpeechStarted(item_id="item_u9", audio_start_ms=160))
        put(SpeechStopped(item_id="item_u9", audio_end_ms=240))
        put(ItemAdded(item_id="item_u9", item_type="message", role="user", status="completed"))
        put(TranscriptUnavailable(item_id="item_u9", reason="failed"), "transcripts")
    seed = load_resume(journal)
    audio = base64.b64decode(seed.items[0]["content"][0]["audio"])
    assert audio == bytes([14]) * chunk_bytes + bytes([15]) * chunk_bytes


@pytest.mark.slow
def test_across_a_dropped_socket_each_turn_is_cut_from_its_own_connection(tmp_path: Path) -> None:
    """The socket drops as the second answer starts, while that turn's transcript is still on its way: the
    turn gets its outcome at once and is re-seeded as audio; the third turn is on the second connection,
    after the audio held meanwhile. Every span cut from the journal is the audio the server committed."""
    from pipeline.journal import iter_journal
    from pipeline.resume import _Survey, cut_audio

    lines = ("hello there", "what is the weather like in Paris", "what did we talk about first")
    seen = record(
        tmp_path / "drop.rtpj", lines=lines, server={"drop_socket_on": ("response:2",), "transcript_delay_ms": 2500}
    )
    assert len(seen.connections) == 2
    survey = _Survey(5000)
    with iter_journal(seen.journal) as stream:
        for batch in stream.batches():
            survey.feed(batch)
    assert {item: span.connection for item, span in survey.spans.items()} == {
        item: span[0] for item, span in seen.spans.items()
    }
    assert sorted(span.connection for span in survey.spans.values()) == [0, 0, 1]
    with iter_journal(seen.journal) as again:
        cut = cut_audio(again, survey.spans, buffer_ms=5000, unsent=frozenset(survey.unsent))
    for item_id in seen.spans:
        assert cut[item_id] == seen.committed(item_id), item_id
    # the turn whose transcript the drop cut off comes back as audio, as the live re-seed sent it
    seed = load_resume(seen.journal)
    [audio_item] = seed.audio_items
    assert survey.seeded_audio[audio_item] == seen.committed(audio_item)
    item = next(i for i in seed.items if i["id"] == audio_item)
    assert base64.b64decode(item["content"][0]["audio"]) == seen.committed(audio_item)
    assert_valid_chain(seed.items)


@pytest.mark.slow
def test_a_turn_cut_by_a_drop_while_the_user_speaks_is_cut_as_the_new_connection_heard_it(tmp_path: Path) -> None:
    """The socket drops (1006, no close frame) while the user is saying the last line: the old server never
    committed that turn, so the uploader's gate puts the audio it had not committed at the head of the held
    audio and the new server hears the turn from its start, at positions of its own. The turn's transcript
    fails and no later re-seed carries its audio, so ``--resume`` cuts it from the journal's chunks: byte for
    byte what the new server committed."""
    from pipeline.journal import iter_journal
    from pipeline.resume import _Survey, cut_audio

    lines = ("hello there", "what is the weather like in Paris", "thank you, goodbye")
    # every connection is dropped 13.2 s (session time) after it opens: in the middle of the last line on the
    # first one; the call has ended before the second one's
    seen = record(tmp_path / "cut.rtpj", fault="fail", lines=lines, server={"drop_socket_after_s": 13.2})
    assert len(seen.connections) == 2
    # the arrangement: the drop cut a turn on the first connection (speech started, never stopped) ...
    [cut] = [item for item, (_, _, end) in seen.spans.items() if end < 0]
    assert seen.spans[cut][0] == 0
    # ... and the second connection heard that speech again: what the first was sent of it heads the new turn
    [heard] = [item for item, (connection, _, _) in seen.spans.items() if connection == 1]
    spoken = bytes(seen.connections[0][seen.spans[cut][1] * BYTES_PER_MS :])
    assert len(spoken) > 24000 and any(spoken)  # over half a second of the line, not silence
    assert spoken in seen.committed(heard)

    survey = _Survey(5000)
    with iter_journal(seen.journal) as stream:
        for batch in stream.batches():
            survey.feed(batch)
    assert {item: span.connection for item, span in survey.spans.items()} == {
        item: span[0] for item, span in seen.spans.items()
    }
    assert heard not in survey.seeded_audio  # only the journal's chunks can give it
    with iter_journal(seen.journal) as again:
        cut_spans = cut_audio(again, survey.spans, buffer_ms=5000, unsent=frozenset(survey.unsent))
    assert cut not in cut_spans  # never stopped: nothing was committed
    for item_id in set(seen.spans) - {cut}:
        assert cut_spans[item_id] == seen.committed(item_id), item_id

    seed = load_resume(seen.journal)
    assert heard in seed.audio_items and cut not in seed.plan.ids
    users = [i for i in seed.items if i.get("role") == "user"]
    assert [u["id"] for u in users] == list(seed.audio_items) and len(users) == len(lines)
    for user in users:
        got = base64.b64decode(user["content"][0]["audio"])
        assert got == seen.committed(user["id"]), user["id"]
    assert_valid_chain(seed.items)
