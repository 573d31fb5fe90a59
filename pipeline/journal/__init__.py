"""The msgpack journal: format, writer, reader, follow mode, and secret redaction.

The API other code builds on:

- ``read_journal(path) -> Journal``: ``journal.header`` (``JournalHeader``, None if unreadable),
  ``journal.records`` (``RawRecord`` tuples, every readable record in file order),
  ``journal.envelopes()`` (built into events), ``journal.end`` (``JournalEnd``: ``reason``, ``offset``,
  ``records``, ``detail``, ``after_close``, ``describe()``), ``journal.ending`` (the ``EndReason``: closed, open,
  torn or corrupt), ``journal.corrupt_spans`` (``CorruptSpan``: ``start``, ``end``, ``records_lost``,
  ``detail``, ``describe()``: damage the reader skipped, and bytes after the close marker),
  ``journal.records_skipped``, ``journal.clean`` and ``journal.describe()``.
- ``load_envelopes(path) -> (Journal, list[Envelope])``; ``journal_from_bytes(data)`` reads one already in
  memory.
- ``iter_journal(path) -> JournalStream``: the same reading as one pass in flat memory, for long journals:
  ``stream.header`` at once, iterate for the records (``RawRecord``, decoded from msgpack, no event built), then
  ``stream.end``, ``stream.corrupt_spans``, ``stream.records`` (the count), ``describe()``...;
  ``stream_from_bytes(data)`` streams one already in memory.
- ``follow(path, poll_s=..., stop_after_idle_s=...)``: header, records and corrupt spans as they are
  appended, then a ``JournalEnd``; it ends when the writer is gone (its ``flock`` is free) and nothing more
  arrives.
- ``JournalWriter`` / ``make_header`` / ``FsyncPolicy`` to write one; ``redact`` to strip secrets.

``JournalError`` is a file that is not a journal at all (one line for the CLI); damage after the header never
raises. Importing this package is cheap: the event classes are imported when records are built into events.
"""

from pipeline.journal.follow import follow
from pipeline.journal.format import CorruptSpan, EndReason, JournalEnd, JournalError, JournalHeader
from pipeline.journal.reader import Journal, RawRecord, journal_from_bytes, load_envelopes, read_journal
from pipeline.journal.redact import redact
from pipeline.journal.stream import JournalStream, iter_journal, stream_from_bytes
from pipeline.journal.writer import FsyncMode, FsyncPolicy, JournalWriter, encode_record, make_header

__all__ = [
    "CorruptSpan",
    "EndReason",
    "FsyncMode",
    "FsyncPolicy",
    "Journal",
    "JournalEnd",
    "JournalError",
    "JournalHeader",
    "JournalStream",
    "JournalWriter",
    "RawRecord",
    "encode_record",
    "follow",
    "iter_journal",
    "journal_from_bytes",
    "load_envelopes",
    "make_header",
    "read_journal",
    "redact",
    "stream_from_bytes",
]
