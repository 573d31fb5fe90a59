"""`rtpipe latency JOURNAL [--png FILE]`: per user turn, the waterfall from speech end to the answer heard."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import latency

    recording = debug_cmds.load(args.journal, quiet=True)
    waterfall = latency.fold(recording)
    print_notes(recording)
    if args.png:
        from pipeline.projections.charts import latency_png

        try:
            latency_png(waterfall, args.png, title=f"latency per user turn: {recording.path.name}")
        except OSError as exc:
            raise UsageError(f"--png {args.png}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        json.dump({"journal": str(recording.path), "end": recording.end_dict(), **waterfall.as_dict()}, sys.stdout, indent=2)
        print()
        return 0
    print(debug_cmds.describe(recording))
    print(latency.render(waterfall) if waterfall.turns else "no user turns in this journal")
    if args.png:
        print(f"chart: {args.png}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "latency",
        description="Per user turn, the waterfall from the end of the user's speech (server speech_stopped) to "
        "committed, response.created, the first audio delta received, the first audio actually played, and "
        "response.done, with p50/p95 over the call; beside it the seeds' pattern (audio played only at "
        "response.done) and how much later that is heard.",
    )
    p.add_argument("--png", metavar="FILE", help="also draw the waterfall and the token window over the call")
    p.add_argument("--json", action="store_true", help="the numbers as JSON")
    p.set_defaults(handler=handle)
