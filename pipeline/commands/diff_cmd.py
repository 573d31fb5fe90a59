"""`rtpipe diff A B [--strict]`: two calls side by side; exit 1 when their conversations differ."""

from __future__ import annotations

import argparse
import json
import re
import sys

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import diff

    for pattern in args.ignore or ():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--ignore {pattern!r}: not a regular expression ({exc})") from None
    if args.tolerance_ms < 0 or args.tolerance_ms != args.tolerance_ms:
        raise UsageError(f"--tolerance-ms {args.tolerance_ms}: must be >= 0")
    recordings = debug_cmds.load(args.a, quiet=True), debug_cmds.load(args.b, quiet=True)  # headers: fail early
    a, b = (diff.Side.of(recording, args.ignore or ()) for recording in recordings)  # one pass each
    print_notes(a.recording)
    print_notes(b.recording)
    result = diff.compare(a, b, tolerance_ms=args.tolerance_ms)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2, default=str)
        print()
    else:
        print(diff.render(result))
    if result.conversation_differs:
        return 1
    if args.strict and result.timing_differs:
        if not args.json:
            print("timings or token counts differ (--strict)")
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff",
        help=debug_cmds.help_of("diff"),
        description="Compare two journals turn by turn: the first turn where the conversations differ (what "
        "the user said, which tool with which arguments, what was answered, which summaries), per-response "
        "token and cost differences, latency differences and totals. Exit 1 when the conversations differ, 0 "
        "when only timings do (--strict: timings and token counts count too).",
    )
    p.add_argument("a", metavar="A", help="the first journal")
    p.add_argument("b", metavar="B", help="the second journal")
    p.add_argument("--strict", action="store_true", help="also exit 1 when latencies move or token counts differ")
    p.add_argument("--tolerance-ms", type=float, default=50.0,
                   help="a latency stage moving by more than this counts under --strict (default 50)")
    p.add_argument("--ignore", action="append", metavar="REGEX",
                   help="mask what matches in every text before comparing (e.g. a time of day); repeatable")
    p.add_argument("--json", action="store_true", help="the comparison as JSON")
    p.set_defaults(handler=handle)
