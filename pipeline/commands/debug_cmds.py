"""The journal as a debugger: the read commands over a recorded call, and what they share.

``register(sub)`` adds ``show``, ``latency``, ``render``, ``export``, ``diff``, ``resummarise`` and ``report``
(``COMMANDS``). Each lives in its own module and imports its read model (``pipeline.projections``) inside its
handler, so ``rtpipe X --help`` stays fast. Every one reads a journal whatever its state: a journal still
being written, a torn one or one with corrupt spans is read up to what can be trusted, and a ``note:`` line on
stderr says what is missing before the output (so ``--json`` on stdout stays parseable).
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from pipeline.projections.recording import Recording


# name -> (module with add_parser, its help line): the shape of ``pipeline.cli_commands.COMMANDS``, so the
# registry can list these by name without importing them
COMMANDS: dict[str, tuple[str, str]] = {
    "show": (
        "pipeline.commands.show_cmd",
        "the call as a readable timeline: turns, tools, summaries, errors, token windows, latency",
    ),
    "latency": (
        "pipeline.commands.latency_cmd",
        "per user turn: speech end to committed, created, first audio received and played, done; p50/p95",
    ),
    "render": (
        "pipeline.commands.render_cmd",
        "a stereo WAV of both sides on the session's timeline (user left, assistant right as played)",
    ),
    "export": ("pipeline.commands.export_cmd", "the conversation as a document: markdown, jsonl or txt"),
    "diff": ("pipeline.commands.diff_cmd", "two calls side by side: first differing turn, tokens, cost, latency"),
    "resummarise": (
        "pipeline.commands.resummarise_cmd",
        "re-run the summariser on a recorded call with other settings, beside what was recorded",
    ),
    "report": ("pipeline.commands.report_cmd", "one self-contained HTML page of the call, with both audio tracks"),
}


def help_of(name: str) -> str:
    return COMMANDS[name][1]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add every debugging subcommand in full."""
    import importlib

    for module, _ in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)


def load(path: str, *, quiet: bool = False) -> Recording:
    """Read a journal for a command: one line and exit 2 when it is not a journal; the notices on stderr."""
    from pipeline.journal import JournalError
    from pipeline.projections.recording import Recording

    try:
        recording = Recording.load(path)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if not quiet:
        from pipeline.commands.notes import print_notes

        print_notes(recording)
    return recording


def describe(recording: Recording) -> str:
    """One header line: path, software, session, start, length, how the journal ends."""
    header = recording.header
    parts = [f"journal {recording.path}"]
    if header is not None:
        parts += [header.software, f"session {header.session_id}", f"started {header.started_wall}"]
    parts.append(f"{recording.duration_ns / 1e9:.1f} s")
    parts.append(recording.end.reason.value)
    return " · ".join(parts)


_CLOCK = re.compile(r"^(?:(\d+):)?(\d+(?:\.\d*)?)$")


def session_time(text: str, flag: str) -> int:
    """``12.5``, ``12.5s``, ``1500ms`` or ``1:02.5`` as nanoseconds of session time."""
    value = text.strip().lower()
    try:
        if value.endswith("ms"):
            seconds = float(value[:-2]) / 1000
        else:
            match = _CLOCK.match(value[:-1] if value.endswith("s") else value)
            if match is None:
                raise ValueError(value)
            seconds = int(match.group(1) or 0) * 60 + float(match.group(2))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected session time in seconds (12.5), ms (1500ms) or m:ss (1:02.5)") from None
    if seconds < 0 or seconds != seconds:
        raise UsageError(f"{flag} {text!r}: must be a time >= 0")
    return round(seconds * 1e9)


def add_journal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", help="path to a .rtpj journal (also one still being written, torn or damaged)")


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, *, description: str) -> argparse.ArgumentParser:
    """The subcommand's parser with its help line (``COMMANDS``) and the journal argument."""
    parser = sub.add_parser(name, help=help_of(name), description=description)
    add_journal(parser)
    return parser
