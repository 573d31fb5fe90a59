"""The read commands read a journal as a stream (issue 11): each makes the fewest passes over it its read
models need (one; two for the audio render), and their memory does not grow with the call's length."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pipeline.projections.recording
from pipeline.cli import main
from pipeline.journal import JournalStream, iter_journal
from tests.projections.synthetic import Call, silence, tone

TURN_MS = 10_000


def long_call(path: Path, turns: int) -> Path:
    """``turns`` turns of 10 s each: the user speaks, a tool runs, the assistant answers and is heard."""
    call = Call(path)
    call.start()
    call.capture(100, (silence(500) + tone(1500) + silence(TURN_MS - 2000)) * turns)
    for k in range(turns):
        base = 100 + k * TURN_MS
        call.user_turn(f"item_u{k}", base + 2000, text=f"question number {k}")
        call.tool_call(f"resp_t{k}", f"call_{k}", "get_weather", '{"location": "Paris"}', base + 2100, '{"temperature": "17"}', 100)
        call.reply(f"resp_{k}", f"item_a{k}", created_ms=base + 2300, first_delta_ms=base + 2500, audio_ms=3000,
                   text=f"answer number {k}", play_from_ms=base + 2600)  # fmt: skip
    return call.end(100 + turns * TURN_MS)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every journal the commands open, as they open it (the header read, each pass)."""
    opened: list[str] = []

    def counting(path: Any, **kwargs: Any) -> JournalStream:
        opened.append(Path(path).name)
        return iter_journal(path, **kwargs)

    monkeypatch.setattr(pipeline.projections.recording, "iter_journal", counting)
    monkeypatch.setattr("pipeline.journal.iter_journal", counting)
    return opened


@pytest.mark.parametrize(
    ("argv", "opened"),
    [
        (["show"], 2),  # the header, then one pass for the timeline and the latency together
        (["show", "--json"], 2),
        (["latency"], 2),
        (["export", "--format", "jsonl"], 2),
        (["render", "-o", "{tmp}/call.wav"], 3),  # the render's first pass also says where the journal ends
        (["inspect"], 1),
        (["replay", "--verify"], 2),  # a look at its first record (which actors ran), then one pass for all
    ],
)
def test_each_command_reads_the_journal_once(
    tmp_path: Path, passes: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], opened: int
) -> None:
    journal = long_call(tmp_path / "call.rtpj", 2)
    args = [argv[0], str(journal), *(a.format(tmp=tmp_path) for a in argv[1:])]
    assert main(args) == 0, capsys.readouterr()
    assert passes == ["call.rtpj"] * opened


def test_diff_reads_each_journal_once(tmp_path: Path, passes: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = long_call(tmp_path / "a.rtpj", 2), long_call(tmp_path / "b.rtpj", 3)
    assert main(["diff", str(a), str(b)]) == 1
    assert sorted(passes) == ["a.rtpj", "a.rtpj", "b.rtpj", "b.rtpj"]


def peak_bytes(argv: list[str]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        assert main(argv) in (0, 1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("command", ["show", "latency", "render", "export", "inspect", "replay"])
def test_memory_stays_flat_for_a_call_ten_times_longer(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    short, long = long_call(tmp_path / "short.rtpj", 3), long_call(tmp_path / "long.rtpj", 30)  # 30 s and 300 s
    assert long.stat().st_size > 9 * short.stat().st_size

    def argv(journal: Path) -> list[str]:
        extra = {"render": ["-o", str(tmp_path / f"{journal.stem}.wav"), "--overwrite"], "replay": ["--verify"], "show": ["--json"]}
        return [command, str(journal), *extra.get(command, [])]

    peak_bytes(argv(short))  # imports and caches first: they are not the journal's
    short_peak, long_peak = peak_bytes(argv(short)), peak_bytes(argv(long))
    capsys.readouterr()
    # what grows with the call is its output (entries, turns), not the journal (measured: 1.0-1.15 times)
    assert long_peak < 1.5 * short_peak, (short_peak, long_peak, long.stat().st_size)
    assert long_peak < long.stat().st_size / 2, (long_peak, long.stat().st_size)


def _open_on(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path`` (a mapping holds one of its own)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if fd.resolve() == path.resolve())


def test_a_pass_abandoned_half_way_releases_the_file(tmp_path: Path) -> None:
    from pipeline.projections.recording import Recording

    journal = long_call(tmp_path / "call.rtpj", 2)
    recording = Recording.load(journal)
    assert _open_on(journal) == 0  # the header was read and the file closed
    records: Iterator[Any] = iter(recording.records)
    assert next(records).tag == "session.started"
    assert _open_on(journal) >= 1
    records.close()  # type: ignore[attr-defined]
    assert _open_on(journal) == 0
    assert recording.record_count > 1  # a complete pass is made to learn it
    assert _open_on(journal) == 0
