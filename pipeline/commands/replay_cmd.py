"""`rtpipe replay JOURNAL --verify`: re-run every actor's core against its record.

What it verifies, and when ``--verify`` fails (exit 1):

- the actors that ran in the session (its ``session.started`` record names them) are replayed, or the ones
  ``--actor`` names; ``rtpipe journal-demo`` prints this same verification (``verify``);
- a divergence fails;
- nothing verified fails ("nothing to verify"): an empty or header-only file, or no recorded event that a
  replayed actor consumes;
- corrupt spans fail: every readable record is still verified, and the report says how many were skipped;
- a torn tail or a missing close marker (a writer that died) is normal: what is there is verified, and the
  report says where the journal ends.

The journal is read as a stream in one pass that feeds every replayed actor's core (``StreamReplay``), so an
hour-long journal is verified in flat memory; only the replayed actors are imported.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from events.envelope import Envelope
    from pipeline.journal import CorruptSpan, JournalEnd
    from pipeline.replay import ActorReplay, Replayable


@dataclass(frozen=True)
class Verification:
    lines: list[str]
    ok: bool  # something was verified, nothing diverged, nothing was skipped


def session_actors(envelopes: Iterable[Envelope]) -> set[str] | None:
    from events.runtime import SessionStarted

    for env in envelopes:
        if isinstance(env.event, SessionStarted):
            return set(env.event.actors)
    return None


def _records(n: int) -> str:
    return f"{n} record{'s' * (n != 1)}"


def _selected(actor_names: Sequence[str], ran: Callable[[], set[str] | None]) -> list[str]:
    """The actors to replay: those named, else the ones that ran in the session (``ran()``: as its
    ``session.started`` says; None: every replayable actor)."""
    from pipeline.registry import replayable_names

    names = replayable_names()
    unknown = [a for a in actor_names if a not in names]
    if unknown:
        raise UsageError(f"unknown actor {unknown[0]!r} (replayable: {', '.join(sorted(names))})")
    if actor_names:
        return list(actor_names)
    started = ran()
    return [name for name in names if started is None or name in started]


def _session_started(path: Path) -> set[str] | None:
    """The actors the journal's first ``session.started`` names (normally its first record: a short read)."""
    from events.base import EventError
    from pipeline.journal import JournalError, iter_journal

    with iter_journal(path, batch_bytes=64 << 10) as stream:
        for record in stream:
            if record.tag == "session.started":
                try:
                    return session_actors([record.envelope()])
                except EventError as exc:
                    raise JournalError(f"{path}: {exc}") from exc
    return None


@dataclass
class _Replayed:
    """What replaying a journal found, before it is put into words."""

    end: JournalEnd
    spans: tuple[CorruptSpan, ...]
    skipped: int | None
    records: int
    reports: list[ActorReplay]


def verify(path: str | os.PathLike[str], actor_names: Sequence[str] = ()) -> Verification:
    """Replay a journal's actors (or ``actor_names``) in one pass over it as a stream, and say what that
    proves, one line at a time. ``JournalError`` when it is not a journal or a record no longer decodes."""
    from pathlib import Path

    from pipeline.registry import register_event_families

    p = Path(path)
    register_event_families()
    names = _selected(actor_names, lambda: _session_started(p))
    return _verification(_replay_stream(p, names))


def _replay_stream(path: Path, names: Sequence[str]) -> _Replayed:
    from events.base import EventError
    from pipeline.journal import EndReason, JournalError, iter_journal
    from pipeline.registry import replayable_actors
    from pipeline.replay import StreamReplay

    actors = list(replayable_actors(names).values())
    stream = iter_journal(path)
    config = stream.header.config if stream.header is not None else {}
    engine = StreamReplay(actors, config)
    feed = engine.feed
    with stream:
        for batch in stream.batches():
            for record in batch:
                try:
                    env = record.envelope()  # every record, as before: one that no longer decodes is an error
                except EventError as exc:
                    raise JournalError(f"{path}: {exc}") from exc
                feed(env)
            if not engine.ordered:  # records out of seq order (no bus writes such a journal): the stream
                break  # cannot replay them; stop here and replay the whole journal sorted, in memory
    if not engine.ordered:
        return _replay_in_memory(path, actors)
    truncated = stream.end.reason in (EndReason.TORN, EndReason.OPEN)
    reports = engine.finish(truncated=truncated)
    return _Replayed(end=stream.end, spans=stream.corrupt_spans, skipped=stream.records_skipped, records=stream.records, reports=reports)


