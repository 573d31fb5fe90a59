"""`follow` / `rtpipe inspect --follow` end when the writer is gone, on damage too, and within --idle-timeout.

The writer holds a flock on the journal for its life; the kernel frees it however the writer dies. The
subprocess tests kill a real writer with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.envelope import Envelope
from events.transcripts import TranscriptResolved
from pipeline.journal import (
    CorruptSpan,
    EndReason,
    JournalEnd,
    JournalHeader,
    JournalWriter,
    RawRecord,
    follow,
    make_header,
)
from pipeline.journal.follow import FollowItem, writer_alive
from tests.pipeline.journal_layout import layout

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"

CHILD = r"""
import os, sys, time
from events.envelope import Envelope
from events.transcripts import TranscriptResolved
from pipeline.journal import JournalWriter, encode_record, make_header

path, count, tail = sys.argv[1], int(sys.argv[2]), sys.argv[3]
writer = JournalWriter(path, make_header({"who": "child"}))
def env(seq):
    return Envelope(seq=seq, t_ns=seq, source="transcripts", cause=None,
                    event=TranscriptResolved(item_id=f"item_{seq}", text="hello there", via="event"))
for seq in range(count):
    writer.append(env(seq))
writer.flush()
if tail == "partial":  # the writer dies in the middle of a record
    with open(path, "ab") as f:
        f.write(encode_record(env(count))[:25])
