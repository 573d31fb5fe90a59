"""The journal package and the journal commands stay cheap to import (`rtpipe inspect --help` starts fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("trio", "numpy", "openai", "pipeline.server", "events", "actors", "pipeline.runtime", "pipeline.projections.ledger")


@pytest.mark.parametrize(
    "module",
    ["pipeline.journal", "pipeline.commands.inspect_cmd", "pipeline.commands.replay_cmd", "pipeline.commands.demo_cmd"],
)
def test_importing_does_not_pull_in_heavy_modules(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    loaded = out.stdout.split()
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
