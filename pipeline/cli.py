"""`rtpipe` command line: one subparser per subcommand, each implemented in its own module.

Errors a user can cause print one line and exit non-zero (2 for usage errors); `--debug` shows tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pipeline import __version__

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A mistake the user made on the command line or in a path: one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, and where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline import cli_commands

    cli_commands.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rtpipe",
        description="Event-sourced voice agent for the OpenAI Realtime API.",
    )
    parser.add_argument("--version", action="version", version=f"rtpipe {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineParser
    )
    sub.required = True
    _add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # report an unknown flag against the subcommand it was given to, so the hint points at its --help
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
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
