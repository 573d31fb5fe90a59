"""`rtpipe eval FILE.toml...`: scenario tests. Hold each scenario's conversation, journal it, judge it from
the journal, one line per scenario and a count; exit 1 when one fails, 2 for a scenario file that cannot run.

Every scenario is one ``run_live`` session, in this process: ``--jobs N`` runs N at a time in one trio run
(one nursery, each session its own tasks and its own embedded server on a loopback port, so a scenario's
server faults and seed are its own). Against the embedded server (the default) sessions run ``--fast``;
with ``--server openai`` (``OPENAI_API_KEY`` required) they run in real time against OpenAI, and scenarios
that need the embedded server's faults are skipped. The verdict is read from the journal alone
(``pipeline.scenarios.judge``), never from the live session's objects, so ``rtpipe show`` on the journal a
failing line names shows exactly what was judged.

Module-level imports stay light: ``rtpipe eval --help`` and a bad scenario file never import trio, the
session or the server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli import UsageError

if TYPE_CHECKING:
    from pipeline.scenarios.format import Scenario
    from pipeline.scenarios.verdict import Verdict

HELP = "run scenario files (conversations with expectations) and judge each from its journal"
MAX_JOBS = 64


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1..{MAX_JOBS})")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (more than 0, at most 86400 s)")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help=HELP,
        description="Run each [[scenario]] of the files (a conversation: lines the user says or a WAV, rtpipe run "
        "settings, expectations such as tool, reply_contains, summary, max_first_audio_ms), journal it, and judge "
        "it from the journal. One line per scenario, a count; exit 1 if one fails, 2 for a bad scenario file. "
        "The format is in the README ('rtpipe eval: scenario tests').",
    )
    p.add_argument("files", nargs="+", metavar="FILE.toml", help="scenario files")
    p.add_argument("-k", dest="select", metavar="NAME", help="run only the scenarios whose name contains NAME (any case)")
    p.add_argument("--jobs", "-j", type=_positive_int, default=1, metavar="N",
                   help=f"scenarios run at once, in this process, 1..{MAX_JOBS} (default 1)")
    p.add_argument("--journals", metavar="DIR",
                   help="folder for the journals (default eval-journals/<file>-<time>/; existing journals of the same "
                   "scenarios there are replaced)")
    p.add_argument("--junit", metavar="FILE.xml", help="also write the verdicts as JUnit XML (for CI)")
    p.add_argument("--server", choices=("local", "openai"), default="local",
                   help="local: the embedded server, --fast (default); openai: OpenAI in real time (OPENAI_API_KEY)")
    p.add_argument("--timeout-s", type=_seconds, default=300.0, metavar="SECONDS",
                   help="give up on one scenario after this long, counting it failed (default 300)")
    p.set_defaults(handler=handle)


def _journal_dirs(files: Sequence[Path], chosen: str | None, now: datetime) -> dict[Path, Path]:
    stems: dict[Path, Path] = {}
    for file in files:
        if chosen is None:
            stems[file] = Path("eval-journals") / f"{file.stem}-{now:%Y%m%d-%H%M%S}"
        else:
            stems[file] = Path(chosen) if len(files) == 1 else Path(chosen) / file.stem
    return stems


def handle(args: argparse.Namespace) -> int:
    from pipeline.scenarios.format import ScenarioError, load_file

    files = [Path(f) for f in args.files]
    scenarios: list[Scenario] = []
    try:
        for file in files:
            scenarios += load_file(file)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if args.select:
        scenarios = [s for s in scenarios if args.select.lower() in s.name.lower()]
        if not scenarios:
            raise UsageError(f"-k {args.select}: no scenario's name contains it")
    api_key = None
    if args.server == "openai":
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            raise UsageError("--server openai: set OPENAI_API_KEY in the environment (it is never read from a file)")
    if args.junit and Path(args.junit).is_dir():
        raise UsageError(f"--junit {args.junit}: is a folder, not a file")
    folders = _journal_dirs(files, args.journals, datetime.now())

    import trio

    from pipeline.clock import SimClock

    # --fast against embedded servers in this process: every session of the run on one simulated clock, so
    # each is the real-time conversation, only faster. A scenario naming a server elsewhere cannot share it.
    own_servers = any(_own_server(s) for s in scenarios)
    clock = SimClock() if args.server == "local" and not own_servers else None
    started = time.monotonic()
    verdicts = trio.run(_run_all, scenarios, folders, args.jobs, args.server, api_key, args.timeout_s, clock=clock)
    seconds = time.monotonic() - started
    from pipeline.scenarios.verdict import junit_xml, tally

    print(tally(verdicts, seconds), flush=True)
    if args.junit:
        try:
            Path(args.junit).write_bytes(junit_xml(verdicts, seconds))
        except OSError as exc:
            print(f"rtpipe eval: --junit {args.junit}: cannot be written: {exc.strerror or type(exc).__name__}", file=sys.stderr)
            return 1
    return 1 if any(v.status.failed for v in verdicts) else 0


async def _run_all(
    scenarios: Sequence[Scenario], folders: dict[Path, Path], jobs: int, server: str, api_key: str | None, timeout_s: float
) -> list[Verdict]:
    """Run every scenario, ``jobs`` at a time; print each verdict in file order as soon as it and those before
    it are known."""
    import trio

    limiter = trio.CapacityLimiter(jobs)
    done = [trio.Event() for _ in scenarios]
    verdicts: list[Verdict | None] = [None] * len(scenarios)

    async def one(index: int, scenario: Scenario) -> None:
        async with limiter:
            journal = folders[scenario.file] / f"{scenario.slug}.rtpj"
            verdicts[index] = await run_scenario(scenario, journal, server=server, api_key=api_key, timeout_s=timeout_s)
        done[index].set()

    # the longest conversations first (most lines), so the last one to finish does not start last; the
    # lines are still printed in file order
    order = sorted(range(len(scenarios)), key=lambda i: -len(scenarios[i].say))
    async with trio.open_nursery() as nursery:
        for index in order:
            nursery.start_soon(one, index, scenarios[index])
            await trio.lowlevel.checkpoint()  # tasks start in this order
        for index in range(len(scenarios)):
            await done[index].wait()
            verdict = verdicts[index]
            assert verdict is not None
            print(verdict.line(), flush=True)
    return [v for v in verdicts if v is not None]


async def run_scenario(scenario: Scenario, journal: Path, *, server: str, api_key: str | None, timeout_s: float) -> Verdict:
    """Hold one scenario's conversation and judge its journal. Whatever goes wrong is this scenario's
    failure line, never the end of the whole eval."""
    import trio

    from pipeline.scenarios.judge import Observed, judge
    from pipeline.scenarios.verdict import Status, Verdict

    started = time.monotonic()

    def verdict(failures: Sequence[str], path: Path | None) -> Verdict:
        return Verdict.of(scenario.file, scenario.name, failures, xfail=scenario.xfail, journal=path, seconds=time.monotonic() - started)

    if server == "openai" and scenario.embedded_server:
        return Verdict(file=scenario.file, name=scenario.name, status=Status.SKIP, note="its embedded_server settings need --server local")
    try:
        with trio.move_on_after(timeout_s) as scope:
            failure = await _hold(scenario, journal, server=server, api_key=api_key)
        if scope.cancelled_caught:
            failure = f"timed out after {timeout_s:g} s (--timeout-s)"
    except _SetupFailed as exc:
        return verdict([f"could not start: {exc}"], None)
    except Exception as exc:  # a bug in a session must not take the other scenarios down with it
        written = await trio.Path(journal).exists()
        return verdict([f"crashed: {type(exc).__name__}: {exc}"], journal if written else None)
    if not await trio.Path(journal).exists():
        return verdict([failure or "no journal was written"], None)
    from pipeline.projections.recording import Recording

    def observe() -> Observed:
        return Observed.from_recording(Recording.load(journal))

    import attrs

    seen = await trio.to_thread.run_sync(observe)
    if failure and not seen.failure:
        seen = attrs.evolve(seen, failure=failure)
    return verdict(judge(scenario.expect, seen), journal)


def _own_server(scenario: Scenario) -> bool:
    """The scenario names its server (a URL), instead of eval's embedded one or OpenAI."""
    own = scenario.settings.get("server")
    return isinstance(own, str) and own.strip() not in ("auto", "local")


