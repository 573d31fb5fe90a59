"""A recorded call as the read models see it: the journal's header, its records as a stream, how it ends.

Every read model (timeline, latency, audio render, export, diff, report) starts from a ``Recording``.
``Recording.load`` reads the header only (``JournalError``, one line, when the file is not a journal); the
records are read as a stream on each pass (``pipeline.journal.iter_journal``), so memory stays flat whatever
the call's length. ``run(*folds)`` feeds several read models in one pass: each says which tags it wants
(``wants(tag)``, asked once per tag) and is fed those records (``feed(record)``), so a pass over an hour of
audio chunks costs the models that ignore them one dictionary lookup per chunk. A pass never fails on damage:
a journal still being written, a torn tail or corrupt spans give the records that could be read, and once a
pass has been made ``notices()`` says in one line each what is missing (``end``, ``corrupt``,
``record_count`` and ``duration_ns`` come from the last complete pass, or from a pass made to learn them).

Every pass reads the journal as it was when it was loaded (the same bytes, even if a writer is still
appending), so the numbers of two passes agree.

Records stay raw (``RawRecord``: the msgpack payload as stored) until a read model asks for an event class:
``envelopes(tags)`` builds only the tags asked for, so a read model that needs the conversation never pays for
the hour of audio chunks beside it, and a record of a tag this rtpipe does not know (a newer journal) is
skipped by typed folds and still shown raw by the timeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from events.base import EventError, registered_tags
from events.envelope import Envelope
from pipeline.journal import (
    CorruptSpan,
    EndReason,
    JournalEnd,
    JournalHeader,
    JournalStream,
    RawRecord,
    iter_journal,
)
from pipeline.registry import register_event_families

NS_PER_MS = 1_000_000

__all__ = ["NS_PER_MS", "CorruptSpan", "Fold", "Recording", "register_event_families"]


class Fold(Protocol):
    """A read model fed in one pass: ``wants(tag)`` (asked once per tag) and ``feed(record)`` for each record of
    a wanted tag, in file order. A fold that wants every record may have ``feed_batch(records)`` instead: it is
    given each batch of the pass whole (a list, in file order)."""

    def wants(self, tag: str) -> bool: ...

    def feed(self, record: RawRecord) -> None: ...


def _describe_span(span: CorruptSpan) -> str:
    """A skipped span as the notes say it."""
    lost = "an unknown number of records" if span.records_lost is None else f"{span.records_lost} record(s)"
    detail = f": {span.detail}" if span.detail else ""
    return f"corrupt bytes {span.start}-{span.end} ({span.end - span.start} bytes, {lost} lost{detail})"


@attrs.frozen(kw_only=True)
class PassOutcome:
    """What a complete pass learned: how the journal ends, what was skipped, how many records, the last time."""

    end: JournalEnd
    corrupt: tuple[CorruptSpan, ...]
    records: int
    last_t_ns: int


class Records:
    """The records of a recording: each iteration is one pass over the journal (not a list held in memory)."""

    def __init__(self, recording: Recording) -> None:
        self._recording = recording

    def __iter__(self) -> Iterator[RawRecord]:
        return self._recording.iter_records()


class Recording:
    """A recorded call: ``path``, ``header`` (None when unreadable), ``config``; ``records`` (one pass per
    iteration), ``run(*folds)``; after a pass ``end``, ``corrupt``, ``record_count``, ``duration_ns``,
    ``notices()``."""

    def __init__(self, path: Path, header: JournalHeader | None, size: int) -> None:
        self.path = path
        self.header = header
        self.size = size  # bytes of the journal when it was loaded: every pass reads these
        self._outcome: PassOutcome | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Open a journal and read its header (``JournalError``, one line, when the file is not a journal at
        all). The records are read by the passes."""
        register_event_families()
        with iter_journal(path) as stream:
            return cls(stream.path, stream.header, stream.size)

    # -- passes ---------------------------------------------------------------------------------------------

    def stream(self) -> JournalStream:
        """A fresh stream over the journal as it was loaded."""
        return iter_journal(self.path, size=self.size)

    @property
    def records(self) -> Records:
        return Records(self)

    def batches(self) -> Iterator[list[RawRecord]]:
        """One pass, in batches of records; when it completes, what it learned (end, spans, count) is kept."""
        stream = self.stream()
        with stream:
            yield from stream.batches()
        self._outcome = PassOutcome(end=stream.end, corrupt=stream.corrupt_spans, records=stream.records,
                                    last_t_ns=stream.last_t_ns or 0)  # fmt: skip

    def iter_records(self) -> Iterator[RawRecord]:
        """One pass, record by record (see ``batches``)."""
        for batch in self.batches():
            yield from batch

    def run(self, *folds: Fold) -> None:
        """Feed every fold in one pass (each only the tags it wants; a batch fold every batch)."""
        batch_feeds: list[Callable[[list[RawRecord]], None]] = [f.feed_batch for f in folds if hasattr(f, "feed_batch")]
        folds = tuple(f for f in folds if not hasattr(f, "feed_batch"))
        table: dict[str, tuple[Callable[[RawRecord], None], ...]] = {}
        get = table.get
        for batch in self.batches():
            for feed_batch in batch_feeds:
                feed_batch(batch)
            if not folds:
                continue
            for record in batch:
                feeds = get(record.tag)
                if feeds is None:
                    feeds = table[record.tag] = tuple(f.feed for f in folds if f.wants(record.tag))
                for feed in feeds:
                    feed(record)

    @property
    def outcome(self) -> PassOutcome:
        """What the last complete pass learned (a pass is made now if none has been)."""
        if self._outcome is None:
            for _ in self.iter_records():
                pass
        assert self._outcome is not None
        return self._outcome

    # -- what a pass learned --------------------------------------------------------------------------------

    @property
    def end(self) -> JournalEnd:
        return self.outcome.end

    @property
    def corrupt(self) -> tuple[CorruptSpan, ...]:
        return self.outcome.corrupt

    @property
    def record_count(self) -> int:
        return self.outcome.records

    @property
    def duration_ns(self) -> int:
        """Session time of the last record read (the session's length for a closed journal)."""
        return self.outcome.last_t_ns

    # -- the header -----------------------------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.header.config) if self.header is not None else {}

    @property
    def fast(self) -> bool:
        return bool(self.config.get("fast"))

    def notices(self) -> list[str]:
        """One line per thing a reader of this journal should know before trusting what follows."""
        lines = []
        reason, count = self.end.reason, self.record_count
        if reason is EndReason.OPEN:
            lines.append(f"journal has no close marker (still being written, or its writer stopped): {count} records read")
        elif reason is EndReason.TORN:
            lines.append(f"journal {self.end.describe()}: showing the {count} records before it")
        elif reason is EndReason.CORRUPT and not self.corrupt:  # else the last span below says it
            lines.append(f"journal {self.end.describe()}: showing the {count} records before it")
        lines += [f"journal has {_describe_span(span)}: what they held is missing below" for span in self.corrupt]
        if self.header is None:
            lines.append("journal header unreadable: configuration unknown")
        return lines

    def end_dict(self) -> dict[str, Any]:
        return {
            "reason": self.end.reason.value,
            "text": self.end.describe(),
            "records": self.record_count,
            "corrupt": [attrs.asdict(span) for span in self.corrupt],
            "notices": self.notices(),
        }

    def envelopes(self, tags: Collection[str] | None = None) -> Iterator[Envelope]:
        """The records of ``tags`` (all when None) built into events, in one pass; unknown tags and records
        that no longer decode are skipped (the timeline shows them raw)."""
        known = registered_tags()
        for record in self.iter_records():
            if (tags is None or record.tag in tags) and record.tag in known:
                try:
                    yield record.envelope()
                except EventError:
                    continue