def _replay_in_memory(path: Path, actors: Sequence[Replayable]) -> _Replayed:
    """The journal read into memory and its envelopes replayed sorted by seq (records out of seq order)."""
    from pipeline.journal import EndReason, load_envelopes
    from pipeline.replay import replay

    journal, envelopes = load_envelopes(path)
    config = journal.header.config if journal.header is not None else {}
    truncated = journal.end.reason in (EndReason.TORN, EndReason.OPEN)
    reports = replay(envelopes, actors, config, truncated=truncated)
    return _Replayed(end=journal.end, spans=journal.corrupt_spans, skipped=journal.records_skipped, records=len(envelopes), reports=reports)


def _verification(replayed: _Replayed) -> Verification:
    from pipeline.journal import EndReason

    lines: list[str] = []
    end, spans, count, reports = replayed.end, replayed.spans, replayed.records, replayed.reports
    if not count:
        damage = f"; {len(spans)} corrupt span{'s' * (len(spans) != 1)}" if spans else ""
        return Verification([f"nothing to verify: the journal holds no readable records ({end.describe()}{damage})"], ok=False)
    if end.reason in (EndReason.TORN, EndReason.OPEN):
        lines.append(f"note: journal {end.describe()}; verifying the {_records(count)} before that")
    if spans:
        skipped = replayed.skipped
        lost = "an unknown number of records" if skipped is None else _records(skipped)
        lines.append(
            f"damaged: {len(spans)} corrupt span{'s' * (len(spans) != 1)}, {lost} skipped; "
            f"verifying the {_records(count)} that could be read"
        )
        lines += [f"  corrupt {span.describe()}" for span in spans]
    for report in reports:
        lines.append(f"{report.actor:<14} fed {report.fed:>7}  compared {report.compared:>7}  divergences {report.divergences}")
    past_end = [f"{r.actor} {r.past_end}" for r in reports if r.past_end]
    if past_end:
        lines.append(f"not verified: outputs the journal may have lost past its end ({', '.join(past_end)})")
    first = next((r.first for r in reports if r.first is not None), None)
    if first is not None:
        lines.append(f"first divergence: {first.describe()}")
        if spans:
            lines.append("(divergences may follow from the skipped records)")
        return Verification(lines, ok=False)
    if not any(r.fed for r in reports):
        lines.append(f"nothing to verify: none of its {_records(count)} is an input of a replayed actor")
        return Verification(lines, ok=False)
    if spans:
        lines.append("every actor reproduces the records that could be read; the skipped ones were not verified")
        return Verification(lines, ok=False)
    lines.append("every actor reproduces its record")
    return Verification(lines, ok=True)


def handle(args: argparse.Namespace) -> int:
    from pipeline.journal import JournalError

    try:
        verification = verify(args.journal, args.actor or ())
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(verification.lines))
    return 1 if args.verify and not verification.ok else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="re-run each actor's core on a journal and compare with what it recorded",
        description="Feed each actor's core the recorded events it consumes, in seq order, and compare its outputs "
        "with the journal. Performs no I/O beyond reading the journal. With --verify, exit 1 on a divergence, "
        "on corrupt spans (every readable record is still verified) and when there is nothing to verify; a torn "
        "tail (a writer that died) is verified up to where it ends.",
    )
    p.add_argument("journal", help="path to a .rtpj journal")
    p.add_argument(
        "--verify", action="store_true", help="exit 1 on a divergence, on corrupt records, or with nothing to verify"
    )
    p.add_argument("--actor", action="append", metavar="NAME", help="replay only this actor (repeatable)")
    p.set_defaults(handler=handle)
