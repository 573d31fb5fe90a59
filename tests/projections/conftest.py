"""Recorded calls shared by the slow read-model tests: recorded once per test session, side by side."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.projections.recordings import KINDS, start


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{kind: journal}`` for every kind of ``tests.projections.recordings`` (demo, no-summary, realtime,
    faults), recorded in parallel processes the first time a test asks."""
    reuse = os.environ.get("RTPIPE_TEST_RECORDINGS")  # a folder of <kind>.rtpj recorded before (development)
    if reuse:
        journals = {kind: Path(reuse) / f"{kind}.rtpj" for kind in KINDS}
        if all(j.exists() for j in journals.values()):
            return journals
    base = tmp_path_factory.mktemp("recorded")
    journals = {kind: base / f"{kind}.rtpj" for kind in KINDS}
    processes = {kind: start(kind, journal) for kind, journal in journals.items()}
    for kind, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"recording {kind} failed: {stderr[-2000:]}"
    return journals


@pytest.fixture(scope="session")
def damaged(recorded: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo journal torn two thirds in (mid-record) and with 16 flipped bytes in its middle."""
    data = recorded["demo"].read_bytes()
    base = tmp_path_factory.mktemp("damaged")
    torn = base / "torn.rtpj"
    torn.write_bytes(data[: len(data) * 2 // 3 + 7])
    corrupt = bytearray(data)
    middle = len(data) // 2
    corrupt[middle : middle + 16] = bytes(b ^ 0x5A for b in corrupt[middle : middle + 16])
    (base / "corrupt.rtpj").write_bytes(bytes(corrupt))
    return {"torn": torn, "corrupt": base / "corrupt.rtpj"}
