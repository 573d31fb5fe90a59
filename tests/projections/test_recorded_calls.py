"""The debugging commands on real recorded calls: the demo (with summaries and a barge-in), its A/B
counterpart without summaries, a real-time call with a barge-in, a call with failed transcripts and a tool
timeout, and the demo torn and corrupted. Numbers are checked against values computed here, independently,
from the raw records.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.journal import RawRecord, read_journal
from tests.projections.test_report_browser import check_report_in_chromium

pytestmark = pytest.mark.slow


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def records(path: Path) -> list[RawRecord]:
    return read_journal(path).records


def user_items(recs: list[RawRecord]) -> list[RawRecord]:
    return [r for r in recs if r.tag == "rt.item.added" and r.payload["item_type"] == "message" and r.payload["role"] == "user"]


# -- show ------------------------------------------------------------------------------------------------------


def test_show_lists_the_demo_in_conversation_order(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    recs = records(recorded["demo"])
    code, out, _ = run(capsys, "show", str(recorded["demo"]), "--json")
    assert code == 0
    entries = json.loads(out)["entries"]
    # every user item, numbered in the order the server added them
    users = [e for e in entries if e["kind"] == "user"]
    assert [e["item_id"] for e in users] == [r.payload["item_id"] for r in user_items(recs)]
    assert [e["number"] for e in users] == list(range(1, len(users) + 1))
    # a user turn comes before everything that answers it: each assistant item, tool call and window of turn N
    # is after user #N and before user #N+1
    position = {e["item_id"]: i for i, e in enumerate(entries) if e["kind"] == "user"}
    for i, entry in enumerate(entries):
        if entry["kind"] in ("assistant", "tool", "window") and entry["turn"] > 0:
            assert position[users[entry["turn"] - 1]["item_id"]] < i
    # every tool call with its arguments, every response's window, every applied summary
    calls = [(r.payload["name"], r.payload["arguments"]) for r in recs if r.tag == "rt.function_call"]
    assert [(e["name"], e["arguments"]) for e in entries if e["kind"] == "tool"] == calls
    dones = [r.payload for r in recs if r.tag == "rt.response.done"]
    assert [e["total_tokens"] for e in entries if e["kind"] == "window"] == [d["usage"].get("total_tokens") for d in dones]
    applied = [r.payload for r in recs if r.tag == "summary.applied"]
    summaries = [e for e in entries if e["kind"] == "summary" and e.get("outcome") == "applied"]
    assert applied and [s["summary_id"] for s in summaries] == [a["summary_id"] for a in applied]
    generated = {r.payload["summary_id"]: r.payload["text"] for r in recs if r.tag == "summary.generated"}
    for summary in summaries:
        assert summary["summary"] == generated[summary["summary_id"]]
        assert summary["window_before"] is not None and summary["window_after"] is not None
        # the window after is the first response measured once the summary was applied (it may hold a long
        # answer given since, so it is not always smaller than the window before)
        [applied_seq] = [r.seq for r in recs if r.tag == "summary.applied" and r.payload["summary_id"] == summary["summary_id"]]
        after = next(
            r.payload["usage"]["total_tokens"]
            for r in recs
            if r.tag == "rt.response.done" and r.seq > applied_seq and r.payload["usage"].get("total_tokens")
        )
        assert summary["window_after"] == after
    # the barge-in: the cut assistant turn says where
    cuts = [r.payload for r in recs if r.tag == "playback.interrupted"]
    cut_entries = [e for e in entries if e["kind"] == "assistant" and e.get("cut_ms") is not None]
    assert [(e["item_id"], e["cut_ms"]) for e in cut_entries] == [(c["item_id"], c["played_ms"]) for c in cuts]
    code, text, _ = run(capsys, "show", str(recorded["demo"]))
    assert "[cut at " in text and "sum_001 replaced" in text and "latency ms from speech end" in text


def test_show_says_why_transcripts_are_missing_and_which_tool_timed_out(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", str(recorded["faults"]))
    assert code == 0
    assert "(no transcript: failed" in out
    assert "get_weather" in out and "(timeout, " in out and "timed out after 0.3s" in out


# -- latency ---------------------------------------------------------------------------------------------------


def independent_latency(recs: list[RawRecord]) -> list[dict[str, float | None]]:
    """The waterfall computed straight from the records, turn by turn (another way round: by seq ranges)."""
    users = user_items(recs)
    bounds = [u.seq for u in users] + [recs[-1].seq + 1]
    out = []
    for k, user in enumerate(users):
        item_id = user.payload["item_id"]
        stopped = next((r.t_ns for r in recs if r.tag == "rt.speech.stopped" and r.payload["item_id"] == item_id), None)
        committed = next((r.t_ns for r in recs if r.tag == "rt.audio.committed" and r.payload["item_id"] == item_id), None)
        origin = stopped if stopped is not None else (committed if committed is not None else user.t_ns)
        created = [r for r in recs if r.tag == "rt.response.created" and bounds[k] < r.seq < bounds[k + 1]]
        mine = {r.payload["response_id"] for r in created}
        deltas = [r for r in recs if r.tag == "rt.assistant.audio.delta" and r.payload["response_id"] in mine and r.payload["pcm"]]
        items = {r.payload["item_id"] for r in recs if r.tag == "rt.assistant.audio.delta" and r.payload["response_id"] in mine}
        played = [r for r in recs if r.tag == "playback.progress" and r.payload["item_id"] in items and r.payload["played_ms"] > 0]
        if deltas:
            audio_response = deltas[0].payload["response_id"]
            done = [r.t_ns for r in recs if r.tag == "rt.response.done" and r.payload["response_id"] == audio_response]
        else:
            done = [max(r.t_ns for r in recs if r.tag == "rt.response.done" and r.payload["response_id"] in mine)] if any(
                r.tag == "rt.response.done" and r.payload["response_id"] in mine for r in recs) else []  # fmt: skip

        def ms(t: int | None, origin: int = origin) -> float | None:
            return None if t is None else round((t - origin) / 1e6, 1)

        out.append({
            "committed_ms": ms(committed), "created_ms": ms(created[0].t_ns if created else None),
            "first_delta_ms": ms(deltas[0].t_ns if deltas else None), "first_played_ms": ms(played[0].t_ns if played else None),
            "done_ms": ms(done[0] if done else None),
        })  # fmt: skip
    return out


@pytest.mark.parametrize("kind", ["demo", "realtime", "faults"])
def test_latency_matches_the_raw_records(kind: str, recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / f"{kind}.png"
    code, out, _ = run(capsys, "latency", str(recorded[kind]), "--json", "--png", str(png))
    assert code == 0 and png.stat().st_size > 10_000
    data = json.loads(out)
    expected = independent_latency(records(recorded[kind]))
    got = [{k: t[k] for k in expected[0]} for t in data["turns"]]
    assert got == expected
    played = sorted(v["first_played_ms"] for v in expected if v["first_played_ms"] is not None)
    assert played, "some turn must have been answered aloud"
    assert data["stats"]["first_played"]["p50"] == pytest.approx(played[max(0, -(-len(played) // 2) - 1)], abs=0.1)
    assert data["stats"]["first_played"]["p95"] == pytest.approx(played[max(0, -(-len(played) * 95 // 100) - 1)], abs=0.1)


# -- render ----------------------------------------------------------------------------------------------------


def _wav(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels()).astype(np.float64)


def test_render_of_a_real_time_call_is_on_its_clock(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal = recorded["realtime"]
    out = tmp_path / "call.wav"
    code, text, _ = run(capsys, "render", str(journal), "-o", str(out))
    assert code == 0 and "stretched" not in text
    recs = records(journal)
    frames = _wav(out)
    session_s = recs[-1].t_ns / 1e9
    assert abs(len(frames) / 24000 - session_s) <= 0.040  # the session's length, within one chunk
    user, assistant = frames[:, 0], frames[:, 1]
    # the user's side holds exactly the chunks the capture sent, each where its index puts it
    chunks = [r for r in recs if r.tag == "audio.chunk"]
    anchor = min(r.t_ns - r.payload["index"] * 40_000_000 for r in chunks)
    speech = [r for r in chunks if np.abs(np.frombuffer(r.payload["pcm"], dtype="<i2")).max() > 1000]
    assert speech
    for r in speech:
        start = (anchor + r.payload["index"] * 40_000_000) * 24000 // 1_000_000_000
        sent = np.frombuffer(r.payload["pcm"], dtype="<i2")
        assert np.array_equal(user[start : start + len(sent)], sent)
    # the assistant's side holds each block playback reported played, where and when it reported it
    received: dict[str, bytes] = {}
    for r in recs:
        if r.tag == "rt.assistant.audio.delta":
            received[r.payload["item_id"]] = received.get(r.payload["item_id"], b"") + r.payload["pcm"]
    progress = [r for r in recs if r.tag == "playback.progress"]
    played: dict[str, int] = {}
    for r in progress:
        item_id, upto = r.payload["item_id"], r.payload["played_ms"] * 48
        block = np.frombuffer(received[item_id][played.get(item_id, 0) : upto], dtype="<i2")
        played[item_id] = upto
        t = r.t_ns * 24000 // 1_000_000_000
        assert any(np.array_equal(assistant[t + d : t + d + len(block)], block) for d in range(-2, 3)), r
    # one barge-in: it cuts the item heard (played_ms > 0) and the response's items not yet started (0 ms)
    interrupted = [r for r in recs if r.tag == "playback.interrupted"]
    [cut] = [r for r in interrupted if r.payload["played_ms"] > 0]
    silenced = {r.payload["item_id"] for r in interrupted}
    assert all(r.t_ns == cut.t_ns or r.payload["played_ms"] == 0 for r in interrupted)
    after = [r.t_ns for r in progress if r.t_ns > cut.t_ns and r.payload["item_id"] not in silenced]
    quiet_until = after[0] if after else recs[-1].t_ns
    a, b = int(cut.t_ns * 24000 // 1e9) + 1200, int(quiet_until * 24000 // 1e9) - 1200
    assert b > a and np.abs(assistant[a:b]).max() == 0  # what the barge-in cut was never played


def test_render_of_a_fast_call_is_on_session_time(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A --fast call runs on the simulated clock, so its journal is stamped in session time: the render needs no
    stretching and lasts as long as the session (within one chunk)."""
    out = tmp_path / "demo.wav"
    code, text, _ = run(capsys, "render", str(recorded["demo"]), "-o", str(out))
    assert code == 0 and "stretched" not in text
    frames = _wav(out)
    recs = records(recorded["demo"])
    assert abs(len(frames) - recs[-1].t_ns * 24000 // 1_000_000_000) <= 960
    # the user's channel holds every sample the capture sent (silences between lines included), and only those
    spoken = sum(int(np.count_nonzero(np.frombuffer(r.payload["pcm"], dtype="<i2"))) for r in recs if r.tag == "audio.chunk")
    assert spoken > 0 and np.count_nonzero(frames[:, 0]) == spoken
    assert np.count_nonzero(frames[:, 1]) > 24000  # seconds of assistant speech


# -- damaged journals, export, diff ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["torn", "corrupt"])
def test_damaged_demo_is_read_and_says_what_is_missing(kind: str, damaged: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = damaged[kind]
    for argv in (["show", str(path)], ["latency", str(path)], ["export", str(path), "--format", "jsonl"],
                 ["render", str(path), "-o", str(tmp_path / "x.wav")], ["report", str(path), "-o", str(tmp_path / "x.html")]):  # fmt: skip
        code, out, err = run(capsys, *argv)
        assert code == 0 and out, argv
        assert "note: journal" in err and ("torn" in err or "corrupt" in err), err
    code, out, _ = run(capsys, "show", str(path))
    assert "user #1" in out


def test_export_of_the_demo(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "export", str(recorded["demo"]), "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    recs = records(recorded["demo"])
    assert [r["item_id"] for r in rows if r["role"] == "user"] == [u.payload["item_id"] for u in user_items(recs)]
    assert any(r["role"] == "summary" and r["outcome"] == "applied" for r in rows)
    assert sum(r["role"] == "tool" for r in rows) == sum(r.tag == "rt.function_call" for r in recs)


def test_diff_of_the_summary_ab_journals(recorded: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(recorded["demo"]), str(recorded["demo"]), "--strict")
    assert code == 0 and "conversation: the same" in out
    code, out, _ = run(capsys, "diff", str(recorded["demo"]), str(recorded["no-summary"]), "--json")
    assert code == 1
    data = json.loads(out)
    first = data["first_difference"]
    # the first differing turn is named, and it is no later than A's first summary (after which A differs)
    entries = json.loads(_show_json(capsys, recorded["demo"]))["entries"]
    summary_turn = next(e["turn"] for e in entries if e["kind"] == "summary" and e.get("outcome") == "applied")
    assert first is not None and first["number"] <= summary_turn
    code, text, _ = run(capsys, "diff", str(recorded["demo"]), str(recorded["no-summary"]))
    assert f"first at turn {first['number']}" in text


def _show_json(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    assert main(["show", str(path), "--json"]) == 0
    return capsys.readouterr().out


def test_report_of_the_demo_in_chromium(recorded: dict[str, Path], tmp_path: Path) -> None:
    check_report_in_chromium(recorded["demo"], tmp_path, "demo")


# -- resummarise -----------------------------------------------------------------------------------------------


def test_resummarise_the_demo_in_english_bullets(recorded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the embedded server's chat completions, offline
    before = recorded["demo"].read_bytes()
    out = tmp_path / "bullets.rtpj"
    code, text, _ = run(capsys, "resummarise", str(recorded["demo"]), "--summary-style", "bullets",
                        "--summary-language", "English", "--journal", str(out), "--json")  # fmt: skip
    assert code == 0
    assert recorded["demo"].read_bytes() == before  # the recorded journal is not changed
    result = json.loads(text)
    assert result["settings"]["summary_style"] == "bullets" and result["settings"]["summary_language"] == "English"
    recorded_ids = [s["summary_id"] for s in result["recorded"]]
    assert recorded_ids and result["new"]
    for summary in result["new"]:
        lines = [line for line in summary["text"].splitlines() if line.strip()]
        assert lines and all(line.startswith("- ") for line in lines), summary["text"]
        assert "utilisateur" not in summary["text"] and "The user" in summary["text"]  # English, not the recorded French
        assert summary["estimate"] > 0 and summary["outcome"] == "applied"
    for summary in result["recorded"]:  # the estimate is close to what the ledger measured
        if summary["reduction"]:
            assert abs(summary["estimate"] - summary["reduction"]) <= 0.25 * summary["reduction"], summary
    # where each fires, beside the recorded verdicts
    assert any(v["recorded"].startswith("started") for v in result["verdicts"])
    assert any(v["new"].startswith("started") for v in result["verdicts"])
    # the re-summarised call is a journal show and diff read
    code, shown, _ = run(capsys, "show", str(out))
    assert code == 0 and "sum_001 replaced" in shown and "- The user said" in shown
    code, compared, _ = run(capsys, "diff", str(recorded["demo"]), str(out))
    assert code == 1 and "summaries applied" in compared