print("ready", flush=True)
time.sleep(600)
"""


def envelope(seq: int) -> Envelope:
    return Envelope(
        seq=seq, t_ns=seq, source="transcripts", cause=None,
        event=TranscriptResolved(item_id=f"item_{seq}", text="hello there", via="event"),
    )


def start_writer(path: Path, count: int, tail: str = "none") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(count), tail], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def writers() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def collect(items: Iterator[FollowItem], bound_s: float = 20.0) -> list[FollowItem]:
    out, deadline = [], time.monotonic() + bound_s
    for item in items:
        out.append(item)
        assert time.monotonic() < deadline, "follow did not return"
    return out


def test_follow_sees_records_as_they_are_written_and_ends_at_the_close_marker(tmp_path: Path) -> None:
    path = tmp_path / "live.rtpj"
    writer = JournalWriter(path, make_header({}))
    writer.append(envelope(0))
    writer.flush()
    items = follow(path, poll_s=0.01)
    header = next(items)
    assert isinstance(header, JournalHeader) and header.session_id == writer.header.session_id
    assert getattr(next(items), "seq", None) == 0
    writer.append(envelope(1))
    writer.close()
    rest = collect(items)
    assert [getattr(r, "seq", None) for r in rest[:-1]] == [1]
    assert isinstance(rest[-1], JournalEnd) and rest[-1].reason is EndReason.CLOSED


def test_the_writer_holds_a_lock_for_its_life(tmp_path: Path) -> None:
    path = tmp_path / "l.rtpj"
    writer = JournalWriter(path, make_header({}))
    with open(path, "rb") as f:
        assert writer_alive(f.fileno())
        writer.abandon()  # closed without a close marker, as a crash leaves it
        assert not writer_alive(f.fileno())


def test_follow_ends_when_the_writer_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "gone.rtpj"
    writer = JournalWriter(path, make_header({}))
    for seq in range(5):
        writer.append(envelope(seq))
    writer.abandon()
    items = collect(follow(path, poll_s=0.01))
    assert [r.seq for r in items if isinstance(r, RawRecord)] == [0, 1, 2, 3, 4]
    assert isinstance(items[-1], JournalEnd) and items[-1].reason is EndReason.OPEN


def test_follow_on_a_damaged_length_field_of_a_dead_writer_ends(tmp_path: Path) -> None:
    path = tmp_path / "len.rtpj"
    writer = JournalWriter(path, make_header({}))
    for seq in range(6):
        writer.append(envelope(seq))
    writer.abandon()
    data = bytearray(path.read_bytes())
    frames = layout(bytes(data))
    for index in (2, 5):  # one in the middle, and the last one: its length now runs far past the end
        start, _ = frames.records[index]
        data[start + 6] ^= 0x7F
    path.write_bytes(bytes(data))
    items = collect(follow(path, poll_s=0.01))
    kinds = [("record", i.seq) if isinstance(i, RawRecord) else type(i).__name__ for i in items[1:]]
    assert kinds == [("record", 0), ("record", 1), "CorruptSpan", ("record", 3), ("record", 4), "JournalEnd"]
    span = items[3]
    assert isinstance(span, CorruptSpan) and (span.start, span.end) == frames.records[2]
    assert isinstance(items[-1], JournalEnd) and items[-1].reason is EndReason.TORN


def test_follow_reports_damage_in_the_middle_while_the_writer_lives(tmp_path: Path) -> None:
    path = tmp_path / "mid.rtpj"
    writer = JournalWriter(path, make_header({}))
    for seq in range(3):
        writer.append(envelope(seq))
    writer.flush()
    frames = layout(path.read_bytes())
    start, end = frames.records[2]
    with open(path, "r+b") as f:  # something damages the last record on disk
        f.seek(end - 3)
        f.write(b"\xff")
    items = follow(path, poll_s=0.01, stop_after_idle_s=5)
    assert [getattr(next(items), "seq", "h") for _ in range(3)] == ["h", 0, 1]
    writer.append(envelope(3))  # while the writer lives, the bad frame waits until something follows it
    writer.close()
    rest = collect(items)
    assert isinstance(rest[0], CorruptSpan) and (rest[0].start, rest[0].end, rest[0].records_lost) == (start, end, 1)
    assert [r.seq for r in rest if isinstance(r, RawRecord)] == [3]
    assert isinstance(rest[-1], JournalEnd) and rest[-1].reason is EndReason.CLOSED


def test_idle_timeout_bounds_the_wait_on_a_live_writer(tmp_path: Path) -> None:
    path = tmp_path / "idle.rtpj"
    writer = JournalWriter(path, make_header({}))
    writer.append(envelope(0))
    writer.flush()
    started = time.monotonic()
    items = collect(follow(path, poll_s=0.02, stop_after_idle_s=0.3))
    assert 0.3 <= time.monotonic() - started < 10
    assert isinstance(items[-1], JournalEnd) and "stopped following after 0.3s" in items[-1].describe()
    writer.close()


def test_follow_reads_format_1_journals() -> None:
    items = collect(follow(GOLDEN / "v1-transcript-resolved.rtpj", poll_s=0.01))
    assert [r.seq for r in items if isinstance(r, RawRecord)] == [0, 1, 2]
    assert isinstance(items[-1], JournalEnd) and items[-1].reason is EndReason.CLOSED


def test_follow_of_a_writer_killed_mid_record_ends_with_a_torn_tail(
    tmp_path: Path, writers: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "killed.rtpj"
    proc = start_writer(path, 200, "partial")
    writers.append(proc)
    items = follow(path, poll_s=0.02)
    assert isinstance(next(items), JournalHeader)
    seqs = [getattr(next(items), "seq", None) for _ in range(200)]
    assert seqs == list(range(200))
    os.kill(proc.pid, signal.SIGKILL)
    rest = collect(items)
    assert len(rest) == 1 and isinstance(rest[0], JournalEnd) and rest[0].reason is EndReason.TORN
    assert rest[0].records == 200


@pytest.mark.parametrize("tail", ["none", "partial"])
def test_inspect_follow_returns_when_the_writer_is_killed(
    tmp_path: Path, writers: list[subprocess.Popen[str]], tail: str
) -> None:
    path = tmp_path / f"k-{tail}.rtpj"
    proc = start_writer(path, 50, tail)
    writers.append(proc)
    follower = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "inspect", "--follow", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert follower.stdout is not None
    lines = [follower.stdout.readline() for _ in range(51)]  # the header and every record written so far
    assert lines[0].startswith("header") and lines[-1].split()[0] == "49"
    assert follower.poll() is None  # the writer lives: the follower waits
    os.kill(proc.pid, signal.SIGKILL)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and err == ""
    expected = "torn tail" if tail == "partial" else "no close marker"
    assert out.strip().splitlines()[-1].startswith(f"end     {expected}")


def test_inspect_follow_idle_timeout_on_a_live_writer(tmp_path: Path, writers: list[subprocess.Popen[str]]) -> None:
    path = tmp_path / "alive.rtpj"
    writers.append(start_writer(path, 3))
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "inspect", "--follow", "--idle-timeout", "0.5", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.strip().splitlines()[-1].startswith("end     no close marker")
    assert "stopped following after 0.5s" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pipeline", "inspect", "--follow", "--idle-timeout", "nan", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--idle-timeout" in bad.stderr
