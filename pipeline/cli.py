"""`rtpipe` command line: one subparser per subcommand, each implemented in its own module.

Errors a user can cause print one line and exit non-zero (2 for usage errors); `--debug` shows tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipeline import __version__

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A mistake the user made on the command line or in a path: one line, exit 2."""


def _add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline import cli_commands

    cli_commands.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtpipe",
        description="Event-sourced voice agent for the OpenAI Realtime API.",
    )
    parser.add_argument("--version", action="version", version=f"rtpipe {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        if args.debug:
            raise
        print(f"rtpipe {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())
