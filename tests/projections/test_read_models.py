"""The read models and their commands on hand-made journals whose every time is known (fast, exact)."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from events.audio import AudioChunk
from pipeline.cli import main
from pipeline.projections import audio, latency, timeline
from pipeline.projections.recording import Recording
from tests.projections.synthetic import Call, silence, tone

USER_AUDIO_MS = 6400  # captured from 100 ms: speech at 0.6-1.6 s, 3.4-3.9 s and 5.4-5.9 s of session time


def make_call(path: Path, *, fast: bool = False, jitter_ms: float = 0.0, weather_args: str = '{"location": "Paris"}',
              play_from_ms: float = 2310, chunk_ms: int = 40) -> Path:  # fmt: skip
    call = Call(path, fast=fast)
    call.start()
    user = silence(500) + tone(1000) + silence(1800) + tone(500) + silence(1500) + tone(500) + silence(600)
    if chunk_ms:
        call.capture(100, user, chunk_ms=chunk_ms, jitter_ms=jitter_ms)
    else:
        _burst(call, user)
    call.user_turn("item_u1", 1700, text="what is the weather in paris")
    call.tool_call("resp_1", "call_1", "get_weather", weather_args, 1800, '{"temperature": "17"}', 120)
    call.reply("resp_2", "item_a1", created_ms=1950, first_delta_ms=2300, audio_ms=1000, text="It is sunny.", play_from_ms=play_from_ms)
    call.user_turn("item_u2", 4000, fail=True)
    call.reply("resp_3", "item_a2", created_ms=4010, first_delta_ms=4400, audio_ms=2000,
               text="Once upon a time there was a long story.", play_from_ms=4500, cut_at_ms=1000, total_tokens=800)  # fmt: skip
    call.user_turn("item_u3", 6000, text="okay stop")
    return call.end(6500)


def _burst(call: Call, user: bytes) -> None:
    """A --fast capture: each line's chunks published within a few ms of each other, when the line starts."""
    step = 40 * 24 * 2
    for n, offset in enumerate(range(0, len(user), step)):
        line_start = 100 if n < 40 else (3300 if n < 110 else 5300)
        call.at(line_start + (n % 40) * 0.5, AudioChunk(index=n, pcm=user[offset : offset + step]), "capture")


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return make_call(tmp_path / "call.rtpj", jitter_ms=30)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- latency -------------------------------------------------------------------------------------------------


def test_latency_waterfall_per_turn_from_speech_end(journal: Path) -> None:
    result = latency.fold(Recording.load(journal))
    one, two, three = result.turns
    assert [one.ms(s) for s in latency.STAGES] == [2, 99, 600, 610, 1612]  # the tool call's response is the first created
    assert [two.ms(s) for s in latency.STAGES] == [2, 10, 400, 500, 1509]
    assert [three.ms(s) for s in latency.STAGES] == [2, None, None, None, None]
    assert one.seed_first_audio_ms == 1612 and one.ratio == pytest.approx(1612 / 610)
    stats = result.stats()
    assert stats["first_played"] == {"n": 2, "p50": 500, "p95": 610}  # nearest rank
    assert stats["committed"] == {"n": 3, "p50": 2, "p95": 2}
    assert [w.total_tokens for w in result.windows] == [300, 500, 800]


