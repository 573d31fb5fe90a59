"""Registry of subcommands. Each subcommand module exposes `add_parser(sub)` which sets `handler`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline.server import cli as serve_cli

    serve_cli.add_parser(sub)
