"""Reading a journal: every trustworthy record, every corrupt span, and where and why the journal ends.

``read_journal`` never raises for damage after the header: it returns every record it can trust, in file
order, the corrupt spans it skipped (``Journal.corrupt_spans``) and how the data ends (``Journal.end``). It
raises ``JournalError`` only when the file is not a journal at all (missing, wrong magic, unsupported format,
unreadable header), with a one-line message for the CLI.

``FrameScanner`` is the incremental parser under both ``read_journal`` (one pass, ``final=True``) and
``follow`` (a pass per poll: whatever cannot be decided yet at the end of the data waits for more bytes).
"""

from __future__ import annotations

import gc
import mmap
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import attrs
import msgpack

from pipeline.journal.format import (
    FRAME_HEAD,
    FRAME_OVERHEAD,
    MAGIC_PREFIX,
    MAX_FRAME,
    SUPPORTED_FORMATS,
    SYNC,
    SYNC_U32,
    CorruptSpan,
    EndReason,
    JournalEnd,
    JournalError,
    JournalHeader,
    frame_at,
    frame_at_v1,
)

if TYPE_CHECKING:
    from events.envelope import Envelope

Buffer = bytes | bytearray | mmap.mmap


class RawRecord(NamedTuple):
    """A record as stored, payload not yet built into an event class (fast; no upcasting)."""

    seq: int
    t_ns: int
    source: str
    cause: int | None
    tag: str
    version: int
    payload: dict[str, Any]

    def envelope(self) -> Envelope:
        """The record built into its current event class (upcast from an older version); ``EventError`` when
        it no longer decodes."""
        build = _BUILD or _builders()
        env: Envelope = build[0](
            seq=self.seq,
            t_ns=self.t_ns,
            source=self.source,
            cause=self.cause,
            event=build[1](self.tag, self.version, self.payload),  # it copies the payload before upcasting
        )
        return env


# (Envelope, event_from_payload), imported on first use: importing the journal package stays cheap, and a
# record built per call does not pay for two import statements (an hour of audio chunks is 90,000 records)
_BUILD: tuple[Any, Any] | None = None


def _builders() -> tuple[Any, Any]:
    global _BUILD
    from events.codec import event_from_payload
    from events.envelope import Envelope

    _BUILD = (Envelope, event_from_payload)
    return _BUILD


def records_skipped(spans: tuple[CorruptSpan, ...]) -> int | None:
    """Records lost in ``spans``; None when a span's loss cannot be told."""
    total = 0
    for span in spans:
        if span.records_lost is None:
            return None
        total += span.records_lost
    return total


def describe_outcome(end: JournalEnd, spans: tuple[CorruptSpan, ...]) -> str:
    """One line: how the journal ends, and the corrupt spans if any."""
    text = end.describe()
    if spans:
        skipped = records_skipped(spans)
        lost = "an unknown number of records" if skipped is None else f"{skipped} record{'s' * (skipped != 1)}"
        text += f"; {len(spans)} corrupt span{'s' * (len(spans) != 1)} ({lost} skipped)"
    return text


class Outcome:
    """What a read journal reports from its ``end`` and ``corrupt_spans`` (a ``Journal``, or a
    ``JournalStream`` once exhausted)."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by the subclass (a field or a property)

        @property
        def end(self) -> JournalEnd: ...

        @property
        def corrupt_spans(self) -> tuple[CorruptSpan, ...]: ...

    @property
    def ending(self) -> EndReason:
        """How the journal ends: closed, open, torn or corrupt."""
        return self.end.reason

    @property
    def clean(self) -> bool:
        """Closed, with nothing skipped and nothing after the close marker."""
        return self.end.clean and not self.corrupt_spans

    @property
    def records_skipped(self) -> int | None:
        """Records lost in corrupt spans; None when a span's loss cannot be told."""
        return records_skipped(self.corrupt_spans)

    def describe(self) -> str:
        """One line: the ending, and the corrupt spans if any."""
        return describe_outcome(self.end, self.corrupt_spans)


