"""`rtpipe replay JOURNAL --verify`: re-run every actor's core against its record."""

from __future__ import annotations

import argparse

from events.envelope import Envelope
from events.runtime import SessionStarted
from pipeline.cli import UsageError
from pipeline.journal import EndReason, JournalError, load_envelopes
from pipeline.registry import replayable_actors
from pipeline.replay import replay


def session_actors(envelopes: list[Envelope]) -> set[str] | None:
    for env in envelopes:
        if isinstance(env.event, SessionStarted):
            return set(env.event.actors)
    return None


def handle(args: argparse.Namespace) -> int:
    actors = replayable_actors()
    try:
        journal, envelopes = load_envelopes(args.journal)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if args.actor:
        unknown = [a for a in args.actor if a not in actors]
        if unknown:
            raise UsageError(f"unknown actor {unknown[0]!r} (replayable: {', '.join(sorted(actors))})")
        selected = [actors[a] for a in args.actor]
    else:
        # the actors that ran in this session, as its first event recorded them
        ran = session_actors(envelopes)
        selected = [a for name, a in actors.items() if ran is None or name in ran]
    config = journal.header.config if journal.header is not None else {}
    if journal.end.reason is not EndReason.CLOSED:
        print(f"note: journal {journal.end.describe()}; replaying the {len(envelopes)} records before that")
    reports = replay(envelopes, selected, config)
    first = None
    for report in reports:
        print(f"{report.actor:<14} fed {report.fed:>7}  compared {report.compared:>7}  divergences {report.divergences}")
        if first is None and report.first is not None:
            first = report.first
    if first is not None:
        print(f"first divergence: {first.describe()}")
        return 1 if args.verify else 0
    print("every actor reproduces its record")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run each actor's core on a journal and compare with what it recorded",
        description="Feed each actor's core the recorded events it consumes, in seq order, and compare its outputs "
        "with the journal. Performs no I/O beyond reading the journal.",
    )
    p.add_argument("journal", help="path to a .rtpj journal")
    p.add_argument("--verify", action="store_true", help="exit 1 on the first divergence")
    p.add_argument("--actor", action="append", metavar="NAME", help="replay only this actor (repeatable)")
    p.set_defaults(handler=handle)
