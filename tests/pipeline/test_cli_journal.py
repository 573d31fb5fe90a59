"""`rtpipe journal-demo`, `inspect` and `replay` as a user runs them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.journal import JournalWriter, make_header
from tests.pipeline.journal_layout import layout, reframe

ROOT = Path(__file__).resolve().parents[2]
ACTOR_LINE = re.compile(r"^\s*(\w+)\s+fed\s+\d+\s+compared\s+\d+\s+divergences\s+\d+$", re.MULTILINE)


def rtpipe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One journal-demo run for the module (each test works on its own copy)."""
    path = tmp_path_factory.mktemp("demo") / "demo.rtpj"
    result = rtpipe("journal-demo", "--fast", "--seconds", "2", "--journal", str(path))
    assert result.returncode == 0, result.stderr
    return path, result.stdout


@pytest.fixture
def demo(demo_run: tuple[Path, str], tmp_path: Path) -> Path:
    path = tmp_path / "demo.rtpj"
    shutil.copyfile(demo_run[0], path)
    return path


def test_demo_and_replay_verify_agree(demo_run: tuple[Path, str]) -> None:
    """journal-demo printed "divergences 2" for the conductor, an actor that never ran in its session, while
    `rtpipe replay --verify` passed: the demo was wrong. It now prints the same verification."""
    path, demo_out = demo_run
    replay_out = rtpipe("replay", str(path), "--verify")
    assert replay_out.returncode == 0, replay_out.stdout
    demo_lines = [" ".join(m.group(0).split()) for m in ACTOR_LINE.finditer(demo_out)]
    replay_lines = [" ".join(m.group(0).split()) for m in ACTOR_LINE.finditer(replay_out.stdout)]
    assert demo_lines == replay_lines
    assert "meter fed 50 compared 4 divergences 0" in demo_lines
    assert not any(line.startswith("conductor") for line in demo_lines)
    assert "every actor reproduces its record" in demo_out


def test_inspect_text_and_json(demo: Path) -> None:
    path = demo
    text = rtpipe("inspect", str(path))
    assert text.returncode == 0
    assert "audio.chunk" in text.stdout and "closed cleanly" in text.stdout
    data = json.loads(rtpipe("inspect", "--json", str(path)).stdout)
    assert data["by_tag"]["audio.chunk"] == 50
    assert data["by_source"]["meter"] == 4
    assert data["end"]["reason"] == "closed"
    assert data["header"]["config"]["meter_window_chunks"] == 12


