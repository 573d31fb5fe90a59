"""Following a journal while it is written (``rtpipe inspect --follow``).

``follow`` yields the header, then records (and corrupt spans, in file order) as the writer appends them,
then one ``JournalEnd``. It ends:

- at the close marker;
- when the writer is gone and nothing more arrived: the writer holds an exclusive ``flock`` on the file for
  its whole life, and the kernel releases it however the writer ends (``kill -9`` included). The rest of the
  data is then read as final, so a partial frame is a torn tail and damage is a corrupt span, never a wait;
- after ``stop_after_idle_s`` without new data, whatever the writer is doing (``stopped following``).

While the writer lives, a frame that cannot be decided yet (being written, or damaged with nothing readable
after it so far) waits for more data. Bytes already parsed are dropped from memory as it goes.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.journal.format import CorruptSpan, EndReason, JournalEnd, JournalHeader
from pipeline.journal.reader import FrameScanner, RawRecord, open_file, parse_header, scanner_after_header

FollowItem = RawRecord | JournalHeader | CorruptSpan | JournalEnd
_TRIM_BYTES = 1 << 20


def writer_alive(fd: int) -> bool:
    """Whether some process holds the journal writer's lock on the file open as ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a file system without flock: only the close marker or the idle bound end the follow
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def follow(
    path: str | os.PathLike[str], *, poll_s: float = 0.1, stop_after_idle_s: float | None = None
) -> Iterator[FollowItem]:
    p = Path(path)
    with open_file(p) as f:
        yield from _follow(f, p, poll_s, stop_after_idle_s)


def _follow(f: BinaryIO, p: Path, poll_s: float, stop_after_idle_s: float | None) -> Iterator[FollowItem]:
    fd, read = f.fileno(), f.read
    buf = bytearray()
    base = 0
    scanner: FrameScanner | None = None
    spans_yielded = 0
    last_growth = time.monotonic()
    gone_polls = 0
    while True:
        chunk: bytes = read()
        final = False
        if chunk:
            buf += chunk
            last_growth = time.monotonic()
            gone_polls = 0
        elif not writer_alive(fd):
            gone_polls += 1
            # read once more: the writer may have appended its last bytes between our read and its exit.
            # Before the header, wait one more poll (a writer opens the file a moment before it locks it).
            more: bytes = read()
            if more:
                buf += more
                gone_polls = 0
            elif scanner is not None or gone_polls >= 2:
                final = True
        if scanner is None:
            header, offset, early, spans = parse_header(buf, p)
            if early is not None and (final or early.reason is not EndReason.TORN):
                yield from spans
                yield early
                return
            if early is None:
                if header is not None:
                    yield header
                scanner = scanner_after_header(buf, p, header, offset, spans)
        if scanner is not None:
            first = scanner.count
            records = scanner.scan(buf, base, final=final)
            # interleave the new spans with the new records, in file order
            taken = 0
            for span, position in zip(
                scanner.spans[spans_yielded:], scanner.span_positions[spans_yielded:], strict=True
            ):
                upto = position - first
                yield from records[taken:upto]
                taken = max(taken, upto)
                yield span
            spans_yielded = len(scanner.spans)
            yield from records[taken:]
            if scanner.end is not None:
                yield scanner.end
                return
            consumed = scanner.offset - base
            if consumed >= _TRIM_BYTES:
                del buf[:consumed]
                base += consumed
        if stop_after_idle_s is not None and time.monotonic() - last_growth >= stop_after_idle_s:
            offset = scanner.offset if scanner is not None else 0
            count = scanner.count if scanner is not None else 0
            yield JournalEnd(
                reason=EndReason.OPEN,
                offset=offset,
                records=count,
                detail=f"stopped following after {stop_after_idle_s:g}s without new data",
            )
            return
        time.sleep(poll_s)
