"""Start-up: how long the installed `rtpipe` takes to answer when it has nothing to do.

Median wall time (a fresh process each time, the venv's ``rtpipe`` script) of ``rtpipe --version``,
``rtpipe --help``, ``rtpipe inspect --help`` and a bad-flag error (``rtpipe run --tool-timeout-s 0``, which
is refused before anything starts), against 0.3 s each. A bare ``python -c pass`` is reported beside them
as this machine's floor: on a loaded machine every row moves with it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result

RUNS = 11
TARGET_S = 0.3
COMMANDS: dict[str, list[str]] = {
    "rtpipe --version": ["--version"],
    "rtpipe --help": ["--help"],
    "rtpipe inspect --help": ["inspect", "--help"],
    "rtpipe run --tool-timeout-s 0 (bad flag)": ["run", "--tool-timeout-s", "0"],
}


def median_wall_s(argv: list[str], cwd: str, expect: int) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - started)
        if done.returncode != expect:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return statistics.median(times)


def run() -> list[Result]:
    rtpipe = str(Path(sys.executable).parent / "rtpipe")
    results = []
    with tempfile.TemporaryDirectory() as cwd:  # a bad flag must not write anything; nothing lands in the repo
        results.append(Result("python -c pass (floor)", median_wall_s([sys.executable, "-c", "pass"], cwd, 0), "s"))
        for name, args in COMMANDS.items():
            expect = 2 if name.endswith("(bad flag)") else 0
            results.append(Result(name, median_wall_s([rtpipe, *args], cwd, expect), "s", target=TARGET_S))
    return results


if __name__ == "__main__":
    for result in run():
        print(f"{result.name}: {result.value_text()} (target {result.target_text()}, {result.ratio_text()})")
