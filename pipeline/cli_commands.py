"""Registry of subcommands. Each subcommand module exposes `add_parser(sub)` which sets `handler`.

Only the module of the subcommand being run is imported: the others appear in ``rtpipe --help`` by the name
and one-line help listed here (which must match what their ``add_parser`` says; a test checks it). Importing
every command module would import the embedded server, the OpenAI SDK's types, numpy and trio just to print
a version number.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

# name -> (module with add_parser, its help line), in the order `rtpipe --help` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipeline.commands.run_cmd", "hold a spoken conversation (the demo by default) and journal it"),
    "journal-demo": (
        "pipeline.commands.demo_cmd",
        "journal generated audio through the meter actor and replay it",
    ),
    "serve": ("pipeline.server.cli", "run the embedded Realtime-protocol server on loopback"),
    "replay": (
        "pipeline.commands.replay_cmd",
        "re-run each actor's core on a journal and compare with what it recorded",
    ),
    "inspect": (
        "pipeline.commands.inspect_cmd",
        "show a journal's header, counts per tag and actor, drops, and where it ends",
    ),
    "eval": (
        "pipeline.commands.eval_cmd",
        "run scenario files (conversations with expectations) and judge each from its journal",
    ),
}
COMMANDS.update(importlib.import_module("pipeline.commands.debug_cmds").COMMANDS)  # the journal as a debugger (issue 11)


def command_named(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs: its first word that is not an option (the top-level options take no
    value), if that is a command."""
    for word in argv:
        if word == "--":
            continue
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, only: str | None = None, every: bool = True
) -> None:
    """Add every subcommand: in full (its module's ``add_parser``) when ``every`` or when it is ``only``,
    else by name and help alone."""
    for name, (module, help_line) in COMMANDS.items():
        if every or name == only:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_line, add_help=False)
