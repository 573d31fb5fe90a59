"""Writes tests/golden/v1-transcript-resolved.rtpj: records as rtpipe 0.1 wrote them, with
``transcript.resolved`` at VERSION 1 (no ``via``). Kept for reference; the file itself is committed and must
keep replaying forever. Run: .venv/bin/python -m tests.golden.make_golden
"""

from __future__ import annotations

from pathlib import Path

import attrs
import msgpack

from pipeline.journal.format import MAGIC, JournalHeader, frame


def main() -> None:
    path = Path(__file__).parent / "v1-transcript-resolved.rtpj"
    header = JournalHeader(
        format=1,
        software="rtpipe 0.1.0",
        started_unix_ns=1_790_000_000_000_000_000,
        started_wall="2026-09-21T10:00:00.000+00:00",
        session_id="golden-v1",
        config={"model": "gpt-realtime"},
    )
    records = [
        [0, 0, "supervisor", None, "session.started", 1, {"actors": ["transcripts"]}],
        [1, 1_000_000, "transcripts", None, "transcript.resolved", 1, {"item_id": "item_A1", "text": "what is the weather in paris"}],
        [2, 2_000_000, "transcripts", None, "transcript.resolved", 1, {"item_id": "item_A2", "text": "tell me a story"}],
    ]
    data = bytearray(MAGIC)
    data += frame(msgpack.packb(attrs.asdict(header), use_bin_type=True))
    for rec in records:
        data += frame(msgpack.packb(rec, use_bin_type=True))
    data += frame(msgpack.packb({"closed": True, "records": len(records)}, use_bin_type=True))
    path.write_bytes(bytes(data))


if __name__ == "__main__":
    main()
