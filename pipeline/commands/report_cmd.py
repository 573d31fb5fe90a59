"""`rtpipe report JOURNAL -o call.html`: one self-contained HTML page of the call, for a bug report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import report

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise UsageError(f"-o {out}: already exists (use --overwrite to replace it)")
    recording = debug_cmds.load(args.journal, quiet=True)
    page = report.build(recording, with_audio=not args.no_audio)
    print_notes(recording)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot write ({exc.strerror or exc})") from None
    print(f"{out}: {len(page.encode()) / 1e6:.1f} MB, self-contained (open it in a browser)")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "report",
        description="Write one self-contained HTML file to attach to a bug report: the timeline of `show`, "
        "both sides of the call from `render` (embedded, with a player that seeks when an entry is clicked), the "
        "latency waterfall and token-window charts (inline SVG), the cost ledger and the configuration. No "
        "server, no CDN: it opens from disk.",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="where to write the page")
    p.add_argument("--no-audio", action="store_true", help="leave the audio out (a long call's page gets large)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE.html if it exists")
    p.set_defaults(handler=handle)
