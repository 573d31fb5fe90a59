"""`rtpipe run --fast` against `rtpipe run`: the same demo call, on simulated time (issue 13).

Both commands run as a new user runs them (the CLI, an empty directory, the embedded server in-process). The
rows: the wall time of each, the ratio fast / real time (target: at most a fifth), and whether the fast run
showed the summary (``sum_001``) the demo exists for. ``RTPIPE_BENCH_FAST_ONLY=1`` skips the real-time run
(about 80 s) and reports the fast one only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result

RTPIPE = [sys.executable, "-m", "pipeline"]


def timed_run(*flags: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MAXIM_API_KEY")}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run([*RTPIPE, "run", *flags], cwd=Path(tmp), env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"rtpipe run {' '.join(flags)} failed: {proc.stderr.strip()[-500:]}")
    return wall, proc.stdout


def run() -> list[Result]:
    fast_s, fast_out = timed_run("--fast")
    rows = [
        Result("rtpipe run --fast (demo) wall time", fast_s, "s"),
        Result("rtpipe run --fast shows the summary sum_001", 1.0 if "sum_001" in fast_out else 0.0, "", 1.0, sense="min"),
    ]
    if os.environ.get("RTPIPE_BENCH_FAST_ONLY"):
        return rows
    real_s, _ = timed_run()
    return [
        Result("rtpipe run (demo, real time) wall time", real_s, "s"),
        *rows,
        Result("--fast / real-time wall time", fast_s / real_s, "x", 0.2),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row.name}: {row.value_text()} (target {row.target_text()}, {row.ratio_text()})")
