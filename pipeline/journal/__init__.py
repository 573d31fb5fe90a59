"""The msgpack journal: format, writer, reader, follow mode, and secret redaction."""

from pipeline.journal.format import EndReason, JournalEnd, JournalError, JournalHeader
from pipeline.journal.reader import Journal, RawRecord, follow, load_envelopes, read_journal
from pipeline.journal.redact import redact
from pipeline.journal.writer import FsyncMode, FsyncPolicy, JournalWriter, encode_record, make_header

__all__ = [
    "EndReason",
    "FsyncMode",
    "FsyncPolicy",
    "Journal",
    "JournalEnd",
    "JournalError",
    "JournalHeader",
    "JournalWriter",
    "RawRecord",
    "encode_record",
    "follow",
    "load_envelopes",
    "make_header",
    "read_journal",
    "redact",
]
