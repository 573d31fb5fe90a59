"""`rtpipe export JOURNAL --format markdown|jsonl|txt`: the conversation as a document."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds

FORMATS = ("markdown", "jsonl", "txt")


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import export, timeline

    recording = debug_cmds.load(args.journal, quiet=True)
    line = timeline.fold(recording)
    print_notes(recording)
    text = export.export(recording, line, args.format)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "export",
        description="Write the conversation of a journal as a document for a ticket or an eval set: user and "
        "assistant turns with their times, tool calls with arguments and results, summaries, errors.",
    )
    p.add_argument("--format", choices=FORMATS, default="markdown", help="document format (default markdown)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(handler=handle)