class _SetupFailed(Exception):
    """The session could not start (``SessionSetupError``): one line."""


async def _hold(scenario: Scenario, journal: Path, *, server: str, api_key: str | None) -> str | None:
    """Run the scenario's session; the session's failure line, if it failed."""
    import trio

    from pipeline.config import ConfigError
    from pipeline.server import ServerConfig, ServerHandle, serve
    from pipeline.session import SessionSetupError, run_live

    fixed: dict[str, Any] = {"journal": journal, "overwrite": True}
    own_url = _own_server(scenario)
    async with trio.open_nursery() as nursery:
        if server == "openai":
            fixed.update(fast=False, api_key=api_key, **({} if own_url else {"server": "auto"}))
        else:
            fixed["fast"] = True
            if not own_url:
                embedded = {"seed": 1, **scenario.embedded_server}
                handle: ServerHandle = await nursery.start(serve, ServerConfig(**embedded))
                fixed["server"] = handle.realtime_url
        try:
            config = scenario.run_config(**fixed)
        except ConfigError as exc:
            raise _SetupFailed(str(exc)) from None
        try:
            result = await run_live(config, handle_signals=False, stream=None)
        except SessionSetupError as exc:
            raise _SetupFailed(str(exc)) from None
        nursery.cancel_scope.cancel()
    return result.failure
