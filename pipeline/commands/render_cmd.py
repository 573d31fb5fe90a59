"""`rtpipe render JOURNAL -o call.wav [--mono]`: both sides of the call on the session's timeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import audio

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise UsageError(f"-o {out}: already exists (use --overwrite to replace it)")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    recording = debug_cmds.load(args.journal, quiet=True)
    plan = audio.RenderPlan()
    recording.run(plan)  # the first of the render's two passes: also where the journal ends
    print_notes(recording)
    try:
        rendered = audio.render(recording, out, mono=args.mono, plan=plan)
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        data = {"journal": str(recording.path), "output": str(out), "end": recording.end_dict(), **rendered.as_dict()}
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    side = "mono mix" if args.mono else "stereo: left the user as sent, right the assistant as played"
    print(f"{out}: {rendered.duration_s:.2f} s, {side}")
    print(f"session {rendered.session_s:.2f} s; {rendered.user_chunks:,} capture chunks, {rendered.played_ms / 1000:.2f} s of assistant audio played")
    if rendered.unsent_chunks:
        print(f"{rendered.unsent_chunks:,} captured chunks never reached the server (dropped before the uploader): left out")
    if rendered.stretch_s > 0.05:
        print(
            f"the journal's clock ran ahead of its audio (recorded with --fast?): the timeline is stretched by "
            f"{rendered.stretch_s:.2f} s at {len(rendered.breakpoints)} points so that every sound plays, in order"
        )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "render",
        description="Write a WAV of the call on its session timeline: left the user's audio as captured and sent, "
        "right the assistant's audio as actually played (cut where a barge-in cut it), silence where nobody "
        "spoke. Its length is the session's.",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE.wav", help="where to write the WAV")
    p.add_argument("--mono", action="store_true", help="mix both sides down to one channel")
    p.add_argument("--overwrite", action="store_true", help="replace FILE.wav if it exists")
    p.add_argument("--json", action="store_true", help="the layout as JSON")
    p.set_defaults(handler=handle)