def test_latency_command_json_and_png(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "waterfall.png"
    code, out, _ = run(capsys, "latency", str(journal), "--json", "--png", str(png))
    assert code == 0
    data = json.loads(out)
    assert [t["first_played_ms"] for t in data["turns"]] == [610.0, 500.0, None]
    assert data["stats"]["first_played"]["p95"] == 610
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    code, out, _ = run(capsys, "latency", str(journal))
    assert "first audio played" in out and "p50" in out and "2.6x" in out


# -- timeline / show -----------------------------------------------------------------------------------------


def test_timeline_in_conversation_order_with_reasons_cuts_tools_and_windows(journal: Path) -> None:
    entries = [e for e in timeline.fold(Recording.load(journal)).entries if e.kind != "session"]
    assert [(e.kind, e.turn) for e in entries] == [
        ("user", 1), ("tool", 1), ("window", 1), ("assistant", 1), ("window", 1),
        ("user", 2), ("assistant", 2), ("window", 2), ("user", 3),
    ]  # fmt: skip
    texts = [e.text for e in entries]
    assert texts[0] == "what is the weather in paris"
    assert texts[1] == 'get_weather {"location": "Paris"} → {"temperature": "17"} (ok, 120 ms)'
    assert texts[2].startswith("300 tokens after resp_1")
    assert texts[5] == "(no transcript: failed: audio_unintelligible)"
    assert texts[6] == "Once upon a time there was a long story. [cut at 1,000 ms]"
    assert texts[7] == "800 tokens after resp_3 (cancelled: turn_detected)"


def test_show_prints_turns_with_latency_and_filters(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(journal))
    assert code == 0 and err == ""
    lines = out.splitlines()
    user1 = next(i for i, line in enumerate(lines) if "user #1" in line)
    assert "what is the weather in paris" in lines[user1]
    assert "first audio played 610" in lines[user1 + 1] and "1,612" in lines[user1 + 1]
    assert lines.index(next(line for line in lines if "tool call" in line)) > user1
    code, out, _ = run(capsys, "show", str(journal), "--turn", "2")
    assert "user #2" in out and "[cut at 1,000 ms]" in out and "user #1" not in out and "user #3" not in out
    code, out, _ = run(capsys, "show", str(journal), "--from", "4", "--to", "4.5s")
    assert "user #2" in out and "assistant" in out and "user #3" not in out and "tool call" not in out
    code, out, _ = run(capsys, "show", str(journal), "--json", "--turn", "1")
    data = json.loads(out)
    assert {e["kind"] for e in data["entries"]} == {"user", "tool", "window", "assistant"}
    assert data["latency"][0]["first_played_ms"] == 610.0


@pytest.mark.parametrize("argv", [["--turn", "9"], ["--from", "abc"], ["--to", "-3"]])
def test_show_bad_flags_are_one_line(journal: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(journal), *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_every_command_says_what_is_missing_from_a_torn_or_corrupt_journal(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = journal.read_bytes()
    torn = tmp_path / "torn.rtpj"
    torn.write_bytes(data[: len(data) * 2 // 3])
    corrupt = tmp_path / "corrupt.rtpj"
    damaged = bytearray(data)
    middle = len(data) // 2
    damaged[middle : middle + 8] = bytes(b ^ 0xFF for b in damaged[middle : middle + 8])
    corrupt.write_bytes(bytes(damaged))
    for path in (torn, corrupt):
        for argv in (["show", str(path)], ["latency", str(path)], ["export", str(path), "--format", "txt"],
                     ["render", str(path), "-o", str(tmp_path / f"{path.stem}.wav")]):  # fmt: skip
            code, out, err = run(capsys, *argv)
            assert code == 0 and out, (argv, err)
            assert err.startswith("note: journal") and ("torn" in err or "corrupt" in err), err
        assert "user #1" in run(capsys, "show", str(path))[1]


def test_a_journal_still_being_written_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call = Call(tmp_path / "live.rtpj")
    call.start()
    call.user_turn("item_u1", 1000)
    call.end(1200, close=False)  # no close marker: the writer is still going (or died between records)
    code, out, err = run(capsys, "show", str(tmp_path / "live.rtpj"))
    assert code == 0 and "no close marker" in err
    assert "(no transcript: still pending when the journal ends)" in out


def test_not_a_journal_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "x.rtpj"
    bogus.write_bytes(b"hello world")
    for command in ("show", "latency", "export", "diff"):
        argv = [command, str(bogus)] + ([str(bogus)] if command == "diff" else [])
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "not an rtpipe journal" in err and len(err.strip().splitlines()) == 1


# -- render --------------------------------------------------------------------------------------------------


def _channels(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth()) == (24000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    return frames.astype(np.float64), w.getnchannels()


def rms(channel: np.ndarray[Any, Any], start_s: float, end_s: float) -> float:
    part = channel[int(start_s * 24000) : int(end_s * 24000)]
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def test_render_puts_each_side_where_it_was_heard(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    rendered = audio.render(Recording.load(journal), out)
    frames, channels = _channels(out)
    assert channels == 2
    assert rendered.duration_s == pytest.approx(6.5, abs=1e-3) == len(frames) / 24000  # the session's length
    assert rendered.stretch_s == 0 and rendered.breakpoints == ()  # publishing jitter does not move the sound
    user, assistant = frames[:, 0], frames[:, 1]
    for start, end in ((0.65, 1.55), (3.45, 3.85), (5.45, 5.85)):  # the user spoke
        assert rms(user, start, end) > 3000
    for start, end in ((0.0, 0.55), (1.65, 3.35), (3.95, 5.35)):
        assert rms(user, start, end) < 1
    for start, end in ((2.32, 3.30), (4.51, 5.49)):  # the assistant was heard
        assert rms(assistant, start, end) > 2500
    assert rms(assistant, 0.0, 2.30) < 1 and rms(assistant, 3.32, 4.49) < 1
    assert rms(assistant, 5.51, 6.5) < 1  # the barge-in cut the rest of the story: never played
    assert rendered.played_ms == 2000 and rendered.user_chunks == USER_AUDIO_MS // 40


def test_render_mono_mixes_and_the_command_refuses_to_overwrite(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mono.wav"
    code, text, _ = run(capsys, "render", str(journal), "-o", str(out), "--mono")
    assert code == 0 and "6.50 s" in text
    frames, channels = _channels(out)
    assert channels == 1 and rms(frames[:, 0], 0.65, 1.55) > 3000 and rms(frames[:, 0], 2.32, 3.30) > 2500
    code, _, err = run(capsys, "render", str(journal), "-o", str(out))
    assert code == 2 and "already exists" in err


def test_render_of_a_fast_journal_stretches_the_timeline_and_keeps_every_sound(tmp_path: Path) -> None:
    path = make_call(tmp_path / "fast.rtpj", fast=True, chunk_ms=0)  # capture published in bursts
    out = tmp_path / "fast.wav"
    rendered = audio.render(Recording.load(path), out)
    frames, _ = _channels(out)
    assert rendered.stretch_s > 0.5 and rendered.breakpoints
    assert len(frames) / 24000 == pytest.approx(rendered.duration_s, abs=1e-3)
    user, assistant = frames[:, 0], frames[:, 1]
    # every sound is there, whole: 2 s of user speech and 2 s of played assistant audio
    assert np.count_nonzero(np.abs(user) > 100) / 24000 == pytest.approx(2.0, abs=0.05)
    assert np.count_nonzero(np.abs(assistant) > 100) / 24000 == pytest.approx(2.0, abs=0.05)
    # and in order: the first user line ends before the first answer starts
    first_user_end = np.nonzero(np.abs(user) > 100)[0][np.nonzero(np.abs(user) > 100)[0] < 2 * 24000].max()
    assert first_user_end < np.nonzero(np.abs(assistant) > 100)[0].min()
    assert rendered.position(0) == 0 and rendered.position(6_500_000_000) > 6.5


# -- export --------------------------------------------------------------------------------------------------


def test_export_formats(journal: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "export", str(journal), "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["role"] for r in rows] == ["user", "tool", "assistant", "user", "assistant", "user"]
    assert rows[1]["name"] == "get_weather" and rows[1]["arguments"] == '{"location": "Paris"}' and rows[1]["duration_ms"] == 120
    assert rows[3]["text"] is None and rows[3]["reason"] == "failed: audio_unintelligible"
    assert rows[4]["cut_ms"] == 1000
    code, out, _ = run(capsys, "export", str(journal), "--format", "txt")
    assert out.splitlines()[0] == "[00:01.7] user: what is the weather in paris"
    md = tmp_path / "call.md"
    code, out, _ = run(capsys, "export", str(journal), "-o", str(md))
    assert code == 0 and out == ""
    text = md.read_text()
    assert text.startswith("# Call ") and "**User:** what is the weather in paris" in text and "> `00:01.8` **Tool:**" in text


# -- diff ----------------------------------------------------------------------------------------------------


def test_diff_of_a_journal_with_itself_is_exit_0_even_strict(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(journal), str(journal), "--strict")
    assert code == 0 and "conversation: the same" in out


def test_diff_names_the_first_turn_that_differs(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = make_call(tmp_path / "other.rtpj", weather_args='{"location": "Lyon"}')
    code, out, _ = run(capsys, "diff", str(journal), str(other))
    assert code == 1
    assert "first at turn 1" in out and "tool calls" in out and '"Lyon"' in out
    code, out, _ = run(capsys, "diff", str(journal), str(other), "--ignore", "Paris|Lyon", "--json")
    assert code == 0 and json.loads(out)["conversation_differs"] is False


def test_diff_counts_timings_only_when_strict(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slower = make_call(tmp_path / "slower.rtpj", play_from_ms=2900)
    code, out, _ = run(capsys, "diff", str(journal), str(slower))
    assert code == 0 and "conversation: the same" in out and "Δ +590" in out
    code, out, _ = run(capsys, "diff", str(journal), str(slower), "--strict")
    assert code == 1 and "timings or token counts differ" in out


def test_copy_is_byte_identical_for_diff(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy.rtpj"
    shutil.copy(journal, copy)
    code, out, _ = run(capsys, "diff", str(journal), str(copy), "--json")
    data = json.loads(out)
    assert code == 0 and not data["timing_differs"] and data["totals"]["a"] == data["totals"]["b"]


def test_connection_changes_are_shown_even_from_tags_this_rtpipe_does_not_model(tmp_path: Path) -> None:
    import attrs

    from events.base import Event
    from events.envelope import Envelope
    from events.protocol import ConnectionClosed
    from pipeline.journal import JournalWriter, make_header

    @attrs.frozen(kw_only=True)
    class Reconnected(Event):  # a newer rtpipe's event, never registered here
        TAG = "connection.reconnected"
        FIELDS = ("attempt", "reseeded_items")
        attempt: int
        reseeded_items: int

    path = tmp_path / "reconnect.rtpj"
    writer = JournalWriter(path, make_header({}))
    writer.append(Envelope(seq=0, t_ns=1_000_000_000, source="router", cause=None, event=ConnectionClosed(code=1006, reason="")))
    writer.append(Envelope(seq=1, t_ns=1_500_000_000, source="connection", cause=None, event=Reconnected(attempt=1, reseeded_items=4)))
    writer.close()
    entries = timeline.fold(Recording.load(path)).entries
    assert [(e.kind, e.text) for e in entries] == [
        ("connection", "closed by the server or the network (code 1006)"),
        ("connection", "connection.reconnected {'attempt': 1, 'reseeded_items': 4}"),
    ]
