"""`rtpipe inspect JOURNAL`: what a journal holds, where and why it ends, and what is damaged.

The journal is read as a stream, in one pass (counts, drops and the cost ledger together), so an hour-long
journal costs a few MB of memory, not its size.

``--follow`` prints records as they are appended and returns at the close marker, when the writer is gone
(its lock is free) and nothing more arrives, or after ``--idle-timeout`` seconds without new data. A reader
that closes our output (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from pipeline.journal import JournalStream
    from pipeline.projections.ledger import Ledger

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as the CLI reports a closed stdout
WIDTH = 100


def survey(path: str) -> tuple[dict[str, Any], Ledger | None]:
    """``inspect``'s summary and cost ledger of a journal, in one pass over it as a stream (flat memory): the
    ledger's records are the only ones built into events; the ledger is left out when one of them no longer
    decodes."""
    from pipeline.journal import iter_journal
    from pipeline.projections.ledger import LEDGER_TAGS, Ledger, LedgerFold
    from pipeline.registry import register_event_families

    stream = iter_journal(path)
    register_event_families()
    config = stream.header.config if stream.header is not None else {}
    fold = LedgerFold(Ledger.from_config(config))
    counts: dict[tuple[str, str], int] = {}
    dropped = 0
    with stream:
        for batch in stream.batches():
            for record in batch:
                key = (record.tag, record.source)
                counts[key] = counts.get(key, 0) + 1
                if key[0] in LEDGER_TAGS:
                    fold.feed(record)
                elif key[0] == "capture.dropped":
                    dropped += int(record.payload.get("count", 0))
    first = None
    if stream.records:
        assert stream.first_seq is not None and stream.last_seq is not None and stream.last_t_ns is not None
        first = (stream.first_seq, stream.last_seq, stream.last_t_ns)
    # the ledger, when its events still decode (a torn tail is fine: what came before)
    found = fold.ledger if not fold.undecodable else None
    return _summary(stream, stream.records, Counter(counts), dropped, first), found


def _summary(journal: JournalStream, records: int, counts: Counter[tuple[str, str]], dropped: int,
             first: tuple[int, int, int] | None) -> dict[str, Any]:  # fmt: skip
    import attrs

    by_tag: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for (tag, source), n in counts.items():
        by_tag[tag] += n
        by_source[source] += n
    header = attrs.asdict(journal.header) if journal.header is not None else None
    return {
        "path": str(journal.path),
        "header": header,
        "records": records,
        "duration_s": round(first[2] / 1e9, 3) if first else 0.0,
        "first_seq": first[0] if first else None,
        "last_seq": first[1] if first else None,
        "by_tag": dict(sorted(by_tag.items())),
        "by_source": dict(sorted(by_source.items())),
        "drops": {"bus": by_tag.get("bus.dropped", 0), "capture_chunks": dropped},
        "end": {
            "reason": journal.end.reason.value,
            "offset": journal.end.offset,
            "records": journal.end.records,
            "detail": journal.end.detail,
            "after_close": journal.end.after_close,
            "text": journal.end.describe(),
        },
        "description": journal.describe(),
        "clean": journal.clean,
        "records_skipped": journal.records_skipped,
        "corrupt_spans": [_span_dict(span) for span in journal.corrupt_spans],
    }


def _span_dict(span: Any) -> dict[str, Any]:
    return {
        "start": span.start,
        "end": span.end,
        "size": span.size,
        "records_lost": span.records_lost,
        "detail": span.detail,
        "text": span.describe(),
    }


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, default=str, ensure_ascii=False)


def config_lines(config: Mapping[str, Any], indent: int = 2, width: int = WIDTH) -> list[str]:
    """A configuration as an indented block: one key a line, nested maps indented under their key, lists of
    maps as ``-`` items, long values wrapped (never cut) with continuation lines under the value."""
    lines: list[str] = []
    pad = " " * indent
    scalar_keys = [str(k) for k, v in config.items() if not _is_block(v)]
    key_width = min(max((len(k) for k in scalar_keys), default=0), 28)
    for key in sorted(config, key=str):
        value = config[key]
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}:")
            lines += config_lines(value, indent + 2, width)
        elif _is_block(value):
            lines.append(f"{pad}{key}:")
            for item in value:
                sub = config_lines(item, indent + 4, width) if isinstance(item, Mapping) and item else []
                if sub:
                    lines.append(f"{pad}  - {sub[0].lstrip()}")
                    lines += sub[1:]
                else:
                    lines += _wrapped(f"{pad}  - ", _scalar(item), width)
        else:
            lines += _wrapped(f"{pad}{key!s:<{key_width}}  ", _scalar(value), width)
    return lines


def _is_block(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value)
    return isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value)


def _wrapped(lead: str, text: str, width: int) -> list[str]:
    avail = max(width - len(lead), 30)
    out: list[str] = []
    for paragraph in text.split("\n"):
        out += textwrap.wrap(paragraph, avail, break_long_words=False, break_on_hyphens=False) or [""]
    hang = " " * len(lead)
    return [(lead if i == 0 else hang) + line for i, line in enumerate(out)]


def render(summary: dict[str, Any]) -> str:
    lines = [f"journal   {summary['path']}"]
    header = summary["header"]
    if header:
        lines.append(f"software  {header['software']}   session {header['session_id']}")
        lines.append(f"started   {header['started_wall']}")
        if header["config"]:
            lines.append("config")
            lines += config_lines(header["config"])
        else:
            lines.append("config    -")
    else:
        lines.append("header    unreadable")
    lines.append(f"records   {summary['records']}   duration {summary['duration_s']:.3f}s")
    drops = summary["drops"]
    lines.append(f"drops     {drops['bus']} bus drops, {drops['capture_chunks']} capture chunks lost")
    lines.append("by tag:")
    lines += [f"  {tag:<40} {n:>8}" for tag, n in summary["by_tag"].items()]
    lines.append("by actor:")
    lines += [f"  {src:<40} {n:>8}" for src, n in summary["by_source"].items()]
    lines.append(f"end       {summary['description']}")
    spans = summary["corrupt_spans"]
    if spans:
        skipped = summary["records_skipped"]
        lost = "an unknown number of records" if skipped is None else f"{skipped} record{'s' * (skipped != 1)}"
        lines.append(f"corrupt   {len(spans)} span{'s' * (len(spans) != 1)}, {lost} skipped:")
        lines += [f"  {span['text']}" for span in spans]
    return "\n".join(lines)


def _follow(path: str, as_json: bool, idle_timeout: float | None) -> int:
    import attrs

    from pipeline.journal import CorruptSpan, JournalHeader, RawRecord, follow

    for item in follow(path, stop_after_idle_s=idle_timeout):
        out: Any
        if isinstance(item, JournalHeader):
            out = {"header": attrs.asdict(item)} if as_json else f"header  {item.software} session {item.session_id}"
        elif isinstance(item, RawRecord):
            if as_json:
                out = {"seq": item.seq, "t_ns": item.t_ns, "source": item.source, "cause": item.cause, "tag": item.tag}
            else:
                cause = "-" if item.cause is None else item.cause
                out = f"{item.seq:>7} {item.t_ns / 1e9:>10.3f}s {item.source:<12} {item.tag:<36} cause {cause}"
        elif isinstance(item, CorruptSpan):
            out = {"corrupt": _span_dict(item)} if as_json else f"corrupt {item.describe()}"
        else:
            out = {"end": item.reason.value, "text": item.describe()} if as_json else f"end     {item.describe()}"
        print(json.dumps(out, default=str) if as_json else out, flush=True)
    return 0


def _quiet_when_output_closes(run: Callable[[], int]) -> int:
    try:
        return run()
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, and keep Python's final flush from complaining
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def handle(args: argparse.Namespace) -> int:
    from pipeline.journal import JournalError

    timeout = args.idle_timeout
    if timeout is not None:
        if not args.follow:
            raise UsageError("--idle-timeout only applies with --follow")
        if not (math.isfinite(timeout) and timeout > 0):
            raise UsageError(f"--idle-timeout {timeout}: must be a number of seconds above 0")
    try:
        if args.follow:
            return _quiet_when_output_closes(lambda: _follow(args.journal, args.json, timeout))
        summary, ledger = survey(args.journal)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if ledger is not None:
        summary["ledger"] = ledger.as_dict()

    def show() -> int:
        if args.json:
            json.dump(summary, sys.stdout, indent=2, default=str)
            print()
        else:
            print(render(summary))
            if ledger is not None and ledger.responses:
                print("cost ledger:")
                print(ledger.render())
        sys.stdout.flush()
        return 0

    return _quiet_when_output_closes(show)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a journal's header, counts per tag and actor, drops, and where it ends",
        description="Summarise a journal: header (with secrets already removed), duration, counts per tag and "
        "per actor, drops, where and why the journal ends (closed, open, torn tail, corrupt), and every corrupt "
        "span the reader skipped, with its byte offsets.",
    )
    p.add_argument("journal", help="path to a .rtpj journal")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--follow",
        action="store_true",
        help="print records as they are appended, until the journal closes or its writer is gone",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        metavar="S",
        help="with --follow: stop after S seconds without new data, whatever the writer does",
    )
    p.set_defaults(handler=handle)
