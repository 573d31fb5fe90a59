"""The conversation as a document (markdown, JSON lines, plain text): roles, times, tools, summaries.

Built from the timeline: user and assistant turns, tool calls with their arguments and results, applied (and
abandoned) summaries, and errors, in conversation order. JSON lines give one object per entry with stable keys
(``t_s``, ``role``, ``text``, ``item_id``, and per role ``name``/``arguments``/``output``, ``replaced``...), so
a call can become an eval case or a ticket attachment.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.projections.recording import Recording
from pipeline.projections.timeline import Entry, Timeline

FORMATS = ("markdown", "jsonl", "txt")


def clock(t_s: float) -> str:
    minutes, seconds = divmod(t_s, 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def rows(timeline: Timeline) -> list[dict[str, Any]]:
    """The document's entries as plain data (what ``jsonl`` writes)."""
    out = []
    for e in timeline.entries:
        row = _row(e)
        if row is not None:
            out.append(row)
    return out


def _row(e: Entry) -> dict[str, Any] | None:
    base: dict[str, Any] = {"t_s": round(e.t_s, 3), "turn": e.turn}
    d = e.data
    if e.kind == "user":
        return {**base, "role": "user", "item_id": e.item_id, "text": d.get("transcript") if d["status"] in ("resolved", "late") else None,
                "status": d["status"], "reason": d.get("reason")}  # fmt: skip
    if e.kind == "assistant":
        return {**base, "role": "assistant", "item_id": e.item_id, "text": d.get("transcript") or "",
                "status": d.get("status"), "cut_ms": d.get("cut_ms")}  # fmt: skip
    if e.kind == "tool":
        return {**base, "role": "tool", "item_id": e.item_id, "name": d["name"], "arguments": d["arguments"],
                "output": d["output"], "ok": d["ok"], "error_kind": d["error_kind"], "duration_ms": d["duration_ms"]}  # fmt: skip
    if e.kind == "summary" and d.get("outcome") in ("applied", "abandoned"):
        return {**base, "role": "summary", "summary_id": d.get("summary_id"), "outcome": d["outcome"], "text": d.get("summary", ""),
                "replaced": d.get("replaced", []), "window_before": d.get("window_before"), "window_after": d.get("window_after"),
                "reason": d.get("reason")}  # fmt: skip
    if e.kind == "error":
        return {**base, "role": "error", "text": e.text}
    return None


def _line_text(row: dict[str, Any]) -> str:
    role = row["role"]
    if role == "user":
        return row["text"] if row["text"] is not None else f"(no transcript: {row['reason'] or row['status']})"
    if role == "assistant":
        cut = f" [cut at {row['cut_ms']:,} ms]" if row.get("cut_ms") is not None else ""
        return f"{row['text']}{cut}"
    if role == "tool":
        outcome = "ok" if row["ok"] else (row["error_kind"] or "error")
        result = row["output"] if row["output"] is not None else "(no result)"
        return f"{row['name']}({row['arguments']}) -> {result} ({outcome}, {row['duration_ms']} ms)"
    if role == "summary":
        if row["outcome"] == "abandoned":
            return f"{row['summary_id']} abandoned: {row['reason']}"
        return f"{row['summary_id']} replaced {', '.join(row['replaced']) or 'nothing'} (window {row['window_before']} -> {row['window_after']} tokens): {row['text']}"
    return str(row["text"])


def export(recording: Recording, timeline: Timeline, fmt: str) -> str:
    data = rows(timeline)
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in data)
    if fmt == "txt":
        return "".join(f"[{clock(row['t_s'])}] {row['role']}: {_line_text(row)}\n" for row in data)
    if fmt != "markdown":
        raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    header = recording.header
    title = f"# Call {header.started_wall}" if header is not None else f"# Call {recording.path.name}"
    users = sum(1 for row in data if row["role"] == "user")
    tools = sum(1 for row in data if row["role"] == "tool")
    lines = [title, ""]
    lines.append(f"- journal: `{recording.path}` ({recording.end.reason.value}, {recording.duration_ns / 1e9:.1f} s of session)")
    if header is not None:
        lines.append(f"- session: `{header.session_id}`, {header.software}")
        model = header.config.get("model")
        if model:
            lines.append(f"- model: `{model}`, voice `{header.config.get('voice', '?')}`")
    lines.append(f"- {users} user turns, {tools} tool calls")
    lines += [f"- note: {n}" for n in recording.notices()]
    lines.append("")
    names = {"user": "User", "assistant": "Assistant", "tool": "Tool", "summary": "Summary", "error": "Error"}
    for row in data:
        text = _line_text(row).replace("\n", " ")
        if row["role"] in ("tool", "summary", "error"):
            lines.append(f"> `{clock(row['t_s'])}` **{names[row['role']]}:** {text}")
        else:
            lines.append(f"`{clock(row['t_s'])}` **{names[row['role']]}:** {text}")
        lines.append("")
    return "\n".join(lines)