def test_inspect_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = rtpipe("inspect", str(tmp_path / "nope.rtpj"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such file" in missing.stderr
    junk = tmp_path / "junk.rtpj"
    junk.write_text("definitely not msgpack")
    bad = rtpipe("inspect", str(junk))
    assert bad.returncode == 2 and "not an rtpipe journal" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_inspect_prints_the_configuration_as_an_indented_block(tmp_path: Path) -> None:
    instructions = "You are a careful assistant who answers in two short sentences. " * 4
    config = {
        "model": "gpt-realtime",
        "instructions": instructions,
        "summary": {"trigger_tokens": 2000, "keep_last_turns": 2},
    }
    path = tmp_path / "c.rtpj"
    JournalWriter(path, make_header(config)).close()
    out = rtpipe("inspect", str(path)).stdout
    lines = out.splitlines()
    start = lines.index("config")
    assert "  model         gpt-realtime" in lines
    assert "  summary:" in lines and "    keep_last_turns  2" in lines and "    trigger_tokens   2000" in lines
    block = lines[start + 1 : lines.index(next(line for line in lines if line.startswith("records")))]
    assert all(line.startswith("  ") and len(line) <= 100 for line in block)
    assert "…" not in out
    shown = " ".join(line.strip() for line in block if not line.strip().startswith(("model", "summary", "keep", "trigger")))
    assert " ".join(instructions.split()) in shown  # whole, not cut


def test_inspect_reports_a_torn_tail(demo: Path) -> None:
    path = demo
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # into the last record: the trailer is 30 bytes
    out = rtpipe("inspect", "--json", str(path))
    assert json.loads(out.stdout)["end"]["reason"] == "torn"


def test_replay_verify_passes_then_catches_a_tampered_level(demo: Path) -> None:
    path = demo
    ok = rtpipe("replay", str(path), "--verify")
    assert ok.returncode == 0, ok.stdout
    assert "meter" in ok.stdout and "divergences 0" in ok.stdout
    # re-frame one audio.level record with a different value (valid checksum: a tamper, not corruption)
    victim = None

    def edit(record: list[Any]) -> list[Any]:
        nonlocal victim
        if victim is None and record[4] == "audio.level" and record[0] > 20:
            victim = record[0]
            record[6]["peak_dbfs"] = 0.0
        return record

    path.write_bytes(reframe(path.read_bytes(), edit))
    bad = rtpipe("replay", str(path), "--verify")
    assert bad.returncode == 1
    assert f"first divergence: seq {victim}, actor meter" in bad.stdout


def test_replay_unknown_actor_is_a_usage_error(demo: Path) -> None:
    path = demo
    out = rtpipe("replay", str(path), "--actor", "nobody")
    assert out.returncode == 2 and "unknown actor 'nobody'" in out.stderr


def test_a_wrong_flag_is_one_line_naming_the_subcommand() -> None:
    out = rtpipe("run", "--bogus")
    assert out.returncode == 2
    assert out.stderr == "rtpipe run: unrecognized arguments: --bogus (see 'rtpipe run --help')\n"
    out = rtpipe("inspect")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "journal" in out.stderr


@pytest.mark.parametrize("kind", ["zero-byte", "magic-stub", "header-only"])
def test_replay_verify_with_nothing_to_verify_fails(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.rtpj"
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "magic-stub":
        path.write_bytes(b"RTPJ\x00")
    else:
        JournalWriter(path, make_header({"model": "gpt-realtime"})).close()
    out = rtpipe("replay", str(path), "--verify")
    assert out.returncode == 1, out.stdout
    assert "nothing to verify" in out.stdout
    assert "every actor reproduces" not in out.stdout
    assert out.stderr == ""


def test_replay_verify_on_corrupt_spans_verifies_the_rest_and_fails(demo: Path) -> None:
    data = bytearray(demo.read_bytes())
    chunks = [(s, e) for s, e in layout(bytes(data)).records if b"audio.chunk" in data[s:e]]
    for start, end in (chunks[10], chunks[30]):  # the meter's levels cannot come out the same without them
        data[(start + end) // 2] ^= 0x5A
    demo.write_bytes(bytes(data))
    out = rtpipe("replay", str(demo), "--verify")
    assert out.returncode == 1
    assert "damaged: 2 corrupt spans, 2 records skipped" in out.stdout
    assert "meter          fed      48" in out.stdout  # every readable chunk was still verified
    assert out.stdout.count("  corrupt bytes ") == 2
    inspect = rtpipe("inspect", "--json", str(demo))
    data_json = json.loads(inspect.stdout)
    assert data_json["records_skipped"] == 2 and len(data_json["corrupt_spans"]) == 2
    assert data_json["end"]["reason"] == "closed" and data_json["clean"] is False


def test_replay_verify_on_a_damaged_control_record_still_fails(demo: Path) -> None:
    """Damage the meter's own output would not reveal (the session.ending record): the skip alone fails."""
    data = bytearray(demo.read_bytes())
    frames = layout(bytes(data))
    [(start, end)] = [(s, e) for s, e in frames.records if b"session.ending" in data[s:e]]
    data[start + 20] ^= 0x01
    demo.write_bytes(bytes(data))
    out = rtpipe("replay", str(demo), "--verify")
    assert out.returncode == 1
    assert "1 record skipped" in out.stdout and "divergences 1" not in out.stdout
    assert f"corrupt bytes {start}-{end}" in out.stdout
    assert "the skipped ones were not verified" in out.stdout


def test_replay_verify_on_a_torn_tail_verifies_what_is_there_and_passes(demo: Path) -> None:
    data = demo.read_bytes()
    start, end = [(s, e) for s, e in layout(data).records if b"audio.chunk" in data[s:e]][-1]
    demo.write_bytes(data[: end - 100])  # the writer died in the middle of the last audio chunk
    out = rtpipe("replay", str(demo), "--verify")
    assert out.returncode == 0, out.stdout
    assert f"note: journal torn tail (the writer stopped mid-record) at byte {start}" in out.stdout
    assert "every actor reproduces its record" in out.stdout


def test_golden_journals_of_every_format_replay() -> None:
    for name in ("v1-journal-demo.rtpj", "v2-journal-demo.rtpj"):
        out = rtpipe("replay", str(ROOT / "tests" / "golden" / name), "--verify")
        assert out.returncode == 0, (name, out.stdout)
        assert "meter          fed      25  compared       2  divergences 0" in out.stdout
        assert "every actor reproduces its record" in out.stdout
    for name in ("v1-transcript-resolved.rtpj", "v2-transcript-resolved.rtpj"):
        # records only (no input of any core): they read and replay, and --verify says there is nothing to verify
        path = str(ROOT / "tests" / "golden" / name)
        assert "closed cleanly at byte" in rtpipe("inspect", path).stdout
        assert rtpipe("replay", path).returncode == 0
        verify = rtpipe("replay", path, "--verify")
        assert verify.returncode == 1 and "nothing to verify: none of its 3 records" in verify.stdout


def test_inspect_follow_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    from events.envelope import Envelope
    from events.transcripts import TranscriptResolved

    path = tmp_path / "big.rtpj"
    with JournalWriter(path, make_header({})) as writer:
        for seq in range(4000):  # far more output than a pipe buffer holds: the writes must hit the closed pipe
            event = TranscriptResolved(item_id=f"item_{seq}", text="hello", via="event")
            writer.append(Envelope(seq=seq, t_ns=seq, source="transcripts", cause=None, event=event))
    for flags in ("--follow", "--follow --json"):
        cmd = f"{sys.executable} -m pipeline inspect {flags} {path} | head -n 2; echo status ${{PIPESTATUS[0]}}"
        out = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.stdout.splitlines()[:2] and len(out.stdout.splitlines()) == 3
        assert out.stderr == "", out.stderr
        assert out.stdout.splitlines()[-1] in ("status 0", "status 141")
