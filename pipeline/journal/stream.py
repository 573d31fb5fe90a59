"""Reading a journal as a stream: one pass, record by record, in memory that stays flat whatever its length.

``iter_journal(path)`` opens a journal and reads its header at once (``JournalError`` when the file is not a
journal at all, as ``read_journal``); iterating the returned ``JournalStream`` yields every readable record in
file order, and once it is exhausted ``end``, ``corrupt_spans``, ``records`` (the count), ``describe()`` and
the rest of what ``Journal`` reports are known. A stream is read once.

How: the file is mapped (``mmap``, read-only) and the same ``FrameScanner`` as ``read_journal`` walks it in
batches of ``batch_bytes``; after each batch the pages behind the scanner are handed back to the kernel
(``MADV_DONTNEED``), so the resident set is about one batch, not the file. Mapping the whole file rather than
reading fixed blocks keeps every decision exactly that of ``read_journal``: after damage the reader may have
to look arbitrarily far ahead (a corrupt span ends at the next frame that checks; a close marker counts the
bytes after it), and a page it needs is simply faulted in again. Records are decoded from msgpack as the
scanner reaches them (a C call per record, cheaper than any partial decode in Python); no event object is
built unless a consumer asks (``RawRecord.envelope()``).

The mapping is of the file as it is when opened: a journal still being written reads up to what was written
then (its last frame may be torn). Journals are only ever appended to; a file that shrinks under a reader
would fault it. A file that cannot be mapped (empty, a pipe) is read into memory instead.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.journal.format import CorruptSpan, JournalEnd, JournalError, JournalHeader
from pipeline.journal.reader import (
    Buffer,
    FrameScanner,
    Outcome,
    RawRecord,
    open_file,
    parse_header,
    scanner_after_header,
)

BATCH_BYTES = 1 << 20  # scanned (and then released) at a time: about 500 audio chunks
_PAGE = mmap.PAGESIZE
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
_SEQUENTIAL = getattr(mmap, "MADV_SEQUENTIAL", None)


class JournalStream(Outcome):
    """One pass over a journal. ``header`` is known at once; iterate for the records; once exhausted,
    ``end``, ``corrupt_spans``, ``records`` (how many were read), ``first_seq``, ``last_seq``, ``last_t_ns``,
    ``ending``, ``clean``, ``records_skipped`` and ``describe()``, as ``Journal`` reports them."""

    def __init__(self, buf: Buffer, path: Path, *, batch_bytes: int = BATCH_BYTES) -> None:
        self.path = path
        self.size = len(buf)
        self.batch_bytes = max(1, batch_bytes)
        self.records = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_t_ns: int | None = None
        self._buf: Buffer | None = buf
        self._released = 0
        self._started = False
        try:
            header, offset, early, spans = parse_header(buf, path)
        except BaseException:
            self.close()
            raise
        self.header: JournalHeader | None = header
        self._spans: tuple[CorruptSpan, ...] = tuple(spans)
        self._end: JournalEnd | None = early
        self._scanner: FrameScanner | None = None
        if early is None:
            self._scanner = scanner_after_header(buf, path, header, offset, spans)
        else:
            self.close()

    @property
    def exhausted(self) -> bool:
        """Whether the pass is over (``end`` and ``corrupt_spans`` are final)."""
        return self._end is not None

    @property
    def end(self) -> JournalEnd:
        """How the journal ends (known once the stream is exhausted)."""
        if self._end is None:
            raise RuntimeError(f"{self.path}: the journal's end is known once the stream has been read to the end")
        return self._end

    @property
    def corrupt_spans(self) -> tuple[CorruptSpan, ...]:
        """What the reader skipped (so far; every span once exhausted)."""
        if self._end is None and self._scanner is not None:
            return tuple(self._scanner.spans)
        return self._spans

    def __iter__(self) -> Iterator[RawRecord]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[RawRecord]]:
        """The records in batches (lists in file order, about ``batch_bytes`` of journal each): the same pass
        as iterating the stream, for a consumer that loops over records itself (one generator step a batch)."""
        if self._started:
            raise RuntimeError(f"{self.path}: a journal stream is read once (open it again for another pass)")
        self._started = True
        scanner, buf = self._scanner, self._buf
        if scanner is None or buf is None:
            return
        try:
            while scanner.end is None:
                batch = scanner.scan(buf, 0, final=True, stop=scanner.offset + self.batch_bytes)
                self._release(scanner.offset)
                if batch:
                    if self.first_seq is None:
                        self.first_seq = batch[0].seq
                    self.records += len(batch)
                    last = batch[-1]
                    self.last_seq, self.last_t_ns = last.seq, last.t_ns
                    yield batch
                    del batch, last  # not alive while the next batch is read
            self._spans = tuple(scanner.spans)
            self._end = scanner.end
        finally:
            self.close()

    def _release(self, upto: int) -> None:
        """Give the kernel back the mapped pages the scanner has left behind (they are re-read if touched)."""
        buf = self._buf
        if not isinstance(buf, mmap.mmap) or _DONTNEED is None:
            return
        upto -= upto % _PAGE
        if upto > self._released:
            try:
                buf.madvise(_DONTNEED, self._released, upto - self._released)
            except (OSError, ValueError):
                pass
            self._released = upto

    def close(self) -> None:
        """Unmap the file (done when the pass ends; call it when abandoning a pass early)."""
        buf, self._buf = self._buf, None
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()
            except BufferError:  # a view of it is still alive somewhere: the collector unmaps it
                pass

    def __enter__(self) -> JournalStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_journal(path: str | os.PathLike[str], *, size: int | None = None, batch_bytes: int = BATCH_BYTES) -> JournalStream:
    """Open a journal for one pass (its header read at once; ``JournalError`` if it is not a journal).
    ``size``: read only the first ``size`` bytes (a journal as it was when first opened, though a writer has
    appended since: every pass of a ``Recording`` reads the same records)."""
    p = Path(path)
    with open_file(p) as f:  # a mapping keeps a descriptor of its own
        try:
            buf = _map(f, size)
        except OSError as exc:
            raise JournalError(f"{p}: cannot read ({exc.strerror})") from None
    return JournalStream(buf, p, batch_bytes=batch_bytes)


def stream_from_bytes(buf: Buffer, path: str | os.PathLike[str] = "<bytes>", *, batch_bytes: int = BATCH_BYTES) -> JournalStream:
    """A stream over a journal already in memory (``path`` only names it in messages)."""
    return JournalStream(buf, Path(path), batch_bytes=batch_bytes)


def _map(f: BinaryIO, size: int | None) -> Buffer:
    """The file (its first ``size`` bytes) mapped read-only; its bytes when it cannot be mapped (empty, not a
    regular file, shorter than ``size``)."""
    info = os.fstat(f.fileno())
    length = info.st_size if size is None else min(size, info.st_size)
    if not stat.S_ISREG(info.st_mode) or length <= 0:
        data = f.read() if size is None else f.read(size)
        return data
    try:
        buf = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # a file system that cannot map it: read it instead
        return f.read(length)
    if _SEQUENTIAL is not None:
        try:
            buf.madvise(_SEQUENTIAL)
        except OSError:
            pass
    return buf
