"""`rtpipe inspect JOURNAL`: what a journal holds, and where and why it ends."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import attrs

from events.base import EventError
from pipeline.cli import UsageError
from pipeline.journal import Journal, JournalEnd, JournalError, JournalHeader, RawRecord, follow, read_journal
from pipeline.ledger import Ledger


def summarise(journal: Journal) -> dict[str, Any]:
    records = journal.records
    by_tag = Counter(r.tag for r in records)
    by_source = Counter(r.source for r in records)
    drops = {
        "bus": by_tag.get("bus.dropped", 0),
        "capture_chunks": sum(int(r.payload.get("count", 0)) for r in records if r.tag == "capture.dropped"),
    }
    header = attrs.asdict(journal.header) if journal.header is not None else None
    return {
        "path": str(journal.path),
        "header": header,
        "records": len(records),
        "duration_s": round(records[-1].t_ns / 1e9, 3) if records else 0.0,
        "first_seq": records[0].seq if records else None,
        "last_seq": records[-1].seq if records else None,
        "by_tag": dict(sorted(by_tag.items())),
        "by_source": dict(sorted(by_source.items())),
        "drops": drops,
        "end": {
            "reason": journal.end.reason.value,
            "offset": journal.end.offset,
            "records": journal.end.records,
            "detail": journal.end.detail,
            "text": journal.end.describe(),
        },
    }


def _short(value: Any, limit: int = 48) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(summary: dict[str, Any]) -> str:
    lines = [f"journal   {summary['path']}"]
    header = summary["header"]
    if header:
        lines.append(f"software  {header['software']}   session {header['session_id']}")
        lines.append(f"started   {header['started_wall']}")
        config = ", ".join(f"{k}={_short(v)}" for k, v in sorted(header["config"].items()))
        lines.append(f"config    {config or '-'}")
    lines.append(f"records   {summary['records']}   duration {summary['duration_s']:.3f}s")
    drops = summary["drops"]
    lines.append(f"drops     {drops['bus']} bus drops, {drops['capture_chunks']} capture chunks lost")
    lines.append("by tag:")
    lines += [f"  {tag:<40} {n:>8}" for tag, n in summary["by_tag"].items()]
    lines.append("by actor:")
    lines += [f"  {src:<40} {n:>8}" for src, n in summary["by_source"].items()]
    lines.append(f"end       {summary['end']['text']}")
    return "\n".join(lines)


def _follow(path: str, as_json: bool) -> int:
    for item in follow(path):
        if isinstance(item, JournalHeader):
            out: Any = {"header": attrs.asdict(item)} if as_json else f"header  {item.software} session {item.session_id}"
        elif isinstance(item, RawRecord):
            if as_json:
                out = {"seq": item.seq, "t_ns": item.t_ns, "source": item.source, "cause": item.cause, "tag": item.tag}
            else:
                cause = "-" if item.cause is None else item.cause
                out = f"{item.seq:>7} {item.t_ns / 1e9:>10.3f}s {item.source:<12} {item.tag:<36} cause {cause}"
        else:
            assert isinstance(item, JournalEnd)
            out = {"end": item.reason.value, "text": item.describe()} if as_json else f"end     {item.describe()}"
        print(json.dumps(out) if as_json else out, flush=True)
    return 0


def handle(args: argparse.Namespace) -> int:
    try:
        if args.follow:
            return _follow(args.journal, args.json)
        journal = read_journal(args.journal)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    summary = summarise(journal)
    ledger = _ledger(journal)
    if ledger is not None:
        summary["ledger"] = ledger.as_dict()
    if args.json:
        json.dump(summary, sys.stdout, indent=2, default=str)
        print()
    else:
        print(render(summary))
        if ledger is not None and ledger.responses:
            print("cost ledger:")
            print(ledger.render())
    return 0


def _ledger(journal: Journal) -> Ledger | None:
    """The cost ledger, when the journal's events still decode (a torn tail is fine: what came before)."""
    from pipeline.registry import replayable_actors

    replayable_actors()  # registers every actor's event families
    config = journal.header.config if journal.header is not None else {}
    try:
        return Ledger.fold_config(journal.envelopes(), config)
    except EventError:
        return None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a journal's header, counts per tag and actor, drops, and where it ends",
        description="Summarise a journal: header (with secrets already removed), duration, counts per tag and "
        "per actor, drops, and where and why the journal ends (closed, open, torn tail, corrupt).",
    )
    p.add_argument("journal", help="path to a .rtpj journal")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--follow", action="store_true", help="print records as they are appended, until the journal closes")
    p.set_defaults(handler=handle)
