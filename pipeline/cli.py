"""`rtpipe` command line: one subparser per subcommand, each implemented in its own module.

Errors a user can cause print one line and exit non-zero (2 for usage errors); `--debug` shows tracebacks.
Endings are quiet too: Ctrl-C that reaches this far exits 130, and a reader that closes our stdout
(``rtpipe inspect J | head``) ends the command with 141 (128 + SIGPIPE, what ``cat`` reports), never a traceback.

Start-up stays light: only the chosen subcommand's module is imported (``cli_commands``), and command
modules import their heavy dependencies inside their handlers, so ``--version``, ``--help`` and a bad flag
answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pipeline import __version__

Handler = Callable[[argparse.Namespace], int]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


class UsageError(Exception):
    """A mistake the user made on the command line or in a path: one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, and where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser of the subcommand ``argv`` names (every subcommand when ``argv`` is None); the others
    are listed by name and help only, so their modules are not imported."""
    from pipeline import cli_commands

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
    wanted = None if argv is None else cli_commands.command_named(argv)
    cli_commands.register(sub, only=wanted, every=argv is None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args_list)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        if not _output_closed():
            raise
        _silence_output()
        return EXIT_BROKEN_PIPE
    except BaseExceptionGroup as group:
        # trio wraps what escapes a nursery: a group of nothing but Ctrl-C (or a closed stdout) is that ending
        interrupted, rest = group.split(KeyboardInterrupt)
        if interrupted is not None and rest is None:
            return EXIT_INTERRUPTED
        broken, rest = group.split(BrokenPipeError)
        if broken is not None and rest is None and _output_closed():
            _silence_output()
            return EXIT_BROKEN_PIPE
        raise


def _main(argv: list[str]) -> int:
    parser = build_parser(argv)
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
        return EXIT_USAGE


def _output_closed() -> bool:
    """Whether our stdout or stderr is a pipe whose reader has gone (poll reports an error on its write end),
    so a ``BrokenPipeError`` from elsewhere (a socket, a child) is never mistaken for it."""
    import select

    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    fds = []
    for stream in (sys.stdout, sys.stderr):
        try:
            fds.append(stream.fileno())
        except (AttributeError, OSError, ValueError):
            continue
    for fd in fds:
        poller.register(fd, select.POLLOUT)
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))


def _silence_output() -> None:
    """Point stdout and stderr at /dev/null, so the interpreter's flush at exit does not report the closed
    pipe a second time ("Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, OSError, ValueError):
            continue
    os.close(devnull)


# 128 + SIGHUP, SIGINT, SIGTERM: the exit statuses of a session a signal ended
_SIGNAL_EXITS = frozenset({129, 130, 143})


def entry() -> None:
    code = main()
    try:
        sys.stdout.flush()  # a closed pipe shows here when the command's last lines were still buffered
    except BrokenPipeError:
        _silence_output()
        code = EXIT_BROKEN_PIPE
    if code in _SIGNAL_EXITS:
        # A signal ended the session at once, so a worker thread may have been abandoned inside native code
        # (speech synthesis). Interpreter shutdown would tear that thread down with a forced unwind, which a C++
        # frame turns into SIGABRT ("terminate called without an active exception"). Everything is written and
        # closed by now: leave without the teardown.
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
