"""Recorded calls for the read-model tests: real sessions against the embedded server, each in its own
process so the fixtures can record them side by side.

``python -m tests.projections.recordings KIND OUT.rtpj`` records one:

* ``demo``: the demo script, ``--fast``, summary trigger 800 (so the call summarises), barge-in included;
* ``no-summary``: the same with ``--no-summary`` (the A/B counterpart of ``demo``);
* ``realtime``: three lines in real time with a barge-in, so its audio is on its session clock;
* ``faults``: ``--fast`` against a server whose transcriptions fail, with a ``get_weather`` that times out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("demo", "no-summary", "realtime", "faults")
REALTIME_LINES = ("hello there", "tell me a short story", "[barge 1500] okay stop")
FAULT_LINES = ("what is the weather like in Paris", "what time is it")


def command(kind: str, journal: Path) -> list[str]:
    """The process that records ``kind`` into ``journal``."""
    if kind == "faults":
        return [sys.executable, "-m", "tests.projections.recordings", kind, str(journal)]
    base = [sys.executable, "-m", "pipeline", "run", "--quiet", "--output", "none", "--journal", str(journal)]
    if kind == "demo":
        return [*base, "--fast", "--summary-trigger", "800"]
    if kind == "no-summary":
        return [*base, "--fast", "--summary-trigger", "800", "--no-summary"]
    if kind == "realtime":
        return [*base, *(arg for line in REALTIME_LINES for arg in ("--say", line))]
    raise ValueError(f"unknown recording {kind!r}")


def start(kind: str, journal: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(command(kind, journal), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def _faults(journal: Path) -> None:
    from pipeline.config import RunConfig
    from pipeline.server import ServerConfig, serve
    from pipeline.session import run_live

    async with trio.open_nursery() as nursery:
        handle = await nursery.start(serve, ServerConfig(seed=5, transcript_fault="fail"))
        config = RunConfig(
            server=handle.realtime_url, input="script", script=FAULT_LINES, fast=True, quiet=True, journal=journal,
            output="none", tool_specs=("tests.projections.slow_tools:get_weather",),
            transcript_timeout_ms=120_000,  # the failure, not our timeout, ends each transcript however slow ASR is
        )  # fmt: skip
        await run_live(config)
        nursery.cancel_scope.cancel()


def main() -> None:
    kind, out = sys.argv[1], Path(sys.argv[2])
    if kind != "faults":
        sys.exit(subprocess.run(command(kind, out), cwd=ROOT).returncode)
    trio.run(_faults, out)


if __name__ == "__main__":
    main()
