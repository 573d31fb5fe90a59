"""Registry of subcommands. Each subcommand module exposes `add_parser(sub)` which sets `handler`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline.commands import demo_cmd, inspect_cmd, replay_cmd, run_cmd
    from pipeline.server import cli as serve_cli

    run_cmd.add_parser(sub)
    demo_cmd.add_parser(sub)
    serve_cli.add_parser(sub)
    replay_cmd.add_parser(sub)
    inspect_cmd.add_parser(sub)
