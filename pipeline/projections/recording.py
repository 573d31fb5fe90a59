"""A recorded call as the read models see it: the journal's header, its records, and how it ends.

Every read model (timeline, latency, audio render, export, diff, report) starts from a ``Recording``. It
reads the journal once (``pipeline.journal.read_journal``) and never fails on damage: a journal still being
written, a torn tail or corrupt spans give the records that could be read, and ``notices()`` says in one line
each what is missing, so every command can print it before its output.

Records stay raw (``RawRecord``: the msgpack payload as stored) until a read model asks for an event class:
``events(tags)`` builds only the tags asked for, so a read model that needs the conversation never pays for
the hour of audio chunks beside it, and a record of a tag this rtpipe does not know (a newer journal) is
skipped by typed folds and still shown raw by the timeline.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import attrs

from events.base import EventError, registered_tags
from events.envelope import Envelope
from pipeline.journal import EndReason, Journal, JournalEnd, JournalHeader, RawRecord, read_journal

NS_PER_MS = 1_000_000


def register_event_families() -> None:
    """Import every module that registers event tags (the events package and the actors' own families),
    without importing the actors themselves (the summariser pulls in the openai SDK: ~1 s)."""
    import actors.capture.events  # noqa: F401
    import events  # noqa: F401


@attrs.frozen(kw_only=True)
class CorruptSpan:
    """Bytes ``[start, end)`` the reader skipped between two readable records (``records_lost`` when told)."""

    start: int
    end: int
    records_lost: int | None = None
    detail: str = ""

    def describe(self) -> str:
        lost = "an unknown number of records" if self.records_lost is None else f"{self.records_lost} record(s)"
        detail = f": {self.detail}" if self.detail else ""
        return f"corrupt bytes {self.start}-{self.end} ({self.end - self.start} bytes, {lost} lost{detail})"


def _spans(journal: Journal) -> tuple[CorruptSpan, ...]:
    """The corrupt spans the reader skipped (``Journal.corrupt_spans``, when the reader resynchronises after
    damage; a reader that stops at the first corrupt frame reports it through ``end`` only)."""
    spans = []
    for span in getattr(journal, "corrupt_spans", None) or ():
        lost = getattr(span, "records_lost", None)
        spans.append(CorruptSpan(start=int(span.start), end=int(span.end), records_lost=lost if isinstance(lost, int) else None,
                                 detail=str(getattr(span, "detail", "") or "")))  # fmt: skip
    return tuple(spans)


@attrs.frozen(kw_only=True)
class Recording:
    path: Path
    header: JournalHeader | None
    records: list[RawRecord]
    end: JournalEnd
    corrupt: tuple[CorruptSpan, ...] = ()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a journal (``JournalError``, one line, when the file is not a journal at all)."""
        register_event_families()
        journal = read_journal(path)
        return cls(path=journal.path, header=journal.header, records=journal.records, end=journal.end, corrupt=_spans(journal))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.header.config) if self.header is not None else {}

    @property
    def duration_ns(self) -> int:
        """Session time of the last record read (the session's length for a closed journal)."""
        return self.records[-1].t_ns if self.records else 0

    @property
    def fast(self) -> bool:
        return bool(self.config.get("fast"))

    def notices(self) -> list[str]:
        """One line per thing a reader of this journal should know before trusting what follows."""
        lines = []
        reason = self.end.reason
        if reason is EndReason.OPEN:
            lines.append(f"journal has no close marker (still being written, or its writer stopped): {len(self.records)} records read")
        elif reason is EndReason.TORN:
            lines.append(f"journal {self.end.describe()}: showing the {len(self.records)} records before it")
        elif reason is EndReason.CORRUPT and not self.corrupt:  # else the last span below says it
            lines.append(f"journal {self.end.describe()}: showing the {len(self.records)} records before it")
        lines += [f"journal has {span.describe()}: what they held is missing below" for span in self.corrupt]
        if self.header is None:
            lines.append("journal header unreadable: configuration unknown")
        return lines

    def end_dict(self) -> dict[str, Any]:
        return {
            "reason": self.end.reason.value,
            "text": self.end.describe(),
            "records": len(self.records),
            "corrupt": [attrs.asdict(span) for span in self.corrupt],
            "notices": self.notices(),
        }

    def envelopes(self, tags: Collection[str] | None = None) -> Iterator[Envelope]:
        """The records of ``tags`` (all when None) built into events; unknown tags and records that no longer
        decode are skipped (the timeline shows them raw)."""
        known = registered_tags()
        for record in self.records:
            if (tags is None or record.tag in tags) and record.tag in known:
                try:
                    yield record.envelope()
                except EventError:
                    continue