@attrs.frozen(kw_only=True)
class Journal(Outcome):
    """A journal as read: ``header`` (None when the header could not be read), ``records`` (every readable
    record, in file order), ``end`` (how the data ends), ``corrupt_spans`` (what was skipped, with byte
    offsets; bytes after the close marker are one too). Everything is in memory: for a long journal, read it
    as a stream (``iter_journal``) instead."""

    path: Path
    header: JournalHeader | None
    records: list[RawRecord]
    end: JournalEnd
    corrupt_spans: tuple[CorruptSpan, ...] = ()

    def envelopes(self) -> list[Envelope]:
        """Build every record into its current event class (upcasting older versions)."""
        return [r.envelope() for r in self.records]


def _unpack(body: bytes | memoryview) -> Any:
    return msgpack.unpackb(body, raw=False, use_list=False, strict_map_key=False)


def _decode(body: memoryview) -> Any:
    """A record tuple, the trailer map, or None when the body is neither."""
    try:
        value = _unpack(body)
    except Exception:  # msgpack raises ValueError, its own errors, TypeError for unhashable keys, ...
        return None
    if type(value) is tuple and len(value) == 7:
        return value
    if isinstance(value, dict) and value.get("closed") is True:
        return value
    return None


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def journal_format(buf: Buffer, path: Path) -> int | None:
    """The format version the magic names, None when the file is too short to tell (a torn start)."""
    if len(buf) < len(MAGIC_PREFIX) + 1:
        if MAGIC_PREFIX.startswith(bytes(buf[: len(MAGIC_PREFIX)])):
            return None
        raise JournalError(f"{path}: not an rtpipe journal (bad magic)")
    if buf[: len(MAGIC_PREFIX)] != MAGIC_PREFIX:  # slicing, not startswith: ``buf`` may be a mapped file
        if buf[:4] == MAGIC_PREFIX[:4]:
            raise JournalError(f"{path}: journal format {buf[5]} is not supported by this rtpipe")
        raise JournalError(f"{path}: not an rtpipe journal (bad magic)")
    fmt = buf[len(MAGIC_PREFIX)]
    if fmt not in SUPPORTED_FORMATS:
        raise JournalError(f"{path}: journal format {fmt} is not supported by this rtpipe")
    return fmt


def parse_header(buf: Buffer, path: Path) -> tuple[JournalHeader | None, int, JournalEnd | None, list[CorruptSpan]]:
    """``(header, offset after it, early end, spans)``. A header that is still being written (or torn) gives
    ``(None, 6, torn end, [])``; a format-2 header frame that fails its checksum gives ``(None, 6, None, [])``:
    the records after it are still read (the scanner reports the damaged header as a corrupt span). A header
    whose sync marker alone is damaged is read, and the marker reported."""
    fmt = journal_format(buf, path)
    start = len(MAGIC_PREFIX) + 1
    torn = JournalEnd(reason=EndReason.TORN, offset=min(len(buf), start), records=0, detail="header incomplete")
    if fmt is None:
        return None, 0, torn, []
    if fmt == 1:
        status, body_start, body_end = frame_at_v1(buf, start)
        if status in ("torn", "end"):
            return None, start, torn, []
        if status == "corrupt":
            corrupt = JournalEnd(reason=EndReason.CORRUPT, offset=start, records=0, detail="header checksum mismatch")
            span = CorruptSpan(start=start, end=len(buf), records_lost=None, detail="damaged header (format 1)")
            return None, start, corrupt, [span]
        return _header_from(memoryview(buf)[body_start:body_end], path), body_end + 4, None, []
    end = frame_at(buf, start, need_sync=False)
    if end < 0:
        if _partial_frame(buf, start):
            return None, start, torn, []
        return None, start, None, []
    spans: list[CorruptSpan] = []
    if buf[start : start + len(SYNC)] != SYNC:
        spans.append(CorruptSpan(start=start, end=start + len(SYNC), records_lost=0, detail="damaged sync marker"))
    return _header_from(memoryview(buf)[start + FRAME_OVERHEAD : end], path), end, None, spans


