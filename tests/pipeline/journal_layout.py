"""Test helpers: where each frame of a format-2 journal lies, and re-framing edited records (a tamper with
valid checksums, as opposed to corruption)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import msgpack

from pipeline.journal.format import FRAME_HEAD, FRAME_OVERHEAD, MAGIC, SYNC_U32, frame


@attrs.frozen
class Layout:
    header_end: int
    records: list[tuple[int, int]]  # [start, end) of each record frame
    trailer: tuple[int, int] | None


def frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """Every frame of an undamaged format-2 journal: (start, end, body)."""
    assert data.startswith(MAGIC)
    out = []
    offset = len(MAGIC)
    while offset < len(data):
        sync, length, _ = FRAME_HEAD.unpack_from(data, offset)
        assert sync == SYNC_U32
        end = offset + FRAME_OVERHEAD + length
        out.append((offset, end, data[offset + FRAME_OVERHEAD : end]))
        offset = end
    return out


def layout(data: bytes) -> Layout:
    found = frames(data)
    header_end = found[0][1]
    records, trailer = [], None
    for start, end, body in found[1:]:
        if isinstance(msgpack.unpackb(body, raw=False), dict):
            trailer = (start, end)
        else:
            records.append((start, end))
    return Layout(header_end=header_end, records=records, trailer=trailer)


def reframe(data: bytes, edit: Callable[[list[Any]], list[Any]]) -> bytes:
    """Re-encode every record through ``edit`` with valid frames (the header and trailer pass unchanged)."""
    out = bytearray(MAGIC)
    for index, (_, _, body) in enumerate(frames(data)):
        record = msgpack.unpackb(body, raw=False)
        if index and isinstance(record, list):
            body = msgpack.packb(edit(record), use_bin_type=True)
        out += frame(body)
    return bytes(out)
