"""The first ten minutes with rtpipe (issue 9): the command ``make run`` runs, from an empty directory; output
paths that need folders, that exist, or that cannot be written; and a WAV input that ends on the last word."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import wave
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio

from events.protocol import ItemAdded, ResponseDone
from events.runtime import SessionEnding
from events.transcripts import TranscriptResolved
from pipeline.audio.tts import USER_VOICE, synthesize
from pipeline.audio.wav import read_wav, write_wav
from pipeline.config import RunConfig
from pipeline.journal import EndReason, load_envelopes, read_journal
from pipeline.server import ServerConfig, ServerHandle, serve
from pipeline.session import (
    SessionSetupError,
    check_outputs,
    default_journal_name,
    default_paths,
    make_source,
    run_live,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv the suite runs in: what `make run` uses as $(BIN)


def make_run_command() -> list[str]:
    """Exactly the command of the Makefile's ``run`` target, with ``$(BIN)`` resolved to this venv."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe is not None, "the Makefile has no run target"
    words = shlex.split(recipe.group(1).strip())
    assert words[0] == "$(BIN)/rtpipe", words
    return [str(BIN / "rtpipe"), *words[1:]]


def run_in(cwd: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MAXIM_API_KEY")}
    return subprocess.run(
        [*make_run_command(), *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def check_fresh_run(cwd: Path, proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    journals = sorted((cwd / "journals").glob("*.rtpj"))
    wavs = sorted((cwd / "journals").glob("*.wav"))
    assert len(journals) == 1 and len(wavs) == 1, sorted(p.name for p in cwd.rglob("*"))
    assert wavs[0].stem == journals[0].stem
    assert read_journal(journals[0]).end.reason is EndReason.CLOSED
    with wave.open(str(wavs[0]), "rb") as audio:
        assert audio.getnframes() > 24000  # seconds of the assistant's voice
    for path in (journals[0], wavs[0], *cwd.glob("journals/*.trace.jsonl")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path  # every file a session writes (issue 10)
    assert "ended: end of input" in proc.stdout
    return proc.stdout


@pytest.mark.slow
def test_make_run_command_with_fast_works_in_an_empty_directory(tmp_path: Path) -> None:
    """The test that was missing: `make run` (plus --fast) from an empty directory, as a new user runs it:
    exit 0, the journal and the WAV under ./journals/, and the summary the demo exists to show (sum_001).

    --fast runs the demo on simulated time (issue 13): the real-time call, only faster, so it summarises as the
    real-time run does. That the two are the same conversation is tests/e2e/test_simulated_time.py, which also
    holds the demo in real time; the real-time `make run` twin of this test is gone with it."""
    assert make_run_command()[1:] == ["run"]
    out = check_fresh_run(tmp_path, run_in(tmp_path, "--fast"))
    assert out.count("[user     ]") >= 8 and "[tool call] get_weather" in out
    assert "[assistant] You are welcome. Goodbye!" in out
    assert "sum_001" in out


def test_default_journal_names_are_unique_within_a_millisecond() -> None:
    from datetime import datetime

    moment = datetime(2026, 1, 2, 3, 4, 5, 678_901)
    assert default_journal_name(moment, "beef") == "session-20260102-030405-678-beef.rtpj"
    names = {default_journal_name(moment) for _ in range(200)}
    assert len(names) > 150  # four random hex digits: collisions are rare, and a collision is an error, not a loss
    journal, audio = default_paths(RunConfig(), moment)
    assert journal.parent == Path("journals") and audio == journal.with_suffix(".wav")


def test_runs_started_in_the_same_millisecond_do_not_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four runs that start at once (3 of 4 crashed with FileExistsError before): each gets its own journal."""
    from datetime import datetime

    moment = datetime.now()
    monkeypatch.chdir(tmp_path)
    created = set()
    for _ in range(4):
        config = RunConfig()
        journal, audio = default_paths(config, moment)
        check_outputs(config, journal, audio)
        with open(journal, "x"):  # the journal writer's O_EXCL: a collision would raise here
            created.add(journal)
    assert len(created) == 4


def test_output_folders_are_created(tmp_path: Path) -> None:
    config = RunConfig(journal=tmp_path / "a" / "b" / "j.rtpj", output=str(tmp_path / "c" / "d" / "x.wav"))
    journal, audio = default_paths(config)
    check_outputs(config, journal, audio)
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "c" / "d").is_dir()
    assert not journal.exists() and audio is not None and not audio.exists()  # checked, nothing left behind


@pytest.mark.parametrize("which", ["journal", "output"])
def test_an_output_under_a_file_is_one_line_before_anything_starts(tmp_path: Path, which: str) -> None:
    (tmp_path / "file").write_text("in the way")
    bad = tmp_path / "file" / ("x.rtpj" if which == "journal" else "x.wav")
    config = RunConfig(journal=bad) if which == "journal" else RunConfig(journal=tmp_path / "j.rtpj", output=str(bad))
    with pytest.raises(SessionSetupError) as caught:
        check_outputs(config, *default_paths(config))
    message = str(caught.value)
    assert message.startswith(f"--{which} {bad}: cannot create its folder") and "\n" not in message


def test_a_setup_error_leaves_no_folder_behind(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    config = RunConfig(journal=tmp_path / "new" / "deeper" / "j.rtpj", output=str(tmp_path / "file" / "x.wav"))
    with pytest.raises(SessionSetupError, match="a file is in the way"):
        check_outputs(config, *default_paths(config))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_output_in_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        config = RunConfig(journal=locked / "j.rtpj", output="none")
        with pytest.raises(SessionSetupError, match=r"^--journal .*: cannot be written: Permission denied$"):
            check_outputs(config, *default_paths(config))
    finally:
        locked.chmod(0o700)


def test_an_existing_explicit_journal_or_wav_needs_overwrite(tmp_path: Path) -> None:
    journal, wav = tmp_path / "j.rtpj", tmp_path / "j.wav"
    journal.write_bytes(b"an old journal")
    config = RunConfig(journal=journal)
    with pytest.raises(SessionSetupError, match=r"^--journal .*j\.rtpj: already exists \(choose another path, or --overwrite\)$"):
        check_outputs(config, *default_paths(config))
    journal.unlink()
    wav.write_bytes(b"an old wav")
    with pytest.raises(SessionSetupError, match=r"^audio output .*j\.wav: already exists"):
        check_outputs(config, *default_paths(config))
    explicit = RunConfig(journal=tmp_path / "k.rtpj", output=str(wav))
    with pytest.raises(SessionSetupError, match=r"^--output .*j\.wav: already exists"):
        check_outputs(explicit, *default_paths(explicit))
    journal.write_bytes(b"an old journal")
    for allowed in (attrs.evolve(config, overwrite=True), attrs.evolve(explicit, overwrite=True)):
        check_outputs(allowed, *default_paths(allowed))
    assert journal.read_bytes() == b"an old journal"  # checking replaces nothing


def test_the_journal_as_its_own_wav_is_refused(tmp_path: Path) -> None:
    config = RunConfig(journal=tmp_path / "same.wav")
    with pytest.raises(SessionSetupError, match="is the journal's own path"):
        check_outputs(config, *default_paths(config))


def test_input_that_is_not_a_wav_names_the_path_once(tmp_path: Path) -> None:
    text = tmp_path / "text.wav"
    text.write_text("just some notes, not audio\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [str(BIN / "rtpipe"), "run", "--fast", "--input", str(text)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"rtpipe run: --input {text}: not a WAV file (RIFF header missing)\n"
    assert not (tmp_path / "journals").exists()  # nothing started, nothing written


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty file, not a WAV file"), (b"RIFF\x04\x00\x00\x00WAVE", "WAV file has no fmt chunk")],
)
def test_input_errors_are_one_line_naming_the_path_once(tmp_path: Path, content: bytes, problem: str) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    with pytest.raises(SessionSetupError) as caught:
        make_source(RunConfig(input=str(bad)))
    assert str(caught.value) == f"--input {bad}: {problem}"


def speech_cut_at_the_last_word(text: str) -> bytes:
    """The offline TTS's rendering of ``text`` with every trailing quiet sample removed."""
    pcm = np.frombuffer(synthesize(text, voice=USER_VOICE, speed=0.9), dtype="<i2")
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[: loud[-1] + 1].tobytes()


async def test_a_wav_that_ends_on_the_last_word_is_still_answered(tmp_path: Path) -> None:
    wav = tmp_path / "question.wav"
    write_wav(wav, speech_cut_at_the_last_word("what is the weather like in paris"))
    assert read_wav(wav)[-960:] != bytes(960)  # no silence at all at the end
    journal = tmp_path / "session.rtpj"
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            handle: ServerHandle = await nursery.start(serve, ServerConfig(seed=7))
            config = RunConfig(server=handle.realtime_url, input=str(wav), fast=True, quiet=True, journal=journal, output="none")
            result = await run_live(config)
            nursery.cancel_scope.cancel()
    assert result.failure is None
    assert result.outcome.ending_reason == "end of input"  # not "timed out waiting for the last answer"
    events = [e.event for e in load_envelopes(journal)[1]]
    users = [e for e in events if isinstance(e, ItemAdded) and e.role == "user" and e.item_type == "message"]
    assert len(users) == 1
    resolved = [e for e in events if isinstance(e, TranscriptResolved)]
    assert [r.item_id for r in resolved] == [users[0].item_id] and "weather" in resolved[0].text
    answered = [e for e in events if isinstance(e, ResponseDone) and e.status == "completed"]
    assert answered, "the question was never answered"
    assert [e.reason for e in events if isinstance(e, SessionEnding)] == ["end of input"]
