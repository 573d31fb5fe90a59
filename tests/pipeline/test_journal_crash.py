"""A child process appending events is killed with SIGKILL; the reader recovers what it had flushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline.journal import EndReason, read_journal

CHILD = r"""
import sys
from events.audio import AudioChunk
from events.envelope import Envelope
from pipeline.journal import JournalWriter, make_header

writer = JournalWriter(sys.argv[1], make_header({"who": "child"}))
seq = 0
while True:
    for _ in range(7):
        writer.append(Envelope(seq=seq, t_ns=seq, source="capture", cause=None,
                               event=AudioChunk(index=seq, pcm=b"\x01\x02" * 480)))
        seq += 1
    writer.flush()
    print(seq, flush=True)  # everything up to seq is now in the OS
"""


def test_sigkill_mid_stream_loses_nothing_that_was_flushed(tmp_path: Path) -> None:
    path = tmp_path / "crash.rtpj"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    flushed = 0
    for line in proc.stdout:
        flushed = int(line)
        if flushed >= 3000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    journal = read_journal(path)
    assert journal.end.reason in (EndReason.OPEN, EndReason.TORN)
    assert len(journal.records) >= flushed
    assert [r.seq for r in journal.records] == list(range(len(journal.records)))
    assert journal.envelopes()[flushed - 1].event.index == flushed - 1  # type: ignore[attr-defined]
