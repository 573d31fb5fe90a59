from __future__ import annotations

import pytest

from actors.capture.core import IdleCore, ScriptCore, ScriptState, capture_core_from_config
from actors.capture.events import ScriptFinished, ScriptLineStarted
from actors.capture.script import DEMO_SCRIPT, ScriptError, ScriptLine, parse_script_line
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackProgress, SessionReady, TurnEnded
from events.protocol import AudioCommitted

_seq = iter(range(1_000_000))


def env(event: Event) -> Envelope:
    return Envelope(seq=next(_seq), t_ns=0, source="test", cause=None, event=event)


READY = env(SessionReady(session_id="sess_1"))


def committed(item: str = "item_u") -> Envelope:
    return env(AudioCommitted(item_id=item))


def turn_ended(response: str = "resp_1", status: str = "completed") -> Envelope:
    return env(TurnEnded(response_id=response, status=status))


def progress(played: int, item: str = "item_a") -> Envelope:
    return env(PlaybackProgress(item_id=item, played_ms=played, received_ms=played + 2000))


def test_parse_plain_and_barge_lines() -> None:
    assert parse_script_line("  what time is it ") == ScriptLine(text="what time is it")
    assert parse_script_line("[barge 1500] stop please") == ScriptLine(text="stop please", barge_at_ms=1500)
    assert parse_script_line("[ BARGE 20 ]wait") == ScriptLine(text="wait", barge_at_ms=20)


@pytest.mark.parametrize("bad", ["", "   ", "[barge] hi", "[barge 10]", "[pause 3] hi"])
def test_parse_rejects_bad_lines_in_one_line(bad: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script_line(bad)
    assert "\n" not in str(caught.value)


def test_demo_script_has_the_required_turns() -> None:
    texts = [parse_script_line(line).text for line in DEMO_SCRIPT]
    assert len(texts) >= 6
    assert any("weather" in text and "Paris" in text for text in texts)
    assert "what time is it" in texts
    assert any("tell me a" in text and "story" in text for text in texts)
    assert any(parse_script_line(line).barges_in for line in DEMO_SCRIPT)


def test_nothing_before_session_ready_then_first_line() -> None:
    core = ScriptCore(["hello", "what time is it"])
    assert core.handle(turn_ended()) == []
    assert core.handle(committed()) == []
    assert core.handle(READY) == [ScriptLineStarted(index=0, text="hello")]
    assert core.state is ScriptState.LINE_SENT


def test_next_plain_line_waits_for_the_answer_to_the_committed_line() -> None:
    core = ScriptCore(["hello", "what time is it"])
    core.handle(READY)
    # a turn end before the server even heard the line belongs to an earlier turn
    assert core.handle(turn_ended("resp_old")) == []
    assert core.handle(committed()) == []
    assert core.handle(progress(5000)) == []  # a plain line never barges in
    assert core.handle(turn_ended()) == [ScriptLineStarted(index=1, text="what time is it")]
    assert core.handle(turn_ended("resp_2")) == []  # not committed yet
    assert core.handle(committed("item_u2")) == []
    assert core.handle(turn_ended("resp_3")) == [ScriptFinished(lines=2)]
    assert core.state is ScriptState.FINISHED
    assert core.handle(turn_ended("resp_4")) == []


def test_barge_line_fires_at_the_played_threshold() -> None:
    core = ScriptCore(["tell me a story", "[barge 1500] stop", "bye"])
    core.handle(READY)
    assert core.handle(progress(1600, item="item_prev")) == []  # before the commit: not this answer
    core.handle(committed())
    assert core.handle(progress(1460)) == []
    assert core.handle(progress(1500)) == [ScriptLineStarted(index=1, text="stop", barge_at_ms=1500)]
    # the interrupted answer keeps reporting progress until playback stops: not a reason to go on
    assert core.handle(progress(1540)) == []
    assert core.handle(turn_ended("resp_story", status="cancelled")) == []
    core.handle(committed("item_u2"))
    assert core.handle(turn_ended("resp_stop")) == [ScriptLineStarted(index=2, text="bye")]


def test_barge_line_falls_back_to_turn_end_when_the_answer_is_short() -> None:
    core = ScriptCore(["hi", "[barge 1500] stop"])
    core.handle(READY)
    core.handle(committed())
    assert core.handle(progress(800)) == []
    assert core.handle(turn_ended()) == [ScriptLineStarted(index=1, text="stop", barge_at_ms=1500)]


def test_empty_script_finishes_at_session_ready() -> None:
    assert ScriptCore([]).handle(READY) == [ScriptFinished(lines=0)]


def test_replay_core_follows_the_input_kind() -> None:
    script = capture_core_from_config({"input": "script", "script": ["hi there"]})
    assert isinstance(script, ScriptCore) and script.lines == (ScriptLine(text="hi there"),)
    demo = capture_core_from_config({"input": "script", "script": []})
    assert isinstance(demo, ScriptCore) and len(demo.lines) == len(DEMO_SCRIPT)
    idle = capture_core_from_config({"input": "talk.wav"})
    assert isinstance(idle, IdleCore) and idle.handle(READY) == []
