"""Writes the golden journals; the files themselves are committed and must keep reading and replaying forever.

- ``v1-transcript-resolved.rtpj``: journal format 1 (no sync markers) as rtpipe 0.1 wrote it, with
  ``transcript.resolved`` at VERSION 1 (no ``via``).
- ``v2-transcript-resolved.rtpj``: journal format 2 (sync-marked frames) as rtpipe writes it today, with the same
  records (so event VERSION 1 records are still upcast).

Run: .venv/bin/python -m tests.golden.make_golden (it refuses to overwrite a file that exists).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import msgpack

from pipeline.journal.format import MAGIC, MAGIC_V1, JournalHeader, frame, frame_v1


def header(fmt: int) -> JournalHeader:
    return JournalHeader(
        format=fmt,
        software="rtpipe 0.1.0",
        started_unix_ns=1_790_000_000_000_000_000,
        started_wall="2026-09-21T10:00:00.000+00:00",
        session_id=f"golden-v{fmt}",
        config={"model": "gpt-realtime"},
    )


RECORDS = [
    [0, 0, "supervisor", None, "session.started", 1, {"actors": ["transcripts"]}],
    [1, 1_000_000, "transcripts", None, "transcript.resolved", 1, {"item_id": "item_A1", "text": "what is the weather in paris"}],
    [2, 2_000_000, "transcripts", None, "transcript.resolved", 1, {"item_id": "item_A2", "text": "tell me a story"}],
]


def v1(path: Path) -> None:
    data = bytearray(MAGIC_V1)
    data += frame_v1(msgpack.packb(attrs.asdict(header(1)), use_bin_type=True))
    for rec in RECORDS:
        data += frame_v1(msgpack.packb(rec, use_bin_type=True))
    data += frame_v1(msgpack.packb({"closed": True, "records": len(RECORDS)}, use_bin_type=True))
    path.write_bytes(bytes(data))


def v2(path: Path) -> None:
    data = bytearray(MAGIC)
    data += frame(msgpack.packb(attrs.asdict(header(2)), use_bin_type=True))
    for rec in RECORDS:
        data += frame(msgpack.packb(rec, use_bin_type=True))
    data += frame(msgpack.packb({"closed": True, "records": len(RECORDS)}, use_bin_type=True))
    path.write_bytes(bytes(data))


def main() -> None:
    here = Path(__file__).parent
    for name, write in (("v1-transcript-resolved.rtpj", v1), ("v2-transcript-resolved.rtpj", v2)):
        if not (here / name).exists():
            write(here / name)


if __name__ == "__main__":
    main()