def _header_from(body: memoryview, path: Path) -> JournalHeader:
    try:
        fields = _unpack(body)
        return JournalHeader(
            format=fields["format"],
            software=fields["software"],
            started_unix_ns=fields["started_unix_ns"],
            started_wall=fields["started_wall"],
            session_id=fields["session_id"],
            config=_thaw(fields.get("config", {})),
        )
    except Exception as exc:
        raise JournalError(f"{path}: unreadable journal header ({exc})") from None


def _partial_frame(buf: Buffer, offset: int) -> bool:
    """Whether the bytes from ``offset`` to the end are what a writer stopping mid-frame leaves: a prefix of
    the sync marker and frame head, or a complete head whose length runs past the end of the data."""
    rest = len(buf) - offset
    if rest < len(SYNC):
        return SYNC.startswith(bytes(buf[offset:]))
    if buf[offset : offset + len(SYNC)] != SYNC:
        return False
    if rest < FRAME_OVERHEAD:
        return True
    _, length, _ = FRAME_HEAD.unpack_from(buf, offset)
    return bool(0 < length <= MAX_FRAME and offset + FRAME_OVERHEAD + length > len(buf))


def _diagnose(buf: Buffer, offset: int) -> str:
    """Why the format-2 frame at ``offset`` was refused (for the corrupt span's detail)."""
    if len(buf) - offset < FRAME_OVERHEAD:
        return "damaged frame"
    sync, length, crc = FRAME_HEAD.unpack_from(buf, offset)
    if sync != SYNC_U32:
        return "no sync marker"
    if length == 0 or length > MAX_FRAME:
        return f"impossible length {length}"
    end = offset + FRAME_OVERHEAD + length
    if end > len(buf):
        return f"length {length} runs past the end of the file"
    if zlib.crc32(memoryview(buf)[offset + FRAME_OVERHEAD : end], length) != crc:
        return "checksum mismatch"
    return "undecodable record"


