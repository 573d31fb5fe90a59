"""`rtpipe journal-demo`, `inspect` and `replay` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.pipeline.journal_layout import reframe

ROOT = Path(__file__).resolve().parents[2]


def rtpipe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def demo_journal(tmp_path: Path) -> Path:
    path = tmp_path / "demo.rtpj"
    result = rtpipe("journal-demo", "--fast", "--seconds", "2", "--journal", str(path))
    assert result.returncode == 0, result.stderr
    assert "replay meter: fed 50, compared 4, divergences 0" in result.stdout
    return path


def test_inspect_text_and_json(tmp_path: Path) -> None:
    path = demo_journal(tmp_path)
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


def test_inspect_reports_a_torn_tail(tmp_path: Path) -> None:
    path = demo_journal(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # into the last record: the trailer is 30 bytes
    out = rtpipe("inspect", "--json", str(path))
    assert json.loads(out.stdout)["end"]["reason"] == "torn"


def test_replay_verify_passes_then_catches_a_tampered_level(tmp_path: Path) -> None:
    path = demo_journal(tmp_path)
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


def test_replay_unknown_actor_is_a_usage_error(tmp_path: Path) -> None:
    path = demo_journal(tmp_path)
    out = rtpipe("replay", str(path), "--actor", "nobody")
    assert out.returncode == 2 and "unknown actor 'nobody'" in out.stderr


def test_a_wrong_flag_is_one_line_naming_the_subcommand() -> None:
    out = rtpipe("run", "--bogus")
    assert out.returncode == 2
    assert out.stderr == "rtpipe run: unrecognized arguments: --bogus (see 'rtpipe run --help')\n"
    out = rtpipe("inspect")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "journal" in out.stderr
