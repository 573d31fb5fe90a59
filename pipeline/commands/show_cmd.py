"""`rtpipe show JOURNAL`: the call as a timeline a person reads, with each turn's latency."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from pipeline.cli import UsageError
from pipeline.commands import debug_cmds

if TYPE_CHECKING:
    from pipeline.projections.latency import TurnLatency
    from pipeline.projections.timeline import Entry

LABEL_WIDTH = 11


def label(entry: Entry) -> str:
    if entry.kind == "user":
        return f"user #{entry.data['number']}"
    return {"tool": "tool call", "window": "tokens"}.get(entry.kind, entry.kind)


def latency_line(turn: TurnLatency) -> str:
    from pipeline.projections.latency import STAGE_LABELS, STAGES

    parts = []
    for stage in STAGES:
        value = turn.ms(stage)
        parts.append(f"{STAGE_LABELS[stage]} {'-' if value is None else f'{value:,.0f}'}")
    text = "latency ms from speech end: " + " · ".join(parts)
    if turn.seed_first_audio_ms is not None and turn.ratio is not None:
        text += f" (played only at response.done: {turn.seed_first_audio_ms:,.0f}, {turn.ratio:.1f}x)"
    return text


def render(entries: list[Entry], turns: dict[int, TurnLatency]) -> str:
    lines = []
    pad = " " * (10 + LABEL_WIDTH + 1)
    for entry in entries:
        suffix = f"  ({entry.item_id})" if entry.item_id and entry.kind in ("user", "assistant") else ""
        lines.append(f"{entry.t_s:>9.3f} {label(entry):<{LABEL_WIDTH}} {entry.text}{suffix}")
        if entry.kind == "user" and entry.data["number"] in turns:
            lines.append(pad + latency_line(turns[entry.data["number"]]))
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    from pipeline.commands.notes import print_notes
    from pipeline.projections import latency, timeline

    start = debug_cmds.session_time(args.start, "--from") if args.start is not None else None
    end = debug_cmds.session_time(args.end, "--to") if args.end is not None else None
    recording = debug_cmds.load(args.journal, quiet=True)
    line, waterfall_fold = timeline.TimelineFold(), latency.LatencyFold()
    recording.run(line, waterfall_fold)  # one pass over the journal for both
    print_notes(recording)
    tl, waterfall = line.result(recording.duration_ns), waterfall_fold.result()
    if args.turn is not None and not 0 <= args.turn <= tl.turns:
        raise UsageError(f"--turn {args.turn}: the call has turns 0 to {tl.turns} (0 is before the first user turn)")
    entries = tl.select(start_ns=start, end_ns=end, turn=args.turn)
    turns = {t.number: t for t in waterfall.turns}
    if args.json:
        out: dict[str, Any] = {
            "journal": str(recording.path),
            "end": recording.end_dict(),
            "duration_s": round(recording.duration_ns / 1e9, 3),
            "turns": tl.turns,
            "entries": [e.as_dict() for e in entries],
            "latency": [turns[n].as_dict() for n in sorted(turns) if any(e.turn == n for e in entries)],
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False, default=str)
        print()
        return 0
    print(debug_cmds.describe(recording))
    print(render(entries, turns) if entries else "(nothing in that range)")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = debug_cmds.add_command(
        sub,
        "show",
        description="Print a journal as the conversation a person reads, in conversation order: user turns "
        "(transcript, or why there is none), assistant turns (cut where a barge-in cut them), tool calls with "
        "arguments, results and duration, summaries, errors, drops, connection changes, the token window after "
        "each response, and per user turn its latency from the end of speech to the answer being heard.",
    )
    p.add_argument("--from", dest="start", metavar="TIME", help="from this session time (12.5, 1500ms, 1:02.5)")
    p.add_argument("--to", dest="end", metavar="TIME", help="up to this session time")
    p.add_argument("--turn", type=int, metavar="N", help="only user turn N and what answered it (0: before the first)")
    p.add_argument("--json", action="store_true", help="the entries as JSON")
    p.set_defaults(handler=handle)
