"""Reading a journal: every trustworthy record, and where and why the journal ends.

``read_journal`` never raises for a damaged tail: it returns the records before the damage and a
``JournalEnd`` that says what it found. It raises ``JournalError`` only when the file is not a journal at all
(missing, wrong magic, unreadable header), with a one-line message for the CLI.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import msgpack

from events.base import EventError
from events.codec import event_from_payload
from events.envelope import Envelope
from pipeline.journal.format import (
    FRAME_HEAD,
    MAGIC,
    MAX_FRAME,
    EndReason,
    JournalEnd,
    JournalError,
    JournalHeader,
    check_frame,
)


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
        return Envelope(
            seq=self.seq,
            t_ns=self.t_ns,
            source=self.source,
            cause=self.cause,
            event=event_from_payload(self.tag, self.version, dict(self.payload)),
        )


@attrs.frozen(kw_only=True)
class Journal:
    path: Path
    header: JournalHeader | None
    records: list[RawRecord]
    end: JournalEnd

    def envelopes(self) -> list[Envelope]:
        """Build every record into its current event class (upcasting older versions)."""
        return [r.envelope() for r in self.records]


def _unpack(body: bytes | memoryview) -> Any:
    return msgpack.unpackb(body, raw=False, use_list=False, strict_map_key=False)


def _parse_header(buf: bytes, path: Path) -> tuple[JournalHeader | None, int, JournalEnd | None]:
    if len(buf) < len(MAGIC):
        if MAGIC.startswith(buf):
            return None, 0, JournalEnd(reason=EndReason.TORN, offset=0, records=0, detail="header incomplete")
        raise JournalError(f"{path}: not an rtpipe journal (bad magic)")
    if not buf.startswith(MAGIC):
        if buf[:4] == MAGIC[:4]:
            raise JournalError(f"{path}: journal format {buf[5]} is not supported by this rtpipe")
        raise JournalError(f"{path}: not an rtpipe journal (bad magic)")
    status, start, end = check_frame(buf, len(MAGIC))
    if status in ("torn", "end"):
        return None, len(MAGIC), JournalEnd(reason=EndReason.TORN, offset=len(MAGIC), records=0, detail="header incomplete")
    if status == "corrupt":
        return None, len(MAGIC), JournalEnd(
            reason=EndReason.CORRUPT, offset=len(MAGIC), records=0, detail="header checksum mismatch"
        )
    try:
        fields = _unpack(buf[start:end])
        end += 4
        header = JournalHeader(
            format=fields["format"],
            software=fields["software"],
            started_unix_ns=fields["started_unix_ns"],
            started_wall=fields["started_wall"],
            session_id=fields["session_id"],
            config=_thaw(fields.get("config", {})),
        )
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as exc:
        raise JournalError(f"{path}: unreadable journal header ({exc})") from exc
    return header, end, None


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def parse_records(buf: bytes, offset: int, first_index: int = 0) -> tuple[list[RawRecord], JournalEnd]:
    """Parse frames from ``offset`` to the first untrustworthy point.

    The loop is the read hot path: frames are checked on a memoryview (no copies of record bodies) and
    decoded straight into tuples.
    """
    records: list[RawRecord] = []
    append = records.append
    view = memoryview(buf)
    size = len(buf)
    unpack_head = FRAME_HEAD.unpack_from
    crc32 = zlib.crc32
    unpackb = msgpack.unpackb
    make = tuple.__new__
    count = first_index
    try:
        while True:
            if offset == size:
                return records, JournalEnd(reason=EndReason.OPEN, offset=offset, records=count)
            if size - offset < 8:
                return records, JournalEnd(
                    reason=EndReason.TORN, offset=offset, records=count, detail=f"{size - offset} trailing bytes"
                )
            (length,) = unpack_head(buf, offset)
            start = offset + 4
            end = start + length
            if length <= MAX_FRAME and end + 4 > size:
                return records, JournalEnd(
                    reason=EndReason.TORN, offset=offset, records=count, detail=f"{size - offset} trailing bytes"
                )
            if length > MAX_FRAME or crc32(view[offset:end]) != unpack_head(buf, end)[0]:
                return records, JournalEnd(reason=EndReason.CORRUPT, offset=offset, records=count, detail="checksum mismatch")
            try:
                record = unpackb(view[start:end], raw=False, use_list=False, strict_map_key=False)
            except (ValueError, msgpack.UnpackException) as exc:
                return records, JournalEnd(
                    reason=EndReason.CORRUPT, offset=offset, records=count, detail=f"undecodable: {exc}"
                )
            if type(record) is tuple and len(record) == 7:
                append(make(RawRecord, record))
            elif isinstance(record, dict) and record.get("closed") is True:
                return records, JournalEnd(reason=EndReason.CLOSED, offset=end + 4, records=count)
            else:
                return records, JournalEnd(reason=EndReason.CORRUPT, offset=offset, records=count, detail="bad record")
            count += 1
            offset = end + 4
    finally:
        view.release()


def read_journal(path: str | os.PathLike[str]) -> Journal:
    p = Path(path)
    try:
        buf = p.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise JournalError(f"{p}: is a directory, not a journal") from None
    except OSError as exc:
        raise JournalError(f"{p}: cannot read ({exc.strerror})") from None
    header, offset, early_end = _parse_header(buf, p)
    if early_end is not None:
        return Journal(path=p, header=header, records=[], end=early_end)
    records, end = parse_records(buf, offset)
    return Journal(path=p, header=header, records=records, end=end)


def load_envelopes(path: str | os.PathLike[str]) -> tuple[Journal, list[Envelope]]:
    """Read a journal and build its events. A record that no longer decodes raises ``JournalError``."""
    journal = read_journal(path)
    try:
        return journal, journal.envelopes()
    except EventError as exc:
        raise JournalError(f"{journal.path}: {exc}") from exc


def follow(path: str | os.PathLike[str], *, poll_s: float = 0.1, stop_after_idle_s: float | None = None) -> Iterator[
    RawRecord | JournalHeader | JournalEnd
]:
    """Yield the header, then records as the writer appends them, then the final ``JournalEnd``.

    It waits while the journal is ``open`` or its tail is torn (a record half-written right now), and ends at
    the close marker, at corruption, or after ``stop_after_idle_s`` without growth.
    """
    import time

    p = Path(path)
    header_seen = False
    offset = 0
    count = 0
    idle = 0.0
    while True:
        try:
            buf = p.read_bytes()
        except FileNotFoundError:
            raise JournalError(f"{p}: no such file") from None
        if not header_seen:
            header, offset, early = _parse_header(buf, p)
            if header is not None:
                header_seen = True
                yield header
            elif early is not None and early.reason is EndReason.CORRUPT:
                yield early
                return
        if header_seen:
            records, end = parse_records(buf, offset, count)
            yield from records
            count = end.records
            grew = end.offset > offset
            offset = end.offset
            if end.reason in (EndReason.CLOSED, EndReason.CORRUPT):
                yield end
                return
            idle = 0.0 if grew else idle + poll_s
        else:
            idle += poll_s
        if stop_after_idle_s is not None and idle >= stop_after_idle_s:
            yield JournalEnd(reason=EndReason.OPEN, offset=offset, records=count, detail="stopped following")
            return
        time.sleep(poll_s)