class FrameScanner:
    """Parses frames from ``offset`` on; keeps its place between calls so a follower can feed it more data.

    ``scan(buf, base, final)`` reads ``buf`` (the file's bytes from absolute offset ``base``) from its
    position and returns the new records; new corrupt spans accumulate in ``spans``. When ``final`` is false,
    an undecidable end of data (a frame still being written) is left for the next call; when it is true,
    ``end`` is set. ``end`` is also set by the trailer.
    """

    def __init__(self, fmt: int, offset: int, *, header_damaged: bool = False) -> None:
        self.fmt = fmt
        self.offset = offset
        self.count = 0
        self.last_seq = -1
        self.lost = 0
        self.spans: list[CorruptSpan] = []
        self.span_positions: list[int] = []  # how many records precede each span (to interleave them in order)
        self.end: JournalEnd | None = None
        self._header_damaged = header_damaged

    def scan(self, buf: Buffer, base: int = 0, *, final: bool = True, stop: int | None = None) -> list[RawRecord]:
        """The records from the scanner's position on. With ``stop`` (an absolute offset), return once the
        position reaches it, with ``end`` still None (a stream reads a long journal in batches this way)."""
        if self.end is not None:
            return []
        if self.fmt == 1:
            return self._scan_v1(buf, base, final, stop)
        halt = len(buf) if stop is None else min(len(buf), stop - base)
        records: list[RawRecord] = []
        view = memoryview(buf)
        # Building many small containers that stay alive is what triggers the cyclic collector, again and
        # again over the growing list; these records cannot form cycles, so it is paused for the bulk read
        # (about a third faster on a long journal) and restored as it was.
        collecting = gc.isenabled()
        gc.disable()
        try:
            pos = self.offset - base
            while True:
                pos = self._fast(buf, view, pos, records, halt)
                if records:
                    self.last_seq = records[-1].seq
                if pos >= halt and halt < len(buf):
                    self.offset = base + pos
                    break
                if not self._slow(buf, view, pos, base, records, final):
                    break
                pos = self.offset - base
                if pos >= halt and halt < len(buf):
                    break
        finally:
            view.release()
            if collecting:
                gc.enable()
        return records

    def _fast(self, buf: Buffer, view: memoryview, pos: int, records: list[RawRecord], halt: int) -> int:
        """The read hot path: frames checked in place (no copies of bodies), decoded straight into tuples.
        Returns the position of the first frame it did not take (at or after ``halt``: it stopped there)."""
        append = records.append
        size = len(buf)
        limit = min(size - FRAME_OVERHEAD, halt - 1)
        head = FRAME_HEAD.unpack_from
        crc32 = zlib.crc32
        unpackb = msgpack.unpackb
        make = tuple.__new__
        sync_u32 = SYNC_U32
        start_count = len(records)
        try:
            while pos <= limit:
                sync, length, crc = head(buf, pos)
                end = pos + FRAME_OVERHEAD + length
                if sync != sync_u32 or end > size:
                    break
                body = view[pos + FRAME_OVERHEAD : end]
                if crc32(body, length) != crc:
                    break
                record = unpackb(body, use_list=False, strict_map_key=False)
                if type(record) is not tuple or len(record) != 7:
                    break
                append(make(RawRecord, record))
                pos = end
        except Exception:  # undecodable body (or a zero length): the slow path decides
            pass
        self.count += len(records) - start_count
        return pos

    def _slow(
        self, buf: Buffer, view: memoryview, pos: int, base: int, records: list[RawRecord], final: bool
    ) -> bool:
        """Handle the frame at ``pos`` that the fast path did not take. Returns whether scanning goes on."""
        size = len(buf)
        self.offset = base + pos
        if pos == size:
            if final:
                self.end = JournalEnd(reason=EndReason.OPEN, offset=base + pos, records=self.count)
            return False
        # a frame whose sync marker alone is damaged: its length and checksum still agree
        end = frame_at(buf, pos, need_sync=False)
        value = _decode(view[pos + FRAME_OVERHEAD : end]) if end >= 0 else None
        if value is not None:
            if buf[pos : pos + len(SYNC)] != SYNC:
                self._span(base + pos, base + pos + len(SYNC), 0, "damaged sync marker")
            self._take(value, base + pos, base + end, base, size, records)
            return self.end is None
        # resynchronise: the next sync marker whose frame is accepted
        candidate = pos
        while True:
            candidate = buf.find(SYNC, candidate + 1)
            if candidate < 0:
                break
            end = frame_at(buf, candidate)
            if end < 0:
                continue
            value = _decode(view[candidate + FRAME_OVERHEAD : end])
            if value is not None:
                break
        if candidate < 0:
            # nothing readable after the bad frame: a torn tail, damage at the end, or (live) not yet known
            if not final:
                return False
            if _partial_frame(buf, pos):
                self.end = JournalEnd(
                    reason=EndReason.TORN, offset=base + pos, records=self.count, detail=f"{size - pos} trailing bytes"
                )
            else:
                detail = self._detail(buf, pos)
                self._span(base + pos, base + size, None, detail)
                self.end = JournalEnd(reason=EndReason.CORRUPT, offset=base + pos, records=self.count, detail=detail)
            return False
        assert value is not None
        if isinstance(value, dict):
            written = value.get("records")
            lost = written - self.count - self.lost if isinstance(written, int) else None
        else:
            gap = value[0] - self.last_seq - 1 if isinstance(value[0], int) else -1
            lost = gap if gap >= 0 else None
        self._span(base + pos, base + candidate, lost, self._detail(buf, pos))
        self._take(value, base + candidate, base + end, base, size, records)
        return self.end is None

    def _detail(self, buf: Buffer, pos: int) -> str:
        detail = _diagnose(buf, pos)
        if self._header_damaged:
            self._header_damaged = False
            return f"damaged header ({detail})"
        return detail

    def _take(self, value: Any, start: int, end: int, base: int, size: int, records: list[RawRecord]) -> None:
        self._header_damaged = False
        if isinstance(value, dict):
            after = base + size - end
            self.end = JournalEnd(reason=EndReason.CLOSED, offset=end, records=self.count, after_close=after)
            if after:
                self._span(end, base + size, 0, f"{after} bytes after the close marker")
        else:
            records.append(tuple.__new__(RawRecord, value))
            self.count += 1
            if isinstance(value[0], int):
                self.last_seq = value[0]
        self.offset = end

    def _span(self, start: int, end: int, lost: int | None, detail: str) -> None:
        if lost is not None and lost < 0:
            lost = None
        self.spans.append(CorruptSpan(start=start, end=end, records_lost=lost, detail=detail))
        self.span_positions.append(self.count)
        if lost:
            self.lost += lost

    def _scan_v1(self, buf: Buffer, base: int, final: bool, stop: int | None) -> list[RawRecord]:
        """Format 1: no sync marker, so the first frame that cannot be trusted ends the readable journal."""
        records: list[RawRecord] = []
        view = memoryview(buf)
        size = len(buf)
        pos = self.offset - base
        halt = size if stop is None else stop - base
        try:
            while True:
                if pos >= halt and halt < size:
                    self.offset = base + pos
                    return records
                status, start, end = frame_at_v1(buf, pos)
                if status == "ok":
                    value = _decode(view[start:end])
                    if value is None:
                        status = "undecodable record"
                    elif isinstance(value, dict):
                        self._take(value, base + pos, base + end + 4, base, size, records)
                        return records
                    else:
                        records.append(tuple.__new__(RawRecord, value))
                        self.count += 1
                        pos = end + 4
                        continue
                self.offset = base + pos
                if status in ("end", "torn") and not final:
                    return records
                if status == "end":
                    self.end = JournalEnd(reason=EndReason.OPEN, offset=base + pos, records=self.count)
                elif status == "torn":
                    self.end = JournalEnd(
                        reason=EndReason.TORN, offset=base + pos, records=self.count, detail=f"{size - pos} trailing bytes"
                    )
                else:
                    detail = "checksum mismatch" if status == "corrupt" else status
                    self._span(base + pos, base + size, None, f"{detail} (format 1 cannot resynchronise)")
                    self.end = JournalEnd(reason=EndReason.CORRUPT, offset=base + pos, records=self.count, detail=detail)
                return records
        finally:
            view.release()


