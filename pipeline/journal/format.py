"""The journal file format.

::

    file    := MAGIC(6) header-frame record-frame* [trailer-frame]
    frame   := length:u32le  crc:u32le  body[length]
    crc     := crc32(length-bytes + body)      # a flipped length byte is caught too
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
FRAME_HEAD = struct.Struct("<II")
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
    length = len(body)
    head = struct.pack("<I", length)
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + struct.pack("<I", crc) + body


def check_frame(buf: bytes | memoryview, offset: int) -> tuple[str, int, int]:
    """Inspect the frame at ``offset``: ("ok"|"end"|"torn"|"corrupt", body_start, body_end)."""
    size = len(buf)
    if offset == size:
        return "end", offset, offset
    if size - offset < FRAME_HEAD.size:
        return "torn", offset, offset
    length, crc = FRAME_HEAD.unpack_from(buf, offset)
    start = offset + FRAME_HEAD.size
    end = start + length
    if length > MAX_FRAME:
        return "corrupt", start, end
    if end > size:
        return "torn", start, end
    actual = zlib.crc32(buf[start:end], zlib.crc32(buf[offset : offset + 4]))
    if actual != crc:
        return "corrupt", start, end
    return "ok", start, end
