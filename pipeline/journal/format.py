"""The journal file format.

::

    file    := MAGIC(6) header-frame record-frame* [trailer-frame]
    frame   := length:u32le  body[length]  crc:u32le
    crc     := crc32(length-bytes + body)      # one pass over contiguous bytes; a flipped length is caught
    header  := msgpack map  {format, software, started_unix_ns, started_wall, session_id, config}
    record  := msgpack array [seq, t_ns, source, cause, tag, version, payload-map]
    trailer := msgpack map  {"closed": true, "records": n}

The magic carries the format version. A reader stops at the first frame it cannot trust and says why:
``closed`` (trailer seen), ``open`` (ends on a frame boundary with no trailer: still being written, or the
writer died between records), ``torn`` (a partial frame: the writer died mid-write), ``corrupt`` (a checksum
or decode failure). Everything before that point is returned intact.
"""

from __future__ import annotations

import enum
import struct
import zlib
from typing import Any

import attrs

FORMAT_VERSION = 1
MAGIC = b"RTPJ\x00" + bytes([FORMAT_VERSION])
FRAME_HEAD = struct.Struct("<I")
FRAME_OVERHEAD = 8  # length + crc
MAX_FRAME = 64 * 1024 * 1024


class JournalError(Exception):
    """A file that is not a readable journal (one line, for the CLI)."""


class EndReason(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    TORN = "torn"
    CORRUPT = "corrupt"


@attrs.frozen(kw_only=True)
class JournalEnd:
    """Where reading stopped, and why."""

    reason: EndReason
    offset: int
    records: int
    detail: str = ""

    def describe(self) -> str:
        base = {
            EndReason.CLOSED: "closed cleanly",
            EndReason.OPEN: "no close marker (still being written, or the writer stopped between records)",
            EndReason.TORN: "torn tail (the writer stopped mid-record)",
            EndReason.CORRUPT: "corrupt record",
        }[self.reason]
        extra = f": {self.detail}" if self.detail else ""
        return f"{base} at byte {self.offset} after {self.records} records{extra}"


@attrs.frozen(kw_only=True)
class JournalHeader:
    format: int
    software: str
    started_unix_ns: int
    started_wall: str
    session_id: str
    config: dict[str, Any] = attrs.field(factory=dict)


def frame(body: bytes) -> bytes:
    framed = struct.pack("<I", len(body)) + body
    return framed + struct.pack("<I", zlib.crc32(framed))


def check_frame(buf: bytes | memoryview, offset: int) -> tuple[str, int, int]:
    """Inspect the frame at ``offset``: ("ok"|"end"|"torn"|"corrupt", body_start, body_end); the next
    frame starts at ``body_end + 4``."""
    size = len(buf)
    if offset == size:
        return "end", offset, offset
    if size - offset < FRAME_OVERHEAD:
        return "torn", offset, offset
    (length,) = FRAME_HEAD.unpack_from(buf, offset)
    start = offset + 4
    end = start + length
    if length > MAX_FRAME:
        return "corrupt", start, end
    if end + 4 > size:
        return "torn", start, end
    (crc,) = FRAME_HEAD.unpack_from(buf, end)
    if zlib.crc32(buf[offset:end]) != crc:
        return "corrupt", start, end
    return "ok", start, end
