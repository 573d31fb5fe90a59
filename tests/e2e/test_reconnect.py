"""Calls that outlive their connection (issue 12), end to end on the embedded server over real loopback
WebSockets, on simulated time: dropped sockets (at a chosen moment, repeatedly), a server that refuses to
take the call back, the server's session expiry, a recycle before the cap, and ``--resume`` of a finished
call. Every journal replays with zero divergences."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from actors.capture.events import ScriptFinished, ScriptLineStarted
from events.commands import ClientCommand
from events.connection import (
    ConnectionLost,
    ConnectionRetired,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
    ReseedPlanned,
)
from events.envelope import Envelope
from events.playback import SessionFailed, SessionReady, TurnEnded
from events.protocol import (
    AssistantTextDone,
    ConnectionClosed,
    ItemAdded,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SpeechStarted,
)
from events.runtime import InboxDropped
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.journal import load_envelopes
from pipeline.server import ServerConfig
from tests.e2e.harness import LiveRun, live_run

pytestmark = pytest.mark.slow

RTPIPE = str(Path(sys.executable).with_name("rtpipe"))
LINES = ("hello there", "what is the weather like in Paris", "what did we talk about first")


def assert_replays_clean(run: LiveRun) -> None:
    reports = run.replay()
    assert {r.actor for r in reports} >= {"capture", "conductor", "transcripts", "playback", "uploader", "tools"}
    for report in reports:
        assert report.divergences == 0, report.first.describe() if report.first else report


def new_user_items(run: LiveRun) -> list[str]:
    """User turns the server committed (not the old conversation coming back in a re-seed)."""
    seen: set[str] = set()
    new: list[str] = []
    for env in run.envelopes:
        ev = env.event
        if isinstance(ev, ReseedPlanned):
            seen.update(ev.items)
        elif isinstance(ev, ItemAdded) and ev.role == "user" and ev.item_type == "message" and ev.item_id not in seen:
            seen.add(ev.item_id)
            new.append(ev.item_id)
    return new


def assert_every_turn_has_one_outcome(run: LiveRun) -> None:
    outcomes: dict[str, int] = {}
    for ev in run.events(TranscriptResolved) + run.events(TranscriptUnavailable):
        outcomes[ev.item_id] = outcomes.get(ev.item_id, 0) + 1
    users = new_user_items(run)
    assert users
    assert all(outcomes.get(item) == 1 for item in users), (users, outcomes)


def assert_call_completed(run: LiveRun, lines: tuple[str, ...]) -> None:
    """Every scripted line was spoken and answered, the session ended normally."""
    assert run.result.failure is None, run.result.failure
    assert run.result.outcome.ending_reason == "end of input"
    assert [e.text for e in run.events(ScriptLineStarted)] == list(lines)
    assert run.events(ScriptFinished) == [ScriptFinished(lines=len(lines))]
    assert len(run.events(TurnEnded)) >= len(lines)
    assert run.events(SessionFailed) == []
    assert_every_turn_has_one_outcome(run)


def answers(run: LiveRun, after_seq: int = -1) -> list[str]:
    return [e.event.text for e in run.envs(AssistantTextDone) if e.seq > after_seq and e.event.text]


def first_seq(run: LiveRun, cls: type[object]) -> int:
    return next(e.seq for e in run.envelopes if isinstance(e.event, cls))


def commands_after(run: LiveRun, seq: int, kind: str) -> list[Envelope]:
    return [e for e in run.envs(ClientCommand) if e.seq > seq and e.event.type == kind]


async def test_a_dropped_socket_is_replaced_reseeded_and_the_call_remembers_its_start(tmp_path: Path) -> None:
    # the socket drops right after the second response is created: the weather question is committed, its
    # answer never came, its transcript had not come either
    run = await live_run(tmp_path, lines=LINES, server=ServerConfig(seed=7, drop_socket_on=("response:2",)))
    assert_call_completed(run, LINES)
    [lost] = run.events(ConnectionLost)
    assert lost.reconnecting and lost.code == 1006 and len(lost.interrupted) == 1
    assert run.events(ReconnectRequested) == [ReconnectRequested(attempt=1, delay_ms=250)]
    assert run.events(Reconnected) == [Reconnected(attempt=1, connection=2)]
    [reseeded] = run.events(ConversationReseeded)
    assert reseeded.restored and reseeded.missing == () and not reseeded.recycle
    assert len(reseeded.items) == 3  # hello, its answer, and the weather question (as its recorded audio)
    assert len(reseeded.audio_items) == 1 and reseeded.audio_items[0] == reseeded.items[2]
    # the seed keeps the items' ids and chains them from the root
    creates = [e.event for e in run.envs(ClientCommand) if e.event.type == "conversation.item.create" and e.source == "conductor"]
    assert [c.body["item"]["id"] for c in creates] == list(reseeded.items)
    assert [c.body["previous_item_id"] for c in creates] == ["root", *reseeded.items[:-1]]
    # the lost answer is asked for again, once, and the held audio follows the re-seed
    reseeded_seq = first_seq(run, ConversationReseeded)
    assert len(commands_after(run, reseeded_seq, "response.create")) >= 1
    assert run.events(HeldAudioSent)[0].dropped_ms == 0
    assert not [e for e in run.events(ServerError) if e.code == "conversation_already_has_active_response"]
    # after the reconnect, the new session knows how the call began
    later = answers(run, reseeded_seq)
    assert any("weather" in text.lower() or "paris" in text.lower() for text in later)
    assert any("hello there" in text.lower() for text in later), later
    assert_replays_clean(run)


async def test_a_drop_in_the_middle_of_a_tool_call_delivers_its_output_into_the_new_session(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=LINES, server=ServerConfig(seed=7, drop_socket_on=("tool-call",)))
    assert_call_completed(run, LINES)
    reseeded_seq = first_seq(run, ConversationReseeded)
    [reseeded] = run.events(ConversationReseeded)
    calls = [e for e in run.events(ItemAdded) if e.item_type == "function_call" and e.item_id in reseeded.items]
    assert calls, "the call was re-seeded"
    # its output goes into the new session, then exactly one response.create asks for the answer
    outputs = [c for c in commands_after(run, reseeded_seq, "conversation.item.create") if c.source == "tools"]
    assert [c.event.body["item"]["call_id"] for c in outputs] == [calls[0].call_id]
    first_answer = next(e.seq for e in run.envs(AssistantTextDone) if e.seq > reseeded_seq)
    assert len([c for c in commands_after(run, reseeded_seq, "response.create") if c.seq < first_answer]) == 1
    assert any("17" in text for text in answers(run, reseeded_seq))
    assert not [e for e in run.events(ServerError) if e.code == "conversation_already_has_active_response"]
    assert_replays_clean(run)


async def test_a_drop_in_the_middle_of_a_spoken_answer_interrupts_it_and_the_call_goes_on(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=LINES, server=ServerConfig(seed=7, drop_socket_on=("audio:2",)))
    assert_call_completed(run, LINES)
    [lost] = run.events(ConnectionLost)
    assert len(lost.interrupted) == 1
    assert run.events(ConversationReseeded)[0].restored
    assert any("hello there" in text.lower() for text in answers(run, first_seq(run, ConversationReseeded)))
    assert_replays_clean(run)


async def test_a_drop_in_the_middle_of_a_tool_answer_asks_once_and_answers_once_from_the_output(tmp_path: Path) -> None:
    # the socket drops halfway through the spoken answer to "what time is it" (the third spoken item: hello,
    # the preamble, the answer): the call and its output are re-seeded with the cut answer after them, so the
    # answer is asked for again and comes from the output, without calling the tool a second time
    lines = ("hello there", "what time is it", "what did we talk about first")
    run = await live_run(tmp_path, lines=lines, server=ServerConfig(seed=7, drop_socket_on=("audio:3",)))
    assert_call_completed(run, lines)
    reseeded_seq = first_seq(run, ConversationReseeded)
    calls = [e for e in run.envs(ItemAdded) if e.event.item_type == "function_call"]
    assert len({e.event.call_id for e in calls}) == 1  # one call in all (re-seeded, not made again)
    after = [text for text in answers(run, reseeded_seq) if text.startswith("It is")]
    assert len(after) == 1 and after[0].count("It is") == 1, answers(run, reseeded_seq)
    assert_replays_clean(run)


async def test_repeated_drops_each_get_a_new_connection(tmp_path: Path) -> None:
    lines = ("hello there", "what is the weather like in Paris", "what time is it", "what did we talk about first")
    run = await live_run(tmp_path, lines=lines, server=ServerConfig(seed=7, drop_socket_after_s=6), timeout_s=120)
    assert_call_completed(run, lines)
    reconnected = run.events(Reconnected)
    assert len(reconnected) >= 3
    assert [r.connection for r in reconnected] == list(range(2, 2 + len(reconnected)))
    assert all(r.attempt == 1 for r in reconnected)  # each loss is its own, and the first attempt works
    assert all(r.restored for r in run.events(ConversationReseeded))
    assert len(run.events(SessionReady)) == 1  # capture never stopped
    assert any("hello there" in text.lower() for text in answers(run, first_seq(run, ConversationReseeded)))
    assert_replays_clean(run)


async def test_a_server_that_refuses_the_call_back_ends_it_with_one_line_after_the_bounded_attempts(tmp_path: Path) -> None:
    server = ServerConfig(seed=7, drop_socket_on=("response:2",), refuse_connections_after=1)
    run = await live_run(tmp_path, lines=LINES, server=server)
    failure = run.result.failure
    assert failure is not None and "\n" not in failure
    assert failure.startswith("connection lost (code 1006) and 5 reconnect attempts failed: cannot connect to ws://127.0.0.1:")
    assert failure.endswith("handshake rejected with HTTP 503")
    requests = run.events(ReconnectRequested)
    assert [(r.attempt, r.delay_ms) for r in requests] == [(1, 250), (2, 500), (3, 1000), (4, 2000), (5, 4000)]
    assert [f.attempt for f in run.events(ReconnectFailed)] == [1, 2, 3, 4, 5]
    assert not any(f.fatal for f in run.events(ReconnectFailed))
    assert run.events(SessionFailed) == [SessionFailed(reason=failure)]
    # the backoff ran on the session clock: the give-up comes 7.75 s of session time after the loss
    lost_at = next(e.t_ns for e in run.envs(ConnectionLost))
    failed_at = next(e.t_ns for e in run.envs(SessionFailed))
    assert 7.75 <= (failed_at - lost_at) / 1e9 < 8.5
    assert_every_turn_has_one_outcome(run)
    assert_replays_clean(run)


async def test_session_expiry_without_recycle_is_one_loss_and_the_call_goes_on(tmp_path: Path) -> None:
    run = await live_run(tmp_path, lines=LINES, server=ServerConfig(seed=7, max_session_s=8))
    assert_call_completed(run, LINES)
    expired = [e for e in run.events(ServerError) if e.code == "session_expired"]
    assert expired
    lost = run.events(ConnectionLost)
    assert len(lost) == len(expired)  # the error and the close (1001) that follows it are one loss
    assert all(e.code is None and "session_expired" in e.reason for e in lost)
    assert [c.code for c in run.events(ConnectionClosed)] == [1001] * len(expired)
    assert all(r.restored for r in run.events(ConversationReseeded))
    assert not [e for e in run.events(ServerError) if e.code == "conversation_already_has_active_response"]
    assert any("hello there" in text.lower() for text in answers(run, first_seq(run, ConversationReseeded)))
    assert_replays_clean(run)


async def test_recycle_renews_the_session_before_the_cap_at_a_quiet_moment_without_losing_audio(tmp_path: Path) -> None:
    # the server would expire each session after 15 s; the client renews after 6 s (0.1 minutes)
    lines = ("hello there", "what is the weather like in Paris", "what time is it", "what did we talk about first")
    run = await live_run(
        tmp_path, lines=lines, server=ServerConfig(seed=7, max_session_s=15), max_session_minutes=0.1, timeout_s=120
    )
    assert_call_completed(run, lines)
    assert run.events(ConnectionLost) == []  # never expired, never dropped
    assert not [e for e in run.events(ServerError) if e.code == "session_expired"]
    requests = run.envs(ReconnectRequested)
    assert requests and all(r.event.recycle and r.event.delay_ms == 0 for r in requests)
    # at a quiet moment: no response open, nobody speaking (every speech start already committed)
    for request in requests:
        before = [e.event for e in run.envelopes if e.seq < request.seq]
        created = {e.response_id for e in before if isinstance(e, ResponseCreated)}
        done = {e.response_id for e in before if isinstance(e, ResponseDone)}
        assert created == done
        started = {e.item_id for e in before if isinstance(e, SpeechStarted)}
        assert started <= {e.item_id for e in before if isinstance(e, ItemAdded)}
    retired = run.events(ConnectionRetired)
    assert [r.connection for r in retired] == list(range(1, 1 + len(requests)))
    assert all(r.recycle and r.restored for r in run.events(ConversationReseeded))
    # no gap: no user audio was dropped anywhere, and everything held was sent
    assert all(h.dropped_ms == 0 for h in run.events(HeldAudioSent))
    assert run.events(InboxDropped) == []
    assert any("hello there" in text.lower() for text in answers(run, first_seq(run, ConversationReseeded)))
    assert_replays_clean(run)


async def test_resume_continues_a_finished_call_with_its_context_and_names_its_parent(tmp_path: Path) -> None:
    first = await live_run(tmp_path / "first", lines=("hello there", "what is the weather like in Paris"), server=ServerConfig(seed=7))
    assert first.result.failure is None
    parent = first.result.journal
    lines = ("what did we talk about first",)
    # a server with the same seed draws the parent call's ids again: it skips those already in the conversation
    run = await live_run(tmp_path / "second", lines=lines, resume=parent, server=ServerConfig(seed=7))
    assert_call_completed(run, lines)
    header, _ = load_envelopes(run.result.journal)
    assert header.header is not None
    assert header.header.config["parent"]["journal"] == str(parent)
    assert header.header.config["parent"]["ended"] == "end of input"
    assert header.header.config["seed"]
    [reseeded] = run.envs(ConversationReseeded)
    assert reseeded.event.resumed_from == str(parent) and reseeded.event.restored
    # the seed first, then the session is ready (and only then does the user speak)
    assert first_seq(run, ReseedPlanned) < reseeded.seq < first_seq(run, SessionReady) < first_seq(run, ScriptLineStarted)
    first_items = [e.item_id for e in first.events(ItemAdded) if e.item_type in ("message", "function_call", "function_call_output")]
    assert set(reseeded.event.items) <= set(first_items)
    assert any("hello there" in text.lower() for text in answers(run))
    assert_replays_clean(run)


async def test_resume_from_a_file_that_is_not_a_journal_is_a_setup_error(tmp_path: Path) -> None:
    from pipeline.config import RunConfig
    from pipeline.session import SessionSetupError, run_live

    bogus = tmp_path / "notes.rtpj"
    bogus.write_bytes(b"not a journal at all")
    config = RunConfig(input="script", script=("hello there",), fast=True, quiet=True, journal=tmp_path / "j.rtpj", resume=bogus)
    with pytest.raises(SessionSetupError) as caught:
        await run_live(config, handle_signals=False)
    assert "\n" not in str(caught.value) and str(bogus) in str(caught.value)
    assert not (tmp_path / "j.rtpj").exists()


async def test_rtpipe_run_against_rtpipe_serve_that_drops_sockets_completes(tmp_path: Path) -> None:
    """The issue's own commands: ``rtpipe serve --port 0 --drop-socket-after S`` and ``rtpipe run --server
    ws://127.0.0.1:PORT/v1/realtime --fast --say ...`` (unpaced on real time against a remote server)."""
    with trio.fail_after(120):
        server = await trio.lowlevel.open_process(
            [RTPIPE, "serve", "--port", "0", "--drop-socket-after", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert server.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await server.stdout.receive_some(1024)
            url = line.decode().split("(realtime: ", 1)[1].split(")", 1)[0]
            assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1/realtime")
            journal = tmp_path / "call.rtpj"
            run = await trio.run_process(
                [RTPIPE, "run", "--server", url, "--fast", "--say", "hello there", "--say", "what time is it",
                 "--say", "what did we talk about first", "--journal", str(journal)],
                capture_stdout=True, capture_stderr=True, check=False,
            )  # fmt: skip
        finally:
            server.terminate()
            await server.wait()
    out = run.stdout.decode()
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert "[reconnect]" in out and "You first said: Hello there." in out
    _, envelopes = load_envelopes(journal)
    assert any(isinstance(e.event, ConversationReseeded) for e in envelopes)
    replayed = await trio.run_process([RTPIPE, "replay", "--verify", str(journal)], capture_stdout=True, capture_stderr=True, check=False)
    assert replayed.returncode == 0, (replayed.stdout + replayed.stderr).decode()
