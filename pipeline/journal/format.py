"""The journal file format, and the value classes a reader reports.

Format 2 (written since issue 10; every frame starts with a sync marker, so a reader can find the next
frame after damage)::

    file    := MAGIC(6) header-frame record-frame* [trailer-frame]
    MAGIC   := b"RTPJ\\x00" + bytes([format])
    frame   := SYNC(4)  length:u32le  crc:u32le  body[length]        # 12 bytes of overhead
    SYNC    := b"\\x8fRTJ"
    crc     := crc32(body, length)      # zlib.crc32 seeded with the length: length and body must agree
    header  := msgpack map  {format, software, started_unix_ns, started_wall, session_id, config}
    record  := msgpack array [seq, t_ns, source, cause, tag, version, payload-map]
    trailer := msgpack map  {"closed": true, "records": n}

A frame is accepted only when its length is positive and within ``MAX_FRAME``, the whole frame lies in the
file, the checksum of exactly ``length`` body bytes matches, and the body decodes into a record or the
trailer. After a frame that fails, the reader searches for the next ``SYNC`` whose frame is accepted and
reports the bytes in between as a corrupt span: a corrupt record costs that record and nothing else. (The
sync marker is outside the checksum: a frame whose marker alone was hit is still read, and the four bytes
are reported.)

Format 1 (rtpipe 0.1) had no sync marker (``frame := length:u32le body crc:u32le`` with
``crc = crc32(length-bytes + body)``). It is still read, but cannot be resynchronised: its reader stops at
the first frame it cannot trust, and the rest of the file is one corrupt span.

How a journal ends (``EndReason``): ``closed`` (the trailer was read), ``open`` (the data ends on a frame
boundary with no trailer: still being written, or the writer stopped between records), ``torn`` (the data
ends inside a frame that a writer stopping mid-write explains: a partial frame head, or a length that runs
past the end of the file), ``corrupt`` (the data ends in damage that is not a partial write; the damage is
also a corrupt span).
"""

from __future__ import annotations

import enum
import mmap
import struct
import zlib
from typing import Any

import attrs

FORMAT_VERSION = 2
SUPPORTED_FORMATS = (1, 2)
MAGIC_PREFIX = b"RTPJ\x00"
MAGIC = MAGIC_PREFIX + bytes([FORMAT_VERSION])
MAGIC_V1 = MAGIC_PREFIX + b"\x01"
SYNC = b"\x8fRTJ"
SYNC_U32: int = struct.unpack("<I", SYNC)[0]
FRAME_HEAD = struct.Struct("<III")  # sync, length, crc
FRAME_OVERHEAD = FRAME_HEAD.size
MAX_FRAME = 64 * 1024 * 1024

# format 1
FRAME_HEAD_V1 = struct.Struct("<I")
FRAME_OVERHEAD_V1 = 8  # length + crc


class JournalError(Exception):
    """A file that is not a readable journal (one line, for the CLI)."""


class EndReason(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    TORN = "torn"
    CORRUPT = "corrupt"


@attrs.frozen(kw_only=True)
class JournalEnd:
    """Where reading stopped, and why.

    ``offset`` is the byte where the readable journal ends: after the trailer (closed), at the end of the
    data (open), at the start of the partial frame (torn) or of the final corrupt span (corrupt).
    ``after_close`` counts bytes found after the close marker (nothing a writer of this journal wrote).
    """

    reason: EndReason
    offset: int
    records: int
    detail: str = ""
    after_close: int = 0

    @property
    def clean(self) -> bool:
        return self.reason is EndReason.CLOSED and self.after_close == 0

    def describe(self) -> str:
        if self.reason is EndReason.CLOSED and self.after_close:
            return (
                f"close marker at byte {self.offset} after {self.records} records, "
                f"followed by {self.after_close} unexpected bytes"
            )
        base = {
            EndReason.CLOSED: "closed cleanly",
            EndReason.OPEN: "no close marker (still being written, or the writer stopped between records)",
            EndReason.TORN: "torn tail (the writer stopped mid-record)",
            EndReason.CORRUPT: "ends in a corrupt span",
        }[self.reason]
        extra = f": {self.detail}" if self.detail else ""
        return f"{base} at byte {self.offset} after {self.records} records{extra}"


@attrs.frozen(kw_only=True)
class CorruptSpan:
    """Bytes ``[start, end)`` the reader could not use, between two readable frames (or up to the end).

    ``records_lost`` is how many records the span cost, from the gap in ``seq`` around it (or the trailer's
    count); ``None`` when nothing after the span tells.
    """

    start: int
    end: int
    records_lost: int | None
    detail: str

    @property
    def size(self) -> int:
        return self.end - self.start

    def describe(self) -> str:
        lost = "unknown number of records" if self.records_lost is None else _plural(self.records_lost, "record")
        return f"bytes {self.start}-{self.end} ({self.size} bytes, {lost} lost): {self.detail}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@attrs.frozen(kw_only=True)
class JournalHeader:
    format: int
    software: str
    started_unix_ns: int
    started_wall: str
    session_id: str
    config: dict[str, Any] = attrs.field(factory=dict)


_pack_head = FRAME_HEAD.pack


def frame(body: bytes) -> bytes:
    """One format-2 frame around ``body``."""
    return _pack_head(SYNC_U32, len(body), zlib.crc32(body, len(body))) + body


def frame_v1(body: bytes) -> bytes:
    """One format-1 frame (only the golden-journal generator and tests write these)."""
    framed = FRAME_HEAD_V1.pack(len(body)) + body
    return framed + FRAME_HEAD_V1.pack(zlib.crc32(framed))


def frame_at(buf: bytes | bytearray | memoryview | mmap.mmap, offset: int, *, need_sync: bool = True) -> int:
    """The end of the format-2 frame at ``offset`` if its length and checksum agree, else -1 (the body is not
    decoded here)."""
    size = len(buf)
    if size - offset < FRAME_OVERHEAD:
        return -1
    sync, length, crc = FRAME_HEAD.unpack_from(buf, offset)
    end = offset + FRAME_OVERHEAD + length
    if (need_sync and sync != SYNC_U32) or length == 0 or length > MAX_FRAME or end > size:
        return -1
    if zlib.crc32(memoryview(buf)[offset + FRAME_OVERHEAD : end], length) != crc:
        return -1
    return int(end)


def frame_at_v1(buf: bytes | bytearray | memoryview | mmap.mmap, offset: int) -> tuple[str, int, int]:
    """Inspect the format-1 frame at ``offset``: ("ok"|"end"|"torn"|"corrupt", body_start, body_end); the next
    frame starts at ``body_end + 4``."""
    size = len(buf)
    if offset == size:
        return "end", offset, offset
    if size - offset < FRAME_OVERHEAD_V1:
        return "torn", offset, offset
    (length,) = FRAME_HEAD_V1.unpack_from(buf, offset)
    start = offset + 4
    end = start + length
    if length > MAX_FRAME:
        return "corrupt", start, end
    if end + 4 > size:
        return "torn", start, end
    (crc,) = FRAME_HEAD_V1.unpack_from(buf, end)
    if zlib.crc32(memoryview(buf)[offset:end]) != crc:
        return "corrupt", start, end
    return "ok", start, end