def scanner_after_header(buf: Buffer, path: Path, header: JournalHeader | None, offset: int, spans: list[CorruptSpan]) -> FrameScanner:
    """The scanner for the frames after what ``parse_header`` read (when it gave no early end): its spans
    (a damaged sync marker) come first, before any record."""
    scanner = FrameScanner(journal_format(buf, path) or 2, offset, header_damaged=header is None)
    scanner.spans[:0] = spans
    scanner.span_positions[:0] = [0] * len(spans)
    return scanner


def open_file(path: Path) -> BinaryIO:
    """``path`` opened for reading, or ``JournalError`` with one line."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise JournalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise JournalError(f"{path}: is a directory, not a journal") from None
    except OSError as exc:
        raise JournalError(f"{path}: cannot read ({exc.strerror})") from None


def read_journal(path: str | os.PathLike[str]) -> Journal:
    p = Path(path)
    with open_file(p) as f:
        try:
            buf = f.read()
        except OSError as exc:
            raise JournalError(f"{p}: cannot read ({exc.strerror})") from None
    return journal_from_bytes(buf, p)


def journal_from_bytes(buf: Buffer, path: str | os.PathLike[str] = "<bytes>") -> Journal:
    """``read_journal`` on bytes already in memory (``path`` only names it in messages)."""
    p = Path(path)
    header, offset, early_end, spans = parse_header(buf, p)
    if early_end is not None:
        return Journal(path=p, header=header, records=[], end=early_end, corrupt_spans=tuple(spans))
    scanner = scanner_after_header(buf, p, header, offset, spans)
    records = scanner.scan(buf)
    assert scanner.end is not None
    return Journal(path=p, header=header, records=records, end=scanner.end, corrupt_spans=tuple(scanner.spans))


def load_envelopes(path: str | os.PathLike[str]) -> tuple[Journal, list[Envelope]]:
    """Read a journal and build its events. A record that no longer decodes raises ``JournalError``."""
    from events.base import EventError

    journal = read_journal(path)
    try:
        return journal, journal.envelopes()
    except EventError as exc:
        raise JournalError(f"{journal.path}: {exc}") from exc
