"""Appending to a journal.

Records are framed into an in-memory buffer and handed to the OS by ``flush()`` (the session runs a flusher
every few tens of milliseconds, and the buffer is flushed by itself past 256 KiB), so a record reaches the OS
promptly without one system call per record. ``fsync`` follows the policy: ``interval`` (default: at most
every second, on flush), ``always`` (every flush) or ``close`` (only at close). Files are created with mode
0600 and never overwritten.

The writer holds an exclusive advisory lock (``fcntl.flock``) on the file for its whole life; the kernel
releases it when the writer closes the file or its process dies, however it dies. A follower
(``rtpipe inspect --follow``) takes the lock being free as "nobody will append any more".
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import time
import uuid
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import msgpack

from pipeline import __version__
from pipeline.journal.format import FORMAT_VERSION, FRAME_HEAD, MAGIC, SYNC_U32, JournalHeader, frame
from pipeline.journal.redact import redact

if TYPE_CHECKING:
    from events.envelope import Envelope

AUTO_FLUSH_BYTES = 256 * 1024


class FsyncMode(enum.Enum):
    INTERVAL = "interval"
    ALWAYS = "always"
    CLOSE = "close"


@attrs.frozen(kw_only=True)
class FsyncPolicy:
    mode: FsyncMode = FsyncMode.INTERVAL
    interval_s: float = 1.0

    @classmethod
    def from_text(cls, text: str) -> FsyncPolicy:
        """Parse ``interval``, ``interval:0.5``, ``always`` or ``close``."""
        name, _, arg = text.partition(":")
        try:
            mode = FsyncMode(name)
        except ValueError:
            raise ValueError(f"unknown fsync policy {text!r} (use interval[:SECONDS], always or close)") from None
        if arg and mode is not FsyncMode.INTERVAL:
            raise ValueError(f"fsync policy {name!r} takes no argument")
        return cls(mode=mode, interval_s=float(arg) if arg else 1.0)


def make_header(config: Mapping[str, Any], *, session_id: str | None = None) -> JournalHeader:
    return JournalHeader(
        format=FORMAT_VERSION,
        software=f"rtpipe {__version__}",
        started_unix_ns=time.time_ns(),
        started_wall=datetime.now(UTC).isoformat(timespec="milliseconds"),
        session_id=session_id or uuid.uuid4().hex,
        config=redact(config),
    )


_pack_head = FRAME_HEAD.pack


def encode_record(env: Envelope) -> bytes:
    """One record frame, exactly as ``JournalWriter.append`` writes it."""
    from events.codec import payload_of

    event = env.event
    body: bytes = msgpack.packb(
        [env.seq, env.t_ns, env.source, env.cause, event.TAG, event.VERSION, payload_of(event)],
        use_bin_type=True,
    )
    return frame(body)


class JournalWriter:
    """Single-writer append-only journal file."""

    def __init__(self, path: str | os.PathLike[str], header: JournalHeader, *, fsync: FsyncPolicy | None = None):
        self.path = Path(path)
        self.policy = fsync or FsyncPolicy()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.fchmod(self._fd, 0o600)  # a permissive umask must not widen it
        except BaseException:
            os.close(self._fd)
            raise
        with contextlib.suppress(OSError):
            # Held until close: "a writer is alive". Blocking, because a follower may hold a shared lock for
            # the instant it takes to test it; a file system without flock leaves followers their idle bound.
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        from events.codec import payload_of

        self._payload_of = payload_of
        self._packer = msgpack.Packer(use_bin_type=True)
        self._buffer = bytearray(MAGIC)
        header_body: bytes = msgpack.packb(attrs.asdict(header), use_bin_type=True)
        self._buffer += frame(header_body)
        self.header = header
        self.records = 0
        self.closed = False
        self._last_sync = time.monotonic()
        self.flush()

    def append(self, env: Envelope) -> None:
        # The hot path of every event: one msgpack pass with a reused packer, then one pack of the frame head
        # (sync, length, checksum) and no concatenated copies of the body (audio chunks are 1920 bytes each).
        if self.closed:
            raise ValueError("journal is closed")
        event = env.event
        body = self._packer.pack(
            [env.seq, env.t_ns, env.source, env.cause, event.TAG, event.VERSION, self._payload_of(event)]
        )
        length = len(body)
        buffer = self._buffer
        buffer += _pack_head(SYNC_U32, length, zlib.crc32(body, length))
        buffer += body
        self.records += 1
        if len(buffer) >= AUTO_FLUSH_BYTES:
            self.flush()

    def flush(self, *, sync: bool = True) -> None:
        """Hand buffered records to the OS; fsync if the policy says it is time (unless ``sync=False``: the
        caller then runs ``sync()`` off its event loop when ``sync_due()``)."""
        if self._buffer:
            view = memoryview(self._buffer)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            view.release()
            self._buffer.clear()
        if sync and self.sync_due():
            self.sync()

    def sync_due(self) -> bool:
        return self.policy.mode is FsyncMode.ALWAYS or (
            self.policy.mode is FsyncMode.INTERVAL and time.monotonic() - self._last_sync >= self.policy.interval_s
        )

    def sync(self) -> None:
        os.fsync(self._fd)
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Write the close marker, flush and fsync. Idempotent."""
        if self.closed:
            return
        trailer: bytes = msgpack.packb({"closed": True, "records": self.records}, use_bin_type=True)
        self._buffer += frame(trailer)
        self.closed = True
        try:
            self.flush()
            self.sync()
        finally:
            os.close(self._fd)

    def abandon(self) -> None:
        """Flush what is buffered and close the file without a close marker (tests simulate a crash)."""
        if not self.closed:
            self.closed = True
            try:
                self.flush()
            finally:
                os.close(self._fd)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
