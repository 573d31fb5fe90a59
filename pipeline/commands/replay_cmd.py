"""`rtpipe replay JOURNAL --verify`: re-run every actor's core against its record.

What it verifies, and when ``--verify`` fails (exit 1):

- the actors that ran in the session (its ``session.started`` record names them) are replayed, or the ones
  ``--actor`` names; ``rtpipe journal-demo`` prints this same verification (``verify_journal``);
- a divergence fails;
- nothing verified fails ("nothing to verify"): an empty or header-only file, or no recorded event that a
  replayed actor consumes;
- corrupt spans fail: every readable record is still verified, and the report says how many were skipped;
- a torn tail or a missing close marker (a writer that died) is normal: what is there is verified, and the
  report says where the journal ends.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from events.envelope import Envelope
    from pipeline.journal import Journal


@dataclass(frozen=True)
class Verification:
    lines: list[str]
    ok: bool  # something was verified, nothing diverged, nothing was skipped


def session_actors(envelopes: Sequence[Envelope]) -> set[str] | None:
    from events.runtime import SessionStarted

    for env in envelopes:
        if isinstance(env.event, SessionStarted):
            return set(env.event.actors)
    return None


def _records(n: int) -> str:
    return f"{n} record{'s' * (n != 1)}"


def verify_journal(journal: Journal, envelopes: Sequence[Envelope], actor_names: Sequence[str] = ()) -> Verification:
    """Replay the journal's actors (or ``actor_names``) and say what that proves, one line at a time."""
    from pipeline.journal import EndReason
    from pipeline.registry import replayable_actors
    from pipeline.replay import replay

    actors = replayable_actors()
    unknown = [a for a in actor_names if a not in actors]
    if unknown:
        raise UsageError(f"unknown actor {unknown[0]!r} (replayable: {', '.join(sorted(actors))})")
    if actor_names:
        selected = [actors[a] for a in actor_names]
    else:
        ran = session_actors(envelopes)  # the actors that ran in this session, as its first event says
        selected = [a for name, a in actors.items() if ran is None or name in ran]
    lines: list[str] = []
    end, spans = journal.end, journal.corrupt_spans
    if not envelopes:
        damage = f"; {len(spans)} corrupt span{'s' * (len(spans) != 1)}" if spans else ""
        return Verification([f"nothing to verify: the journal holds no readable records ({end.describe()}{damage})"], ok=False)
    if end.reason in (EndReason.TORN, EndReason.OPEN):
        lines.append(f"note: journal {end.describe()}; verifying the {_records(len(envelopes))} before that")
    if spans:
        skipped = journal.records_skipped
        lost = "an unknown number of records" if skipped is None else _records(skipped)
        lines.append(
            f"damaged: {len(spans)} corrupt span{'s' * (len(spans) != 1)}, {lost} skipped; "
            f"verifying the {_records(len(envelopes))} that could be read"
        )
        lines += [f"  corrupt {span.describe()}" for span in spans]
    config = journal.header.config if journal.header is not None else {}
    truncated = end.reason in (EndReason.TORN, EndReason.OPEN)
    reports = replay(envelopes, selected, config, truncated=truncated)
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
        lines.append(f"nothing to verify: none of its {_records(len(envelopes))} is an input of a replayed actor")
        return Verification(lines, ok=False)
    if spans:
        lines.append("every actor reproduces the records that could be read; the skipped ones were not verified")
        return Verification(lines, ok=False)
    lines.append("every actor reproduces its record")
    return Verification(lines, ok=True)


def handle(args: argparse.Namespace) -> int:
    from pipeline.journal import JournalError, load_envelopes

    try:
        journal, envelopes = load_envelopes(args.journal)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    verification = verify_journal(journal, envelopes, args.actor or ())
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
